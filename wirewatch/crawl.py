"""Run crawls of configured outlets in this process, with Scrapy's ``CrawlerProcess``.

The daemon runs each crawl as its own process (``wirewatch crawl NAME``), so one outlet's crawl
can neither block nor crash another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess

from crawler.context import crawl_settings
from crawler.spiders.outlet import OutletSpider
from storage.runs import error_count, problems_of, unreadable
from wirewatch.config import Config

SUMMARY_KEYS = {
    "fetched": "downloader/response_count",
    "new": "wirewatch/store/new",
    "near_duplicates": "wirewatch/store/near_duplicate",
    "updated": "wirewatch/store/updated",
    "duplicates": "wirewatch/store/duplicate",
    "alerts": "wirewatch/alerts/new",
}


SKIP_REASONS = {"too_old", "known", "recheck_later", "off_domain", "ignored"}


@dataclass(frozen=True)
class CrawlSummary:
    """What one outlet's crawl did, read off its stats."""

    outlet: str
    reason: str
    stats: dict[str, Any]

    def count(self, name: str) -> int:
        return int(self.stats.get(SUMMARY_KEYS[name], 0))

    @property
    def skipped(self) -> dict[str, int]:
        """Pages and entries not stored, by reason."""
        out = {}
        for key, value in self.stats.items():
            group, _, reason = key.removeprefix("wirewatch/").partition("/")
            if (group == "extract" and reason != "ok") or (
                group == "discover" and reason in SKIP_REASONS
            ):
                out[reason] = int(value)
        return out

    @property
    def notes(self) -> dict[str, int]:
        """Stored pages with something to say of them (``listing_date_kept``), by what."""
        return {
            key.removeprefix("wirewatch/note/"): int(value)
            for key, value in self.stats.items()
            if key.startswith("wirewatch/note/")
        }

    @property
    def errors(self) -> int:
        return error_count(self.stats)

    @property
    def problems(self) -> list[str]:
        """What kept the crawl from reading the outlet, in words."""
        return problems_of(self.stats)

    @property
    def unreadable(self) -> bool:
        """None of the outlet's sources could be read."""
        return unreadable(self.stats)


def run_crawls(
    outlets: list[str],
    config: Config,
    config_path: Path,
    db_path: Path | None,
    log_level: str = "INFO",
    overrides: dict[str, Any] | None = None,
) -> list[CrawlSummary]:
    """Crawl the named outlets once, at the same time, and wait for all of them.

    Args:
        overrides: Scrapy settings above the project's and the config's (a test's resolver).
    """
    settings = crawl_settings(config, config_path, db_path, log_level)
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    process = CrawlerProcess(settings)
    crawlers = []
    for name in outlets:
        crawler = process.create_crawler(OutletSpider)
        crawlers.append((name, crawler))
        process.crawl(crawler, name=name)
    process.start()
    summaries = []
    for name, crawler in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        summaries.append(CrawlSummary(name, str(stats.get("finish_reason", "not started")), stats))
    return summaries
