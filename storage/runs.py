"""The ``crawl_runs`` table: one row per run of an outlet, opened at start, closed at the end.

A run whose process died leaves its row ``running``; :func:`close_abandoned` marks such rows
``killed`` once their process is gone. A cluster's run (``worker`` not NULL) is opened by the
monitor when it sends the run to Redis and closed when its outcome comes home
(:func:`close_cluster_run`), or, if none comes in time, as failed by :func:`close_unheard`.
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
#: New items listed past ``[crawl] max_pages``: they wait for the next run.
OVER_LIMIT = "wirewatch/discover/over_limit"
#: Counters of a run's stats that are errors, beside every ``wirewatch/fetch/...``.
ERROR_STATS = ("wirewatch/discover/failed", "wirewatch/store/failed", "spider_exceptions/count")


def problems_of(stats: Mapping[str, Any]) -> list[str]:
    """The problems a run recorded, from its stats."""
    found = stats.get(PROBLEMS) or []
    return [str(p) for p in found] if isinstance(found, list) else [str(found)]


def run_stats(run: Mapping[str, Any]) -> dict[str, Any]:
    """A ``crawl_runs`` row's stats ({} where it kept none, or none readable)."""
    try:
        stats = json.loads(run.get("stats") or "{}")
    except ValueError:
        return {}
    return stats if isinstance(stats, dict) else {}


def run_problems(run: Mapping[str, Any]) -> list[str]:
    """What kept a ``crawl_runs`` row's run from reading its outlet, in words (its stats'
    ``wirewatch/problems``); runs recorded before those words were kept say only that a feed
    failed."""
    stats = run_stats(run)
    found = problems_of(stats)
    if not found and stats.get("wirewatch/discover/failed", 0) > 0:
        found = ["a feed or sitemap could not be read"]
    return found


def unreadable(stats: Mapping[str, Any]) -> bool:
    """Whether none of the run's configured sources could be read."""
    total = int(stats.get(SOURCES, 0) or 0)
    return total > 0 and int(stats.get(SOURCES_FAILED, 0) or 0) >= total


#: The reason of a cluster run no worker answered in time; its outcome, if it comes later,
#: replaces it.
UNHEARD = "unheard"


def start_run(db: Database, outlet: str, now: datetime | None = None, cluster: bool = False) -> int:
    """Record the start of a run (of this process, or sent to a cluster's workers); its id."""
    with write_transaction(db):
        row: dict[str, Any] = {
            "outlet": outlet,
            "started": isoformat(now or datetime.now(UTC)),
            "status": RUNNING,
        }
        if cluster:
            row["worker"] = ""
        else:
            row["pid"] = os.getpid()
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


def record_lag(db: Database, run_id: int, lag: float) -> None:
    """Record on a run how many seconds it started after it was due (the schedule's view)."""
    db.table("crawl_runs").update(run_id, {"lag": round(lag, 3)})


def count_articles(db: Database, run_id: int, new: int, updated: int) -> None:
    """Add what a batch of a cluster run's articles stored to the run's counts."""
    if new or updated:
        with write_transaction(db):
            db.execute(
                "update crawl_runs set articles_new = coalesce(articles_new, 0) + ?, "
                "articles_updated = coalesce(articles_updated, 0) + ? where id = ?",
                [new, updated, run_id],
            )


def close_cluster_run(
    db: Database,
    run_id: int,
    status: str,
    *,
    worker: str,
    reason: str,
    stats: dict[str, Any],
    lag: float | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Close a cluster run with the outcome its worker sent, and return it; None if it was
    closed already (a second outcome: the run was taken over and both workers answered)."""
    values: dict[str, Any] = {
        "finished": isoformat(now or datetime.now(UTC)),
        "status": status,
        "worker": worker,
        "pages_fetched": int(stats.get("downloader/response_count", 0)),
        "errors": error_count(stats),
        "reason": reason,
        "stats": json.dumps(stats, default=str, sort_keys=True),
    }
    if lag is not None:
        values["lag"] = round(lag, 3)
    with write_transaction(db):
        open_ = db.execute(
            "select 1 from crawl_runs where id = ? and worker is not null and "
            "(status = ? or (status = ? and reason like ?))",
            [run_id, RUNNING, FAILED, UNHEARD + "%"],
        ).fetchone()
        if open_ is None:
            return None
        db.table("crawl_runs").update(run_id, values)
        return dict(db.table("crawl_runs").get(run_id))


def close_unheard(db: Database, before: datetime, why: str) -> list[dict[str, Any]]:
    """Close as failed the cluster runs still open that were sent before ``before``: no worker
    answered them (``why`` says how long was waited); returns them."""
    stamp = isoformat(datetime.now(UTC))
    with write_transaction(db):
        rows = list(
            db.query(
                "select * from crawl_runs where status = ? and worker is not null and started < ?",
                [RUNNING, isoformat(before)],
            )
        )
        for row in rows:
            row.update(status=FAILED, finished=stamp, reason=f"{UNHEARD}: {why}")
            db.table("crawl_runs").update(
                row["id"], {"status": FAILED, "finished": stamp, "reason": row["reason"]}
            )
    return rows


#: Runs of each outlet kept whatever their age: what health reads back (alerts.health.HISTORY).
KEEP_LATEST = 50


def prune_runs(db: Database, before: datetime) -> int:
    """Fold the closed runs started before ``before`` into ``crawl_run_days`` (one row a day,
    outlet and status, with the sums) and delete them; the newest KEEP_LATEST runs of each
    outlet are kept whatever their age. Returns how many were pruned."""
    cutoff = isoformat(before)
    doomed = (
        "select id from crawl_runs where started < :cutoff and status != :running and id not in "
        "(select id from (select id, row_number() over "
        "(partition by outlet order by started desc, id desc) as rank from crawl_runs) "
        "where rank <= :keep)"
    )
    params = {"cutoff": cutoff, "running": RUNNING, "keep": KEEP_LATEST}
    with write_transaction(db):
        db.execute("create temp table if not exists doomed_runs (id integer primary key)")
        db.execute("delete from doomed_runs")
        db.execute(f"insert into doomed_runs {doomed}", params)
        db.execute(
            "insert into crawl_run_days (day, outlet, status, runs, pages, new, updated, errors) "
            "select substr(started, 1, 10), outlet, status, count(*), "
            "coalesce(sum(pages_fetched), 0), coalesce(sum(articles_new), 0), "
            "coalesce(sum(articles_updated), 0), coalesce(sum(errors), 0) "
            "from crawl_runs where id in (select id from doomed_runs) "
            "group by substr(started, 1, 10), outlet, status "
            "on conflict (day, outlet, status) do update set runs = runs + excluded.runs, "
            "pages = pages + excluded.pages, new = new + excluded.new, "
            "updated = updated + excluded.updated, errors = errors + excluded.errors"
        )
        count = db.execute(
            "delete from crawl_runs where id in (select id from doomed_runs)"
        ).rowcount
        db.execute("delete from doomed_runs")
    return int(count)


def error_count(stats: Mapping[str, Any]) -> int:
    """The errors of a crawl: failed fetches, unreadable feeds, failed writes, callback
    crashes."""
    return sum(
        int(value)
        for key, value in stats.items()
        if key.startswith("wirewatch/fetch/") or key in ERROR_STATS
    )


def close_abandoned(db: Database, now: datetime | None = None) -> int:
    """Mark ``running`` rows whose process no longer exists as ``killed``; returns how many.
    A cluster's runs have no process here: their outcome comes through Redis."""
    rows = db.execute(
        "select id, pid from crawl_runs where status = ? and worker is null", [RUNNING]
    ).fetchall()
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
