"""The ``[schedule]`` section: when outlets are crawled and how the monitor runs them.

Kept apart from the daemon (scheduler.py) so that reading the config imports no Scrapy,
APScheduler or Redis: every command reads it, ``--help`` and ``check`` included.
"""

from __future__ import annotations

import os

from pydantic import Field

from core.fields import Count, Interval, Seconds, Section


class ScheduleConfig(Section):
    every: Interval = 15 * 60.0
    jitter: Seconds = 0.0
    crawl_timeout: Interval = 10 * 60.0
    max_parallel: Count = Field(default=8, ge=1, le=1024)
    #: Long-lived crawl worker processes; 0 runs each crawl in a process of its own.
    workers: Count = Field(default_factory=lambda: os.cpu_count() or 1, ge=0, le=64)
    grace: Seconds = 30.0
    notify: Interval = 60.0
