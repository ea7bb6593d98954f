"""The ``[schedule]`` section (when outlets are crawled and how the monitor runs them) and what
the monitor reads of the whole config.

Kept apart from the daemon (scheduler.py) so that reading the config imports no Scrapy,
APScheduler or Redis: every command reads it, ``--help`` and ``check`` included.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from alerts.config import AlertSettings
from cluster.config import ClusterConfig
from core.fields import Count, Flag, Interval, Seconds, Section
from crawler.config import CrawlerConfig


class ScheduleConfig(Section):
    every: Interval = 15 * 60.0
    jitter: Seconds = 0.0
    crawl_timeout: Interval = 10 * 60.0
    max_parallel: Count = Field(default=8, ge=1, le=1024)
    #: Long-lived crawl worker processes; 0 runs each crawl in a process of its own.
    workers: Count = Field(default_factory=lambda: os.cpu_count() or 1, ge=0, le=64)
    grace: Seconds = 30.0
    notify: Interval = 60.0
    #: Each outlet's interval follows its publishing rate (``monitor.rhythm``), ``every`` the
    #: budget's centre, within ``min_every`` and ``max_every``.
    adaptive: Flag = True
    min_every: Interval = 120.0
    max_every: Interval = 2 * 3600.0

    @model_validator(mode="after")
    def _bounds(self) -> ScheduleConfig:
        if self.min_every > self.max_every:
            raise ValueError("min_every is longer than max_every")
        return self


class WebSubConfig(Section):
    """``[websub]``: pushed updates from the hubs that feeds name (``monitor.websub``), on when
    ``callback`` is set."""

    #: The public URL at which hubs reach this monitor (a reverse proxy in front of ``listen``);
    #: each subscription's callback is this URL and a token of its own.
    callback: str = ""
    #: The address and port the monitor's callback server binds to.
    listen: str = "127.0.0.1:8470"
    #: The lease asked of the hub (it may grant another); renewed when four fifths have run.
    lease: Interval = 7 * 86400.0

    @field_validator("callback")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL: give the public URL hubs reach this "
                "monitor at, e.g. https://wirewatch.example.org/websub"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: the callback URL takes no query or fragment")
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8470)")
        return value.strip()

    def bind(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class MonitorConfig(CrawlerConfig, AlertSettings, Protocol):
    """What the monitor reads of the config (``wirewatch.config.Config`` is one): what the
    crawler and the alerts read, and the schedule, the Maildir and the SMTP URL."""

    @property
    def schedule(self) -> ScheduleConfig: ...

    def maildir_path(self) -> Path: ...

    @property
    def smtp_url(self) -> str: ...

    @property
    def environment(self) -> Mapping[str, str]: ...

    @property
    def cluster(self) -> ClusterConfig: ...

    @property
    def redis_url(self) -> str: ...

    @property
    def websub(self) -> WebSubConfig: ...


#: Reads and validates the config file again (SIGHUP, a saved file); raises if it cannot.
Loader = Callable[[Path], MonitorConfig]
