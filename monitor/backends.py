"""Where the monitor's runs crawl: a child process a run, the local pool of crawl workers, or a
cluster's workers through Redis. One interface, :class:`Backend`; the monitor settles what
each reports (``monitor.outcomes``).

The monitor calls, from its main thread: :meth:`~Backend.start` once, :meth:`~Backend.watch`
every second, :meth:`~Backend.reload` with a reloaded config, :meth:`~Backend.stop` when the
grace period is over; from its job threads, :meth:`~Backend.run` for each due run; and
:meth:`~Backend.in_flight` any time.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from cluster.bus import Bus, RedisError
from cluster.home import Home
from core.units import format_duration
from monitor.config import MonitorConfig
from monitor.planning import known_window
from storage.runs import close_unheard, start_run
from workers.outcome import Outcome
from workers.pool import WorkerPool
from workers.processes import TERMINATE_WAIT, end_with_parent, last_error, terminate
from workers.slots import site_of

logger = logging.getLogger("wirewatch.scheduler")

#: Seconds between two checks of a cluster: runs no worker answered, workers not heard from.
CLUSTER_CHECK = 60.0

#: A ``wirewatch`` command line on the monitor's config and database.
Command = Callable[..., list[str]]


class Backend:
    """Runs crawls for the monitor; a minimal interface, each method documented with what the
    monitor expects of it."""

    def start(self) -> None:
        """Get ready to take runs (start workers, connect)."""

    def run(self, outlet: str, deadline: float) -> Outcome:
        """Crawl ``outlet`` once, closed by the crawler at ``deadline`` seconds, and wait for its
        end. Never raises for a run that went wrong: that is in the outcome."""
        raise NotImplementedError

    def watch(self) -> None:
        """Keep the runs going: replace what died, kill what hangs (every second)."""

    def in_flight(self) -> int:
        """Runs started and not yet over."""
        return 0

    def reload(self, config: MonitorConfig) -> None:
        """Runs from now on are those of ``config``."""

    def stop(self) -> None:
        """The grace period is over: end the runs still going (their outcomes still come)."""


class ChildProcesses(Backend):
    """A ``wirewatch crawl OUTLET`` child process a run (``[schedule] workers = 0``); one that
    outlives its deadline is terminated (SIGTERM, then SIGKILL)."""

    def __init__(self, command: Command) -> None:
        self.command = command
        self.children: dict[int, subprocess.Popen[str]] = {}
        self.terminated: set[int] = set()  # pids the stop terminated
        self.lock = threading.Lock()

    def run(self, outlet: str, deadline: float) -> Outcome:
        process = subprocess.Popen(
            self.command("crawl", outlet),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a terminal's Ctrl-C reaches the monitor, not the crawls
            preexec_fn=end_with_parent,
        )
        with self.lock:
            self.children[process.pid] = process
        overdue = False
        try:
            try:
                _, stderr = process.communicate(timeout=deadline)
            except subprocess.TimeoutExpired:
                overdue = True
                terminate(process)
                _, stderr = process.communicate()
        finally:
            with self.lock:
                self.children.pop(process.pid, None)
                stopped = process.pid in self.terminated
                self.terminated.discard(process.pid)
        code = process.returncode
        return Outcome(
            process.pid,
            reason="shutdown" if stopped else None,
            exit_code=code,
            overdue=overdue,
            error=last_error(stderr) if code else "",
        )

    def in_flight(self) -> int:
        with self.lock:
            return len(self.children)

    def stop(self) -> None:
        with self.lock:
            late = list(self.children.values())
            self.terminated.update(process.pid for process in late)
        for process in late:
            logger.warning("Terminating crawl process %(pid)d", {"pid": process.pid})
        threads = [threading.Thread(target=terminate, args=(p,)) for p in late]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


class LocalPool(Backend):
    """The long-lived crawl workers of ``[schedule] workers`` on this machine
    (``workers.pool``). A run still going at its deadline is closed by its worker; one not over
    by its hard deadline (the deadline, the page timeout, the terminate wait) has stuck its
    worker, which is killed."""

    def __init__(
        self, config: MonitorConfig, command: Command, alerted: Callable[[], None] = lambda: None
    ) -> None:
        self.config = config
        self.command = command
        # A run's alerts are told as each article's are committed: delivered before it ends.
        self.pool = WorkerPool(command("worker-serve"), config.schedule.workers, alerted=alerted)

    def start(self) -> None:
        self.pool.start()

    def run(self, outlet: str, deadline: float) -> Outcome:
        # Closing a run at its deadline waits for the downloads in flight (the page timeout).
        hard = deadline + self.config.crawl.timeout + TERMINATE_WAIT
        try:
            site = site_of(self.config.outlet(outlet).sources[0])
        except (KeyError, IndexError):
            site = ""
        return self.pool.run(outlet, deadline, hard, site)

    def watch(self) -> None:
        self.pool.watch()

    def in_flight(self) -> int:
        return self.pool.busy()

    def reload(self, config: MonitorConfig) -> None:
        self.config = config
        self.pool.replace(self.command("worker-serve"))

    def stop(self) -> None:
        if self.pool.busy():
            logger.warning(
                "Terminating crawl workers with %(count)d run(s) in hand",
                {"count": self.pool.busy()},
            )
        self.pool.stop()


class Cluster(Backend):
    """A cluster's workers, through Redis (``[cluster] redis``): each run is opened in
    ``crawl_runs`` and sent; the articles that come home are stored and matched here
    (``cluster.home``). A run no worker answers in time is closed as failed; one lost with
    Redis's data comes back ``lost``, for the monitor to send again."""

    def __init__(
        self,
        config: MonitorConfig,
        open_db: Callable[[], Database],
        settled: Callable[[dict[str, Any]], None],
        alerted: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.open_db = open_db
        self.settled = settled  # a run of an earlier monitor, closed here
        self.home = Home(
            Bus(config.redis_url),
            open_db,
            config.watches,
            settled,
            known_window(config),
            alerted=alerted,
        )
        self.last_check = time.monotonic()

    def wait(self) -> float:
        """Seconds a run may take from its sending to its outcome: waiting for a free worker
        (it expires unstarted after ``crawl_timeout``), its crawl, and a takeover after its
        worker died (``claim_after``, then the crawl again)."""
        config = self.config
        timeout = config.schedule.crawl_timeout
        hard = timeout + config.crawl.timeout + TERMINATE_WAIT
        return timeout + 2 * (hard + config.cluster.claim_after) + 30

    def start(self) -> None:
        self.home.start()
        self.last_check = time.monotonic()  # workers get a while to start before they are missed

    def run(self, outlet: str, deadline: float) -> Outcome:
        wait = self.wait()
        db = self.open_db()
        try:
            run_id = start_run(db, outlet, datetime.now(UTC), cluster=True)
        finally:
            db.close()
        try:
            future = self.home.send(run_id, outlet, deadline, time.time() + deadline, patience=30)
            answer = future.result(timeout=wait)
        except RedisError as exc:
            return Outcome(run_id=run_id, error=f"not sent: Redis unreachable ({exc})")
        except FutureTimeout:
            self.home.forget(run_id)
            why = f"unheard: no worker answered within {format_duration(wait)}"
            return Outcome(run_id=run_id, error=why)
        if "stopped" in answer:
            return Outcome(run_id=run_id, left_open=True)
        if "id" in answer:
            return Outcome(run=answer, run_id=run_id)
        why = str(answer.get("error") or answer.get("lost"))
        return Outcome(run_id=run_id, error=why, lost="lost" in answer)

    def watch(self) -> None:
        if time.monotonic() - self.last_check < CLUSTER_CHECK:
            return
        self.last_check = time.monotonic()
        self.sweep_unheard()
        self.warn_if_no_worker()

    def sweep_unheard(self) -> None:
        """Close the runs of an earlier monitor that no worker answered in time."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.wait() + 60)
        db = self.open_db()
        try:
            closed = close_unheard(
                db, cutoff, f"no worker answered within {format_duration(self.wait())}"
            )
        finally:
            db.close()
        for run in closed:
            self.settled(run)

    def warn_if_no_worker(self) -> None:
        """Say it when runs wait in Redis and no worker has been heard from lately."""
        if not self.home.in_flight():
            return
        try:
            workers = self.home.bus.workers()
        except RedisError:
            return  # the results thread says so
        now = datetime.now(UTC)
        recent = [
            w
            for w in workers
            if not w.get("stopped")
            and (now - datetime.fromisoformat(w["beat"])).total_seconds() < CLUSTER_CHECK
        ]
        if not recent:
            logger.error(
                "No crawl worker heard from in the last %(span)s: %(count)d run(s) wait in Redis; "
                "start `wirewatch worker` on a machine that can reach it",
                {"span": format_duration(CLUSTER_CHECK), "count": self.home.in_flight()},
            )

    def in_flight(self) -> int:
        return self.home.in_flight()

    def reload(self, config: MonitorConfig) -> None:
        self.config = config
        self.home.set_watches(config.watches)

    def stop(self) -> None:
        if self.home.in_flight():
            logger.warning(
                "Stopping with %(count)d cluster run(s) unanswered: their workers go on, and "
                "the next monitor stores what they send",
                {"count": self.home.in_flight()},
            )
        self.home.stop()
