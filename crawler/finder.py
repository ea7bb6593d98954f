"""Find an outlet's feeds and news sitemaps from one of its pages, as a feed reader does.

From a home or section page: the feeds its ``<link rel="alternate">`` elements declare, else
its links that look like feeds, else the usual paths (``/feed``, ``/rss.xml``, ...); the
sitemaps its robots.txt names (``Sitemap:`` lines), else the usual news sitemap paths. Each
candidate is fetched once and kept only if it reads as a feed or as a news sitemap with items.
A full-site sitemap is not kept: it lists the archive, not the news. ``wirewatch add`` and
``wirewatch outlets import`` use it; a crawl that meets a web page where a feed should be uses
:func:`feed_links` on the page it already has, for its hint.

Fetching is the caller's (``fetch`` below), so this module stays free of any HTTP client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

from crawler.discovery import NEWS_NS, DiscoveryError, Entry, parse_feed, parse_sitemap

FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
}
#: Paths tried at the site's root when its page declares no feed.
USUAL_FEEDS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/feed.json")
#: Paths tried when robots.txt names no sitemap.
USUAL_SITEMAPS = ("/news-sitemap.xml", "/sitemap_news.xml", "/sitemap-news.xml")
#: Most feeds kept for one outlet; the others are listed, not added.
MOST_FEEDS = 5
#: Most candidate URLs fetched in one search, so a page of a hundred feed links stays polite.
MOST_TRIES = 16
#: Most child sitemaps of a sitemap index read, those whose URL says "news" first.
MOST_CHILDREN = 3

_FEEDISH = re.compile(r"(?:\b|_)(?:rss|atom|feeds?)(?:\b|_)|\.(?:rss|atom)$", re.I)
_COMMENTS = re.compile(r"comment", re.I)
_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.I | re.M)


class FinderError(Exception):
    """The page itself could not be read; the message says why."""


@dataclass(frozen=True)
class Fetched:
    """What ``fetch`` returns: the final URL after redirects, the status and the body."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")


#: Fetch one URL; raise ``OSError`` (or a subclass) when it cannot be fetched at all.
Fetch = Callable[[str], Fetched]


@dataclass(frozen=True)
class Source:
    """A feed or news sitemap that was read, with what it lists."""

    url: str
    kind: str  # "feed" or "sitemap"
    entries: list[Entry]
    #: A feed's own title (RSS channel, Atom feed, JSON Feed), "" when it has none.
    title: str = ""

    @property
    def newest(self) -> datetime | None:
        dates = [entry.published for entry in self.entries if entry.published]
        return max(dates) if dates else None


@dataclass
class Finding:
    """What :func:`find_sources` found for one page."""

    url: str
    feeds: list[Source] = field(default_factory=list)
    sitemaps: list[Source] = field(default_factory=list)
    #: Candidates read but not kept, each with why: ``(url, reason)``.
    passed: list[tuple[str, str]] = field(default_factory=list)
    #: The site's robots.txt, b"" when it has none.
    robots: bytes = b""
    #: The page's site name (``og:site_name``, else its ``<title>``), "" when it has none.
    site_title: str = ""

    @property
    def titles(self) -> list[str]:
        """What the outlet calls itself: its feeds' titles, then the page's site name."""
        return [title for title in (*(f.title for f in self.feeds), self.site_title) if title]

    @property
    def sources(self) -> list[Source]:
        return [*self.feeds, *self.sitemaps]

    def newest_entries(self, count: int = 3) -> list[Entry]:
        """The newest items over all sources, one per URL (undated ones last)."""
        seen: dict[str, Entry] = {}
        for source in self.sources:
            for entry in source.entries:
                seen.setdefault(entry.url, entry)
        floor = datetime.min
        return sorted(
            seen.values(),
            key=lambda e: e.published.replace(tzinfo=None) if e.published else floor,
            reverse=True,
        )[:count]


