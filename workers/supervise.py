"""``wirewatch worker``: keep one machine's cluster worker processes (``workers.cluster``)
running.

It starts ``--processes`` of them (one per core by default) and keeps them running until
SIGTERM or Ctrl-C; one that ends is replaced, with the pool's backoff when they keep dying at
start. SIGHUP, or a change to the config file, replaces them with fresh ones on the new config
(the old ones finish their runs first); a broken file is refused and the workers go on.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cluster.bus import Bus
from core.units import format_duration
from workers.cluster import FLUSH_WAIT, WorkerConfig
from workers.processes import (
    TERMINATE_WAIT,
    Backoff,
    end_with_parent,
    file_stamp,
    how_it_ended,
    terminate,
)

logger = logging.getLogger("wirewatch.worker")

#: Seconds a worker process must live for its end not to count as a failed start.
SETTLED = 60.0


def supervise(
    config: WorkerConfig,
    config_path: Path,
    load: Callable[[Path], WorkerConfig],
    processes: int,
    command: list[str],
) -> int:
    """Keep ``processes`` worker processes running until SIGTERM or SIGINT; SIGHUP or a saved
    config file (read again with ``load``, which raises if it is invalid) replaces them."""
    stopping = threading.Event()
    renew = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, lambda *_: renew.set())
    children: dict[subprocess.Popen[bytes], float] = {}  # process: when it started
    retiring: list[subprocess.Popen[bytes]] = []
    stamp = file_stamp(config_path)
    backoff = Backoff(settled=SETTLED)
    logger.info(
        "Starting %(count)d crawl worker process(es) on Redis at %(where)s",
        {"count": processes, "where": Bus(config.redis_url).where()},
    )
    while not stopping.is_set():
        for child, started in list(children.items()):
            if child.poll() is None:
                continue
            del children[child]
            wait = backoff.died(time.monotonic() - started, free=2)
            logger.error(
                "Crawl worker process %(pid)d ended (%(how)s); a new one replaces it%(when)s",
                {
                    "pid": child.pid,
                    "how": how_it_ended(child.returncode),
                    "when": f" in {format_duration(wait)}" * bool(wait),
                },
            )
        retiring = [c for c in retiring if c.poll() is None]
        if renew.is_set() or file_stamp(config_path) != stamp:
            renew.clear()
            stamp = file_stamp(config_path)
            try:
                config = load(config_path)
            except Exception as exc:
                logger.error("Config not reloaded, the workers go on: %(error)s", {"error": exc})
            else:
                logger.info("Config reloaded: fresh worker processes take over")
                for child in children:
                    child.send_signal(signal.SIGTERM)
                retiring += list(children)
                children = {}
        while len(children) < processes and backoff.ready():
            child = subprocess.Popen(command, start_new_session=True, preexec_fn=end_with_parent)
            children[child] = time.monotonic()
        stopping.wait(1.0)
    everyone = [*children, *retiring]
    logger.info("Stopping %(count)d crawl worker process(es)", {"count": len(everyone)})
    for child in everyone:
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + config.schedule.grace + TERMINATE_WAIT + FLUSH_WAIT
    for child in everyone:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            terminate(child)
    logger.info("Stopped")
    return 0


def worker_command(config_path: Path) -> list[str]:
    """The command line of one worker process."""
    return [
        sys.executable,
        "-m",
        "wirewatch",
        "--config",
        str(config_path),
        "worker-serve",
        "--cluster",
    ]
