"""Read article links and their dates out of feeds (RSS 2.0, Atom, JSON Feed) and sitemaps.

Sitemaps include Google News sitemaps (``news:publication_date``) and sitemap indexes. XML is
parsed without resolving entities or touching the network, so an entity bomb stays inert.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
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


def parse_feed(body: bytes, base_url: str, content_type: str = "") -> list[Entry]:
    """Entries of an RSS 2.0, Atom or JSON Feed document.

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
        problem = parsed.get("bozo_exception")
        raise DiscoveryError(f"not a feed: {problem or 'no RSS, Atom or JSON Feed found'}")
    entries = []
    for item in parsed.entries:
        link = item.get("link") or _alternate(item)
        if not link:
            continue
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        entries.append(Entry(url=link, published=_from_struct(stamp), title=item.get("title")))
    return entries


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


def _parse_json_feed(body: bytes) -> list[Entry]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise DiscoveryError(f"not a JSON Feed: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise DiscoveryError("not a JSON Feed: no jsonfeed.org version")
    entries = []
    for item in data.get("items") or []:
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
    return entries


def parse_sitemap(body: bytes) -> tuple[str, list[Entry]]:
    """The kind of a sitemap ("urlset" or "sitemapindex") and its entries.

    For a Google News sitemap the date is ``news:publication_date``, else ``lastmod``.

    Raises:
        DiscoveryError: The body is not a sitemap.
    """
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
        raise DiscoveryError(f"not a sitemap: {exc or 'empty document'}") from None
    kind = etree.QName(root).localname
    if kind not in {"urlset", "sitemapindex"}:
        raise DiscoveryError(f"not a sitemap: root element <{kind}>")
    entries = []
    try:
        for event, element in events:
            if event != "end" or etree.QName(element).localname not in {"url", "sitemap"}:
                continue
            fields = {
                etree.QName(child).localname: (child.text or "").strip()
                for child in element.iter()
                if isinstance(child.tag, str)
            }
            if fields.get("loc"):
                entries.append(
                    Entry(
                        url=fields["loc"],
                        published=parse_date(
                            fields.get("publication_date") or fields.get("lastmod")
                        ),
                        title=fields.get("title") or None,
                    )
                )
            element.clear()
    except etree.XMLSyntaxError as exc:
        if not entries:
            raise DiscoveryError(f"not a sitemap: {exc}") from None
    return kind, entries
