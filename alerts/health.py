"""Outlet health: judge each outlet by its recent runs, and tell the operator when it changes.

After every run the monitor compares the outlet's latest runs with the thresholds of
``[health]`` (the kind of checks spidermon runs on a Scrapy job):

* ``failures`` runs in a row that did not finish (crashed, timed out, killed);
* ``quiet_runs`` finished runs in a row without a new article, where earlier runs had some;
* ``extraction_runs`` runs in a row where most pages (below ``extraction_ok``) were not
  articles, or were kept only because the outlet's feed lists them: a redesign that the
  extractor no longer reads;
* ``feed_errors`` runs in a row that could not read the outlet: a feed, sitemap or section
  page unreachable (DNS, refused, TLS, timeout, an HTTP error), not a feed or sitemap, a feed
  with no items, robots.txt unreachable or forbidding every article, most links off the
  outlet's domains (``crawler.problems`` names them in the run's stats);
* gone quiet: its runs finish, but it has brought no new article for far longer than its own
  rhythm allows (:func:`gone_quiet`): a feed that still answers while the outlet publishes
  elsewhere, a frozen CMS, a feed URL that now serves an old copy.

An outlet turns unhealthy when one of them holds and healthy again when none does. Each turn is
one row in ``outlet_health`` and one email to ``[email] operator``, queued in the outbox as
alerts are, so it is delivered (and retried) by ``notify``: one email when it breaks and one
when it recovers, never one per run.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlite_utils import Database

from alerts.config import AlertSettings, HealthConfig
from alerts.outbox import operator_notice
from extractors.dates import isoformat, parse_date
from storage.articles import recent_dates
from storage.db import write_transaction
from storage.health import record_health
from storage.runs import recent_runs, run_problems

logger = logging.getLogger(__name__)

HEALTHY, UNHEALTHY = "healthy", "unhealthy"
#: Runs read back to find whether a now quiet outlet used to bring articles.
HISTORY = 50
#: Articles whose dates give an outlet's rhythm, and the fewest that give one.
RHYTHM = 30
RHYTHM_MIN = 10
#: Seconds within which articles came together; waits between such arrivals (at least
#: RHYTHM_WAITS of them) give the rhythm.
BURST = 3600
RHYTHM_WAITS = 5


@dataclass(frozen=True)
class Change:
    """An outlet's health turned: ``state`` is the new one."""

    outlet: str
    state: str
    reason: str


def problems(runs: list[dict], rules: HealthConfig) -> list[str]:
    """What is wrong, judged on ``runs`` (newest first; finished or failed, not running)."""
    found = []
    failed = _streak(runs, lambda r: r["status"] != "finished")
    if failed >= rules.failures:
        last = runs[0].get("reason") or runs[0]["status"]
        found.append(f"{failed} runs in a row failed (last: {last})")
    done = [r for r in runs if r["status"] == "finished"]
    quiet = _streak(done, lambda r: not r["articles_new"])
    if quiet >= rules.quiet_runs and any(r["articles_new"] for r in done[quiet:]):
        found.append(f"no new article in {quiet} runs in a row (earlier runs had some)")
    # A run with few pages and no clean article says nothing of the extractor (a quiet run of
    # an outlet whose pages are stored): judged on the others.
    judged = [
        r for r in done if _extraction(r)[0] or _extraction(r)[1] >= rules.extraction_min_pages
    ]
    failing = _streak(judged, lambda r: _extraction_failing(r, rules))
    if failing >= rules.extraction_runs:
        ok, total = _extraction(judged[0])
        found.append(
            f"most pages are not articles in {failing} runs in a row "
            f"(last run: {ok} of {total} pages extracted)"
        )
    feeds = _streak(done, lambda r: bool(run_problems(r)))
    if feeds >= rules.feed_errors:
        last = "; ".join(run_problems(done[0]))
        found.append(f"feeds or sitemaps failed in {feeds} runs in a row (last: {last})")
    return found


def check_outlet(
    db: Database, config: AlertSettings, outlet: str, now: datetime | None = None
) -> Change | None:
    """Judge ``outlet`` on its runs; record and announce a change of state. None if unchanged."""
    runs = recent_runs(db, outlet, HISTORY)
    found = problems(runs, config.health)
    if runs and runs[0]["status"] == "finished":  # failing runs are told as such, above
        quiet = gone_quiet(
            recent_dates(db, outlet, RHYTHM), now or datetime.now(UTC), config.health
        )
        found += [quiet] if quiet else []
    return _judge(db, config, outlet, UNHEALTHY if found else HEALTHY, "; ".join(found), now)


