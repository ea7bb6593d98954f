"""Scrapy settings of the wirewatch project.

The ``[crawl]`` section of ``wirewatch.toml`` is applied on top of these by the outlet spider
(``OutletSpider.update_settings``, ``crawler.context.apply_crawl_section``): user agent,
robots.txt, delay, concurrency per domain, autothrottle, timeout, size limit, and the
``WIREWATCH_RECHECK``, ``WIREWATCH_MIN_TEXT``, ``WIREWATCH_MAX_PAGES`` and
``WIREWATCH_PAGE_BUDGET`` of our own. Their defaults live in one place, ``crawler.config``;
this file holds only what the config does not set. Settings of our own carry the
``WIREWATCH_`` prefix:

- ``WIREWATCH_CONFIG``: path of the config file (unset: ``$WIREWATCH_CONFIG``, else
  ``./wirewatch.toml``, as ``wirewatch.config`` finds it).
- ``WIREWATCH_CONFIG_LOADER``: the function that loads it, for ``scrapy crawl`` run alone
  (default ``crawler.context.DEFAULT_LOADER``, ``wirewatch.config.load_config``).
- ``WIREWATCH_DB``: path of the SQLite file, overriding ``[storage] database``.
- ``WIREWATCH_RECORD_RUNS``: record each run in ``crawl_runs`` (default True).
- ``WIREWATCH_STATE``: the class that holds what earlier runs saw, the known URLs and the
  feeds' validators (``crawler.state``: the SQLite file; a cluster's workers name
  ``cluster.crawl.SharedState``).
- ``WIREWATCH_VERIFY_EVERY``: 304 answers in a row a source may give before it is fetched in
  full, to check its validators (default 8).
- ``WIREWATCH_SOURCE_HOSTS``: the hosts of every configured source (set from the config),
  which the process's resolver lets resolve to private addresses; each outlet may reach the
  private origins of its own sources only (``crawler.guard``). ``WIREWATCH_TRUSTED_HOSTS``:
  hosts trusted at any private address for every outlet (empty; the tests name hosts that
  stand for public ones). ``WIREWATCH_RESOLVE``: name -> address answers before the system's.
"""

from __future__ import annotations

BOT_NAME = "wirewatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

WIREWATCH_CONFIG = None
WIREWATCH_DB = None
WIREWATCH_RECORD_RUNS = True
WIREWATCH_STATE = "crawler.state.LocalState"
# Conditional polls of a feed or sitemap answered 304 in a row before one full fetch checks
# that the server's validators still tell the truth (storage/sources.py).
WIREWATCH_VERIFY_EVERY = 8

CONCURRENT_REQUESTS = 16
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_WARNSIZE = 0
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote control: an HTTP server per crawler that runs the Python code posted to
# it, with its token in a file under ~/.local/state/scrapy (left behind by a killed process). A
# crawl worker makes a crawler a run: a code-running port and a file each run. Not for a
# daemon that reads hostile pages all day.
REMOTE_CONTROL_ENABLED = False
# Scrapy parses each callback's source for a `return value` in a generator, on every first call
# of every crawler: 3 ms a run in a crawl worker. Ruff and the tests look after that here.
WARN_ON_GENERATOR_RETURN_VALUE = False

# Every connection is checked against the address it goes to (crawler/guard.py).
TWISTED_DNS_RESOLVER = "crawler.guard.GuardedResolver"
WIREWATCH_SOURCE_HOSTS: list[str] = []
WIREWATCH_TRUSTED_HOSTS: list[str] = []
WIREWATCH_RESOLVE: dict[str, str] = {}

DOWNLOADER_MIDDLEWARES = {
    "crawler.guard.AddressGuard": 50,
    # robots.txt failures in one line, not a traceback (crawler/robots.py).
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.RobotsTxtMiddleware": 100,
    # After Scrapy's DownloadTimeoutMiddleware (350): no download outlives the run's deadline.
    "crawler.deadline.Deadline": 360,
}
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}
EXTENSIONS = {"crawler.runs.CrawlRunRecorder": 500}

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
