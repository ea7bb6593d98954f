"""The monitor's end of a cluster: due runs out to Redis, results in to SQLite.

:meth:`Home.send` puts a run on the runs stream and returns a future of its outcome. One thread
(:meth:`Home.serve`) reads the results stream: each batch of articles is stored with
``ingest.Ingest`` (alerts in the article's transaction, as on one machine), each outcome closes
its ``crawl_runs`` row and records the feeds' validators; only then is the message
acknowledged. A message read and not acknowledged (the monitor died) is read again at the next
start and stored again, which changes nothing. After each commit the URL keys and validators
it stored are copied to Redis for the workers; when Redis comes back empty (its ``state`` key
gone), they are rebuilt from SQLite and the runs in flight, lost with it, are answered as such.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from alerts.config import WatchConfig
from cluster.bus import REJECTED, Bus, RedisError
from crawler.runs import REASONS, STATUS
from extractors.article import Article
from extractors.dates import isoformat
from ingest import Ingest
from storage import sources, websub
from storage.articles import NEAR_DUPLICATE, NEW, UPDATED, known_url_keys
from storage.runs import FAILED, close_cluster_run, count_articles

logger = logging.getLogger("wirewatch.cluster")

#: Results read at once.
BATCH = 20
#: Seconds between two checks that Redis still holds the crawl state.
STATE_CHECK = 5.0
#: Seconds between two trims of the known URL keys.
TRIM_EVERY = 3600.0
#: What a run still out when the monitor stops is answered with.
STOPPED = "the monitor stopped before its outcome came home; the next monitor records it"
#: What a run lost with Redis's data is answered with.
LOST = "lost: Redis lost its data (restarted without its AOF?) before a worker answered"


class Home:
    """Sends runs to the cluster's workers and stores what they send back."""

    def __init__(
        self,
        bus: Bus,
        open_db: Callable[[], Database],
        watches: Sequence[WatchConfig],
        settle: Callable[[dict[str, Any]], None],
        known_for: float = 7 * 86400.0,
        *,
        alerted: Callable[[], None] = lambda: None,
    ) -> None:
        """``settle`` is called with each run closed here that no :meth:`send` waits for (a run
        of an earlier monitor). URL keys first seen more than ``known_for`` seconds ago are
        dropped from Redis (hourly), and not copied there by a rebuild. ``alerted`` is called
        when a batch of articles that came home raised alerts (committed)."""
        self.bus = bus
        self.alerted = alerted
        self.known_for = known_for
        self.open_db = open_db
        self.watches = list(watches)
        self.settle = settle
        self.waiting: dict[int, Future[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.away: str | None = None
        self.reloaded = False
        self.thread: threading.Thread | None = None
        #: Whether this monitor saw Redis hold the crawl state: if it is gone later, Redis lost
        #: its data, and the runs in flight with it.
        self.had_state = False

    # -- out -----------------------------------------------------------------------------------

    def send(
        self, run_id: int, outlet: str, deadline: float, expires: float, patience: float
    ) -> Future[dict[str, Any]]:
        """Put the run on the runs stream; a future of its closed ``crawl_runs`` row (or of
        ``{"lost": why}``). Tries for ``patience`` seconds while Redis is away.

        Raises:
            RedisError: Redis stayed away.
        """
        future: Future[dict[str, Any]] = Future()
        with self.lock:
            self.waiting[run_id] = future
        message = {"run": run_id, "outlet": outlet, "deadline": deadline, "expires": expires}
        give_up = time.monotonic() + patience
        while True:
            try:
                self.bus.dispatch(message)
                return future
            except RedisError as exc:
                self._down(exc)
                if time.monotonic() >= give_up or self.stopping.is_set():
                    self.forget(run_id)
                    raise
                time.sleep(1.0)

    def forget(self, run_id: int) -> None:
        with self.lock:
            self.waiting.pop(run_id, None)

    def in_flight(self) -> int:
        with self.lock:
            return len(self.waiting)

    def set_watches(self, watches: Sequence[WatchConfig]) -> None:
        """A reloaded config's watches: results from now on are matched against these."""
        self.watches = list(watches)
        self.reloaded = True

    # -- in ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Build the crawl state if Redis lacks it, then store results in a thread."""
        db = self.open_db()
        try:
            self.check_state(db)
        except RedisError as exc:
            self._down(exc)  # the thread tries again
        finally:
            db.close()
        self.thread = threading.Thread(target=self.serve, name="cluster-results", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop storing results; every run still waited for is answered ``stopped`` (its
        outcome stays in Redis, for the next monitor to record)."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        with self.lock:
            left, self.waiting = self.waiting, {}
        for future in left.values():
            future.set_result({"stopped": STOPPED})

    def serve(self) -> None:
        """Store results until :meth:`stop`: first those read before and not acknowledged."""
        db = self.open_db()
        ingest = Ingest(db, self.watches)
        pending = True
        checked = 0.0
        trimmed = time.monotonic()
        try:
            while not self.stopping.is_set():
                if self.reloaded:
                    self.reloaded = False
                    ingest = Ingest(db, self.watches)
                try:
                    if time.monotonic() - checked >= STATE_CHECK:
                        self.check_state(db)
                        checked = time.monotonic()
                    if time.monotonic() - trimmed >= TRIM_EVERY:
                        self.trim()
                        trimmed = time.monotonic()
                    messages = self.bus.results(BATCH, 1.0, pending=pending)
                    if pending and not messages:
                        pending = False
                        continue
                    for message_id, message in messages:
                        try:
                            self.handle(db, ingest, message)
                        except (RedisError, sqlite3.Error):
                            raise
                        except Exception as exc:
                            # Not wirewatch's shape: set aside, so that it blocks nothing.
                            logger.exception(
                                "A result of run %(run)s could not be stored; it is kept in "
                                "Redis as %(stream)s",
                                {"run": message.get("run"), "stream": REJECTED},
                            )
                            self.bus.reject(message_id, message, repr(exc))
                            continue
                        self.bus.settled(message_id)
                    self._up()
                except RedisError as exc:
                    self._down(exc)
                    pending = True  # what was read and not acknowledged comes first
                    self.stopping.wait(1.0)
                except sqlite3.Error as exc:
                    logger.error(
                        "Could not store the workers' results (%(error)s): they stay in Redis and "
                        "are stored at the next try",
                        {"error": exc},
                    )
                    pending = True
                    self.stopping.wait(5.0)
        finally:
            db.close()

    def handle(self, db: Database, ingest: Ingest, message: dict[str, Any]) -> None:
        """Store one result; raises (and the message stays in Redis) if it cannot."""
        kind = message.get("kind")
        if kind == "articles":
            self._articles(db, ingest, message)
        elif kind == "done":
            self._done(db, message)
        else:
            raise ValueError(f"not a result of wirewatch's (kind {kind!r})")

    def _articles(self, db: Database, ingest: Ingest, message: dict[str, Any]) -> None:
        outlet = str(message["outlet"])
        new = updated = alerts = 0
        stored_ids = []
        for fields in message.get("articles") or []:
            try:
                article = Article(**fields)
            except TypeError as exc:
                logger.error(
                    "A worker sent an article wirewatch cannot read (%(error)s): %(url)s",
                    {"error": exc, "url": fields.get("url")},
                )
                continue
            stored = ingest.store(article, outlet)
            stored_ids.append(stored.article_id)
            new += stored.outcome in (NEW, NEAR_DUPLICATE)
            updated += stored.outcome == UPDATED
            alerts += stored.alerts
            # One line a run is the monitor's INFO (the run's); an article's is DEBUG (-vv).
            logger.debug(
                "Stored %(url)s (%(outcome)s, id %(id)d)",
                {"url": article.url, "outcome": stored.outcome, "id": stored.article_id},
            )
        count_articles(db, int(message["run"]), new, updated)
        self.bus.publish_known(known_url_keys(db, stored_ids))
        if alerts:
            self.alerted()

    def _done(self, db: Database, message: dict[str, Any]) -> None:
        changed = []
        for source in message.get("sources") or []:
            url = str(source["url"])
            if "hub" in source:
                websub.record_hub(db, url, str(source["hub"]), str(source.get("topic") or ""))
                continue
            if source.get("not_modified"):
                sources.record_not_modified(db, url)
            else:
                sources.record_fetch(
                    db,
                    url,
                    etag=str(source.get("etag") or ""),
                    last_modified=str(source.get("last_modified") or ""),
                    digest=str(source.get("digest") or ""),
                    trusted=bool(source.get("trusted")),
                )
            changed.append(url)
        reason = str(message.get("reason") or "")
        run_id = int(message["run"])
        run = close_cluster_run(
            db,
            run_id,
            STATUS.get(reason, FAILED),
            worker=str(message.get("worker") or ""),
            reason=REASONS.get(reason, reason),
            stats=dict(message.get("stats") or {}),
        )
        self.bus.publish_sources(sources.source_states(db, changed))
        with self.lock:
            future = self.waiting.pop(run_id, None)
        if run is None:
            return  # answered already: the run was taken over, and both workers answered
        if future is not None:
            future.set_result(run)
        else:
            self.settle(run)

    def oldest_known(self) -> str:
        return isoformat(datetime.now(UTC) - timedelta(seconds=self.known_for))

    def trim(self) -> None:
        """Drop the URL keys older than ``known_for`` from Redis (it holds a window, SQLite
        holds all), and the consumers of worker processes gone a day."""
        self.bus.forget_workers(86400.0)
        dropped = self.bus.trim_known(self.oldest_known())
        if dropped:
            logger.info(
                "Redis: %(count)d URL keys past [cluster] known_for dropped", {"count": dropped}
            )

    def check_state(self, db: Database) -> None:
        """Make sure Redis has both streams' groups and the crawl state."""
        self.bus.ensure_groups()
        if not self.bus.ready():
            self.rebuild(db, lost=self.had_state)
        self.had_state = True

    def rebuild(self, db: Database, lost: bool = False) -> None:
        """Redis has no crawl state (new, or it ``lost`` its data): build it from SQLite. Runs in
        flight are lost with the data: they are answered as lost, for the monitor to send
        again."""
        started = time.monotonic()
        with self.lock:
            gone, self.waiting = (self.waiting, {}) if lost else ({}, self.waiting)
        for future in gone.values():
            future.set_result({"lost": LOST})
        count = 0
        batch: list[tuple[str, str, str]] = []
        for pair in known_url_keys(db, since=self.oldest_known()):
            batch.append(pair)
            if len(batch) >= 10_000:
                self.bus.publish_known(batch)
                count += len(batch)
                batch = []
        self.bus.publish_known(batch)
        count += len(batch)
        states = sources.source_states(db)
        self.bus.publish_sources(states)
        self.bus.mark_ready(isoformat(datetime.now(UTC)))
        logger.log(
            logging.WARNING if lost else logging.INFO,
            "Redis held no crawl state: built from SQLite (%(keys)d URL keys, %(sources)d "
            "feeds) in %(seconds).1fs%(lost)s",
            {
                "keys": count,
                "sources": len(states),
                "seconds": time.monotonic() - started,
                "lost": f"; {len(gone)} run(s) in flight were lost and are sent again"
                if gone
                else "",
            },
        )

    def _down(self, exc: Exception) -> None:
        if self.away is None:
            logger.error(
                "Redis at %(where)s unreachable (%(error)s): no run is sent and no result "
                "stored until it is back",
                {"where": self.bus.where(), "error": exc},
            )
        self.away = str(exc)

    def _up(self) -> None:
        if self.away is not None:
            logger.info("Redis at %(where)s is back", {"where": self.bus.where()})
            self.away = None
