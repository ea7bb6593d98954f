"""robots.txt as Scrapy obeys it, with its failures said in one line instead of a traceback.

Scrapy's ``RobotsTxtMiddleware`` logs a robots.txt that cannot be fetched at ERROR with a full
Twisted traceback, then lets the requests through. Here the same case is one INFO line: the
source request that follows meets the same network failure and reports it as the run's problem
("feed unreachable: DNS lookup failed for ..."), once. A robots.txt answered with a server
error (HTTP 5xx) is a problem of the run: the site is failing, and its rules are unknown.
"""

from __future__ import annotations

import logging

from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares import robotstxt
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response

from crawler.problems import add_problem, say_failures_once, why_failed

logger = logging.getLogger(__name__)


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

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            add_problem(self._stats, f"robots.txt answered HTTP {response.status} ({response.url})")
        await super()._parse_robots(response, netloc, request)
