"""``wirewatch worker``: one machine's crawl workers in a cluster (``[cluster]``, ``cluster/``).

``wirewatch worker`` starts ``--processes`` worker processes (one per core by default) and keeps
them running until SIGTERM or Ctrl-C; SIGHUP, or a change to the config file, replaces them with
fresh ones on the new config (the old ones finish their runs first). Each process is a
:class:`ClusterWorker`: the one-machine worker's reactor and per-site rule
(``wirewatch/worker.py``), with its runs taken from Redis instead of a pipe:

- a reader thread takes up to ``[cluster] runs`` runs from the runs stream, takes over the runs
  of workers silent for ``claim_after`` (XAUTOCLAIM), touches the runs in hand so that no one
  takes them from under it, and beats (host, pid, runs in hand) for ``wirewatch status``;
- a sender thread sends home, in order, each run's articles, then its outcome, then
  acknowledges the run; while Redis is away it keeps them and tries again every second;
- a run of a site that a run on another machine holds waits for it (a Redis lock per site).

SIGTERM: take no more runs, let those in hand finish within ``[schedule] grace``, then close
them; a run closed so is not answered, and another worker takes it over after ``claim_after``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.exceptions import LockError
from redis.lock import Lock
from scrapy.crawler import Crawler
from scrapy.settings import Settings

from cluster.bus import Bus, Message, RedisError
from cluster.crawl import ABANDONED, MAX_DELIVERIES, RunLink
from core.units import format_duration
from extractors.dates import isoformat
from scheduler import TERMINATE_WAIT, _end_with_parent, terminate
from wirewatch.config import Config, load_config
from wirewatch.worker import Worker, route_twisted_logs

logger = logging.getLogger("wirewatch.worker")

#: Seconds between two heartbeats, and the longest a reader waits for a run.
BEAT = 1.0
#: Seconds the sender keeps trying to send what is left when the worker exits.
FLUSH_WAIT = 10.0


class ClusterWorker(Worker):
    """Crawl runs taken from Redis; articles and outcomes sent home there."""

    def __init__(self, config_path: Path, config: Config, bus: Bus) -> None:
        super().__init__(config_path, None)
        self.bus = bus
        self.slots = config.cluster.runs
        self.claim_after = config.cluster.claim_after
        self.grace = config.schedule.grace
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        for key, value in {
            "WIREWATCH_STATE": "cluster.crawl.SharedState",
            "WIREWATCH_RECORD_RUNS": False,
            "ITEM_PIPELINES": {"cluster.crawl.SendPipeline": 300},
            "WIREWATCH_BUS": bus,
        }.items():
            self.settings.set(key, value, priority="cmdline")
        #: Runs in hand, waiting or crawling: message id -> its link home.
        self.held: dict[str, RunLink] = {}
        self.hold = threading.Lock()
        #: Site locks in Redis held by each run.
        self.locks: dict[str, list[Lock]] = {}
        self.outbox: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.closing = threading.Event()
        self.served = 0
        self.started = isoformat(datetime.now(UTC))
        self.away: str | None = None  # why Redis cannot be reached, while it cannot

    # -- Redis, off the reactor ------------------------------------------------------------------

    def _redis_down(self, exc: Exception) -> None:
        if self.away is None:
            logger.warning(
                "Redis at %(where)s unreachable (%(error)s); the runs in hand go on and what "
                "they send waits until it is back",
                {"where": self.bus.where(), "error": exc},
            )
        self.away = str(exc)

    def _redis_up(self) -> None:
        if self.away is not None:
            logger.info("Redis at %(where)s is back", {"where": self.bus.where()})
        self.away = None

    def _pull(self) -> None:
        """The reader thread: beat, touch the runs in hand, take new runs and orphaned ones."""
        last_touch = last_claim = 0.0
        while not self.closing.is_set():
            try:
                self.bus.beat(self.id, self._beat_fields())
                now = time.monotonic()
                if now - last_touch >= self.claim_after / 3:
                    with self.hold:
                        ids = list(self.held)
                        locks = [lock for held in self.locks.values() for lock in held]
                    self.bus.touch(self.id, ids)
                    for lock in locks:
                        with contextlib.suppress(LockError):  # released meanwhile
                            lock.reacquire()
                    last_touch = now
                free = 0 if self.draining else self.slots - len(self.held)
                if free <= 0:
                    self._redis_up()
                    self.closing.wait(BEAT)
                    continue
                taken: list[tuple[Message, int]] = []
                if now - last_claim >= min(5.0, self.claim_after / 4):
                    last_claim = now
                    for message in self.bus.reclaim(self.id, self.claim_after, free):
                        taken.append((message, self.bus.deliveries(message[0])))
                if not taken:
                    taken = [(m, 1) for m in self.bus.take(self.id, free, BEAT)]
                self._redis_up()
            except RedisError as exc:
                self._redis_down(exc)
                self.closing.wait(BEAT)
                continue
            for (message_id, run), deliveries in taken:
                if message_id in self.held:
                    continue  # its own run, untouched while Redis was away
                self._hold(message_id, run)
                self.reactor.callFromThread(self.take_run, message_id, run, deliveries)

    def _beat_fields(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "runs": len(self.held),
            "crawling": len(self.active),
            "served": self.served,
            "started": self.started,
            "beat": isoformat(datetime.now(UTC)),
            "draining": int(self.draining),
        }

    def _hold(self, message_id: str, run: dict[str, Any]) -> None:
        link = RunLink(int(run["run"]), str(run["outlet"]), self.id, self._queue_send)
        with self.hold:
            self.held[message_id] = link

    def _queue_send(self, message: dict[str, Any]) -> None:
        self.outbox.put(("send", message))

    def _push(self) -> None:
        """The sender thread: results home, then acknowledgements, in order, each until it
        goes through."""
        while True:
            item = self.outbox.get()
            if item is None:
                return
            kind, payload = item
            while True:
                try:
                    if kind == "send":
                        self.bus.send(payload)
                    elif kind == "finish":
                        self.bus.finish(payload)
                    elif kind == "unlock":
                        payload.release()
                    break
                except RedisError as exc:
                    if kind == "unlock":
                        break  # it expires by itself
                    self._redis_down(exc)
                    time.sleep(1.0)

    # -- runs, on the reactor --------------------------------------------------------------------

    def take_run(self, message_id: str, run: dict[str, Any], deliveries: int) -> None:
        link = self.held[message_id]
        expires = float(run.get("expires") or 0)
        if expires and time.time() > expires:
            self._answer(message_id, "expired: no worker was free to start it in time")
            return
        if deliveries > MAX_DELIVERIES:
            self._answer(
                message_id,
                f"{ABANDONED}: handed to {deliveries - 1} crawl workers, each gone holding it",
            )
            return
        logger.debug("Run %(run)d of %(outlet)s taken", {"run": link.run, "outlet": link.outlet})
        self.start(message_id, link.outlet, float(run["deadline"]))

    def _answer(self, message_id: str, reason: str) -> None:
        """Answer a run without crawling it."""
        with self.hold:
            link = self.held.pop(message_id)
        link.done(reason, {})
        self.outbox.put(("finish", message_id))

    def _hold_sites(self, token: str, sites: set[str]) -> bool:
        if sites & self.busy.keys():
            return False
        locks: list[Lock] = []
        try:
            for site in sorted(sites):
                # Renewed with the runs in hand: it expires soon after its worker dies.
                lock = self.bus.site_lock(site, self.claim_after)
                if not lock.acquire(blocking=False):
                    break
                locks.append(lock)
            else:
                with self.hold:
                    self.locks[token] = locks
                self.busy.update(dict.fromkeys(sites, token))
                return True
        except RedisError as exc:
            # No Redis, no lock across machines: this machine's own rule still holds.
            self._redis_down(exc)
            with self.hold:
                self.locks[token] = locks
            self.busy.update(dict.fromkeys(sites, token))
            return True
        for lock in locks:
            self.outbox.put(("unlock", lock))
        return False

    def _run_settings(self, token: str, outlet: str, deadline: float) -> Settings:
        settings = super()._run_settings(token, outlet, deadline)
        settings.set("WIREWATCH_RUN", self.held[token], priority="cmdline")
        return settings

    def _report(self, token: str, crawler: Crawler, reason: str, stats: dict[str, Any]) -> None:
        with self.hold:
            link = self.held.pop(token)
        self._release(token)
        self.served += 1
        if reason == "shutdown" and self.draining:
            # Closed by this worker's stop, not by its outlet: unanswered, so that another
            # worker takes it over; what it extracted goes home all the same.
            link.flush()
            return
        link.done(reason, {**stats, "wirewatch/run_id": link.run})
        self.outbox.put(("finish", token))

    def drain(self) -> None:
        """SIGTERM: no more runs; those in hand get the grace period, then are closed."""
        if self.draining:
            self.stop()
            return
        logger.info(
            "Stopping: %(count)d run(s) in hand get %(grace)s to finish",
            {"count": len(self.held), "grace": format_duration(self.grace)},
        )
        self.draining = True
        self.reactor.callLater(self.grace, self.stop)
        self._maybe_exit()

    def _drop(self, token: str) -> None:
        # Unanswered, so that another worker takes it over after claim_after.
        with self.hold:
            link = self.held.pop(token, None)
        if link is not None:
            link.flush()
        self._release(token)

    def _release(self, token: str) -> None:
        """Let go of the run's site locks (they expire by themselves if Redis is away)."""
        with self.hold:
            released = self.locks.pop(token, [])
        for lock in released:
            self.outbox.put(("unlock", lock))

    def serve(self) -> None:
        from twisted.internet.task import LoopingCall

        try:
            self.bus.ensure_groups()
        except RedisError as exc:
            self._redis_down(exc)
        # A run waiting for a site held on another machine is tried again every beat.
        retry = LoopingCall(self._start_waiting)
        self.reactor.callWhenRunning(retry.start, BEAT, now=False)
        reader = threading.Thread(target=self._pull, name="redis-reader", daemon=True)
        sender = threading.Thread(target=self._push, name="redis-sender", daemon=True)
        reader.start()
        sender.start()
        logger.info(
            "Crawl worker %(id)s takes runs from Redis at %(where)s",
            {"id": self.id, "where": self.bus.where()},
        )
        self.reactor.run(installSignalHandlers=False)
        self.closing.set()
        reader.join(timeout=BEAT * 3)
        self.outbox.put(None)
        sender.join(timeout=FLUSH_WAIT)
        if sender.is_alive():
            logger.warning(
                "Exiting with results unsent (Redis away); their runs are taken over by another "
                "worker after %(after)s",
                {"after": format_duration(self.claim_after)},
            )
        with contextlib.suppress(RedisError):
            self.bus.beat(self.id, {**self._beat_fields(), "runs": 0, "stopped": 1})


