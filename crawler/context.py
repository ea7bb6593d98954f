"""What every wirewatch Scrapy component needs: the validated config and the database path."""

from __future__ import annotations

from pathlib import Path

from scrapy.settings import BaseSettings

from wirewatch.config import Config, load_config


def crawl_config(settings: BaseSettings) -> Config:
    """The config named by the ``WIREWATCH_CONFIG`` setting."""
    return load_config(settings.get("WIREWATCH_CONFIG") or None)


def database_path(settings: BaseSettings, config: Config) -> Path:
    """``WIREWATCH_DB`` if set, else the config's database."""
    return config.database_path(settings.get("WIREWATCH_DB") or None)


def apply_crawl_section(settings: BaseSettings, config: Config) -> None:
    """Copy ``[crawl]`` onto Scrapy's own settings, above the project defaults."""
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
    }.items():
        settings.set(key, value, priority="spider")
