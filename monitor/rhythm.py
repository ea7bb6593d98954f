"""Adaptive polling (#33): each outlet polled as often as its own publishing rate deserves.

An outlet's rate is read from its last ``RATE_ARTICLES`` articles: their publication dates (their
first-seen times where fewer than ``RATE_MIN`` are dated), one arrival per ``ARRIVAL``
seconds (a first crawl's batch is one), over the time from the first of them to now, so an
outlet that has gone silent slows down.

The polls are shared out by the square root of the rates, the allocation that keeps the mean
wait for a new article least for a given number of requests (a poll every ``t`` seconds waits
``t / 2`` on average, and busy outlets are worth more polls, but not proportionally more):
interval = ``[schedule] every`` x (mean of the square roots of the rates) / (the square root
of this outlet's rate), in whole minutes. So ``every`` stays the centre of the budget: the
outlets together poll about as often as they would all at ``every``. Each interval is held
within ``min_every`` and ``max_every`` (widened to include ``every`` where it lies outside
them). An outlet with its own ``every`` or ``cron`` keeps it; one without a rate yet polls at
``every``.

Breaking news: a run that brings ``BURST_NEW`` new articles or more, and ``BURST_FACTOR`` times
what its rate expects of one poll, puts its outlet at ``min_every`` for ``BURST_FOR`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from crawler.config import OutletConfig
from extractors.dates import isoformat, parse_date
from monitor.config import MonitorConfig
from storage.articles import recent_dates
from storage.paces import record_paces, set_pace

RATE_ARTICLES = 50
RATE_MIN = 10
#: Seconds within which articles count as one arrival (one poll would have found them all).
ARRIVAL = 60.0
#: Arrivals an outlet needs for a rate.
ARRIVALS_MIN = 6
BURST_NEW = 5
BURST_FACTOR = 3.0
BURST_FOR = 3600.0


@dataclass(frozen=True)
class Pace:
    """How often an outlet is polled, and why, in words for ``status``."""

    seconds: float
    why: str
    #: Arrivals a second, where the outlet has a rate.
    rate: float | None = None


def arrival_rate(dates: list[tuple[str | None, str]], now: datetime) -> float | None:
    """Arrivals a second, from ``(published, first_seen)`` of an outlet's newest articles; None
    where they are too few to say."""
    if len(dates) < RATE_MIN:
        return None
    published = sorted(m for stamp, _ in dates if (m := parse_date(stamp)) and m <= now)
    seen = sorted(m for _, stamp in dates if (m := parse_date(stamp)))
    times = published if len(published) >= RATE_MIN else seen
    arrivals: list[datetime] = []
    for moment in times:
        if not arrivals or (moment - arrivals[-1]).total_seconds() > ARRIVAL:
            arrivals.append(moment)
    if len(arrivals) < ARRIVALS_MIN:
        return None
    span = (now - arrivals[0]).total_seconds()
    return len(arrivals) / span if span > 0 else None


def adaptive(config: MonitorConfig, outlet: OutletConfig) -> bool:
    """Whether ``outlet``'s interval follows its rate: adaptive polling is on and the outlet
    names no ``every`` or ``cron`` of its own."""
    return config.schedule.adaptive and not outlet.every and not outlet.cron


def paces(config: MonitorConfig, rates: dict[str, float | None]) -> dict[str, Pace]:
    """The pace of every outlet that has no ``every`` or ``cron`` of its own, given the
    outlets' arrival ``rates`` (see the module's docstring)."""
    every = config.schedule.every
    low = min(config.schedule.min_every, every)
    high = max(config.schedule.max_every, every)
    found = {
        outlet.name: rate
        for outlet in config.outlets
        if adaptive(config, outlet) and (rate := rates.get(outlet.name))
    }
    centre = sum(map(math.sqrt, found.values())) / len(found) if found else 0.0
    out: dict[str, Pace] = {}
    for outlet in config.outlets:
        if outlet.every or outlet.cron:
            continue
        rate = found.get(outlet.name)
        if not config.schedule.adaptive:
            out[outlet.name] = Pace(every, "[schedule] every (adaptive = false)")
        elif rate is None:
            out[outlet.name] = Pace(every, "[schedule] every: too few articles for a rate yet")
        else:
            seconds = _readable(min(high, max(low, every * centre / math.sqrt(rate))))
            out[outlet.name] = Pace(seconds, f"adaptive: {_per_day(rate)}", rate)
    return out


def burst(pace: Pace, new: int, config: MonitorConfig) -> Pace | None:
    """The pace for an outlet whose run just brought ``new`` articles, if that is a burst."""
    expected = (pace.rate or 0.0) * pace.seconds
    if new < BURST_NEW or new < BURST_FACTOR * max(expected, 1.0):
        return None
    seconds = min(config.schedule.min_every, pace.seconds)
    why = f"burst: {new} new articles in one run (usually {expected:.1f})"
    return Pace(seconds, why, pace.rate)


def _readable(seconds: float) -> float:
    """Whole minutes from two minutes up, whole seconds below: a schedule people read."""
    return float(round(seconds / 60) * 60 if seconds >= 120 else round(seconds))


def _per_day(rate: float) -> str:
    per_day = rate * 86400
    count: float
    if per_day >= 1:
        count, per = round(per_day), "day"
    else:
        count, per = round(per_day * 7, 1), "week"
    return f"about {count:g} arrival{'' if count == 1 else 's'} a {per}"


class Pacer:
    """The monitor's current paces: computed from the archive at start, on reload and hourly
    (``monitor.planning.PACE_EVERY``);
    a burst changes one outlet's for ``BURST_FOR``. Each change is recorded for ``status``."""

    def __init__(self) -> None:
        self.paces: dict[str, Pace] = {}
        self.bursts: dict[str, tuple[Pace, datetime]] = {}  # outlet: its burst pace, until

    def update(self, db: Database, config: MonitorConfig, now: datetime) -> dict[str, float]:
        """Every outlet's pace from its articles; the seconds of each, by outlet name."""
        rates = {
            outlet.name: arrival_rate(recent_dates(db, outlet.name, RATE_ARTICLES), now)
            for outlet in config.outlets
            if adaptive(config, outlet)
        }
        self.paces = paces(config, rates)
        self.bursts = {o: b for o, b in self.bursts.items() if b[1] > now and o in self.paces}
        current = {**self.paces, **{o: pace for o, (pace, _) in self.bursts.items()}}
        until = {o: isoformat(end) for o, (_, end) in self.bursts.items()}
        record_paces(db, {o: (p.seconds, p.why, until.get(o)) for o, p in current.items()})
        return {name: pace.seconds for name, pace in current.items()}

    def after_run(
        self, db: Database, config: MonitorConfig, outlet: str, new: int, now: datetime
    ) -> Pace | None:
        """The burst pace ``outlet`` takes after a run that brought ``new`` articles, or None
        (no burst, or one already under way)."""
        pace = self.paces.get(outlet)
        if (
            pace is None
            or pace.rate is None
            or outlet in self.bursts
            or not config.schedule.adaptive
        ):
            return None
        found = burst(pace, new, config)
        if found is None:
            return None
        end = now + timedelta(seconds=BURST_FOR)
        self.bursts[outlet] = (found, end)
        set_pace(db, outlet, found.seconds, found.why, isoformat(end))
        return found
