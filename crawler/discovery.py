"""Read article links and their dates out of feeds (RSS 2.0, Atom, JSON Feed) and sitemaps.

Sitemaps include Google News sitemaps (``news:publication_date``), sitemap indexes, plain-text
sitemaps (one URL a line) and RSS/Atom feeds given as sitemaps, as search engines accept them.
A page's ``<loc>`` is the ``<url>`` element's own; the image, video and news extensions' URLs
are never taken for it. XML is parsed without resolving entities or touching the network, so
an entity bomb stays inert.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import feedparser
from lxml import etree

from extractors.dates import parse_date, plausible


class DiscoveryError(ValueError):
    """A feed or sitemap could not be read."""


@dataclass(frozen=True)
class Entry:
    """One link found in a feed or sitemap."""

    url: str
    published: datetime | None = None
    title: str | None = None


@dataclass(frozen=True)
class Sitemap:
    """What a sitemap holds: ``kind`` is "urlset", "sitemapindex", "text" or "feed"."""

    kind: str
    entries: list[Entry] = field(default_factory=list)
    #: Something wrong that did not stop the reading (a file cut off), or "".
    warning: str = ""


NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_FEED_ROOTS = {"rss", "feed", "RDF", "channel"}
_URL_LINE = re.compile(r"https?://\S+\Z", re.I)


@dataclass(frozen=True)
class Feed:
    """What a feed holds: its entries, and its own links, ``rel`` -> ``href`` (``hub``,
    ``self``: where WebSub pushes it from, and its own URL)."""

    entries: list[Entry]
    links: dict[str, str] = field(default_factory=dict)


def parse_feed(body: bytes, base_url: str, content_type: str = "") -> list[Entry]:
    """Entries of an RSS 2.0, Atom or JSON Feed document (:func:`read_feed`).

    Raises:
        DiscoveryError: The body is none of these.
    """
    return read_feed(body, base_url, content_type).entries


def read_feed(body: bytes, base_url: str, content_type: str = "") -> Feed:
    """An RSS 2.0, Atom or JSON Feed document: its entries and its own links.

    Raises:
        DiscoveryError: The body is none of these.
    """
    if body.lstrip()[:1] == b"{":
        return _parse_json_feed(body)
    parsed = feedparser.parse(
        BytesIO(body),
        response_headers={
            "content-location": base_url,
            "content-type": content_type or "application/xml",
        },
        resolve_relative_uris=True,
        sanitize_html=False,
    )
    if not parsed.get("version") and not parsed.entries:
        problem = str(parsed.get("bozo_exception") or "") or "no RSS, Atom or JSON Feed found"
        raise DiscoveryError(f"not a feed: {problem}")
    atom = str(parsed.get("version", "")).startswith("atom")
    entries = []
    for item in parsed.entries:
        if atom and not item.get("links"):
            continue  # an Atom <id> names an entry; it is not where the entry can be read
        link = item.get("link") or _alternate(item)
        if not link:
            continue
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        entries.append(Entry(url=link, published=_from_struct(stamp), title=item.get("title")))
    links: dict[str, str] = {}
    for link in parsed.feed.get("links", []):  # the channel's own (atom:link in RSS too)
        for rel in str(link.get("rel", "")).lower().split():
            links.setdefault(rel, str(link.get("href") or "").strip())
    return Feed(entries, links)


def _alternate(item: Any) -> str | None:
    for link in item.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None


def _from_struct(stamp: Any) -> datetime | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return moment if plausible(moment) else None


def _parse_json_feed(body: bytes) -> Feed:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise DiscoveryError(f"not a JSON Feed: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise DiscoveryError("not a JSON Feed: no jsonfeed.org version")
    items = data.get("items")
    if not isinstance(items, list):
        what = type(items).__name__ if items is not None else "missing"
        raise DiscoveryError(f"not a JSON Feed: its items are {what}, not a list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        if isinstance(link, str) and link:
            when = item.get("date_published") or item.get("date_modified")
            entries.append(
                Entry(
                    url=link,
                    published=parse_date(when if isinstance(when, str) else None),
                    title=item.get("title") if isinstance(item.get("title"), str) else None,
                )
            )
    links = {}
    hubs = data.get("hubs")
    for hub in hubs if isinstance(hubs, list) else []:
        if isinstance(hub, dict) and str(hub.get("type", "")).lower() == "websub":
            links["hub"] = str(hub.get("url") or "")
            break
    if isinstance(data.get("feed_url"), str):
        links["self"] = data["feed_url"]
    return Feed(entries, links)


def parse_sitemap(body: bytes, base_url: str = "") -> Sitemap:
    """The entries of a sitemap, a sitemap index, a plain-text sitemap or a feed given as one.

    For a Google News sitemap the date is ``news:publication_date``, else ``lastmod``. A file
    cut off in the middle keeps the URLs before the cut, and says so in ``warning``.

    Raises:
        DiscoveryError: The body is none of these; the message says why.
    """
    if not body.strip():
        raise DiscoveryError("not a sitemap: the file is empty")
    if body.lstrip()[:1] != b"<":
        return _text_sitemap(body)
    parser_args = {
        "recover": True,
        "resolve_entities": False,
        "no_network": True,
        "remove_comments": True,
        "huge_tree": False,
    }
    try:
        events = etree.iterparse(BytesIO(body), events=("start", "end"), **parser_args)
        _, root = next(events)
    except (etree.XMLSyntaxError, StopIteration) as exc:
        raise DiscoveryError(f"not a sitemap: {str(exc) or 'no XML element found'}") from None
    kind = etree.QName(root).localname
    if kind in _FEED_ROOTS:
        return Sitemap("feed", parse_feed(body, base_url))
    if kind not in {"urlset", "sitemapindex"}:
        raise DiscoveryError(
            f"not a sitemap: the root element is <{kind}>, not <urlset> or <sitemapindex>"
        )
    entries = []
    try:
        for event, element in events:
            if event != "end" or etree.QName(element).localname not in {"url", "sitemap"}:
                continue
            entry = _sitemap_entry(element)
            if entry is not None:
                entries.append(entry)
            element.clear()
    except etree.XMLSyntaxError as exc:
        if not entries:
            raise DiscoveryError(f"not a sitemap: {str(exc) or 'broken XML'}") from None
    warning = ""
    if not re.search(rb"</(?:\w+:)?" + kind.encode() + rb">\s*\Z", body):
        # Cut off: the last <loc> may be cut too; keep it only if its closing tag came.
        if entries and not re.search(re.escape(entries[-1].url.encode()) + rb"\s*</", body):
            entries.pop()
        warning = f"the file is cut off after {len(entries)} URLs"
    return Sitemap(kind, entries, warning)


def _sitemap_entry(element: Any) -> Entry | None:
    """The entry of one ``<url>`` or ``<sitemap>`` element: its own ``<loc>`` and
    ``<lastmod>``, and a Google News date and title; image and video URLs are not its loc."""
    own: dict[str, str] = {}
    for child in element:
        namespace = etree.QName(child).namespace if isinstance(child.tag, str) else "-"
        if namespace is None or "sitemap/" in namespace:  # sitemaps.org's, or Google's older one
            own.setdefault(etree.QName(child).localname, (child.text or "").strip())
    if not own.get("loc"):
        return None
    news = {
        etree.QName(child).localname: (child.text or "").strip()
        for child in element.iter(f"{{{NEWS_NS}}}*")
    }
    return Entry(
        url=own["loc"],
        published=parse_date(news.get("publication_date") or own.get("lastmod")),
        title=news.get("title") or None,
    )


def _text_sitemap(body: bytes) -> Sitemap:
    """A plain-text sitemap: one absolute URL a line (sitemaps.org), UTF-8."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    urls = [line for line in lines if _URL_LINE.match(line)]
    if not urls or len(urls) < len(lines) / 2:
        raise DiscoveryError(
            "not a sitemap: neither XML nor a text file of URLs, one a line "
            f"(it begins {text[:40]!r})"
        )
    return Sitemap("text", [Entry(url=url) for url in urls])


