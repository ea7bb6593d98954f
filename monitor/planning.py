"""The schedule, as the config asks for it: each outlet's trigger, when it is next due, which
outlets are overdue at start, and how late the runs start (the monitor's lag)."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.units import format_duration
from crawler.config import OutletConfig
from monitor.config import MonitorConfig

logger = logging.getLogger("wirewatch.scheduler")

#: Seconds between two heartbeats of a running monitor; ``status`` takes a monitor whose last
#: beat is older than three of these for gone.
HEARTBEAT = 5.0
#: A run that starts more than this many seconds after it was due is late; the monitor warns
#: when more than 5 % of its last LAG_WINDOW runs were, at most every LAG_WARN_EVERY seconds.
LATE = 60.0
LAG_WINDOW = 500
LAG_WARN_EVERY = 600.0
#: Seconds between two prunings of ``crawl_runs``.
PRUNE_EVERY = 86400.0
#: Seconds between two computations of the outlets' adaptive paces (``monitor.rhythm``).
PACE_EVERY = 3600.0


@dataclass(frozen=True)
class Plan:
    """One job as the config asks for it."""

    job_id: str
    trigger: BaseTrigger
    signature: tuple[Any, ...]  # what the job's schedule depends on: a change means rebuild
    interval: float
    outlet: str | None = None


def outlet_trigger(
    config: MonitorConfig, outlet: OutletConfig, pace: float | None = None
) -> tuple[BaseTrigger, float, str]:
    """The outlet's trigger, its nominal interval in seconds, and a description; ``pace``: its
    adaptive interval (``monitor.rhythm``), where it has one."""
    if outlet.cron:
        return CronTrigger.from_crontab(outlet.cron, timezone=UTC), 60.0, f"cron {outlet.cron}"
    every = outlet.every or pace or config.schedule.every
    jitter = int(config.schedule.jitter) or None
    trigger = IntervalTrigger(seconds=every, jitter=jitter, timezone=UTC)
    return trigger, every, f"every {format_duration(every)}"


def known_window(config: MonitorConfig) -> float:
    """Seconds a cluster's Redis keeps a stored URL's key: ``[cluster] known_for``, and at
    least the longest ``max_age`` and the re-check window, and a day."""
    ages = [outlet.max_age for outlet in config.outlets]
    return max([config.cluster.known_for, config.crawl.recheck, 86400.0, *ages])


def next_due(
    config: MonitorConfig, outlet: OutletConfig, last: datetime | None, pace: float | None = None
) -> datetime | None:
    """When ``outlet`` is next due after a run started at ``last``; None if it never ran."""
    if last is None:
        return None
    if outlet.cron:
        trigger = CronTrigger.from_crontab(outlet.cron, timezone=UTC)
        return trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    return last + timedelta(seconds=outlet.every or pace or config.schedule.every)


def plans(config: MonitorConfig, paces: Mapping[str, float] | None = None) -> list[Plan]:
    """Every job of ``config``: a crawl per outlet (at its adaptive pace, in seconds, where
    ``paces`` has one), notify (if anything is to be sent), and one per digest watch at its
    ``at`` time or ``every``."""
    paces = paces or {}
    out = []
    for outlet in config.outlets:
        pace = paces.get(outlet.name)
        trigger, interval, _ = outlet_trigger(config, outlet, pace)
        signature: tuple[Any, ...] = (
            outlet.every,
            outlet.cron,
            config.schedule.every,
            config.schedule.jitter,
            round(pace) if pace else None,
        )
        out.append(Plan(f"crawl:{outlet.name}", trigger, signature, interval, outlet.name))
    if config.watches or config.email.operator:
        every = config.schedule.notify
        trigger = IntervalTrigger(seconds=every, timezone=UTC)
        out.append(Plan("notify", trigger, (every,), every))
    # The crawl_runs kept for [storage] keep_runs: pruned at start and daily.
    out.append(Plan("prune", IntervalTrigger(seconds=PRUNE_EVERY, timezone=UTC), (), PRUNE_EVERY))
    if config.schedule.adaptive:  # the paces, from the archive as it grows
        out.append(Plan("pace", IntervalTrigger(seconds=PACE_EVERY, timezone=UTC), (), PACE_EVERY))
    for watch in config.watches:
        if watch.mode != "digest":
            continue
        if watch.at is not None:
            hour, minute = watch.at.split(":")
            trigger = CronTrigger(hour=hour, minute=minute, timezone=watch.timezone)
            interval = 86400.0
        else:
            assert watch.every is not None
            trigger, interval = IntervalTrigger(seconds=watch.every, timezone=UTC), watch.every
        signature = (watch.at, watch.timezone, watch.every)
        out.append(Plan(f"digest:{watch.name}", trigger, signature, interval))
    return out


def first_runs(
    config: MonitorConfig,
    last: dict[str, datetime],
    now: datetime,
    paces: Mapping[str, float] | None = None,
) -> dict[str, datetime | None]:
    """Each outlet's first run, given when each last ran (and its pace): overdue ones now, most
    overdue first; the others at their next due time."""
    paces = paces or {}
    overdue: list[tuple[timedelta, str]] = []
    starts: dict[str, datetime | None] = {}
    for outlet in config.outlets:
        due = next_due(config, outlet, last.get(outlet.name), paces.get(outlet.name))
        if due is None or due <= now:
            late = now - due if due is not None else timedelta.max
            overdue.append((late, outlet.name))
        else:
            starts[outlet.name] = due
    # Jobs due at the same moment run in the order of their run times: space them a little.
    for rank, (_, name) in enumerate(sorted(overdue, reverse=True)):
        starts[name] = now + timedelta(milliseconds=50 * rank)
    return starts


class Lags:
    """How late the runs start after they were due, and a warning when too many are late."""

    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}  # job id: when its current run was due
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self.warned = 0.0

    def submitted(self, job_id: str, due: datetime) -> None:
        self.due[job_id] = due

    def lag_of(self, outlet: str, began: datetime) -> float | None:
        """Seconds the run of ``outlet`` that began at ``began`` started after it was due."""
        due = self.due.get(f"crawl:{outlet}")
        if due is None:
            return None
        lag = max(0.0, (began - due).total_seconds())
        self.lags.append(lag)
        return lag

    def warn_if_behind(self) -> None:
        """Say it, at most every LAG_WARN_EVERY seconds, when the recent runs start late: an
        outlet falling behind its schedule must not do so without a word."""
        lags = sorted(self.lags)
        if len(lags) < 20 or time.monotonic() - self.warned < LAG_WARN_EVERY:
            return
        late = sum(lag > LATE for lag in lags)
        if late * 20 <= len(lags):  # 95 % on time
            return
        self.warned = time.monotonic()
        logger.warning(
            "Falling behind: %(late)d of the last %(count)d runs started more than %(limit)s "
            "after they were due (p95 %(p95)s); raise [schedule] max_parallel or workers, or "
            "lengthen the outlets' intervals",
            {
                "late": late,
                "count": len(lags),
                "limit": format_duration(LATE),
                "p95": format_duration(round(lags[int(0.95 * (len(lags) - 1))])),
            },
        )
