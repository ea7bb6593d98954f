"""A run's deadline holds for its downloads too.

Scrapy closes a spider at ``CLOSESPIDER_TIMEOUT``, but its close waits for the downloads in
flight, each up to its own ``download_timeout`` (``[crawl] timeout``, 30 s by default): a run
of a hung host with ``crawl_timeout = "6s"`` took 31-33 s, and held the host's other outlets in
its worker that long. ``Deadline`` (a downloader middleware, after Scrapy's
``DownloadTimeoutMiddleware``) gives each request at most the time left to the run's deadline
plus ``GRACE``, so the downloads in flight when the run closes are cancelled by their own
timeout right after it, and what the run stored is kept.
"""

from __future__ import annotations

import time

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler

#: Seconds a download may outlive its run's deadline: the spider's close comes first.
GRACE = 1.0
#: The shortest download timeout given: a request sent just before the deadline still gets
#: this long (the run closes meanwhile anyway).
SHORTEST = 0.5


class Deadline:
    def __init__(self, crawler: Crawler) -> None:
        self.limit = crawler.settings.getfloat("CLOSESPIDER_TIMEOUT")
        self.default = crawler.settings.getfloat("DOWNLOAD_TIMEOUT")
        self.ends: float | None = None
        crawler.signals.connect(self._opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Deadline:
        return cls(crawler)

    def _opened(self, spider: Spider) -> None:
        if self.limit > 0:
            self.ends = time.monotonic() + self.limit

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if self.ends is None:
            return
        left = self.ends + GRACE - time.monotonic()
        current = float(request.meta.get("download_timeout", self.default))
        request.meta["download_timeout"] = max(SHORTEST, min(current, left))
