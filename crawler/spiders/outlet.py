"""The one spider of wirewatch, built from an outlet's entry in the config file.

``scrapy crawl outlet -a name=NAME`` crawls outlet NAME: its feeds, its sitemaps and its
section pages (``start_urls``, whose links matching ``follow`` are articles, ``depth`` levels
deep). Entries older than the outlet's ``max_age`` and URLs already stored (outside the
re-check window) are not downloaded. Outcomes are counted in the crawl stats:

- ``wirewatch/discover/<entries|too_old|known|off_domain|private|over_limit|ignored|failed>``
- ``wirewatch/extract/<ok|reason>`` with the reasons of ``extractors.article``,
  ``wirewatch/extract/too_old`` (the page and its listing date it before max_age),
  ``wirewatch/time/extract_seconds``, the time spent extracting; ``wirewatch/salvaged``, pages
  on which extraction raised (a bug) that were kept with their bare text
- ``wirewatch/note/<what>``: stored pages with something to say of them, not skips:
  ``listing_date_kept`` (the page dates it before max_age, its listing within: the listing's
  date is kept)
- ``wirewatch/fetch/<http_NNN|too_large|too_many_redirects|timeout|error type>``
- ``wirewatch/sources/<total|failed|not_modified|validators_untrusted>`` (conditional GET:
  ``storage.sources``) and ``wirewatch/problems``, what kept the run from reading
  the outlet, in words (``crawler.problems``)

Pages that the outlet's own feeds and sitemaps list are articles unless they plainly are not
(``extract_article(listed=True)``); links found on section pages meet every rule. Unless the
outlet sets ``allow_domains``, the items its feeds and sitemaps list are its own, on whatever
host (a feed on feeds.example.com listing www.example.com), and their hosts join its domains.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from scrapy.utils.misc import load_object
from twisted.python.failure import Failure

from crawler.config import OutletConfig
from crawler.context import apply_crawl_section, crawl_config
from crawler.discovery import DiscoveryError, Entry, Feed, feed_hub, parse_sitemap, read_feed
from crawler.finder import web_page_hint
from crawler.items import ArticleItem
from crawler.problems import add_problem, refused, say_failures_once, why_failed
from crawler.state import LOCAL, CrawlState
from extractors.article import FAILED, extract_article
from extractors.dates import isoformat, parse_date
from extractors.urls import host_of, in_domains, origin, private_target
from storage.articles import recheck_due

logger = logging.getLogger(__name__)

MAX_SITEMAP_DEPTH = 3
#: A date to sort by that no entry has (for the type checker: dated entries have theirs).
NEVER = datetime(1, 1, 1, tzinfo=UTC)


class OutletSpider(scrapy.Spider):
    name = "outlet"

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        apply_crawl_section(settings, crawl_config(settings))

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> OutletSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        say_failures_once()
        config = crawl_config(crawler.settings)
        if spider.name == cls.name:
            raise ValueError("name the outlet to crawl: scrapy crawl outlet -a name=NAME")
        try:
            spider.outlet = config.outlet(spider.name)
        except KeyError:
            known = ", ".join(o.name for o in config.outlets) or "none"
            raise ValueError(f"no outlet {spider.name!r} in the config (known: {known})") from None
        # What earlier runs saw: the SQLite file, or a cluster's Redis (crawler/state.py).
        state = load_object(crawler.settings.get("WIREWATCH_STATE") or LOCAL)
        spider.state = state.from_crawler(crawler)
        spider.recheck = crawler.settings.getfloat("WIREWATCH_RECHECK")
        spider.min_text = crawler.settings.getint("WIREWATCH_MIN_TEXT")
        spider.max_pages = crawler.settings.getint("WIREWATCH_MAX_PAGES")
        spider.page_budget = crawler.settings.getfloat("WIREWATCH_PAGE_BUDGET")
        spider.verify_every = crawler.settings.getint("WIREWATCH_VERIFY_EVERY")
        spider.requested = 0
        spider.rechecks = []
        spider.polled = {}
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        spider.domains = list(spider.outlet.domains)
        spider.explicit_domains = bool(spider.outlet.allow_domains)
        # Outlets configured on a private address (a test server, an intranet) may link there.
        # No allowed_domains for Scrapy's OffsiteMiddleware: the domains of an outlet grow with
        # the hosts its feeds list, and links are checked where they are found (_requests_for).
        spider.oldest = datetime.now(UTC) - timedelta(seconds=spider.outlet.max_age)
        spider.links = LinkExtractor(
            allow=spider.outlet.follow, allow_domains=spider.domains, unique=True
        )
        return spider

    outlet: OutletConfig
    state: CrawlState
    allowed_domains: list[str]
    recheck: float
    min_text: int
    max_pages: int
    page_budget: float
    verify_every: int
    requested: int
    rechecks: list[scrapy.Request]
    #: Each feed and sitemap read in full this run (by its URL as fetched and as configured):
    #: its configured URL, and the digest and trust recorded for it.
    polled: dict[str, tuple[str, str, bool]]
    domains: list[str]
    explicit_domains: bool
    oldest: datetime
    links: LinkExtractor

    async def start(self) -> AsyncIterator[Any]:
        for url in self.outlet.feeds:
            yield self._source(url, self.parse_feed, "feed")
        for url in self.outlet.sitemaps:
            yield self._source(url, self.parse_sitemap, "sitemap")
        for url in self.outlet.start_urls:
            yield self._source(url, self.parse_page, "section page", depth=0)

    def _source(self, url: str, callback: Any, kind: str, **cb_kwargs: Any) -> scrapy.Request:
        """A request for one of the outlet's configured sources, counted as such. A feed or
        sitemap is asked for conditionally while its validators prove right."""
        self._count("sources/total")
        # The URL as configured: a source's state is kept under it, not under the request's
        # (Scrapy percent-encodes a non-ASCII path, lowercases the host; a redirect moves it).
        meta: dict[str, Any] = {"wirewatch_source": kind, "wirewatch_url": url}
        headers = {}
        if kind in {"feed", "sitemap"}:
            state = self.state.source_state(url)
            meta.update(wirewatch_state=state, handle_httpstatus_list=[304])
            if state and state["trusted"] and state["polls"] < self.verify_every:
                if state["etag"]:
                    headers["If-None-Match"] = state["etag"]
                if state["last_modified"]:
                    headers["If-Modified-Since"] = state["last_modified"]
        return scrapy.Request(
            url,
            callback,
            headers=headers,
            errback=self.fetch_failed,
            dont_filter=True,
            cb_kwargs=cb_kwargs,
            meta=meta,
        )

    def _unchanged(self, response: Response) -> bool:
        """True for a 304 to a conditional poll: the source is as it was. For a full answer,
        record its validators; if its bytes changed under the validators of the last one,
        its 304s cannot be trusted, and it is polled in full from now on."""
        if "wirewatch_state" not in response.meta:
            return False  # a child sitemap: always fetched in full
        url = _configured(response)
        state = response.meta["wirewatch_state"]
        if response.status == 304:
            self._count("sources/not_modified")
            self.state.record_not_modified(url)
            return True
        header = lambda name: (response.headers.get(name) or b"").decode("latin-1")  # noqa: E731
        etag, modified = header("ETag"), header("Last-Modified")
        digest = hashlib.sha256(response.body).hexdigest()
        trusted = bool(state["trusted"]) if state else True
        same_validators = (
            bool(state)
            and (etag or modified)
            and ((etag, modified) == (state["etag"], state["last_modified"]))
        )
        if trusted and same_validators and digest != state["digest"]:
            trusted = False
            self._count("sources/validators_untrusted")
            logger.info(
                "%(url)s changed under the same ETag/Last-Modified: polled in full from now on",
                {"url": url},
            )
        self.state.record_fetch(
            url, etag=etag, last_modified=modified, digest=digest, trusted=trusted
        )
        self.polled[url] = self.polled[response.url] = (url, digest, trusted)
        return False

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        if self._unchanged(response):
            return
        try:
            feed = read_feed(response.body, response.url, _content_type(response))
        except DiscoveryError as exc:
            self._count("discover/failed")
            why = web_page_hint(response.body, response.url, _content_type(response)) or exc
            self._source_failed(response.request, f"feed {response.url} unreadable: {why}")
            return
        if not feed.entries:
            self._problem(f"feed {response.url} lists no items")
        self._record_hub(response, feed)
        yield from self._requests_for(feed.entries, response.url, listed=True)

    def _record_hub(self, response: Response, feed: Feed) -> None:
        """The WebSub hub the feed names, or none, for the monitor (``monitor.websub``)."""
        header = b", ".join(response.headers.getlist("Link")).decode("latin-1")
        found = feed_hub(feed.links, response.url, header)
        configured = _configured(response)
        try:
            self.state.record_hub(configured, *((found.hub, found.topic) if found else ("", "")))
        except Exception as exc:  # the crawl goes on: the hub is looked for next poll
            logger.warning(
                "%(url)s: hub not recorded: %(error)s", {"url": configured, "error": exc}
            )

    def parse_sitemap(self, response: Response, depth: int = 0) -> Iterator[scrapy.Request]:
        if self._unchanged(response):
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
            except (OSError, ValueError) as exc:
                self._count("discover/failed")
                self._source_failed(
                    response.request, f"sitemap {response.url} unreadable: {exc or 'bad gzip'}"
                )
                return
        try:
            sitemap = parse_sitemap(body, response.url)
        except DiscoveryError as exc:
            self._count("discover/failed")
            why = web_page_hint(body, response.url, _content_type(response), "sitemap") or exc
            self._source_failed(response.request, f"sitemap {response.url} unreadable: {why}")
            return
        if sitemap.warning:
            self._problem(f"sitemap {response.url}: {sitemap.warning}")
        entries = sitemap.entries
        if sitemap.kind != "sitemapindex":
            if not entries:
                self._problem(f"sitemap {response.url} lists no pages")
            yield from self._requests_for(entries, response.url, listed=True)
            return
        if depth >= MAX_SITEMAP_DEPTH:
            self._problem(f"sitemap {response.url}: index nested too deep")
            return
        for entry in entries:
            if entry.published and entry.published < self.oldest:
                continue  # a child sitemap untouched since before max_age holds nothing new
            if not self._safe(entry.url):
                continue
            yield response.follow(
                entry.url,
                self.parse_sitemap,
                errback=self.fetch_failed,
                cb_kwargs={"depth": depth + 1},
                meta={"wirewatch_child": "sitemap"},
            )

    def parse_page(
        self,
        response: Response,
        depth: int = 1,
        listed: bool = False,
        listed_date: datetime | None = None,
    ) -> Iterator[Any]:
        """An article, or a section page whose article links are followed.

        ``listed_date`` is the date its feed or sitemap gave it, if any.
        """
        if not isinstance(response, TextResponse):
            self._count("extract/not_html")
            return
        started = time.perf_counter()
        result = extract_article(
            response.body,
            response.url,
            {k.decode(): v[0].decode("latin-1") for k, v in response.headers.items() if v},
            selector=self.outlet.selector,
            min_text=self.min_text,
            listed=listed,
            budget=self.page_budget,
        )
        stats = self.crawler.stats
        if stats is not None:
            key = "wirewatch/time/extract_seconds"
            stats.set_value(key, stats.get_value(key, 0.0) + time.perf_counter() - started)
        if result.reason == FAILED:
            # A bug on this page, ours or a library's: the run says so in words; a listed page
            # is still stored, with the text that could be had (extractors.article.salvage).
            self._count("salvaged" if result.article else "extract/failed")
            kept = "kept with its bare text" if result.article else "not stored"
            add_problem(
                stats,
                f"extraction failed on {response.url} ({result.detail}): {kept}; "
                "please report it with the page",
            )
            logger.error(
                "Extraction failed on %(url)s: %(detail)s",
                {"url": response.url, "detail": result.detail},
            )
        if result.article is not None and depth > 0:
            article = result.article
            published = parse_date(article.published)
            if published and published < self.oldest:
                if listed_date is None or listed_date < self.oldest:
                    self._count("extract/too_old")
                    return
                # The listing dates it within max_age and the page does not: the page's date is
                # the guess (a year in the headline or the URL), the listing's the outlet's
                # own statement. Dropping it, or storing it too old to alert, would lose it.
                self._count("note/listing_date_kept")
                logger.info(
                    "%(url)s: the page dates it %(page)s, its listing %(listed)s: the listing's "
                    "date is kept",
                    {"url": response.url, "page": published.date(), "listed": listed_date},
                )
                article = replace(article, published=isoformat(listed_date))
            self._count("extract/ok")
            if article.doubt:
                self._count("doubtful")
                logger.info(
                    "Kept %(url)s, which its outlet lists, though %(doubt)s",
                    {"url": response.url, "doubt": article.doubt},
                )
            yield ArticleItem(outlet=self.outlet.name, article=article)
            return
        if result.article is None and depth > 0:
            self._count(f"extract/{result.reason}")
            logger.info(
                "Not an article: %(url)s (%(reason)s: %(detail)s)",
                {"url": response.url, "reason": result.reason, "detail": result.detail},
            )
        if depth < self.outlet.depth:
            entries = [Entry(url=link.url) for link in self.links.extract_links(response)]
            yield from self._requests_for(entries, response.url, depth + 1)

    def _requests_for(
        self, entries: list[Entry], source: str, depth: int = 1, *, listed: bool = False
    ) -> Iterator[scrapy.Request]:
        """Requests for the article links ``entries``. ``listed``: the outlet's own feed or
        sitemap lists them, so they are its articles, on whatever host, unless the outlet
        names its ``allow_domains``."""
        self._count("discover/entries", len(entries))
        entries = [e for e in entries if self._safe(e.url)]
        # The oldest listed first: a cut at max_pages leaves for the next run the items a
        # feed keeps listing longest (it drops its oldest first), so none falls off the list
        # before it is fetched. Undated ones after, from the bottom of the list up.
        dated = sorted((e for e in entries if e.published), key=lambda e: e.published or NEVER)
        entries = dated + [e for e in reversed(entries) if not e.published]
        now = datetime.now(UTC)
        fresh: list[scrapy.Request] = []
        for entry in entries:
            url = entry.url.strip()
            if not re.match(r"https?://", url, re.I):
                self._count("discover/not_http")
                continue
            if not in_domains(url, self.domains):
                if not listed or self.explicit_domains:
                    self._count("discover/off_domain")
                    continue
                self.domains.append(host_of(url))
            if entry.published and entry.published < self.oldest:
                self._count("discover/too_old")
                continue
            try:
                seen = self.state.seen(url)
            except ValueError:
                self._count("discover/known")  # no article's address: as good as known
                continue
            if seen is not None:
                due = recheck_due(seen, self.recheck, now)
                if not due:
                    # Past the re-check window, or its next re-check not due yet.
                    self._count("discover/known" if due is None else "discover/recheck_later")
                    continue
            request = scrapy.Request(
                url,
                self.parse_page,
                errback=self.fetch_failed,
                cb_kwargs={"depth": depth, "listed": listed, "listed_date": entry.published},
                headers={"Referer": source},
            )
            if seen is None:
                fresh.append(request)
            else:
                # Stored within the re-check window and due again (a few times an article,
                # the gaps doubling): fetched for corrections, but only once every new item
                # of every source has had its turn (see _idle).
                self.rechecks.append(request)
        for index, request in enumerate(fresh):
            if self.requested >= self.max_pages:
                self._count("discover/over_limit", len(fresh) - index)
                if source in self.polled:
                    # Its next poll must read it in full, though it may not have changed: a
                    # 304 would leave its backlog unread.
                    configured, digest, trusted = self.polled[source]
                    self.state.record_fetch(
                        configured, etag="", last_modified="", digest=digest, trusted=trusted
                    )
                logger.warning(
                    "%(source)s: %(count)d more new links past [crawl] max_pages (%(max)d) wait "
                    "for the next run",
                    {"source": source, "count": len(fresh) - index, "max": self.max_pages},
                )
                return
            self.requested += 1
            self._count("discover/requested")
            yield request

    def _idle(self) -> None:
        """Every new item has been fetched: re-check the known ones within the re-check window,
        as far as max_pages leaves room."""
        if not self.rechecks:
            return
        room = max(0, self.max_pages - self.requested)
        rechecks, skipped = self.rechecks[:room], len(self.rechecks) - room
        self.rechecks = []
        if skipped > 0:
            self._count("discover/recheck_skipped", skipped)
        if not rechecks:
            return
        assert self.crawler.engine is not None
        for request in rechecks:
            self.requested += 1
            self._count("discover/rechecked")
            self.crawler.engine.crawl(request)
        raise DontCloseSpider

    def _safe(self, url: str) -> bool:
        """False for a link to a loopback or private address (in any spelling) that is not an
        origin of this outlet's own sources: an outlet reads its local bridge, not the other
        ports of its host nor another outlet's."""
        if not private_target(url) or origin(url) in self.outlet.origins:
            return True
        self._count("discover/private")
        logger.warning(
            "Not following %(url)s: a private or loopback address this outlet does not read "
            "its sources from",
            {"url": url},
        )
        return False

    def fetch_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        if request is None and failure.check(HttpError):
            # Raised by the spider middleware, whose failures carry no request: its response's.
            request = failure.value.response.request
        if refused(failure):
            # Counted, and logged with its address, where it was refused (crawler/guard.py).
            if request is not None and (
                request.meta.get("wirewatch_source") or request.meta.get("wirewatch_child")
            ):
                kind = request.meta.get("wirewatch_source") or request.meta.get("wirewatch_child")
                self._source_failed(request, f"{kind} refused: {why_failed(failure, request.url)}")
            return
        robots = failure.check(IgnoreRequest) and (
            "robots.txt" in str(failure.value) or not str(failure.value)
        )
        if request is not None and not robots:
            kind = request.meta.get("wirewatch_source") or request.meta.get("wirewatch_child")
            if kind:
                # It answered, but not with the source: unreadable; else unreachable.
                how = "unreadable" if failure.check(HttpError, IgnoreRequest) else "unreachable"
                self._source_failed(request, f"{kind} {how}: {why_failed(failure, request.url)}")
        if failure.check(HttpError):
            status = failure.value.response.status
            self._count(f"fetch/http_{status}")
            if request is not None and request.meta.get("wirewatch_source"):
                return  # its problem line says it, in words
            logger.warning(
                "HTTP %(status)d for %(url)s",
                {"status": status, "url": failure.value.response.url},
            )
            return
        if failure.check(IgnoreRequest):
            reason = str(failure.value)
            if robots:
                self._count("discover/ignored")  # robots.txt: by design, not an error
                logger.info(
                    "Not fetched: %(url)s (%(why)s)", {"url": _url_of(failure), "why": reason}
                )
                return
            # Scrapy's middlewares drop a response that redirects too often or inflates past
            # DOWNLOAD_MAXSIZE (a gzip bomb): the page is bad, the crawl goes on.
            kind = "too_many_redirects" if "redirect" in reason else "too_large"
            self._count(f"fetch/{kind}")
            logger.warning(
                "Dropped %(url)s: %(why)s", {"url": _url_of(failure), "why": reason[:300]}
            )
            return
        kind = failure.type.__name__ if failure.type else "error"
        if kind == "DownloadCancelledError":  # over DOWNLOAD_MAXSIZE before the body came
            kind = "too_large"
        elif kind in ("DownloadTimeoutError", "TimeoutError", "TCPTimedOutError"):
            kind = "timeout"
        self._count(f"fetch/{kind}")
        logger.info(
            "Fetching %(url)s failed: %(error)s",
            {"url": _url_of(failure), "error": why_failed(failure, _url_of(failure))},
        )

    def _source_failed(self, request: scrapy.Request | None, problem: str) -> None:
        """A configured source (or a sitemap index's child) could not be read."""
        if request is not None and request.meta.get("wirewatch_source"):
            self._count("sources/failed")
        self._problem(problem)

    def _problem(self, problem: str) -> None:
        add_problem(self.crawler.stats, problem)

    def _count(self, key: str, amount: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"wirewatch/{key}", amount)

    def closed(self, reason: str) -> None:
        self._judge_run()
        self.state.close()

    def _judge_run(self) -> None:
        """Problems of the run as a whole: robots.txt forbade every article, most items were
        off the outlet's domains."""
        stats = self.crawler.stats
        if stats is None:
            return
        value = lambda key: int(stats.get_value(f"wirewatch/{key}", 0) or 0)  # noqa: E731
        requested, ignored = value("discover/requested"), value("discover/ignored")
        # Every link of the run forbidden, and more of them than the articles stored before
        # (which robots.txt let through): one forbidden item beside a stored one is the site's
        # choice, a feed whose new items are all forbidden is an outlet lost.
        if requested and ignored >= requested and ignored > value("discover/known"):
            self._problem(f"robots.txt forbids every article ({ignored} of {requested} links)")
        blocked = value("fetch/refused_private") + value("discover/private")
        if blocked and blocked * 2 >= requested + value("discover/private"):
            self._problem(f"{blocked} links refused: they lead to private addresses")
        entries, off = value("discover/entries"), value("discover/off_domain")
        if entries and off * 2 > entries:
            self._problem(
                f"{off} of {entries} links are off the outlet's domains "
                f"({', '.join(self.domains)}): check allow_domains"
            )


def _url_of(failure: Failure) -> str:
    """The URL of a failed request (Scrapy sets ``failure.request`` on errback failures)."""
    request = getattr(failure, "request", None)
    return request.url if request is not None else "?"


def _configured(response: Response) -> str:
    """The configured URL of the source ``response`` answers."""
    return str(response.meta.get("wirewatch_url") or response.url)


def _content_type(response: Response) -> str:
    return (response.headers.get("Content-Type") or b"").decode("latin-1")
