"""What every wirewatch Scrapy component needs: the validated config and the database path.

The config is loaded by the application (``wirewatch crawl`` hands it over in the settings);
``scrapy crawl outlet`` run alone loads it with ``WIREWATCH_CONFIG_LOADER``, a dotted path that
Scrapy resolves as it resolves its own components, so the crawler imports nothing above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.settings import BaseSettings, Settings
from scrapy.utils.misc import load_object

from crawler.config import CrawlerConfig as Config
from crawler.config import source_hosts

#: What loads the config when no application handed it over (``scrapy crawl outlet`` alone): a
#: dotted path, resolved at run time like Scrapy's own components.
DEFAULT_LOADER = "wirewatch.config.load_config"
# Where the spider leaves the config it loaded, so the other components do not read it again.
LOADED = "_WIREWATCH_LOADED_CONFIG"


class Shared:
    """The loaded config as a setting: Scrapy deep-copies its settings for every crawler, and a
    crawl worker makes a crawler a run; the config (every outlet of it) is read-only, so each
    copy shares it instead of copying thousands of outlets."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __deepcopy__(self, memo: dict[int, Any]) -> Shared:
        return self


def crawl_config(settings: BaseSettings) -> Config:
    """The config named by the ``WIREWATCH_CONFIG`` setting, read once per crawl."""
    loaded = settings.get(LOADED)
    if isinstance(loaded, Shared):
        return loaded.config
    load = load_object(settings.get("WIREWATCH_CONFIG_LOADER") or DEFAULT_LOADER)
    return load(settings.get("WIREWATCH_CONFIG") or None)  # type: ignore[no-any-return]


def database_path(settings: BaseSettings, config: Config) -> Path:
    """``WIREWATCH_DB`` if set, else the config's database."""
    return config.database_path(settings.get("WIREWATCH_DB") or None)


def apply_crawl_section(settings: BaseSettings, config: Config) -> None:
    """Copy ``[crawl]`` onto Scrapy's own settings, above the project defaults."""
    settings.set(LOADED, Shared(config), priority="spider")
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
        "WIREWATCH_SOURCE_HOSTS": source_hosts(config.outlets),
    }.items():
        settings.set(key, value, priority="spider")


def crawl_settings(
    config: Config, config_path: Path, db_path: Path | None, log_level: str = "INFO"
) -> Settings:
    """Scrapy's settings for the crawls of a loaded ``config``: the project's, then the config
    handed to the crawler's components (read once, by the application), the hosts the operator
    named (the resolver, one per process, learns them: crawler/guard.py), the database."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("WIREWATCH_CONFIG", str(config_path), priority="cmdline")
    settings.set(LOADED, Shared(config), priority="cmdline")
    settings.set("WIREWATCH_SOURCE_HOSTS", source_hosts(config.outlets), priority="cmdline")
    if db_path is not None:
        settings.set("WIREWATCH_DB", str(db_path), priority="cmdline")
    settings.set("LOG_LEVEL", log_level, priority="cmdline")
    # The application has configured logging already; Scrapy's loggers propagate to it.
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    return settings
