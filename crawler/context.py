"""What every wirewatch Scrapy component needs: the validated config and the database path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scrapy.settings import BaseSettings

from wirewatch.config import Config, load_config

# Where the spider leaves the config it loaded, so the other components do not read it again.
LOADED = "_WIREWATCH_LOADED_CONFIG"
ERROR_STATS = ("wirewatch/discover/failed", "wirewatch/store/failed", "spider_exceptions/count")


def crawl_config(settings: BaseSettings) -> Config:
    """The config named by the ``WIREWATCH_CONFIG`` setting, read once per crawl."""
    loaded = settings.get(LOADED)
    if isinstance(loaded, Config):
        return loaded
    return load_config(settings.get("WIREWATCH_CONFIG") or None)


def error_count(stats: Mapping[str, Any]) -> int:
    """The errors of a crawl: failed fetches, unreadable feeds, failed writes, callback crashes."""
    return sum(
        int(value)
        for key, value in stats.items()
        if key.startswith("wirewatch/fetch/") or key in ERROR_STATS
    )


def database_path(settings: BaseSettings, config: Config) -> Path:
    """``WIREWATCH_DB`` if set, else the config's database."""
    return config.database_path(settings.get("WIREWATCH_DB") or None)


def apply_crawl_section(settings: BaseSettings, config: Config) -> None:
    """Copy ``[crawl]`` onto Scrapy's own settings, above the project defaults."""
    settings.set(LOADED, config, priority="spider")
    crawl = config.crawl
    for key, value in {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "DOWNLOAD_DELAY": crawl.delay,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.delay, 0.1),
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_size,
        "WIREWATCH_RECHECK": crawl.recheck,
        "WIREWATCH_MIN_TEXT": crawl.min_text,
        "WIREWATCH_MAX_PAGES": crawl.max_pages,
        "WIREWATCH_PAGE_BUDGET": crawl.page_budget,
    }.items():
        settings.set(key, value, priority="spider")
