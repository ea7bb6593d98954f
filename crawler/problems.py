"""What kept a run from reading an outlet, in words: for the run's log line, its health and
``wirewatch crawl``.

Each problem is one sentence ("feed unreachable: DNS lookup failed for feeds.example.com"),
kept in the crawl's stats under ``wirewatch/problems`` (a list) and so in ``crawl_runs.stats``.
Sources (feeds, sitemaps, section pages) are counted under ``wirewatch/sources/total`` and
``wirewatch/sources/failed``: a run none of whose sources could be read read nothing.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.statscollectors import StatsCollector
from twisted.internet import error as net
from twisted.python.failure import Failure

from crawler.guard import PrivateAddressError, RefusedAddress
from storage.runs import PROBLEMS

logger = logging.getLogger(__name__)


def _not_a_final_failure(record: logging.LogRecord) -> bool:
    """False for Scrapy's own lines about a fetch that finally failed ("Gave up retrying",
    robots.txt's "Error downloading" with a traceback): the spider's errback says the same,
    once, in words, and counts it."""
    return not str(record.msg).startswith(("Gave up retrying", "Error downloading"))


def say_failures_once() -> None:
    """Keep Scrapy's retry and robots.txt middlewares from logging what the spider reports."""
    for name in ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt"):
        found = logging.getLogger(name)
        if _not_a_final_failure not in found.filters:
            found.addFilter(_not_a_final_failure)


def add_problem(stats: StatsCollector | None, problem: str) -> None:
    """Record ``problem`` for this run (once). Logged at INFO: what reads the run (the monitor's
    log line, ``wirewatch crawl``) says it to the operator."""
    if stats is None:
        return
    known = list(stats.get_value(PROBLEMS) or [])
    if problem in known:
        return
    known.append(problem)
    stats.set_value(PROBLEMS, known)
    logger.info("%(problem)s", {"problem": problem})


def why_failed(failure: Failure | BaseException, url: str) -> str:
    """Why fetching ``url`` failed, in words: "DNS lookup failed for feeds.example.com"."""
    exc = failure.value if isinstance(failure, Failure) else failure
    if isinstance(exc.__cause__, PrivateAddressError | RefusedAddress):
        exc = exc.__cause__
    if isinstance(exc, PrivateAddressError | RefusedAddress):
        return str(exc.args[0]) if exc.args else "a private address: refused"
    if "a private address: refused" in str(exc):
        return str(exc).removeprefix("DNS lookup failed: ").rstrip(".")
    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"{host}:{parts.port}" if parts.port else host
    if isinstance(exc, HttpError):
        return f"{url} answered {http_status(exc.response.status)}"
    if isinstance(exc, IgnoreRequest):
        # Scrapy's middlewares drop a response that redirects too often or inflates past
        # DOWNLOAD_MAXSIZE (a gzip bomb).
        text = str(exc)
        if "redirect" in text:
            return f"{url} redirects in a loop or too often ({text[:200]})"
        return f"{url} is larger than [crawl] max_size allows ({text[:200]})"
    if isinstance(exc, CannotResolveHostError | net.DNSLookupError):
        return f"DNS lookup failed for {host}"
    if isinstance(exc, DownloadConnectionRefusedError | net.ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(exc, DownloadTimeoutError | net.TimeoutError | net.TCPTimedOutError):
        return f"no answer from {where} in time"
    text = str(exc) or type(exc).__name__
    if "SSL" in text or "TLS" in text or "certificate" in text.lower():
        return f"TLS handshake with {where} failed: {text[:200]}"
    if isinstance(exc, net.ConnectionLost | net.ConnectionDone):
        return f"{where} closed the connection"
    return f"{type(exc).__name__} for {url}: {text[:200]}"


#: What an HTTP error status says of a source, in words.
_MEANINGS = {
    401: "the source needs a login",
    403: "the site refuses this crawler (its user agent or address is blocked, or a login is "
    "needed)",
    404: "the source moved or was removed; find its new address (`wirewatch add URL` finds "
    "an outlet's feeds)",
    410: "the source was removed for good",
    429: "the site throttles this crawler; lengthen [crawl] delay",
}


def http_status(status: int) -> str:
    """An HTTP error status and what it means for a source: "404 Not Found: the source moved
    or was removed; ..."."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    meaning = _MEANINGS.get(status)
    if meaning is None:
        meaning = "the site's server is failing" if status >= 500 else "the site refused it"
    return f"{status} {phrase}: {meaning}"


def refused(failure: Failure) -> bool:
    """Whether a fetch failed because its address is private (``crawler.guard``)."""
    exc = failure.value
    return (
        isinstance(exc, PrivateAddressError | RefusedAddress)
        or isinstance(exc.__cause__, PrivateAddressError | RefusedAddress)
        or "a private address: refused" in str(exc)
    )
