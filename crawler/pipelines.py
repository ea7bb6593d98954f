"""Store each extracted article in SQLite (``storage.store_article``) and count the outcome.

Stats: ``wirewatch/store/new`` (a new story), ``.../near_duplicate`` (a new article of a known
story), ``.../updated``, ``.../duplicate``, ``.../failed``, and
``wirewatch/alerts/new``. A failed write drops the item with an error log; its URL is not
recorded, so the next run fetches it again. Alerts are written in the article's transaction;
once it is committed, the :data:`alerts_stored` signal tells whoever runs the crawl (a crawl
worker tells the monitor, which delivers them at once, before the run ends).

When the database as a whole cannot be written (a full disk, a read-only file, a lock held past
``busy_timeout``: ``storage.db.trouble``), the run stops there as ``storage_failed``, with the
reason in words among its problems: nothing else it fetched could be stored either, and every
article not stored is fetched again by the next run.
"""

from __future__ import annotations

import logging
import sqlite3

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlite_utils import Database

from crawler.context import crawl_config, database_path
from crawler.items import ArticleItem
from crawler.problems import add_problem
from ingest import Ingest
from storage.db import open_db, trouble

#: The finish reason of a run stopped because its articles could not be stored.
STORAGE_FAILED = "storage_failed"

#: A Scrapy signal: an article's alerts were committed (``count``: how many).
alerts_stored = object()

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, crawler: Crawler, db: Database, ingest: Ingest) -> None:
        self.crawler = crawler
        self.db = db
        self.ingest = ingest
        self.stopped = False  # the run was stopped for a storage failure

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        config = crawl_config(crawler.settings)
        path = database_path(crawler.settings, config)
        db = open_db(path, config.storage.busy_timeout)
        return cls(crawler, db, Ingest(db, config.watches))

    def process_item(self, item: ArticleItem) -> ArticleItem:
        stats = self.crawler.stats
        assert stats is not None
        try:
            stored = self.ingest.store(item.article, item.outlet)
        except sqlite3.Error as exc:
            stats.inc_value("wirewatch/store/failed")
            why = trouble(exc)
            if why is not None and not self.stopped:
                self.stopped = True
                add_problem(
                    stats,
                    f"storage failed: {why}; the run stopped, and what it did not store is "
                    "fetched again next run",
                )
                assert self.crawler.engine is not None and self.crawler.spider is not None
                self.crawler.engine.close_spider(self.crawler.spider, STORAGE_FAILED)
            logger.error(
                "Could not store %(url)s: %(error)s", {"url": item.article.url, "error": exc}
            )
            raise DropItem(f"storage failed: {exc}") from exc
        stats.inc_value(f"wirewatch/store/{stored.outcome}")
        if stored.alerts:
            stats.inc_value("wirewatch/alerts/new", stored.alerts)
            self.crawler.signals.send_catch_log(signal=alerts_stored, count=stored.alerts)
        logger.info(
            "Stored %(url)s (%(outcome)s, id %(id)d)",
            {"url": item.article.url, "outcome": stored.outcome, "id": stored.article_id},
        )
        return item

    def close_spider(self) -> None:
        self.db.close()
