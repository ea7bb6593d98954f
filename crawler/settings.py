"""Scrapy settings of the wirewatch project.

The ``[crawl]`` section of ``wirewatch.toml`` is applied on top of these by the outlet spider
(``OutletSpider.update_settings``), so the config file stays the one place users edit. Settings
of our own carry the ``WIREWATCH_`` prefix:

- ``WIREWATCH_CONFIG``: path of the config file (default ``$WIREWATCH_CONFIG`` or
  ``wirewatch.toml``).
- ``WIREWATCH_DB``: path of the SQLite file, overriding ``[storage] database`` (default
  ``$WIREWATCH_DB``).
- ``WIREWATCH_RECHECK``: seconds during which a stored article is fetched again to catch
  corrections (from ``[crawl] recheck``).
- ``WIREWATCH_MIN_TEXT``: characters of text below which a page is not an article (from
  ``[crawl] min_text``).
- ``WIREWATCH_MAX_PAGES``: article pages one run may request; the rest wait for the next run
  (from ``[crawl] max_pages``).
- ``WIREWATCH_PAGE_BUDGET``: seconds one page's extraction may take (from ``[crawl]
  page_budget``; ``extractors.article.PAGE_BUDGET``).
- ``WIREWATCH_RECORD_RUNS``: record each run in ``crawl_runs`` (default True).
"""

from __future__ import annotations

import os

BOT_NAME = "wirewatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

WIREWATCH_CONFIG = os.environ.get("WIREWATCH_CONFIG", "wirewatch.toml")
WIREWATCH_DB = os.environ.get("WIREWATCH_DB", "")
WIREWATCH_RECHECK = 2 * 3600
WIREWATCH_MIN_TEXT = 200
WIREWATCH_MAX_PAGES = 500
WIREWATCH_PAGE_BUDGET = 10.0
WIREWATCH_RECORD_RUNS = True

# Politeness; the values from [crawl] replace these.
ROBOTSTXT_OBEY = True
USER_AGENT = "wirewatch/0.1 (news monitoring; +https://github.com/wirewatch/wirewatch)"
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1000**2
DOWNLOAD_WARNSIZE = 0
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

DOWNLOADER_MIDDLEWARES = {
    # robots.txt failures in one line, not a traceback (crawler/robots.py).
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.RobotsTxtMiddleware": 100,
}
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}
EXTENSIONS = {"crawler.runs.CrawlRunRecorder": 500}

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