@dataclass(frozen=True)
class Hub:
    """Where a feed's updates are pushed (WebSub): the ``hub`` to subscribe at, for ``topic``
    (the feed's ``self`` URL, else the URL it was read from)."""

    hub: str
    topic: str


_LINK_VALUE = re.compile(r"<([^>]*)>\s*((?:;[^,<]*)*)")
_REL = re.compile(r""";\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.I)


def feed_hub(links: Mapping[str, str], url: str, link_header: str = "") -> Hub | None:
    """The WebSub hub a feed names, from its HTTP ``Link`` header(s) (first, as the spec
    prefers) or its own ``links`` (:attr:`Feed.links`: Atom's and RSS's
    ``<atom:link rel="hub">``, JSON Feed's ``hubs``); None if it names none."""
    found: dict[str, str] = {}
    for target, params in _LINK_VALUE.findall(link_header or ""):
        for rel in _REL.findall(params):
            for name in (rel[0] or rel[1]).lower().split():
                found.setdefault(name, target.strip())
    if "hub" not in found:
        for name, target in links.items():
            found.setdefault(name, target)
    hub = found.get("hub", "")
    if not re.match(r"https?://", hub, re.I):
        return None
    topic = found.get("self", "")
    return Hub(hub, topic if re.match(r"https?://", topic, re.I) else url)
