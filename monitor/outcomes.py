"""The one settle path: how a run ended -> its ``crawl_runs`` row closed -> the run logged ->
the outlet judged (``alerts.health``) or quarantined -> the operator told.

Every backend (``monitor.backends``) reports an :class:`~workers.outcome.Outcome`, and the
monitor hands it to :meth:`Outcomes.settle`; runs closed elsewhere (a cluster run of an earlier
monitor, one no worker answered) go through :meth:`Outcomes.settled`. The rules, in
:func:`judge`:

- a run its worker answered is closed as the crawl closed it (``killed`` if it was the
  monitor's stop that ended it);
- a run over its deadline that the monitor stopped is ``timeout``;
- a run whose worker died under it is ``failed`` and run again, unless the monitor is
  stopping (then ``killed``); an outlet whose runs kill their worker ``QUARANTINE_AFTER`` times
  in a row (a strike a run) is quarantined until the config is reloaded;
- a run no worker took is ``failed``, not run again (not the outlet's fault: its next turn
  comes soon enough);
- a cluster run lost with Redis's data is run again, once; one abandoned by the workers (each
  that took it died holding it) quarantines its outlet at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from alerts.health import Change, check_outlet, quarantine
from cluster.crawl import ABANDONED, MAX_DELIVERIES
from monitor.config import MonitorConfig
from storage.runs import (
    FAILED,
    KILLED,
    TIMEOUT,
    close_cluster_run,
    record_lag,
    run_problems,
    run_stats,
    settle_run,
)
from workers.outcome import Outcome

logger = logging.getLogger("wirewatch.scheduler")

#: Runs of one outlet in a row whose worker died under them before it is quarantined.
QUARANTINE_AFTER = 3


@dataclass(frozen=True)
class Verdict:
    """How a run's row is closed, and whether the run goes again."""

    #: ``timeout``, ``killed``, or None: the run ended by itself (or crashed).
    ended: str | None
    exit_code: int | None
    error: str
    #: Its worker died under it: run it again (a strike against the outlet).
    again: bool


#: The stat of the alerts a run raised (``crawler.pipelines``).
ALERTS_NEW = "wirewatch/alerts/new"


def judge(outcome: Outcome, stopping: bool) -> Verdict:
    """The rules for a run that ran (or was to run) on this machine."""
    ended: str | None = None
    if stopping and (outcome.reason == "shutdown" or outcome.died or outcome.error):
        ended = KILLED
    elif outcome.overdue:
        ended = TIMEOUT
    again = outcome.died and ended is None and not outcome.error
    error = outcome.error or ("its crawl worker died" if again else "")
    exit_code = outcome.exit_code if outcome.exit_code is not None else 0
    return Verdict(ended, exit_code, error, again)


