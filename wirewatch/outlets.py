"""Add outlets to the config without writing TOML by hand: ``wirewatch add URL`` and
``wirewatch outlets import FILE.opml`` / ``export``.

The config file is edited with tomlkit, so its comments and layout stay as the person wrote
them; the new text is validated as a config before it replaces the file (atomically), so a
config is never left broken. An outlet of the starter config whose sources all live on a
reserved example domain (``example.org``, RFC 2606) is a placeholder: the first outlet added
takes its place, keeping its comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import tomlkit
from lxml import etree

from alerts.scripts import script
from core.errors import ConfigError, WirewatchError
from core.files import replace_file
from crawler.config import OUTLET_NAME, OutletConfig
from crawler.finder import Fetch, FinderError, Finding, Source, find_sources
from extractors.urls import is_private_address, registrable_domain
from wirewatch.config import Config, parse_config

_EXAMPLE_HOSTS = re.compile(r"(?:^|\.)(?:example\.(?:org|com|net)|example|invalid|test)$", re.I)


@dataclass
class Sample:
    """One article a crawl would store, fetched and extracted now, or why it would not be."""

    url: str
    title: str | None = None
    published: str | None = None
    chars: int = 0
    problem: str = ""


@dataclass
class Plan:
    """An outlet to add: its name and sources, what was found, and a sample article."""

    name: str
    finding: Finding
    sample: Sample | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"name": self.name}
        if self.finding.feeds:
            table["feeds"] = [source.url for source in self.finding.feeds]
        if self.finding.sitemaps:
            table["sitemaps"] = [source.url for source in self.finding.sitemaps]
        return table


def name_for(url: str, taken: Iterable[str], titles: Iterable[str] = ()) -> str:
    """An outlet name: from what the outlet calls itself (its feed's title, else its page's
    site name: "Gulf Wire" gives ``gulf-wire``), else from the site's address
    (``www.tehrantimes.com`` gives ``tehrantimes``); with ``-2``, ``-3``... when it is taken."""
    host = (urlsplit(url).hostname or "").lower()
    if is_private_address(host) or re.fullmatch(r"[\d.:]+", host):
        domain = host
    else:
        domain = registrable_domain(url).split(".")[0] or host
    base = next(
        (slug for title in titles if (slug := title_slug(title, domain))),
        re.sub(r"[^A-Za-z0-9_.-]+", "-", domain).strip("-._") or "outlet",
    )
    taken = set(taken)
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name


#: What separates a site's name from the rest of a title: "Tehran Times - Latest news".
_TITLE_PARTS = re.compile(r"\s+[-|–—:·•»]+\s+")
#: Most characters of a name made from a title.
NAME_CHARS = 40


def title_slug(title: str, domain: str = "") -> str:
    """A name from a title, lower case, words joined by dashes, in Latin letters (anyascii
    reads Cyrillic and Greek). Of a title in parts ("World news | The Guardian"), the part that
    spells the site's ``domain`` (``theguardian``), else the first; "" when nothing is left,
    or when the title is in another script: Arabic and Persian read in Latin are consonant
    skeletons (ایرنا gives "yrn"), and the domain (``irna``) names the outlet better."""
    words = re.findall(r"[^\W\d_]+", title)
    if any(script(word) not in ("latin", "cyrillic_greek", "mixed") for word in words):
        return ""
    parts = [part for part in _TITLE_PARTS.split(title) if part.strip()] or [title]
    slugs = [_slug(part) for part in parts]
    flat = domain.replace("-", "").lower()
    chosen = next((slug for slug in slugs if flat and slug.replace("-", "") == flat), None)
    slug = chosen or next((slug for slug in slugs if slug), "")
    if len(slug) > NAME_CHARS:
        slug = slug[:NAME_CHARS].rsplit("-", 1)[0]
    return slug


def _slug(text: str) -> str:
    from anyascii import anyascii

    return re.sub(r"[^a-z0-9]+", "-", anyascii(text).lower()).strip("-")


def plan_outlet(
    config: Config, url: str, name: str | None, fetch: Fetch, *, sample: bool = True
) -> Plan:
    """Find the sources of the outlet at ``url``, try them once, and extract their newest item
    as a crawl would (``sample``).

    Raises:
        WirewatchError: ``url`` is not http(s), cannot be read, holds no feed or news sitemap,
            or is configured already; ``name`` is taken or not a valid name.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WirewatchError(f"{url}: not an http(s) URL")
    if name is not None:
        if not OUTLET_NAME.match(name):
            raise WirewatchError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only")
        if any(outlet.name == name for outlet in config.outlets if not _placeholder(outlet)):
            raise WirewatchError(f"an outlet named {name!r} is in the config already")
    try:
        finding = find_sources(url, fetch)
    except FinderError as exc:
        raise WirewatchError(str(exc)) from None
    if not finding.sources:
        tried = "; ".join(f"{u}: {why}" for u, why in finding.passed[:6])
        raise WirewatchError(
            f"{url}: no feed or news sitemap found (tried {tried or 'nothing'}). If the site "
            "has none, write the outlet by hand with start_urls and follow patterns "
            "(docs/configuration.md)"
        )
    for source in finding.sources:
        for outlet in config.outlets:
            if source.url in outlet.sources and not _placeholder(outlet):
                raise WirewatchError(
                    f"{source.url} is configured already, in outlet {outlet.name!r}"
                )
    taken = [outlet.name for outlet in config.outlets if not _placeholder(outlet)]
    plan = Plan(name or name_for(finding.url, taken, finding.titles), finding)
    newest = finding.newest_entries(1)
    if sample and newest:
        plan.sample = _sample(newest[0].url, fetch, finding.robots, config)
    return plan


