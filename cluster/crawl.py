"""The workers' side of a cluster run in Scrapy: no SQLite file, state from Redis, results home.

A cluster worker (``wirewatch worker``) gives each run's crawler three settings: ``WIREWATCH_BUS``
(the :class:`cluster.bus.Bus`), ``WIREWATCH_RUN`` (the run's :class:`RunLink`) and
``WIREWATCH_STATE`` naming :class:`SharedState`; and ``ITEM_PIPELINES`` naming
:class:`SendPipeline` instead of the store. The spider asks Redis which URLs are known and what
each feed's validators were; what it learns of the feeds, and the articles it extracts, go home
with the run through the ``RunLink``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrapy.crawler import Crawler

from cluster.bus import Bus, RedisError
from crawler.items import ArticleItem
from extractors.urls import url_key
from storage.articles import Seen

logger = logging.getLogger(__name__)

#: Articles sent home in one message.
BATCH = 10
#: Workers a run may be handed to; one that has outlived so many (each died holding it, or was
#: stopped) is answered as abandoned rather than handed on for ever, and the monitor
#: quarantines its outlet.
MAX_DELIVERIES = 4
#: The start of an abandoned run's reason.
ABANDONED = "abandoned"


class RunLink:
    """One run's line home: its articles in batches, then its outcome, in that order, through
    ``send`` (the worker's ordered outbox)."""

    def __init__(self, run: int, outlet: str, worker: str, send: Callable[[dict], None]) -> None:
        self.run = run
        self.outlet = outlet
        self.worker = worker
        self.send = send
        self.articles: list[dict[str, Any]] = []
        #: What the run learnt of its feeds and sitemaps, for ``source_cache``.
        self.sources: list[dict[str, Any]] = []
        self.sent = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> RunLink:
        return self  # a Scrapy setting, copied for the crawler: the copy must be this link

    def article(self, article: dict[str, Any]) -> None:
        self.articles.append(article)
        if len(self.articles) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.articles:
            self.send(self._message("articles", articles=self.articles))
            self.sent += len(self.articles)
            self.articles = []

    def done(self, reason: str, stats: dict[str, Any]) -> None:
        """The run's end: what is left of its articles, then its outcome."""
        self.flush()
        self.send(self._message("done", reason=reason, stats=stats, sources=self.sources))

    def _message(self, kind: str, **fields: Any) -> dict[str, Any]:
        head = {"kind": kind, "run": self.run, "outlet": self.outlet, "worker": self.worker}
        return {**head, **fields}


class SharedState:
    """``crawler.state.CrawlState`` over Redis: reads the known URLs and the feeds' validators
    there; what the run learns of its feeds goes home with its outcome. When Redis cannot be
    read, a URL counts as new (the monitor's store recognises it) and a feed is fetched in
    full: a run never skips what it cannot check."""

    def __init__(self, bus: Bus, link: RunLink, crawler: Crawler) -> None:
        self.bus = bus
        self.link = link
        self.crawler = crawler
        self.warned = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedState:
        return cls(crawler.settings["WIREWATCH_BUS"], crawler.settings["WIREWATCH_RUN"], crawler)

    def _unreadable(self, exc: Exception) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("wirewatch/cluster/state_unreadable")
        if not self.warned:
            self.warned = True
            logger.warning(
                "Redis unreadable for the known URLs (%(error)s): this run fetches them",
                {"error": exc},
            )

    def seen(self, url: str) -> Seen | None:
        key = url_key(url)  # ValueError: no article's address
        try:
            known = self.bus.known(key)
        except RedisError as exc:
            self._unreadable(exc)
            return None
        return Seen(*known) if known is not None else None

    def source_state(self, url: str) -> dict[str, Any] | None:
        try:
            return self.bus.source(url)
        except RedisError as exc:
            self._unreadable(exc)
            return None

    def record_fetch(
        self, url: str, *, etag: str, last_modified: str, digest: str, trusted: bool
    ) -> None:
        self.link.sources.append(
            {
                "url": url,
                "etag": etag,
                "last_modified": last_modified,
                "digest": digest,
                "trusted": trusted,
            }
        )

    def record_not_modified(self, url: str) -> None:
        self.link.sources.append({"url": url, "not_modified": True})

    def record_hub(self, url: str, hub: str, topic: str) -> None:
        self.link.sources.append({"url": url, "hub": hub, "topic": topic})

    def close(self) -> None:
        pass


class SendPipeline:
    """Sends each extracted article home (``wirewatch/cluster/sent``) instead of storing it."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.link: RunLink = crawler.settings["WIREWATCH_RUN"]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SendPipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        self.link.article(item.article.as_dict())
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("wirewatch/cluster/sent")
        return item
