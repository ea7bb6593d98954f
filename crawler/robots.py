"""robots.txt as Scrapy obeys it, with its failures said in one line instead of a traceback.

Scrapy's ``RobotsTxtMiddleware`` logs a robots.txt that cannot be fetched at ERROR with a full
Twisted traceback, then lets the requests through. Here the same case is one INFO line: the
source request that follows meets the same network failure and reports it as the run's problem
("feed unreachable: DNS lookup failed for ..."), once. A robots.txt answered with a server
error (HTTP 5xx) is a problem of the run: the site is failing, and its rules are unknown.

A robots.txt that was read stands for an hour for the later runs of the same process: a crawl
worker (``workers/serve.py``) runs the same outlets again and again, and reading the rules
every few minutes would double the requests of a quiet run.
"""

from __future__ import annotations

import logging
import time

from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares import robotstxt
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler

from crawler.problems import add_problem, say_failures_once, why_failed

logger = logging.getLogger(__name__)

#: Seconds a site's robots.txt, once read, stands for the later runs of this process (a crawl
#: worker runs an outlet every few minutes for months); Google keeps one up to a day.
ROBOTS_TTL = 3600.0
#: Most sites whose rules are kept; past it, the cache starts again.
ROBOTS_KEPT = 100_000
#: netloc -> (its robots.txt, when it was read), for every run in this process. The body is
#: kept, not the parser: Scrapy's parser holds its spider, and with it the whole crawler.
_READ: dict[str, tuple[bytes, float]] = {}


class RobotsTxtMiddleware(robotstxt.RobotsTxtMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        say_failures_once()

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if not isinstance(exc, IgnoreRequest):
            logger.info(
                "robots.txt of %(site)s unreadable (%(why)s): its pages are fetched as allowed",
                {"site": netloc, "why": why_failed(exc, f"http://{netloc}/robots.txt")},
            )
        super()._robots_error(exc, netloc)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        netloc = urlparse_cached(request).netloc
        kept = _READ.get(netloc)
        if netloc not in self._parsers and kept and time.monotonic() - kept[1] < ROBOTS_TTL:
            # Read by an earlier run of this worker: parsed again (a fraction of a millisecond)
            self._parsers[netloc] = build_from_crawler(self._parserimpl, self.crawler, kept[0])
            self._stats.inc_value("robotstxt/kept")
        return await super().robot_parser(request)

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            add_problem(self._stats, f"robots.txt answered HTTP {response.status} ({response.url})")
        await super()._parse_robots(response, netloc, request)
        if response.status < 500 and isinstance(self._parsers.get(netloc), RobotParser):
            if len(_READ) >= ROBOTS_KEPT:
                _READ.clear()
            _READ[netloc] = (response.body, time.monotonic())
