"""Load and validate ``wirewatch.toml``.

Every section is a model with ``extra="forbid"``, so a misspelt key is an error, and every error
is reported once, naming the key and the line of the file it is on, before anything is crawled.
The file is looked up from ``--config``, then ``$WIREWATCH_CONFIG``, then ``./wirewatch.toml``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from extractors.urls import registrable_domain
from wirewatch.errors import ConfigError
from wirewatch.units import parse_duration, parse_size

DEFAULT_CONFIG = "wirewatch.toml"
OUTLET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Bytes = Annotated[int, BeforeValidator(parse_size)]


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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Section):
    database: str = "wirewatch.db"
    busy_timeout: Seconds = 30.0


class CrawlConfig(_Section):
    user_agent: str = "wirewatch/0.1 (news monitoring; +https://github.com/wirewatch/wirewatch)"
    obey_robots: bool = True
    concurrency_per_domain: int = Field(default=2, ge=1, le=64)
    delay: Seconds = 1.0
    autothrottle: bool = True
    timeout: Seconds = 30.0
    max_size: Bytes = 10 * 1000**2
    recheck: Seconds = 2 * 3600.0
    min_text: int = Field(default=200, ge=0)
    max_pages: int = Field(default=500, ge=1)
    page_budget: Seconds = 10.0

    @field_validator("user_agent")
    @classmethod
    def _honest(cls, value: str) -> str:
        if "http" not in value and "@" not in value:
            raise ValueError("the user agent must carry a contact URL or address")
        return value


class OutletConfig(_Section):
    name: str
    feeds: list[Url] = []
    sitemaps: list[Url] = []
    start_urls: list[Url] = []
    follow: list[Regex] = []
    depth: int = Field(default=1, ge=0, le=5)
    allow_domains: list[str] = []
    every: Seconds | None = None
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
    def domains(self) -> list[str]:
        """The domains this outlet's articles live on: ``allow_domains``, else the registrable
        domains of its sources (``feeds.bbci.co.uk`` gives ``bbci.co.uk``). The crawler adds
        the hosts of the items the outlet's own feeds and sitemaps list."""
        if self.allow_domains:
            return [d.lower().removeprefix("www.") for d in self.allow_domains]
        return sorted({registrable_domain(u) for u in self.sources} - {""})


class WatchConfig(_Section):
    name: str
    query: str
    email: list[str]
    mode: Literal["immediate", "digest"] = "immediate"
    at: str | None = None
    every: Seconds | None = None
    timezone: str = "UTC"
    outlets: list[str] = []
    max_age: Seconds = 3 * 86400.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip() or len(value) > 80 or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("a watch name is 1 to 80 printable characters")
        return value

    @field_validator("email", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return _check_addresses(value, required=True)

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: str | None) -> str | None:
        if value is not None and not _TIME_OF_DAY.match(value):
            raise ValueError(f"not a time of day (HH:MM, 24-hour): {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. 'Europe/Paris', 'UTC')") from None
        return value

    @model_validator(mode="after")
    def _query_and_mode(self) -> WatchConfig:
        from alerts.query import QueryError, parse_query

        try:
            parse_query(self.query)
        except QueryError as exc:
            raise ValueError(f"watch {self.name!r}: bad query {self.query!r}: {exc}") from None
        if self.mode == "digest" and self.at is None and self.every is None:
            raise ValueError(
                f'watch {self.name!r}: a digest needs at (e.g. "08:00") or every (e.g. "6h")'
            )
        if self.mode == "digest" and self.at is not None and self.every is not None:
            raise ValueError(f"watch {self.name!r}: give either at or every, not both")
        if self.mode == "immediate" and (self.at is not None or self.every is not None):
            raise ValueError(f'watch {self.name!r}: at and every are for mode = "digest"')
        return self


_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _check_addresses(value: list[str], required: bool = False) -> list[str]:
    if required and not value:
        raise ValueError("give at least one address")
    for address in value:
        if not _ADDRESS.match(address):
            raise ValueError(f"not an email address: {address!r}")
    return value


