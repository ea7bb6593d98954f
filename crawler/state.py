"""What a run reads of what earlier runs saw: the URLs already stored (with when they were first
seen and last fetched) and each feed's and sitemap's validators for conditional GET.

On one machine that is the SQLite file itself (:class:`LocalState`). A crawl worker of a
cluster has no SQLite file: its state comes from Redis and its writes go home to the monitor
with the run's outcome (``cluster.crawl.SharedState``). The spider takes the class named by the
``WIREWATCH_STATE`` setting, as Scrapy takes its own components, so the crawler imports nothing
above it.
"""

from __future__ import annotations

from typing import Any, Protocol

from scrapy.crawler import Crawler
from sqlite_utils import Database

from crawler.context import crawl_config, database_path
from storage import sources, websub
from storage.articles import Seen, seen
from storage.db import open_db

#: The ``WIREWATCH_STATE`` of a crawl on one machine.
LOCAL = "crawler.state.LocalState"


class CrawlState(Protocol):
    """What the outlet spider asks of earlier runs, and tells about this one."""

    def seen(self, url: str) -> Seen | None:
        """When the article ``url`` leads to was first seen and last fetched; None if it is
        new. Raises ValueError for a URL that cannot be an article's address."""
        ...

    def source_state(self, url: str) -> dict[str, Any] | None:
        """The last poll of a feed or sitemap (``storage.sources.source_state``)."""
        ...

    def record_fetch(
        self, url: str, *, etag: str, last_modified: str, digest: str, trusted: bool
    ) -> None: ...

    def record_not_modified(self, url: str) -> None: ...

    def record_hub(self, url: str, hub: str, topic: str) -> None:
        """The feed ``url`` (as configured) names the WebSub ``hub`` for ``topic`` ("": none)."""
        ...

    def close(self) -> None: ...


class LocalState:
    """The state in the SQLite file the run stores into."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LocalState:
        config = crawl_config(crawler.settings)
        return cls(open_db(database_path(crawler.settings, config), config.storage.busy_timeout))

    def seen(self, url: str) -> Seen | None:
        return seen(self.db, url)

    def source_state(self, url: str) -> dict[str, Any] | None:
        return sources.source_state(self.db, url)

    def record_fetch(
        self, url: str, *, etag: str, last_modified: str, digest: str, trusted: bool
    ) -> None:
        sources.record_fetch(
            self.db, url, etag=etag, last_modified=last_modified, digest=digest, trusted=trusted
        )

    def record_not_modified(self, url: str) -> None:
        sources.record_not_modified(self.db, url)

    def record_hub(self, url: str, hub: str, topic: str) -> None:
        websub.record_hub(self.db, url, hub, topic)

    def close(self) -> None:
        self.db.close()