class Outcomes:
    """Settles runs: their rows, their log lines, their outlets' health and quarantine."""

    def __init__(
        self,
        config: MonitorConfig,
        open_db: Callable[[], Database],
        tell: Callable[[Change | None], None],
        deliver: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.open_db = open_db
        self.tell = tell  # an outlet's health changed: the operator is told now
        self.deliver = deliver  # a run raised alerts: they go now, not at notify's turn
        self.strikes: dict[str, int] = {}  # runs in a row whose worker died under them
        self.quarantined: dict[str, str] = {}  # outlet: why it is no longer run
        self.lock = threading.Lock()

    def settle(
        self,
        outlet: str,
        outcome: Outcome,
        began: datetime,
        duration: float,
        *,
        lag: float | None,
        stopping: bool,
        attempt: int = 0,
    ) -> bool:
        """Close, log and judge one run; True if it is to be run again now."""
        db = self.open_db()
        try:
            struck = False
            if outcome.run is not None or outcome.run_id is not None:
                run = self._cluster_run(db, outcome, lag)
                again = outcome.lost and attempt == 0 and not stopping
            else:
                verdict = judge(outcome, stopping)
                run = settle_run(
                    db,
                    outlet,
                    outcome.pid,
                    began,
                    ended=verdict.ended,
                    exit_code=verdict.exit_code,
                    error=verdict.error,
                    lag=lag,
                )
                again = struck = verdict.again
            if run is not None:
                log_run(run, duration)
            alerted = run is not None and bool(run_stats(run).get(ALERTS_NEW))
            why = self._strike(outlet, run, struck)
            if why:
                again = False
                change = self.quarantine(db, outlet, why)
            else:
                change = check_outlet(db, self.config, outlet)
        finally:
            db.close()
        self.tell(change)
        if alerted:
            self.deliver()
        return again

    def _cluster_run(
        self, db: Database, outcome: Outcome, lag: float | None
    ) -> dict[str, Any] | None:
        run = outcome.run
        if run is None:
            assert outcome.run_id is not None
            why = outcome.error or "lost with Redis's data"
            return close_cluster_run(
                db, outcome.run_id, FAILED, worker="", reason=why, stats={}, lag=lag
            )
        if lag is not None:
            record_lag(db, run["id"], lag)
            run = {**run, "lag": round(lag, 3)}
        return run

    def _strike(self, outlet: str, run: dict[str, Any] | None, struck: bool) -> str:
        """Count a run whose worker died under it (``struck``); why the outlet is to be
        quarantined, or ""."""
        if run is not None and str(run["reason"] or "").startswith(ABANDONED):
            return f"its runs killed {MAX_DELIVERIES} crawl workers in a row"
        with self.lock:
            if not struck:
                self.strikes.pop(outlet, None)
                return ""
            self.strikes[outlet] = self.strikes.get(outlet, 0) + 1
            if self.strikes[outlet] < QUARANTINE_AFTER:
                return ""
            del self.strikes[outlet]
        return f"its runs killed their crawl worker {QUARANTINE_AFTER} times in a row"

    def settled(self, run: dict[str, Any]) -> None:
        """A run closed elsewhere (a cluster run of an earlier monitor, one no worker
        answered): log it, judge its outlet, tell the operator."""
        log_run(run, 0.0)
        db = self.open_db()
        try:
            change = check_outlet(db, self.config, run["outlet"])
        finally:
            db.close()
        self.tell(change)

    def quarantine(self, db: Database, outlet: str, why: str) -> Change | None:
        """Run ``outlet`` no more until the config is reloaded; say so, and mark it unhealthy
        (the operator is told)."""
        self.quarantined[outlet] = why
        logger.error("Outlet %(outlet)s quarantined: %(why)s", {"outlet": outlet, "why": why})
        return quarantine(db, self.config, outlet, why)

    def lift(self, config: MonitorConfig) -> None:
        """A reloaded config: its outlets are run again, on its settings."""
        self.config = config
        if self.quarantined:
            logger.info(
                "Quarantine lifted: %(outlets)s", {"outlets": ", ".join(sorted(self.quarantined))}
            )
            self.quarantined.clear()


def log_run(run: dict[str, Any], duration: float) -> None:
    """The one line per run: outlet, status, duration, pages, new articles, errors, and what
    kept it from reading the outlet, in words (then at WARNING)."""
    problems = run_problems(run)
    fields = {
        "event": "crawl",
        "outlet": run["outlet"],
        "status": run["status"],
        "duration": round(duration, 1),
        "pages": run["pages_fetched"] or 0,
        "new": run["articles_new"] or 0,
        "updated": run["articles_updated"] or 0,
        "errors": run["errors"] or 0,
        "reason": run["reason"] or "",
        "problems": problems,
        "why": "; ".join(problems),
    }
    message = (
        "crawl %(outlet)s %(status)s in %(duration).1fs: %(pages)d pages, %(new)d new, "
        "%(updated)d updated, %(errors)d errors"
    )
    if run["status"] != "finished":
        message += " (%(reason)s)"
        level = logging.ERROR
    elif problems:
        message += " (%(why)s)"
        level = logging.WARNING
    else:
        level = logging.INFO
    logger.log(level, message, fields, extra={"fields": fields})