def _sample(url: str, fetch: Fetch, robots: bytes, config: Config) -> Sample:
    """The article at ``url`` as a crawl would store it, or why it would not."""
    from scrapy.robotstxt import ProtegoRobotParser

    from extractors.article import extract_article

    agent = config.crawl.user_agent
    if config.crawl.obey_robots and robots:
        allowed = ProtegoRobotParser(robots, None).allowed(url, agent)
        if not allowed:
            return Sample(url, problem="robots.txt forbids it to this user agent")
    try:
        page = fetch(url)
    except OSError as exc:
        return Sample(url, problem=f"cannot fetch: {exc}")
    if page.status >= 400:
        return Sample(url, problem=f"HTTP {page.status}")
    result = extract_article(
        page.body, page.url, page.headers, min_text=config.crawl.min_text, listed=True
    )
    if result.article is None:
        detail = f": {result.detail}" if result.detail else ""
        return Sample(url, problem=f"{result.reason}{detail}")
    article = result.article
    return Sample(url, article.title, article.published, len(article.text))


def describe(plan: Plan) -> list[str]:
    """What ``add`` prints: each source with its item count and newest date, the sample."""
    lines = [f"outlet {plan.name!r}, from {plan.finding.url}"]
    for source in plan.finding.sources:
        lines.append(f"  {source.kind:<7} {source.url}: {_listing(source)}")
    for url, why in plan.finding.passed:
        lines.append(f"  (passed) {url}: {why}")
    sample = plan.sample
    if sample is not None and sample.problem:
        lines.append(f"  newest item {sample.url}: would not be stored: {sample.problem}")
    elif sample is not None:
        when = f", {sample.published}" if sample.published else ""
        lines.append(f"  newest item: {sample.title!r}{when}, {sample.chars} characters")
    lines.extend(f"  note: {note}" for note in plan.notes)
    return lines


def _listing(source: Source) -> str:
    count = len(source.entries)
    newest = source.newest
    when = f", newest {newest:%Y-%m-%d %H:%M} UTC" if newest else ", undated"
    return f"{count} item{'s' if count != 1 else ''}{when}"


