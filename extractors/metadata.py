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
from datetime import UTC, datetime
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
    #: The JSON-LD ``articleBody``, where the page gives one: a witness of the article's extent.
    article_body: str | None = None


def read_meta(tree: HtmlElement) -> PageMeta:
    """Collect the page's own metadata; absent fields are None. Any JSON-LD shape is read
    (strings, numbers, lists nested in lists, nodes with or without ``name``, ``@graph`` with
    ``@id`` references and cycles): what is not a value of the expected kind is absent."""
    meta: dict[str, str] = {}
    for element in tree.iterfind(".//meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        value = (element.get("content") or "").strip()
        if key and value and key not in meta:
            meta[key] = value
    ld, ids = _first_article_ld(tree)
    og_type = meta.get("og:type", "").lower() or None
    canonical = None
    for link in tree.iterfind(".//link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels and link.get("href"):
            canonical = link.get("href", "").strip()
            break
    html_lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    title_element = tree.find(".//title")
    body = _text(ld, "articleBody", ids)
    return PageMeta(
        canonical=canonical,
        og_url=meta.get("og:url"),
        og_type=og_type,
        title=_text(ld, "headline", ids) or meta.get("og:title") or meta.get("twitter:title"),
        author=_author(ld, ids) or person(meta.get("article:author")) or person(meta.get("author")),
        published=_date(ld, "datePublished", ids)
        or meta.get("article:published_time")
        or meta.get("og:article:published_time")
        or meta.get("date"),
        language=_language(
            _text(ld, "inLanguage", ids)
            or html_lang
            or meta.get("og:locale")
            or meta.get("language")
        ),
        sitename=meta.get("og:site_name") or _text(ld, "publisher", ids),
        is_article_typed=ld is not None or og_type == "article",
        html_title=(title_element.text_content().strip() or None)
        if title_element is not None
        else None,
        description=meta.get("og:description") or meta.get("description"),
        article_body=body,
    )


def _language(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if 2 <= len(code) <= 3 and code.isalpha() else None


#: How deep a JSON-LD value is followed (lists in nodes in lists ...): real pages nest 3 or 4.
MAX_DEPTH = 8
Node = dict[str, Any]


def _json_ld_objects(tree: HtmlElement) -> Iterator[Node]:
    for script in tree.iterfind('.//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue  # broken JSON-LD is common; the page's other signals still count
        stack = [(data, 0)]
        while stack:
            item, depth = stack.pop()
            if depth > MAX_DEPTH:
                continue
            if isinstance(item, list):
                stack.extend((child, depth + 1) for child in reversed(item))
            elif isinstance(item, dict):
                if "@graph" in item:
                    stack.append((item["@graph"], depth + 1))
                yield item


def _first_article_ld(tree: HtmlElement) -> tuple[Node | None, dict[str, Node]]:
    """The page's first article node, and every node by its ``@id`` (for references)."""
    article = None
    ids: dict[str, Node] = {}
    for item in _json_ld_objects(tree):
        key = item.get("@id")
        if isinstance(key, str) and len(item) > 1:
            ids.setdefault(key, item)
        if article is None and any(
            name.lower() in ARTICLE_TYPES for name in _strings(item.get("@type"), {})
        ):
            article = item
    return article, ids


def _strings(value: Any, ids: dict[str, Node], depth: int = 0) -> Iterator[str]:
    """The strings a JSON-LD value stands for, in order: a string; a number; each item of a
    list (nested or not); a node's ``name`` or ``@value``, or the node its ``@id`` refers to.
    References are followed at most MAX_DEPTH deep, so a cycle ends."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, ids, depth + 1)
    elif isinstance(value, dict):
        for key in ("name", "@value"):
            if key in value:
                yield from _strings(value[key], ids, depth + 1)
                return
        target = ids.get(value["@id"]) if isinstance(value.get("@id"), str) else None
        if target is not None and target is not value:
            yield from _strings(target, ids, depth + 1)


_URL = re.compile(r"(?:https?:)?//|www\.", re.I)


def person(value: object) -> str | None:
    """An author's name, or None for what is not one: OpenGraph's ``article:author`` is a
    profile URL by its specification, and some pages put one in ``author`` too."""
    if not isinstance(value, str) or not value:
        return None
    name = " ".join(html.unescape(value).split())
    return None if not name or _URL.match(name) else name


def _text(ld: Node | None, key: str, ids: dict[str, Node]) -> str | None:
    """A JSON-LD property's first string, with the HTML entities that CMSs leave in it decoded
    (``&#8216;`` becomes a quote)."""
    if not ld:
        return None
    for value in _strings(ld.get(key), ids):
        text = " ".join(html.unescape(value).split())
        if text:
            return text
    return None


def _date(ld: Node | None, key: str, ids: dict[str, Node]) -> str | None:
    """A JSON-LD date: a string as written, or a number of seconds (or milliseconds) since
    1970, as some CMSs write it."""
    if not ld:
        return None
    value = ld.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat()
        except (ValueError, OverflowError, OSError):
            return None
    return _text(ld, key, ids)


def _author(ld: Node | None, ids: dict[str, Node]) -> str | None:
    if not ld:
        return None
    names: list[str] = []
    for value in _strings(ld.get("author"), ids):
        name = person(value)
        if name and name not in names:
            names.append(name)
    return "; ".join(names) or None