def serve_cluster(config_path: Path) -> None:
    """``wirewatch worker-serve --cluster``: one worker process of ``wirewatch worker``."""
    route_twisted_logs()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the supervisor's
    # Its own lines (Redis away and back, stopping) at INFO, as the supervisor's; Scrapy's
    # crawl-by-crawl chatter stays at WARNING (the crawl settings' LOG_LEVEL).
    logging.getLogger("wirewatch").setLevel(min(logging.INFO, logging.root.level))
    for handler in logging.root.handlers:
        handler.setLevel(min(logging.INFO, handler.level))
    config = load_config(config_path)
    worker = ClusterWorker(config_path, config, Bus(config.redis_url))
    signal.signal(signal.SIGTERM, lambda *_: worker.reactor.callFromThread(worker.drain))
    worker.serve()


def supervise(config_path: Path, processes: int, command: list[str]) -> int:
    """``wirewatch worker``: keep ``processes`` worker processes running until SIGTERM or SIGINT;
    SIGHUP or a saved config file replaces them (each finishes its runs first)."""
    stopping = threading.Event()
    renew = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, lambda *_: renew.set())
    config = load_config(config_path)
    children: dict[subprocess.Popen[bytes], float] = {}  # process: when it started
    retiring: list[subprocess.Popen[bytes]] = []
    stamp = _stamp(config_path)
    quick_deaths = 0  # processes in a row that died within a minute of their start
    next_start = 0.0
    logger.info(
        "Starting %(count)d crawl worker process(es) on Redis at %(where)s",
        {"count": processes, "where": Bus(config.redis_url).where()},
    )
    while not stopping.is_set():
        for child, started in list(children.items()):
            if child.poll() is None:
                continue
            del children[child]
            code = child.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            quick_deaths = quick_deaths + 1 if time.monotonic() - started < 60 else 0
            wait = min(60.0, 2.0**quick_deaths) if quick_deaths > 1 else 0.0
            next_start = time.monotonic() + wait
            logger.error(
                "Crawl worker process %(pid)d ended (%(how)s); a new one replaces it%(when)s",
                {"pid": child.pid, "how": how, "when": f" in {format_duration(wait)}" * bool(wait)},
            )
        retiring = [c for c in retiring if c.poll() is None]
        if renew.is_set() or _stamp(config_path) != stamp:
            renew.clear()
            stamp = _stamp(config_path)
            try:
                config = load_config(config_path)
            except Exception as exc:
                logger.error("Config not reloaded, the workers go on: %(error)s", {"error": exc})
            else:
                logger.info("Config reloaded: fresh worker processes take over")
                for child in children:
                    child.send_signal(signal.SIGTERM)
                retiring += list(children)
                children = {}
        while len(children) < processes and time.monotonic() >= next_start:
            child = subprocess.Popen(command, start_new_session=True, preexec_fn=_end_with_parent)
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
            terminate(child)  # type: ignore[arg-type]
    logger.info("Stopped")
    return 0


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


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
