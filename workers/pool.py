"""The monitor's crawl workers on this machine: ``wirewatch worker-serve`` children
(``workers.serve``) and the runs each holds, over the pipe of ``workers.protocol``."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from core.units import format_duration
from workers.outcome import Outcome
from workers.processes import (
    TERMINATE_WAIT,
    Backoff,
    end_with_parent,
    how_it_ended,
    terminate,
)
from workers.protocol import Alerted, Done, Drain, Message, ProtocolError, Run, decode, encode
from workers.slots import route

logger = logging.getLogger("wirewatch.scheduler")

#: Seconds a crawl worker may go without a beat (it beats every second) before it is killed;
#: a page's extraction is bounded by [crawl] page_budget (10 s) far below this.
WORKER_SILENCE = 60.0
#: Seconds a new crawl worker may take to start; one that dies sooner is retried with backoff.
WORKER_START = 30.0
#: Runs a crawl worker serves before a fresh one takes its place.
WORKER_RECYCLE = 2000


class WorkerProcess:
    """One ``wirewatch worker-serve`` child and the runs it holds."""

    def __init__(
        self,
        command: list[str],
        on_exit: Callable[[WorkerProcess], None],
        on_alerts: Callable[[], None] = lambda: None,
    ) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # a terminal's Ctrl-C reaches the monitor, not the workers
            preexec_fn=end_with_parent,
        )
        self.pid = self.process.pid
        self.started = time.monotonic()
        self.pending: dict[str, tuple[Future[Outcome], str]] = {}
        self.lock = threading.Lock()
        self.runs = 0
        self.draining = False
        self.killed_for: str | None = None  # the token of the run that overran, if any
        self.last_beat = time.monotonic()
        self.on_exit = on_exit
        self.on_alerts = on_alerts  # a run committed alerts: deliver them now
        threading.Thread(target=self._read, name=f"worker-{self.pid}", daemon=True).start()

    def send(self, message: Message) -> bool:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(encode(message) + "\n")
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False  # it is dying; its reader settles what it held

    def submit(self, token: str, outlet: str, deadline: float) -> Future[Outcome] | None:
        future: Future[Outcome] = Future()
        with self.lock:
            self.pending[token] = (future, outlet)
            self.runs += 1
        if not self.send(Run(token, outlet, deadline)):
            with self.lock:
                self.pending.pop(token, None)
            return None
        return future

    @property
    def load(self) -> int:
        return len(self.pending)

    def alive(self) -> bool:
        return self.process.poll() is None

    def drain(self) -> None:
        """Finish the runs in hand, take no more, exit."""
        self.draining = True
        self.send(Drain())

    def kill(self, why: str) -> None:
        logger.warning("Killing crawl worker %(pid)d: %(why)s", {"pid": self.pid, "why": why})
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = decode(line)
            except ProtocolError as exc:
                logger.warning("Crawl worker %(pid)d: %(error)s", {"pid": self.pid, "error": exc})
                continue
            self.last_beat = time.monotonic()  # any message, a Beat or a Done, is a sign of life
            if isinstance(message, Done):
                with self.lock:
                    entry = self.pending.pop(message.id, None)
                if entry is not None:
                    entry[0].set_result(Outcome(self.pid, message.reason))
            elif isinstance(message, Alerted):
                try:
                    self.on_alerts()
                except Exception:  # delivery's trouble must never stop the pipe
                    logger.exception("Delivering alerts after a store failed")
        code = self.process.wait()
        with self.lock:
            held, self.pending = dict(self.pending), {}
        for token, (future, _) in held.items():
            overdue = token == self.killed_for
            future.set_result(Outcome(self.pid, died=True, exit_code=code, overdue=overdue))
        self.on_exit(self)


class WorkerPool:
    """Long-lived crawl workers: each run goes to the least loaded one. A worker that dies is
    replaced; one that stops beating is killed (its runs then end as failed, for the monitor to
    run again); one that has served ``recycle`` runs is drained and replaced, so no slow leak
    grows for months.

    Workers are started only by the thread that calls :meth:`start` and :meth:`watch` (the
    monitor's main thread): a worker dies with the thread that started it (``PR_SET_PDEATHSIG``
    is per thread), and the main thread lives as long as the monitor.
    """

    def __init__(
        self,
        command: list[str],
        size: int,
        recycle: int = WORKER_RECYCLE,
        alerted: Callable[[], None] = lambda: None,
    ) -> None:
        self.command = command
        self.alerted = alerted  # a worker's run committed alerts
        self.size = size
        self.recycle = recycle
        self.workers: list[WorkerProcess] = []
        self.lock = threading.Lock()
        self.ready = threading.Condition(self.lock)
        self.stopping = False
        self.tokens = itertools.count(1)
        self.backoff = Backoff(settled=WORKER_START)

    def start(self) -> None:
        """Start workers until the pool is full (from the monitor's main thread)."""
        with self.lock:
            if self.stopping or not self.backoff.ready():
                return
            while len(self._serving()) < self.size:
                self.workers.append(WorkerProcess(self.command, self._exited, self.alerted))
            self.ready.notify_all()

    def _serving(self) -> list[WorkerProcess]:
        return [w for w in self.workers if not w.draining and w.alive()]

    def _exited(self, worker: WorkerProcess) -> None:
        with self.lock:
            if worker in self.workers:
                self.workers.remove(worker)
            if worker.draining or self.stopping:
                return
            how = how_it_ended(worker.process.returncode)
            # A worker that served runs started fine, however soon it died.
            lived = time.monotonic() - worker.started if not worker.runs else WORKER_START
            wait = self.backoff.died(lived)
            if wait:
                logger.error(
                    "Crawl worker %(pid)d could not start (%(how)s); next try in %(wait)s",
                    {"pid": worker.pid, "how": how, "wait": format_duration(wait)},
                )
                return
            logger.error(
                "Crawl worker %(pid)d died (%(how)s); a new one replaces it",
                {"pid": worker.pid, "how": how},
            )

    def run(self, outlet: str, deadline: float, hard_deadline: float, site: str = "") -> Outcome:
        """Run ``outlet`` in a worker and wait for its end. A run not over by ``hard_deadline``
        seconds has stuck its worker: the worker is killed (its other runs are retried). The
        runs of one ``site`` go to one worker (``workers.slots.route``), which runs them one at
        a time; others go to the least loaded worker."""
        token = str(next(self.tokens))
        with self.ready:
            self.ready.wait_for(lambda: self._serving() or self.stopping, timeout=WORKER_START)
            serving = self._serving()
            if not serving:
                return Outcome(error="no crawl worker is running")
            if site:
                worker = route(site, sorted(serving, key=lambda w: w.pid))
            else:
                worker = min(serving, key=lambda w: w.load)
            # Chosen and sent under the lock: no run reaches a worker after its drain (another
            # thread's run might otherwise be told to a worker already draining, which exits
            # without it).
            recycle = worker.runs + 1 >= self.recycle
            if recycle:
                worker.draining = True  # after this run; the main thread starts a fresh one
                logger.info(
                    "Crawl worker %(pid)d has served %(runs)d runs: a fresh one takes its place",
                    {"pid": worker.pid, "runs": worker.runs + 1},
                )
            future = worker.submit(token, outlet, deadline)
            if recycle:
                worker.drain()
        if future is None:
            return Outcome(worker.pid, error="its crawl worker did not take the run")
        try:
            return future.result(timeout=hard_deadline)
        except FutureTimeout:
            worker.killed_for = token
            worker.kill(f"a run of {outlet} is {format_duration(hard_deadline)} old")
            return future.result()

    def watch(self, silence: float = WORKER_SILENCE) -> None:
        """Kill workers that stopped beating (a stuck reactor); keep the pool full."""
        now = time.monotonic()
        with self.lock:
            workers = list(self.workers)
        for worker in workers:
            if worker.alive() and now - worker.last_beat > silence:
                worker.kill(f"silent for {format_duration(now - worker.last_beat)}")
        self.start()

    def busy(self) -> int:
        with self.lock:
            return sum(worker.load for worker in self.workers)

    def replace(self, command: list[str]) -> None:
        """New workers for new runs (a reloaded config); the old ones finish theirs and exit."""
        with self.lock:
            self.command = command
            old = [w for w in self.workers if not w.draining]
            for worker in old:
                worker.draining = True
        for worker in old:
            worker.drain()
        self.start()

    def stop(self, wait: float = TERMINATE_WAIT) -> None:
        """Stop every worker: drain, then SIGTERM (runs closed as shutdown), then SIGKILL."""
        with self.ready:
            self.stopping = True
            workers = list(self.workers)
            self.ready.notify_all()
        for worker in workers:
            worker.drain()
        threads = [threading.Thread(target=terminate, args=(w.process, wait)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