class EmailConfig(_Section):
    sender: str = Field(default="wirewatch@localhost", alias="from")
    maildir: str = "maildir"
    operator: list[str] = []

    retry: Seconds = 60.0
    retry_max: Seconds = 6 * 3600.0
    digest_limit: int = Field(default=50, ge=1)

    @field_validator("operator", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("operator")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        from email.utils import parseaddr

        if not _ADDRESS.match(parseaddr(value)[1]) or any(c in value for c in "\r\n"):
            raise ValueError(f"not an email address: {value!r}")
        return value


class ScheduleConfig(_Section):
    every: Seconds = 15 * 60.0
    jitter: Seconds = 0.0
    crawl_timeout: Seconds = 10 * 60.0
    max_parallel: int = Field(default=2, ge=1, le=32)
    grace: Seconds = 30.0
    notify: Seconds = 60.0


class HealthConfig(_Section):
    """Thresholds of ``wirewatch.health``: how many runs in a row make an outlet unhealthy."""

    failures: int = Field(default=3, ge=1)
    quiet_runs: int = Field(default=24, ge=1)
    extraction_runs: int = Field(default=2, ge=1)
    extraction_ok: float = Field(default=0.5, gt=0, le=1)
    extraction_min_pages: int = Field(default=3, ge=1)
    feed_errors: int = Field(default=3, ge=1)


class Config(_Section):
    storage: StorageConfig = StorageConfig()
    crawl: CrawlConfig = CrawlConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    health: HealthConfig = HealthConfig()
    email: EmailConfig = EmailConfig()
    outlets: list[OutletConfig] = []
    watches: list[WatchConfig] = []
    path: Path | None = None

    @model_validator(mode="after")
    def _watched_outlets(self) -> Config:
        known = {outlet.name for outlet in self.outlets}
        for watch in self.watches:
            for name in watch.outlets:
                if name not in known:
                    raise ValueError(f"watch {watch.name!r}: no outlet named {name!r}")
        return self

    def watch(self, name: str) -> WatchConfig:
        """Return the watch called ``name``.

        Raises:
            KeyError: No such watch.
        """
        for watch in self.watches:
            if watch.name == name:
                return watch
        raise KeyError(name)

    def outlet(self, name: str) -> OutletConfig:
        """Return the outlet called ``name``.

        Raises:
            KeyError: No such outlet.
        """
        for outlet in self.outlets:
            if outlet.name == name:
                return outlet
        raise KeyError(name)

    def database_path(self, override: str | None = None) -> Path:
        """The SQLite file: ``override``, else ``$WIREWATCH_DB``, else ``[storage] database``.

        A relative path in the file is relative to the config file's folder.
        """
        chosen = override or os.environ.get("WIREWATCH_DB")
        if chosen:
            return Path(chosen)
        path = Path(self.storage.database)
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file: ``explicit``, else ``$WIREWATCH_CONFIG``, else ``./wirewatch.toml``."""
    return Path(explicit or os.environ.get("WIREWATCH_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file.

    Raises:
        ConfigError: The file is missing, is not TOML, or breaks a rule; the message names the
            key and its line.
    """
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such config file (see wirewatch.toml in the README)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    return parse_config(text, file)


def parse_config(text: str, file: Path | None = None) -> Config:
    """Validate TOML text as a config; see :func:`load_config`."""
    name = str(file) if file else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate({**data, "path": file.resolve() if file else None})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = _locate(text, loc)
        where = f"{name}:{line}" if line else name
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{where}: {key}: {message}{suffix}") from None
    named: tuple[tuple[str, list[Any]], ...] = (
        ("outlets", config.outlets),
        ("watches", config.watches),
    )
    for table, items in named:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.name in seen:
                line = _locate(text, (table, index, "name"))
                raise ConfigError(
                    f"{name}:{line}: {table}.{index}.name: duplicate name {item.name!r}"
                )
            seen.add(item.name)
    return config


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")


def _locate(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number (1-based) of the key at ``loc`` in TOML ``text``."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    rest = list(loc)
    if rest and isinstance(rest[0], str):
        table = rest.pop(0)
        index = rest.pop(0) if rest and isinstance(rest[0], int) else None
        headers = [
            (number, m.group(2)) for number, line in enumerate(lines) if (m := _HEADER.match(line))
        ]
        matches = [number for number, header in headers if header == table]
        if matches:
            start = matches[index] if index is not None and index < len(matches) else matches[0]
            later = [number for number, _ in headers if number > start]
            end = later[0] if later else len(lines)
            if not rest:
                return start + 1
        else:
            rest.insert(0, table)
            start, end = 0, headers[0][0] if headers else len(lines)
    key = next((part for part in rest if isinstance(part, str)), None)
    if key is None:
        return start + 1
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1 if start < len(lines) else None