def feed_links(body: bytes, base_url: str) -> list[str]:
    """The feed URLs a page names: its ``<link rel="alternate">`` of a feed type, in page order;
    when there are none, its ``<a>`` links on the same site that look like feeds. Comment
    feeds are left out."""
    try:
        page = lxml_html.fromstring(body)
    except (etree.LxmlError, ValueError):
        return []  # empty, or not markup at all
    found: list[str] = []
    for link in page.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = (link.get("href") or "").strip()
        feed = "alternate" in rel and kind in FEED_TYPES and kind != "application/json"
        if feed and href and not _COMMENTS.search(f"{link.get('title') or ''} {href}"):
            found.append(urljoin(base_url, href))
    if not found:
        host = urlsplit(base_url).hostname
        for anchor in page.iter("a"):
            href = urljoin(base_url, (anchor.get("href") or "").strip())
            parts = urlsplit(href)
            same_site = parts.scheme in {"http", "https"} and parts.hostname == host
            if same_site and _FEEDISH.search(parts.path) and not _COMMENTS.search(href):
                found.append(href)
    return list(dict.fromkeys(found))


def web_page_hint(body: bytes, url: str, content_type: str = "", kind: str = "feed") -> str:
    """For a web page met where a feed or sitemap (``kind``) was configured: the feeds the
    page names, as a hint ("a web page, not a feed; it names the feed ..."), or "" when it is
    no web page."""
    if not _web_page(body, content_type):
        return ""
    links = feed_links(body, url)
    if links:
        named = ", ".join(links[:3])
        return f"a web page, not a {kind}; it names the feed {named} (put that in the config)"
    return f"a web page, not a {kind}; `wirewatch add {url}` looks for the site's feeds"


def _web_page(body: bytes, content_type: str) -> bool:
    start = body.lstrip()[:20].lower()
    return start.startswith((b"<!doctype html", b"<html")) or (
        "html" in content_type.lower() and not start.startswith((b"<?xml", b"<rss", b"<feed"))
    )


def robots_sitemaps(text: str, base_url: str) -> list[str]:
    """The URLs of robots.txt's ``Sitemap:`` lines."""
    return list(dict.fromkeys(urljoin(base_url, url) for url in _SITEMAP_LINE.findall(text)))


def find_sources(url: str, fetch: Fetch) -> Finding:
    """The feeds and news sitemaps of the outlet whose page is ``url``.

    A ``url`` that is itself a feed or a news sitemap is taken as it is.

    Raises:
        FinderError: ``url`` cannot be fetched or answers with an HTTP error.
    """
    page = _get(url, fetch)
    finding = Finding(page.url)
    own = _read(page)
    if _web_page(page.body, page.content_type):
        finding.site_title = _site_title(page.body)
    if isinstance(own, Source):
        (finding.feeds if own.kind == "feed" else finding.sitemaps).append(own)
        return finding
    tries = [MOST_TRIES]
    root = _origin(page.url)
    candidates = feed_links(page.body, page.url) or [root + path for path in USUAL_FEEDS]
    for candidate in candidates:
        if len(finding.feeds) >= MOST_FEEDS:
            finding.passed.append((candidate, f"more than {MOST_FEEDS} feeds; not added"))
            continue
        source = _try(candidate, fetch, finding, tries)
        if source is not None and source.kind == "feed":
            finding.feeds.append(source)
        elif source is not None:
            finding.passed.append((candidate, "a sitemap, where a feed was expected"))
    for candidate in _sitemap_candidates(root, fetch, finding, tries):
        _add_sitemap(candidate, fetch, finding, tries)
    return finding


def try_source(url: str, fetch: Fetch) -> Source | str:
    """Fetch ``url`` once and read it as a feed or news sitemap; or say why it is neither."""
    try:
        return _read(_get(url, fetch))
    except FinderError as exc:
        return str(exc).removeprefix(f"{url}: ")


def _get(url: str, fetch: Fetch) -> Fetched:
    try:
        page = fetch(url)
    except OSError as exc:
        raise FinderError(f"{url}: cannot fetch: {exc}") from None
    if page.status >= 400:
        raise FinderError(f"{url}: HTTP {page.status}")
    return page


def _try(url: str, fetch: Fetch, finding: Finding, tries: list[int]) -> Source | None:
    """Fetch and read one candidate; a failure is recorded in ``finding.passed``."""
    if any(source.url == url for source in finding.sources):
        return None
    if tries[0] <= 0:
        finding.passed.append((url, "not tried: enough candidates fetched"))
        return None
    tries[0] -= 1
    try:
        fetched = _get(url, fetch)
    except FinderError as exc:
        finding.passed.append((url, str(exc).removeprefix(f"{url}: ")))
        return None
    source = _read(fetched)
    if isinstance(source, str):
        finding.passed.append((url, source))
        return None
    return source


