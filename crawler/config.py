"""The ``[crawl]`` section and the ``[[outlets]]`` of the config, and what the crawler needs of
the whole config (``CrawlerConfig``, which ``wirewatch.config.Config`` is)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Protocol
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from alerts.config import WatchConfig
from core.fields import Bytes, Count, Flag, Interval, Seconds, Section
from extractors.urls import Origin, origin, registrable_domain
from storage.config import StorageConfig

OUTLET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return pattern


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def _check_cron(expression: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"bad cron expression {expression!r}: {exc}") from None
    return expression


Regex = Annotated[str, BeforeValidator(_check_regex)]
Url = Annotated[str, BeforeValidator(_check_url)]
Cron = Annotated[str, BeforeValidator(_check_cron)]


class CrawlConfig(Section):
    user_agent: str = "wirewatch/0.1 (news monitoring; +https://github.com/wirewatch/wirewatch)"
    obey_robots: Flag = True
    concurrency_per_domain: Count = Field(default=2, ge=1, le=64)
    #: What a crawl waits on is bounded: a run must be able to end (and to stop on SIGTERM).
    delay: Seconds = Field(default=1.0, le=3600.0)
    autothrottle: Flag = True
    timeout: Interval = Field(default=30.0, le=3600.0)
    max_size: Bytes = Field(default=10 * 1000**2, ge=1000, le=10 * 1000**3)
    recheck: Seconds = 2 * 3600.0
    min_text: Count = Field(default=200, ge=0)
    max_pages: Count = Field(default=500, ge=1)
    page_budget: Interval = Field(default=10.0, le=600.0)

    @field_validator("user_agent")
    @classmethod
    def _honest(cls, value: str) -> str:
        if "http" not in value and "@" not in value:
            raise ValueError("the user agent must carry a contact URL or address")
        return value


class OutletConfig(Section):
    name: str
    feeds: list[Url] = []
    sitemaps: list[Url] = []
    start_urls: list[Url] = []
    follow: list[Regex] = []
    depth: Count = Field(default=1, ge=0, le=5)
    allow_domains: list[str] = []
    every: Interval | None = None
    cron: Cron | None = None
    max_age: Seconds = 3 * 86400.0
    selector: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not OUTLET_NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' and '-' only")
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None:
            from parsel import Selector

            page = Selector(text="<html></html>")
            try:
                page.xpath(value) if value.startswith(("/", "(")) else page.css(value)
            except Exception as exc:  # cssselect and lxml raise unrelated types for bad syntax
                raise ValueError(f"bad CSS/XPath selector {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _sources(self) -> OutletConfig:
        if not (self.feeds or self.sitemaps or self.start_urls):
            raise ValueError("an outlet needs at least one of feeds, sitemaps or start_urls")
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        if self.start_urls and not self.follow:
            raise ValueError("start_urls need follow patterns that select article links")
        return self

    @property
    def sources(self) -> list[str]:
        """Every configured source URL: feeds, sitemaps, section pages."""
        return [*self.feeds, *self.sitemaps, *self.start_urls]

    @property
    def origins(self) -> frozenset[Origin]:
        """The origins (scheme, host, port) of this outlet's sources: the only private
        addresses it may reach."""
        return frozenset(found for url in self.sources if (found := origin(url)))

    @property
    def domains(self) -> list[str]:
        """The domains this outlet's articles live on: ``allow_domains``, else the registrable
        domains of its sources (``feeds.bbci.co.uk`` gives ``bbci.co.uk``). The crawler adds
        the hosts of the items the outlet's own feeds and sitemaps list."""
        if self.allow_domains:
            return [d.lower().removeprefix("www.") for d in self.allow_domains]
        return sorted({registrable_domain(u) for u in self.sources} - {""})


def source_hosts(outlets: Iterable[OutletConfig]) -> list[str]:
    """The hosts of every outlet's sources, as :func:`extractors.urls.normal_host` writes them:
    the names the process's resolver lets resolve to a private address (an outlet pointed at
    an intranet). Which outlet may reach which of them is its own sources' origins alone
    (``OutletConfig.origins``, checked by ``crawler.guard.AddressGuard``)."""
    return sorted({origin[1] for outlet in outlets for origin in outlet.origins})


class CrawlerConfig(Protocol):
    """What the Scrapy project reads of the config."""

    @property
    def crawl(self) -> CrawlConfig: ...

    @property
    def storage(self) -> StorageConfig: ...

    @property
    def outlets(self) -> list[OutletConfig]: ...

    @property
    def watches(self) -> list[WatchConfig]: ...

    def outlet(self, name: str) -> OutletConfig: ...

    def database_path(self, override: str | None = None) -> Path: ...
