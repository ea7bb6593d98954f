"""Load and validate ``wirewatch.toml``.

Each package defines the section it reads (``storage.config``, ``crawler.config``,
``alerts.config``, ``monitor.config.ScheduleConfig``); this module composes them into ``Config``,
finds and reads the file, and reports every error once, naming the key and the line of the
file it is on, before anything is crawled. It is the one place that reads the environment:
``WIREWATCH_CONFIG``, ``WIREWATCH_DB``, ``WIREWATCH_SMTP_URL``, ``WIREWATCH_REDIS_URL`` and
``WIREWATCH_BROWSE_PASSWORD_HASH``. The file is looked up from
``--config``, then ``$WIREWATCH_CONFIG``, then ``./wirewatch.toml``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerts.config import SMTP_URL, EmailConfig, HealthConfig, WatchConfig
from cluster.config import ClusterConfig
from core.errors import ConfigError
from core.fields import Section
from core.units import format_duration, parse_duration
from crawler.config import CrawlConfig, OutletConfig
from monitor.config import ScheduleConfig, WebSubConfig
from storage.config import StorageConfig

__all__ = [
    "ClusterConfig",
    "Config",
    "CrawlConfig",
    "EmailConfig",
    "HealthConfig",
    "OutletConfig",
    "ScheduleConfig",
    "StorageConfig",
    "WatchConfig",
    "WebSubConfig",
    "config_path",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG = "wirewatch.toml"
BROWSE_PASSWORD_HASH = "WIREWATCH_BROWSE_PASSWORD_HASH"
REDIS_URL = "WIREWATCH_REDIS_URL"


class Config(Section):
    storage: StorageConfig = StorageConfig()
    crawl: CrawlConfig = CrawlConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    health: HealthConfig = HealthConfig()
    email: EmailConfig = EmailConfig()
    cluster: ClusterConfig = ClusterConfig()
    websub: WebSubConfig = WebSubConfig()
    outlets: list[OutletConfig] = []
    watches: list[WatchConfig] = []
    path: Path | None = None

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
        return self.outlet_index[name]

    @cached_property
    def outlet_index(self) -> dict[str, OutletConfig]:
        """The outlets by name: a monitor with 10,000 outlets looks one up on every run."""
        return {outlet.name: outlet for outlet in self.outlets}

    @property
    def browse_password_hash(self) -> str:
        """``$WIREWATCH_BROWSE_PASSWORD_HASH``: what ``browse --public`` asks for (a hash made
        by ``datasette hash-password``)."""
        return os.environ.get(BROWSE_PASSWORD_HASH, "")

    @property
    def smtp_url(self) -> str:
        """``$WIREWATCH_SMTP_URL``: SMTP credentials live in the environment, never the file."""
        return os.environ.get(SMTP_URL, "")

    @property
    def redis_url(self) -> str:
        """The cluster's Redis: ``$WIREWATCH_REDIS_URL`` (the URL with its password) if set,
        else ``[cluster] redis``."""
        return os.environ.get(REDIS_URL) or self.cluster.redis

    @property
    def environment(self) -> Mapping[str, str]:
        """Where the ``${NAME}`` secrets of ``notify`` URLs are read: the environment."""
        return os.environ

    def maildir_path(self) -> Path:
        """``[email] maildir``, relative to the config file's folder."""
        path = Path(self.email.maildir)
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path

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
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such config file (`wirewatch init` writes a starter one)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark, as some editors write, is fine
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{file}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02X} at column {column}): save "
            "the file as UTF-8"
        ) from None
    return parse_config(text, file)


_BOUNDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
}


def _raw(data: Any, loc: tuple[Any, ...]) -> Any:
    """The value at ``loc`` as the file wrote it, or None."""
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _in_words(raw: str, bound: float) -> str:
    """``bound`` in the unit ``raw`` was written in: a duration, else a size."""
    try:
        parse_duration(raw)
    except ValueError:
        return f"{bound:,.0f} bytes"
    return format_duration(bound)


def _problems(exc: ValidationError, data: Any, text: str, name: str) -> list[str]:
    """Every mistake of a config, one line each (``FILE:LINE: KEY: what is wrong``), in the
    file's order; one line per key (a value that fits none of a key's forms is one mistake)."""
    found: dict[str, tuple[int, str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = _locate(text, loc)
        where = f"{name}:{line}" if line else name
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _did_you_mean(loc)
        elif error["type"] == "missing":
            message = "missing, and it is required here"
        elif error["type"] in _BOUNDS and isinstance(_raw(data, loc), str):
            # A duration or a size written with its unit: its bound in the same words.
            bound = next(iter(error.get("ctx", {}).values()), None)
            if isinstance(bound, int | float):
                raw = _raw(data, loc)
                message = f"{_BOUNDS[error['type']]} {_in_words(raw, bound)} (given {raw!r})"
        found.setdefault(key, (line or 0, f"{where}: {key}: {message}"))
    return [problem for _, problem in sorted(found.values(), key=lambda found: found[0])]


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
        raise ConfigError("\n".join(_problems(exc, data, text, name))) from None
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
    known = {outlet.name for outlet in config.outlets}
    for index, watch in enumerate(config.watches):
        for outlet in watch.outlets:
            if outlet not in known:
                line = _locate(text, ("watches", index, "outlets"))
                hint = _close(outlet, known)
                raise ConfigError(
                    f"{name}:{line}: watches.{index}.outlets: watch {watch.name!r}: "
                    f"no outlet named {outlet!r}{hint}"
                )
    return config


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """ " (did you mean 'every'?)" for an unknown key at ``loc``, or ""."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return ""
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner else annotation
        if not hasattr(model, "model_fields"):
            return ""
    # A field with an alias is written by its alias only (``from``, not ``sender``).
    names = {f.alias or n for n, f in model.model_fields.items() if n != "path"}
    return _close(str(loc[-1]), names)


def _close(word: str, candidates: set[str]) -> str:
    found = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


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