def _read(fetched: Fetched) -> Source | str:
    """The fetched body as a feed or news sitemap, or why it is neither."""
    body = fetched.body
    if _web_page(body, fetched.content_type):
        return "a web page, not a feed"
    try:
        sitemap = parse_sitemap(body, fetched.url)
    except DiscoveryError as exc:
        try:
            return _listing(fetched.url, "feed", parse_feed(body, fetched.url), _feed_title(body))
        except DiscoveryError:
            return str(exc)
    if sitemap.kind == "feed":
        return _listing(fetched.url, "feed", sitemap.entries, _feed_title(body))
    if sitemap.kind == "sitemapindex":
        return "a sitemap index"
    if NEWS_NS.encode() not in body:
        return "not a news sitemap (a full-site sitemap lists the archive); not added"
    return _listing(fetched.url, "sitemap", sitemap.entries)


def _listing(url: str, kind: str, entries: list[Entry], title: str = "") -> Source | str:
    if not entries:
        return f"a {kind} with no items"
    return Source(url, kind, entries, title)


#: Characters of a title kept; a longer one is not a name.
TITLE_CHARS = 200


def _feed_title(body: bytes) -> str:
    """A feed's own title: the RSS channel's or RDF channel's ``<title>``, the Atom feed's, or
    a JSON Feed's ``title``; "" when it has none or cannot be read."""
    if body.lstrip()[:1] == b"{":
        try:
            document = json.loads(body)
        except ValueError:
            return ""
        title = document.get("title") if isinstance(document, dict) else None
        return _clean_title(title) if isinstance(title, str) else ""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(body, parser)
    except (etree.LxmlError, ValueError):
        return ""
    if root is None:
        return ""
    for child in root:
        name = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if name == "title":
            return _clean_title(child.text or "")
        if name == "channel":
            for grandchild in child:
                if isinstance(grandchild.tag, str) and etree.QName(grandchild).localname == "title":
                    return _clean_title(grandchild.text or "")
    return ""


def _site_title(body: bytes) -> str:
    """A web page's site name: its ``og:site_name``, else its ``<title>``."""
    try:
        page = lxml_html.fromstring(body)
    except (etree.LxmlError, ValueError):
        return ""
    for meta in page.iter("meta"):
        if (meta.get("property") or "").lower() == "og:site_name" and meta.get("content"):
            return _clean_title(meta.get("content") or "")
    title = page.find(".//title")
    return _clean_title(title.text_content()) if title is not None else ""


def _clean_title(text: str) -> str:
    return " ".join(text.split())[:TITLE_CHARS]


def _sitemap_candidates(root: str, fetch: Fetch, finding: Finding, tries: list[int]) -> list[str]:
    tries[0] -= 1
    try:
        robots = fetch(root + "/robots.txt")
    except OSError:
        robots = None
    if robots is not None and robots.status < 400:
        finding.robots = robots.body
        named = robots_sitemaps(robots.body.decode("utf-8", "replace"), root + "/")
        if named:
            return named
    return [root + path for path in USUAL_SITEMAPS]


def _add_sitemap(url: str, fetch: Fetch, finding: Finding, tries: list[int]) -> None:
    """Keep ``url`` if it is a news sitemap; for an index, its news children."""
    if tries[0] <= 0:
        finding.passed.append((url, "not tried: enough candidates fetched"))
        return
    tries[0] -= 1
    try:
        fetched = _get(url, fetch)
    except FinderError as exc:
        finding.passed.append((url, str(exc).removeprefix(f"{url}: ")))
        return
    try:
        sitemap = parse_sitemap(fetched.body, fetched.url)
    except DiscoveryError as exc:
        finding.passed.append((url, str(exc)))
        return
    if sitemap.kind != "sitemapindex":
        source = _read(fetched)
        if isinstance(source, Source) and not any(s.url == url for s in finding.sources):
            (finding.feeds if source.kind == "feed" else finding.sitemaps).append(source)
        elif isinstance(source, str):
            finding.passed.append((url, source))
        return
    children = sorted(
        (entry.url for entry in sitemap.entries), key=lambda child: "news" not in child.lower()
    )
    for child in children[:MOST_CHILDREN]:
        found = _try(child, fetch, finding, tries)
        if found is not None:
            (finding.feeds if found.kind == "feed" else finding.sitemaps).append(found)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
