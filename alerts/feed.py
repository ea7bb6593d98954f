"""A watch's latest alerts as an Atom feed (RFC 4287), for a feed reader to follow the watch:
``wirewatch feed WATCH``, and the browser's ``/-/wirewatch/feed/WATCH.atom``.

Each entry is one alert: the article's title and link, its outlet as author, when it was
published (else first seen) and when the alert was raised, the terms it matched, and the
snippets, highlighted, as its summary.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from sqlite_utils import Database

from alerts.watches import Snippet
from storage.outbox import list_alerts

ATOM = "http://www.w3.org/2005/Atom"
LIMIT = 50


def atom(db: Database, watch: str, query: str, limit: int = LIMIT, link: str = "") -> bytes:
    """The Atom document of ``watch``'s latest ``limit`` alerts, newest first.

    Args:
        query: The watch's query, shown as the feed's subtitle.
        link: The feed's own URL, when it is served (its ``rel="self"`` link).
    """
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    rows = list_alerts(db, watch, None, limit)
    _text(feed, "id", f"urn:wirewatch:watch:{quote(watch, safe='')}")
    _text(feed, "title", f"wirewatch: {watch}")
    _text(feed, "subtitle", query)
    _text(feed, "updated", rows[0]["created"] if rows else _now())
    _text(feed, "generator", "wirewatch")
    if link:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=link)
    for row in rows:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", f"urn:wirewatch:watch:{quote(watch, safe='')}:alert:{row['id']}")
        _text(entry, "title", row["title"] or row["url"])
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=row["url"])
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        _text(author, "name", row["outlet"])
        _text(entry, "updated", row["created"])
        if row["published"]:
            _text(entry, "published", _stamp(row["published"]))
        for term, _count in row["terms"]:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=term)
        summary = _text(entry, "summary", summary_html(row["terms"], row["snippets"]))
        summary.set("type", "html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def summary_html(terms: list, snippets: list[Snippet]) -> str:
    """The terms matched and the snippets, their terms in ``<strong>`` (feed readers strip
    ``<mark>``), as escaped HTML."""
    parts = []
    if terms:
        shown = ", ".join(f"{html.escape(str(term))} ({count})" for term, count in terms)
        parts.append(f"<p>Matched: {shown}</p>")
    for snippet in snippets:
        pieces = "".join(
            f"<strong>{html.escape(text)}</strong>" if mark else html.escape(text)
            for text, mark in snippet
        )
        parts.append(f"<p>{pieces}</p>")
    return "".join(parts)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = text
    return element


def _stamp(value: str) -> str:
    """An RFC 3339 date-time: a stored date without a time is taken as midnight UTC."""
    return value if "T" in value else f"{value}T00:00:00+00:00"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
