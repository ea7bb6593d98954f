"""The ``crawl_runs`` table: one row per run of an outlet, opened at start, closed at the end.

A run whose process died leaves its row ``running``; :func:`close_abandoned` marks such rows
``killed`` once their process is gone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from extractors.dates import isoformat
from storage.db import write_transaction

RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
KILLED = "killed"
TIMEOUT = "timeout"

#: Keys of a run's stats: what kept it from reading its outlet, in words (a list), and its
#: configured sources, all and failed.
PROBLEMS = "wirewatch/problems"
SOURCES = "wirewatch/sources/total"
SOURCES_FAILED = "wirewatch/sources/failed"


def problems_of(stats: Mapping[str, Any]) -> list[str]:
    """The problems a run recorded, from its stats."""
    found = stats.get(PROBLEMS) or []
    return [str(p) for p in found] if isinstance(found, list) else [str(found)]


def run_problems(run: Mapping[str, Any]) -> list[str]:
    """What kept a ``crawl_runs`` row's run from reading its outlet, in words (its stats'
    ``wirewatch/problems``); runs recorded before those words were kept say only that a feed
    failed."""
    try:
        stats = json.loads(run.get("stats") or "{}")
    except ValueError:
        return []
    found = problems_of(stats)
    if not found and stats.get("wirewatch/discover/failed", 0) > 0:
        found = ["a feed or sitemap could not be read"]
    return found


def unreadable(stats: Mapping[str, Any]) -> bool:
    """Whether none of the run's configured sources could be read."""
    total = int(stats.get(SOURCES, 0) or 0)
    return total > 0 and int(stats.get(SOURCES_FAILED, 0) or 0) >= total


def start_run(db: Database, outlet: str, now: datetime | None = None) -> int:
    """Record the start of a run; returns its id."""
    with write_transaction(db):
        row = {
            "outlet": outlet,
            "started": isoformat(now or datetime.now(UTC)),
            "status": RUNNING,
            "pid": os.getpid(),
        }
        run_id = db.table("crawl_runs").insert(row).last_pk
    assert run_id is not None
    return int(run_id)


def finish_run(
    db: Database,
    run_id: int,
    status: str,
    *,
    pages_fetched: int,
    articles_new: int,
    articles_updated: int,
    errors: int,
    reason: str = "",
    stats: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Close a run with its outcome and counts."""
    with write_transaction(db):
        db.table("crawl_runs").update(
            run_id,
            {
                "finished": isoformat(now or datetime.now(UTC)),
                "status": status,
                "pages_fetched": pages_fetched,
                "articles_new": articles_new,
                "articles_updated": articles_updated,
                "errors": errors,
                "reason": reason,
                "stats": json.dumps(stats or {}, default=str, sort_keys=True),
            },
        )


def recent_runs(db: Database, outlet: str, limit: int) -> list[dict[str, Any]]:
    """The outlet's latest ended runs, newest first: status, reason, articles_new, stats."""
    return list(
        db.query(
            "select status, reason, articles_new, stats from crawl_runs "
            "where outlet = ? and status != 'running' order by started desc, id desc limit ?",
            [outlet, limit],
        )
    )


def last_runs(db: Database) -> dict[str, str]:
    """When each outlet's latest run started."""
    return dict(
        db.execute("select outlet, max(started) from crawl_runs group by outlet").fetchall()
    )


def last_run(db: Database, outlet: str) -> dict[str, Any] | None:
    """The outlet's latest run: started, finished, status, pages_fetched, articles_new, errors,
    reason, stats."""
    rows = list(
        db.query(
            "select started, finished, status, pages_fetched, articles_new, errors, reason, stats "
            "from crawl_runs where outlet = ? order by started desc, id desc limit 1",
            [outlet],
        )
    )
    return rows[0] if rows else None


def settle_run(
    db: Database,
    outlet: str,
    pid: int,
    since: datetime,
    *,
    ended: str | None,
    exit_code: int | None,
    error: str = "",
    lag: float | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Close the run a crawl process left behind and return it, as the monitor saw it end.

    Args:
        ended: ``timeout`` if the monitor stopped it over the time limit, ``killed`` if it did
            so while shutting down, None if the process ended by itself.
        lag: Seconds the run started after it was due (the schedule's view), recorded on it.

    A run the process closed itself is returned as it is. One it left ``running`` is closed as
    ``timeout``, ``killed`` or ``failed`` (a crash); a process that died before it opened a run
    (a broken install, a bad database) gets a ``failed`` row, so every crawl the monitor
    started is in ``crawl_runs``.
    """
    stamp = isoformat(now or datetime.now(UTC))
    if ended == TIMEOUT:
        status, reason = TIMEOUT, "terminated: over the crawl time limit"
    elif ended == KILLED:
        status, reason = KILLED, "terminated: the monitor was stopping"
    elif exit_code is not None and exit_code < 0:
        status, reason = FAILED, f"crashed: killed by signal {-exit_code}"
    else:
        status, reason = FAILED, f"crashed: exit code {exit_code}"
    if error:
        reason += f": {error}"
    with write_transaction(db):
        row = db.execute(
            "select id, status from crawl_runs where outlet = ? and pid = ? and started >= ? "
            "order by id desc limit 1",
            [outlet, pid, isoformat(since.replace(microsecond=0))],
        ).fetchone()
        if row is None:
            db.table("crawl_runs").insert(
                {
                    "outlet": outlet,
                    "started": isoformat(since),
                    "finished": stamp,
                    "status": status,
                    "reason": reason,
                    "pid": pid,
                }
            )
        elif row[1] == RUNNING:
            db.table("crawl_runs").update(
                row[0], {"status": status, "finished": stamp, "reason": reason}
            )
        (run,) = db.query(
            "select * from crawl_runs where outlet = ? and pid = ? order by id desc limit 1",
            [outlet, pid],
        )
        if lag is not None:
            db.table("crawl_runs").update(run["id"], {"lag": round(lag, 3)})
            run["lag"] = round(lag, 3)
        return run


def close_abandoned(db: Database, now: datetime | None = None) -> int:
    """Mark ``running`` rows whose process no longer exists as ``killed``; returns how many."""
    rows = db.execute("select id, pid from crawl_runs where status = ?", [RUNNING]).fetchall()
    dead = [run_id for run_id, pid in rows if not _alive(pid)]
    if dead:
        with write_transaction(db):
            for run_id in dead:
                db.table("crawl_runs").update(
                    run_id,
                    {
                        "status": KILLED,
                        "finished": isoformat(now or datetime.now(UTC)),
                        "reason": "process ended without closing its run",
                    },
                )
    return len(dead)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
