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

from pydantic import Field

from alerts.config import AlertSettings
from cluster.config import ClusterConfig
from core.fields import Count, Interval, Seconds, Section
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


#: Reads and validates the config file again (SIGHUP, a saved file); raises if it cannot.
Loader = Callable[[Path], MonitorConfig]