def write_outlets(config_file: Path, tables: list[dict[str, Any]]) -> Config:
    """Append ``tables`` to the config's ``[[outlets]]``, keeping its comments; the first
    takes the place of a starter placeholder outlet. Returns the config as written.

    Raises:
        ConfigError: The result would not load (nothing is written then).
    """
    text = config_file.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    outlets = document.get("outlets")
    if outlets is None:
        document.append("outlets", tomlkit.aot())
        outlets = document["outlets"]
    pending = list(tables)
    for existing in outlets:
        if pending and _placeholder_table(existing):
            for key in ("feeds", "sitemaps", "start_urls", "follow"):
                existing.pop(key, None)
            existing.update(pending.pop(0))
    for table in pending:
        item = tomlkit.table()
        item.update(table)
        outlets.append(item)
    new_text = tomlkit.dumps(document)
    config = parse_config(new_text, config_file)
    replace_file(config_file, new_text.encode("utf-8"))
    return config


def _placeholder(outlet: OutletConfig) -> bool:
    return _on_example_hosts(outlet.sources)


def _placeholder_table(table: Any) -> bool:
    return _on_example_hosts(
        str(url) for key in ("feeds", "sitemaps", "start_urls") for url in table.get(key, [])
    )


def _on_example_hosts(urls: Iterable[str]) -> bool:
    """Sources all on reserved example domains (RFC 2606): a starter's placeholder outlet."""
    hosts = [urlsplit(url).hostname or "" for url in urls]
    return bool(hosts) and all(_EXAMPLE_HOSTS.search(host) for host in hosts)


# OPML (https://opml.org/spec2.opml): one outline per feed, its text the outlet's name.


@dataclass(frozen=True)
class OpmlFeed:
    name: str
    url: str


def read_opml(data: bytes, source: str) -> list[OpmlFeed]:
    """The feeds of an OPML file: every outline with an ``xmlUrl``, named by its ``title`` or
    ``text`` (folders are flattened).

    Raises:
        ConfigError: The file is not OPML.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"{source}: not OPML: {exc}") from None
    if root.tag != "opml":
        raise ConfigError(f"{source}: not OPML: the root element is <{root.tag}>")
    feeds = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url:
            name = outline.get("title") or outline.get("text") or ""
            feeds.append(OpmlFeed(name.strip(), url))
    return feeds


def write_opml(outlets: list[OutletConfig]) -> str:
    """The outlets' feeds as OPML 2.0; an outlet's name is each of its outlines' text, so an
    import groups them back into one outlet."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head><title>wirewatch outlets</title></head>",
        "  <body>",
    ]
    for outlet in outlets:
        for feed in outlet.feeds:
            lines.append(
                f'    <outline type="rss" text={quoteattr(outlet.name)} '
                f"title={quoteattr(outlet.name)} xmlUrl={quoteattr(feed)}/>"
            )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def group_feeds(feeds: list[OpmlFeed], config: Config) -> tuple[list[dict[str, Any]], list[str]]:
    """Outlet tables for the OPML feeds not configured yet (outlines sharing a name become one
    outlet), and a line for each feed left out."""
    configured = {url: outlet.name for outlet in config.outlets for url in outlet.sources}
    taken = [outlet.name for outlet in config.outlets if not _placeholder(outlet)]
    grouped: dict[str, list[str]] = {}
    skipped = []
    for feed in feeds:
        if feed.url in configured:
            skipped.append(f"{feed.url}: configured already, in outlet {configured[feed.url]!r}")
            continue
        if urlsplit(feed.url).scheme not in {"http", "https"}:
            skipped.append(f"{feed.url}: not an http(s) URL")
            continue
        grouped.setdefault(feed.name, []).append(feed.url)
    tables = []
    for title, urls in grouped.items():
        name = _name_from_title(title)
        if not name or name in taken:
            name = name_for(urls[0], taken)
        taken.append(name)
        tables.append({"name": name, "feeds": list(dict.fromkeys(urls))})
    return tables, skipped


def _name_from_title(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", title).strip("-._")


__all__ = [
    "OpmlFeed",
    "Plan",
    "Sample",
    "describe",
    "group_feeds",
    "name_for",
    "plan_outlet",
    "read_opml",
    "write_opml",
    "write_outlets",
]
