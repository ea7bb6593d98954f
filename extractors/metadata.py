"""Page metadata that trafilatura does not give or gives less reliably.

Reads JSON-LD (schema.org ``NewsArticle`` and kin), OpenGraph and ``article:*`` meta tags, the
canonical link and the declared language, all from an already parsed lxml tree.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml.html import HtmlElement

ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "backgroundnewsarticle",
    "blogposting",
    "liveblogposting",
    "report",
    "scholarlyarticle",
    "techarticle",
}


@dataclass(frozen=True)
class PageMeta:
    """What the page says about itself, before any text extraction."""

    canonical: str | None = None
    og_url: str | None = None
    og_type: str | None = None
    title: str | None = None
    author: str | None = None
    published: str | None = None
    language: str | None = None
    sitename: str | None = None
    is_article_typed: bool = False
    html_title: str | None = None
    description: str | None = None


def read_meta(tree: HtmlElement) -> PageMeta:
    """Collect the page's own metadata; absent fields are None."""
    meta: dict[str, str] = {}
    for element in tree.iterfind(".//meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        value = (element.get("content") or "").strip()
        if key and value and key not in meta:
            meta[key] = value
    ld = _first_article_ld(tree)
    og_type = meta.get("og:type", "").lower() or None
    ld_type = ld is not None
    canonical = None
    for link in tree.iterfind(".//link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels and link.get("href"):
            canonical = link.get("href", "").strip()
            break
    html_lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    title_element = tree.find(".//title")
    return PageMeta(
        canonical=canonical,
        og_url=meta.get("og:url"),
        og_type=og_type,
        title=_text(ld, "headline") or meta.get("og:title") or meta.get("twitter:title"),
        author=_author(ld) or person(meta.get("article:author")) or person(meta.get("author")),
        published=_text(ld, "datePublished")
        or meta.get("article:published_time")
        or meta.get("og:article:published_time")
        or meta.get("date"),
        language=_language(
            _text(ld, "inLanguage") or html_lang or meta.get("og:locale") or meta.get("language")
        ),
        sitename=meta.get("og:site_name") or _publisher(ld),
        is_article_typed=ld_type or og_type == "article",
        html_title=(title_element.text_content().strip() or None)
        if title_element is not None
        else None,
        description=meta.get("og:description") or meta.get("description"),
    )


def _language(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if 2 <= len(code) <= 3 and code.isalpha() else None


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iterfind('.//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue  # broken JSON-LD is common; the page's other signals still count
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if "@graph" in item:
                    stack.append(item["@graph"])
                yield item


def _first_article_ld(tree: HtmlElement) -> dict[str, Any] | None:
    for item in _json_ld_objects(tree):
        types = item.get("@type")
        names = types if isinstance(types, list) else [types]
        if any(isinstance(n, str) and n.lower() in ARTICLE_TYPES for n in names):
            return item
    return None


_URL = re.compile(r"(?:https?:)?//|www\.", re.I)


def person(value: str | None) -> str | None:
    """An author's name, or None for what is not one: OpenGraph's ``article:author`` is a
    profile URL by its specification, and some pages put one in ``author`` too."""
    if not value:
        return None
    name = " ".join(html.unescape(value).split())
    return None if not name or _URL.match(name) else name


def _text(ld: dict[str, Any] | None, key: str) -> str | None:
    """A JSON-LD string, with the HTML entities that CMSs leave in it decoded
    (``&#8216;`` becomes a quote)."""
    if not ld:
        return None
    value = ld.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    return " ".join(html.unescape(value).split()) or None if isinstance(value, str) else None


def _author(ld: dict[str, Any] | None) -> str | None:
    if not ld:
        return None
    authors = ld.get("author")
    items = authors if isinstance(authors, list) else [authors]
    names = []
    for item in items:
        name = person(item.get("name") if isinstance(item, dict) else item)
        if isinstance(name, str) and name:
            names.append(name)
    return "; ".join(names) or None


def _publisher(ld: dict[str, Any] | None) -> str | None:
    return _text(ld, "publisher")