def gone_quiet(
    dates: list[tuple[str | None, str]], now: datetime, rules: HealthConfig
) -> str | None:
    """Why an outlet has gone quiet, or None: no new article since its newest was first seen
    for longer than ``quiet_factor`` times its usual longest wait (the 90th percentile of the
    waits between its last articles' publication dates, or first-seen times where fewer than
    ``RHYTHM_MIN`` are dated), and at least ``quiet_after``. ``dates`` is
    ``(published, first_seen)``, newest first. An outlet with fewer than ``RHYTHM_MIN``
    articles, or fewer than ``RHYTHM_WAITS`` waits longer than ``BURST`` between them (its
    articles came at once, in a first crawl), has no rhythm yet."""
    if not rules.quiet_factor or len(dates) < RHYTHM_MIN:
        return None
    seen = [moment for _, stamp in dates if (moment := parse_date(stamp))]
    published = [moment for stamp, _ in dates if (moment := parse_date(stamp)) and moment <= now]
    times = sorted(published if len(published) >= RHYTHM_MIN else seen)
    # Articles within BURST of each other came together (a first crawl, a busy hour): the
    # waits are between such arrivals.
    waits = sorted(
        wait for a, b in itertools.pairwise(times) if (wait := (b - a).total_seconds()) > BURST
    )
    if not seen or len(waits) < RHYTHM_WAITS:
        return None
    usual = waits[int(0.9 * (len(waits) - 1))]
    limit = max(rules.quiet_factor * usual, rules.quiet_after)
    silence = (now - max(seen)).total_seconds()
    if silence <= limit:
        return None
    return (
        f"gone quiet: no new article for {_span(silence)}, where it has waited at most "
        f"{_span(usual)} between articles 9 times in 10 (its last {len(times)}); told past "
        f"{_span(limit)}"
    )


def _span(seconds: float) -> str:
    """A duration for people: "6.2 days", "5.5 hours", "40 minutes"."""
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 60) / 60:.0f} minutes"


def quarantine(
    db: Database, config: AlertSettings, outlet: str, why: str, now: datetime | None = None
) -> Change | None:
    """Record that the monitor stopped running ``outlet`` (``why``): it is unhealthy, and the
    operator is told as for any other outlet that breaks."""
    return _judge(db, config, outlet, UNHEALTHY, f"quarantined: {why}", now)


def _judge(
    db: Database,
    config: AlertSettings,
    outlet: str,
    state: str,
    reason: str,
    now: datetime | None,
) -> Change | None:
    stamp = isoformat(now or datetime.now(UTC))
    with write_transaction(db):
        before = record_health(db, outlet, state, reason, stamp) or HEALTHY
        if before == state:
            return None
        change = Change(outlet, state, reason)
        _queue_email(db, config, change, stamp)
    log = logger.warning if state == UNHEALTHY else logger.info
    log(
        "Outlet %(outlet)s is %(state)s%(why)s",
        {"outlet": outlet, "state": state, "why": f": {reason}" if reason else ""},
    )
    return change


def health_message(change: Change) -> tuple[str, str]:
    """Subject and plain-text body of the operator email for ``change``."""
    if change.state == UNHEALTHY:
        subject = f"[wirewatch] outlet {change.outlet} is unhealthy"
        body = (
            f"The outlet {change.outlet} turned unhealthy: {change.reason}.\n\n"
            f"`wirewatch status` shows its recent runs; `wirewatch crawl {change.outlet} -v` "
            "runs it once with the log on the terminal.\n"
            "You will get one more email when it recovers.\n"
        )
    else:
        subject = f"[wirewatch] outlet {change.outlet} has recovered"
        body = f"The outlet {change.outlet} is healthy again.\n"
    return subject, body


def _queue_email(db: Database, config: AlertSettings, change: Change, stamp: str) -> None:
    subject, body = health_message(change)
    operator_notice(db, config, subject, body, stamp)


def _streak(runs: list[dict], test: Callable[[dict], bool]) -> int:
    count = 0
    for run in runs:
        if not test(run):
            break
        count += 1
    return count


def _stats(run: dict) -> dict:
    try:
        return json.loads(run.get("stats") or "{}")
    except ValueError:
        return {}


def _extraction(run: dict) -> tuple[int, int]:
    """Pages extracted cleanly, and pages extracted at all, in ``run``. A page kept only because
    its outlet's feed lists it (``wirewatch/doubtful``) is stored but not clean: when most are
    such, the outlet's pages changed under the extractor."""
    stats = _stats(run)
    counts = {k: v for k, v in stats.items() if k.startswith("wirewatch/extract/")}
    ok = int(counts.get("wirewatch/extract/ok", 0)) - int(stats.get("wirewatch/doubtful", 0))
    return max(ok, 0), int(sum(counts.values()))


def _extraction_failing(run: dict, rules: HealthConfig) -> bool:
    ok, total = _extraction(run)
    return total >= rules.extraction_min_pages and ok < rules.extraction_ok * total
