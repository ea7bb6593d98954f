"""A cluster's crawl worker (``[cluster]``, ``cluster/``): one process of ``wirewatch worker``
(``workers.supervise`` keeps them running).

Each process is a :class:`ClusterWorker`: the one-machine worker's reactor and per-site slots
(``workers.serve``), with its runs taken from Redis instead of a pipe:

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
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from redis.exceptions import LockError
from redis.lock import Lock
from scrapy.crawler import Crawler
from scrapy.settings import Settings

from cluster.bus import Bus, Message, RedisError
from cluster.config import ClusterConfig
from cluster.crawl import ABANDONED, MAX_DELIVERIES, RunLink
from core.units import format_duration
from crawler.config import CrawlerConfig
from extractors.dates import isoformat
from workers.serve import Worker, route_twisted_logs
from workers.slots import Slots

logger = logging.getLogger("wirewatch.worker")

#: Seconds between two heartbeats, and the longest a reader waits for a run.
BEAT = 1.0
#: Seconds the sender keeps trying to send what is left when the worker exits.
FLUSH_WAIT = 10.0


class _Schedule(Protocol):
    @property
    def grace(self) -> float: ...


class WorkerConfig(CrawlerConfig, Protocol):
    """What a cluster worker reads of the config (``wirewatch.config.Config`` is one)."""

    @property
    def schedule(self) -> _Schedule: ...

    @property
    def cluster(self) -> ClusterConfig: ...

    @property
    def redis_url(self) -> str: ...


class ClusterSlots(Slots):
    """This worker's slots, and a Redis lock per site, so that the rule holds across machines.
    A lock is renewed with the runs in hand (:meth:`renew`): it expires soon after its worker
    dies. Without Redis, this machine's own rule still holds."""

    def __init__(
        self,
        bus: Bus,
        ttl: float,
        unlock: Callable[[Lock], None],
        down: Callable[[Exception], None],
    ) -> None:
        super().__init__()
        self.bus = bus
        self.ttl = ttl
        self.unlock = unlock  # lets go of a lock off the reactor (Redis may be slow or away)
        self.down = down
        self.locks: dict[str, list[Lock]] = {}  # token -> the site locks its run holds
        self.lock = threading.Lock()

    def take(self, token: str, sites: frozenset[str]) -> bool:
        if sites & self.holders.keys():
            return False
        locks: list[Lock] = []
        try:
            for site in sorted(sites):
                lock = self.bus.site_lock(site, self.ttl)
                if not lock.acquire(blocking=False):
                    break
                locks.append(lock)
            else:
                return self._held(token, sites, locks)
        except RedisError as exc:
            self.down(exc)
            return self._held(token, sites, locks)
        for lock in locks:
            self.unlock(lock)
        return False

    def _held(self, token: str, sites: frozenset[str], locks: list[Lock]) -> bool:
        with self.lock:
            self.locks[token] = locks
        return super().take(token, sites)

    def release(self, token: str) -> None:
        super().release(token)
        with self.lock:
            released = self.locks.pop(token, [])
        for lock in released:
            self.unlock(lock)

    def renew(self) -> None:
        """Keep the locks of the runs in hand (from the reader thread)."""
        with self.lock:
            locks = [lock for held in self.locks.values() for lock in held]
        for lock in locks:
            with contextlib.suppress(LockError):  # released meanwhile
                lock.reacquire()


class ClusterWorker(Worker):
    """Crawl runs taken from Redis; articles and outcomes sent home there."""

    slots: ClusterSlots

    def __init__(self, config: WorkerConfig, config_path: Path, bus: Bus) -> None:
        self.bus = bus
        self.claim_after = config.cluster.claim_after
        self.outbox: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.away: str | None = None  # why Redis cannot be reached, while it cannot
        super().__init__(config, config_path, None)
        self.capacity = config.cluster.runs
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
        self.closing = threading.Event()
        self.served = 0
        self.started = isoformat(datetime.now(UTC))

    def _slots(self) -> ClusterSlots:
        return ClusterSlots(
            self.bus,
            self.claim_after,
            lambda lock: self.outbox.put(("unlock", lock)),
            self._redis_down,
        )

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
                    self.bus.touch(self.id, ids)
                    self.slots.renew()
                    last_touch = now
                free = 0 if self.draining else self.capacity - len(self.held)
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

    def _run_settings(self, token: str, outlet: str, deadline: float) -> Settings:
        settings = super()._run_settings(token, outlet, deadline)
        settings.set("WIREWATCH_RUN", self.held[token], priority="cmdline")
        return settings

    def _report(self, token: str, crawler: Crawler, reason: str, stats: dict[str, Any]) -> None:
        with self.hold:
            link = self.held.pop(token)
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


def serve_cluster(config: WorkerConfig, config_path: Path) -> None:
    """``wirewatch worker-serve --cluster``: one worker process of ``wirewatch worker``."""
    route_twisted_logs()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the supervisor's
    # Its own lines (Redis away and back, stopping) at INFO, as the supervisor's; Scrapy's
    # crawl-by-crawl chatter stays at WARNING (the crawl settings' LOG_LEVEL).
    logging.getLogger("wirewatch").setLevel(min(logging.INFO, logging.root.level))
    for handler in logging.root.handlers:
        handler.setLevel(min(logging.INFO, handler.level))
    worker = ClusterWorker(config, config_path, Bus(config.redis_url))
    signal.signal(signal.SIGTERM, lambda *_: worker.reactor.callFromThread(worker.drain))
    worker.serve()
