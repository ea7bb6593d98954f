"""Everything wirewatch keeps in Redis, and the one place that speaks to it (redis-py).

Keys (all under ``wirewatch:``):

- ``runs``: stream of due runs, consumer group ``workers``; a message is ``{"m": JSON}`` with
  ``run`` (the ``crawl_runs`` id), ``outlet``, ``deadline`` (seconds) and ``expires`` (epoch
  seconds: a run not started by then is answered ``expired`` instead of crawled).
- ``results``: stream of what workers send home, consumer group ``monitor``: ``articles``
  (a batch of one run's extracted articles) and ``done`` (the run's end: its finish reason,
  stats and feed validators). ``rejected``: results the monitor could not read, set aside.
- ``known``: hash, URL key -> when its article was first seen; ``checked``: hash, URL key ->
  when its article was last fetched (for its next re-check); ``sources``: hash, feed or
  sitemap URL -> its last poll (JSON); ``state``: set once both were built from SQLite (gone:
  Redis lost its data, and the monitor builds them again).
- ``site:HOST``: the lock of the run crawling that site; ``worker:ID``: a worker's heartbeat
  (hash), ``workers``: the IDs heard from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis
from redis.exceptions import ResponseError
from redis.lock import Lock

PREFIX = "wirewatch"
RUNS = f"{PREFIX}:runs"
RESULTS = f"{PREFIX}:results"
REJECTED = f"{PREFIX}:rejected"
KNOWN = f"{PREFIX}:known"
CHECKED = f"{PREFIX}:checked"
SOURCES = f"{PREFIX}:sources"
STATE = f"{PREFIX}:state"
WORKERS = f"{PREFIX}:workers"
WORKER_GROUP = "workers"
MONITOR_GROUP = "monitor"
MONITOR = "monitor"
#: A worker's heartbeat outlives it this long, so that ``status`` can say when it was last heard.
BEAT_TTL = 7 * 86400

#: What a failed call raises: Redis down, restarting, or refusing.
RedisError = redis.RedisError

T = TypeVar("T")
Message = tuple[str, dict[str, Any]]


class Bus:
    """wirewatch's Redis: the two streams, the crawl state, the site locks, the heartbeats."""

    def __init__(self, url: str) -> None:
        self.url = url
        # RESP2 replies (lists), whatever redis-py's default; a blocking read waits 1 s at most,
        # well within the socket timeout.
        self.redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            protocol=2,
            socket_timeout=15,
            socket_connect_timeout=5,
            health_check_interval=15,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Bus:
        return self  # a Scrapy setting: every crawler's copy shares the connection pool

    def close(self) -> None:
        self.redis.close()

    def where(self) -> str:
        """The server, without credentials, for messages."""
        kwargs = self.redis.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # -- the streams ---------------------------------------------------------------------------

    def ensure_groups(self) -> None:
        """Create both streams and their consumer groups if Redis lacks them (a first start, or
        a Redis that came back empty)."""
        for stream, group in ((RUNS, WORKER_GROUP), (RESULTS, MONITOR_GROUP)):
            try:
                self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _grouped(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_groups()
            return call()

    def dispatch(self, run: Mapping[str, Any]) -> str:
        """Put a due run on the runs stream; its message id."""
        return str(self.redis.xadd(RUNS, {"m": json.dumps(run)}))

    def take(self, consumer: str, count: int, block: float) -> list[Message]:
        """Up to ``count`` new runs for ``consumer``, waiting up to ``block`` seconds."""
        reply = self._grouped(
            lambda: self.redis.xreadgroup(
                WORKER_GROUP, consumer, {RUNS: ">"}, count=count, block=int(block * 1000)
            )
        )
        return _messages(reply)

    def reclaim(self, consumer: str, idle: float, count: int) -> list[Message]:
        """Runs another worker took and has not touched for ``idle`` seconds (it died)."""
        reply = self._grouped(
            lambda: self.redis.xautoclaim(
                RUNS, WORKER_GROUP, consumer, int(idle * 1000), "0-0", count=count
            )
        )
        return [_decode(entry) for entry in reply[1] if entry and entry[1]]

    def deliveries(self, message_id: str) -> int:
        """How many times the run ``message_id`` was handed to a worker."""
        found = self.redis.xpending_range(RUNS, WORKER_GROUP, message_id, message_id, 1)
        return int(found[0]["times_delivered"]) if found else 0

    def touch(self, consumer: str, message_ids: Iterable[str]) -> None:
        """Tell Redis the runs ``consumer`` holds are alive (their idle time starts again)."""
        ids: list[Any] = list(message_ids)
        if ids:
            self._grouped(
                lambda: self.redis.xclaim(RUNS, WORKER_GROUP, consumer, 0, ids, justid=True)
            )

    def finish(self, message_id: str) -> None:
        """The run's outcome is home: acknowledge the run and drop it from the stream."""
        pipe = self.redis.pipeline()
        pipe.xack(RUNS, WORKER_GROUP, message_id)
        pipe.xdel(RUNS, message_id)
        pipe.execute()

    def send(self, message: Mapping[str, Any]) -> str:
        """Put a worker's result (``articles`` or ``done``) on the results stream."""
        return str(self.redis.xadd(RESULTS, {"m": json.dumps(message, default=str)}))

    def results(self, count: int, block: float, pending: bool = False) -> list[Message]:
        """Results for the monitor: those it read before and did not acknowledge (``pending``,
        after a restart), else new ones, waiting up to ``block`` seconds."""
        start = "0" if pending else ">"
        reply = self._grouped(
            lambda: self.redis.xreadgroup(
                MONITOR_GROUP,
                MONITOR,
                {RESULTS: start},
                count=count,
                block=None if pending else int(block * 1000),
            )
        )
        return _messages(reply)

    def settled(self, message_id: str) -> None:
        """The monitor committed what the result held: acknowledge and drop it."""
        pipe = self.redis.pipeline()
        pipe.xack(RESULTS, MONITOR_GROUP, message_id)
        pipe.xdel(RESULTS, message_id)
        pipe.execute()

    def reject(self, message_id: str, message: Mapping[str, Any], error: str) -> None:
        """Set a result the monitor cannot store aside (``rejected``), then drop it."""
        self.redis.xadd(REJECTED, {"m": json.dumps(message, default=str), "error": error})
        self.settled(message_id)

    def forget_workers(self, idle: float) -> list[str]:
        """Drop from the runs' group the consumers (worker processes gone) that hold no run and
        have not read for ``idle`` seconds; their names."""
        gone = []
        for consumer in self.redis.xinfo_consumers(RUNS, WORKER_GROUP):
            if int(consumer["pending"]) == 0 and int(consumer["idle"]) >= idle * 1000:
                self.redis.xgroup_delconsumer(RUNS, WORKER_GROUP, consumer["name"])
                gone.append(str(consumer["name"]))
        return gone

    def backlog(self) -> dict[str, int]:
        """Runs waiting for a worker, and results waiting for the monitor."""
        return {"runs": int(self.redis.xlen(RUNS)), "results": int(self.redis.xlen(RESULTS))}

    # -- the crawl state -----------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the crawl state was built (False: a new or emptied Redis)."""
        return bool(self.redis.exists(STATE))

    def mark_ready(self, stamp: str) -> None:
        self.redis.set(STATE, stamp)

    def known(self, key: str) -> tuple[str, str] | None:
        """When the article of URL key ``key`` was first seen and last fetched, or None."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(KNOWN, key)
        pipe.hget(CHECKED, key)
        first, last = pipe.execute()
        if first is None:
            return None
        return str(first), str(last if last is not None else first)

    def publish_known(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Record URL keys with their first-seen (an earlier time is kept) and last-fetched
        times."""
        pipe = self.redis.pipeline(transaction=False)
        for key, first_seen, last_seen in rows:
            pipe.hsetnx(KNOWN, key, first_seen)
            pipe.hset(CHECKED, key, last_seen)
        pipe.execute()

    def trim_known(self, before: str, page: int = 1000) -> int:
        """Forget the URL keys first seen before ``before``; how many."""
        dropped = 0
        batch: list[str] = []

        def drop() -> int:
            self.redis.hdel(CHECKED, *batch)
            return int(self.redis.hdel(KNOWN, *batch))

        for key, first_seen in self.redis.hscan_iter(KNOWN, count=page):
            if str(first_seen) < before:
                batch.append(str(key))
            if len(batch) >= page:
                dropped += drop()
                batch = []
        if batch:
            dropped += drop()
        return dropped

    def source(self, url: str) -> dict[str, Any] | None:
        value = self.redis.hget(SOURCES, url)
        return json.loads(value) if value else None

    def publish_sources(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        if states:
            self.redis.hset(SOURCES, mapping={url: json.dumps(s) for url, s in states.items()})

    # -- sites and workers ---------------------------------------------------------------------

    def site_lock(self, site: str, ttl: float) -> Lock:
        """The lock of ``site`` (host:port) for one run: it expires after ``ttl`` seconds, so a
        worker that died holding it does not hold it for ever."""
        return Lock(self.redis, f"{PREFIX}:site:{site}", timeout=ttl, thread_local=False)

    def beat(self, worker: str, fields: Mapping[str, Any]) -> None:
        key = f"{PREFIX}:worker:{worker}"
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={name: str(value) for name, value in fields.items()})
        pipe.expire(key, BEAT_TTL)
        pipe.sadd(WORKERS, worker)
        pipe.execute()

    def workers(self) -> list[dict[str, Any]]:
        """Every worker heard from in the last week: its last heartbeat's fields."""
        found: list[dict[str, Any]] = []
        for worker in sorted(str(w) for w in self.redis.smembers(WORKERS)):
            fields = self.redis.hgetall(f"{PREFIX}:worker:{worker}")
            if fields:
                found.append({"id": worker, **{str(k): str(v) for k, v in fields.items()}})
            else:
                self.redis.srem(WORKERS, worker)
        return found


def _decode(entry: Any) -> Message:
    message_id, fields = entry
    return str(message_id), json.loads(fields["m"])


def _messages(reply: Any) -> list[Message]:
    if not reply:
        return []
    return [_decode(entry) for _, entries in reply for entry in entries if entry and entry[1]]
