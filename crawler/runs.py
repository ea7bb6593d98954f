"""Record every run of an outlet in ``crawl_runs``: opened when the spider opens, closed with
its counts when it closes.

A run is ``finished`` when Scrapy closes the spider for "finished", ``timeout`` when its
deadline closed it (``closespider_timeout``: a crawl worker's run), else ``failed`` with the
close reason (``shutdown``...). Counts come from the crawl's stats.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.context import crawl_config, database_path
from crawler.pipelines import STORAGE_FAILED
from crawler.problems import add_problem
from storage.db import open_db, trouble
from storage.runs import FAILED, FINISHED, TIMEOUT, error_count, finish_run, start_run

logger = logging.getLogger(__name__)

#: The run's status for Scrapy's finish reasons; any other reason is a failure.
STATUS = {"finished": FINISHED, "closespider_timeout": TIMEOUT}
#: What the run's reason says for some of them.
REASONS = {
    "closespider_timeout": "closed: over the crawl time limit",
    STORAGE_FAILED: "stopped: its articles could not be stored",
}


class CrawlRunRecorder:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        config = crawl_config(crawler.settings)
        self.db = open_db(database_path(crawler.settings, config), config.storage.busy_timeout)
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        if not crawler.settings.getbool("WIREWATCH_RECORD_RUNS", True):
            raise NotConfigured
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        try:
            self.run_id = start_run(self.db, spider.name)
        except sqlite3.Error as exc:
            # Nothing of this run could be stored: it stops at once, saying why.
            why = trouble(exc) or f"the database cannot be written ({exc})"
            add_problem(self.crawler.stats, f"storage failed: {why}; the run did not start")
            logger.error(
                "Run of %(outlet)s not recorded: %(why)s", {"outlet": spider.name, "why": why}
            )
            assert self.crawler.engine is not None
            self.crawler.engine.close_spider(spider, STORAGE_FAILED)
            return
        if self.crawler.stats:
            self.crawler.stats.set_value("wirewatch/run_id", self.run_id)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.run_id is None:
            return
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        counts: dict[str, Any] = {
            "pages_fetched": int(stats.get("downloader/response_count", 0)),
            "articles_new": int(stats.get("wirewatch/store/new", 0))
            + int(stats.get("wirewatch/store/near_duplicate", 0)),
            "articles_updated": int(stats.get("wirewatch/store/updated", 0)),
            "errors": error_count(stats),
        }
        status, why = STATUS.get(reason, FAILED), REASONS.get(reason, reason)
        try:
            finish_run(self.db, self.run_id, status, reason=why, stats=stats, **counts)
        except sqlite3.Error as first:
            # Without its stats the row is a small write, which a nearly full disk may still
            # take; else the monitor (or the next one) closes the run.
            try:
                finish_run(self.db, self.run_id, status, reason=why, **counts)
            except sqlite3.Error as exc:
                logger.error(
                    "Run %(run)d of %(outlet)s left open: %(why)s",
                    {"run": self.run_id, "outlet": spider.name, "why": trouble(exc) or exc},
                )
            else:
                logger.error(
                    "Run %(run)d of %(outlet)s closed without its stats: %(why)s",
                    {"run": self.run_id, "outlet": spider.name, "why": trouble(first) or first},
                )
        self.db.close()
