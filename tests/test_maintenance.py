"""A year unattended (#31): crawl_runs kept for [storage] keep_runs with daily counts beyond
it, and a consistent backup while the monitor writes. Real SQLite files, a real monitor."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from extractors.dates import isoformat
from storage.db import open_db
from storage.runs import FINISHED, KEEP_LATEST, RUNNING, prune_runs
from tests.support.daemons import Daemon, runs, schedule, wait_for
from tests.support.site import SITE, outlets_config, wirewatch
from wirewatch.localsite import serve_folder


def test_old_runs_fold_into_daily_counts_and_the_newest_of_each_outlet_stay(db_path):
    db = open_db(db_path)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = []
    for outlet, count in (("daily", 120), ("weekly", 10)):
        for n in range(count):
            started = now - timedelta(days=n if outlet == "daily" else 7 * n)
            rows.append(
                {
                    "outlet": outlet,
                    "started": isoformat(started),
                    "finished": isoformat(started + timedelta(seconds=30)),
                    "status": FINISHED if n % 4 else "failed",
                    "pages_fetched": 3,
                    "articles_new": 1,
                    "articles_updated": 0,
                    "errors": 0 if n % 4 else 1,
                }
            )
    old_running = {"outlet": "daily", "started": isoformat(now - timedelta(days=400))}
    db.table("crawl_runs").insert_all([*rows, {**old_running, "status": RUNNING}])
    pruned = prune_runs(db, now - timedelta(days=30))
    left = list(db.query("select outlet, status, started from crawl_runs"))
    # The daily outlet keeps its newest KEEP_LATEST (all within 30 days would be 31 rows: the
    # newest 50 reach further back); the weekly one keeps all 10; a run still open is no log.
    assert sum(r["outlet"] == "daily" and r["status"] != RUNNING for r in left) == KEEP_LATEST
    assert sum(r["outlet"] == "weekly" for r in left) == 10
    assert any(r["status"] == RUNNING for r in left)
    assert pruned == 120 - KEEP_LATEST
    days = list(db.query("select * from crawl_run_days order by day"))
    assert sum(d["runs"] for d in days) == pruned
    assert sum(d["pages"] for d in days) == 3 * pruned
    assert sum(d["errors"] for d in days) == sum(d["runs"] for d in days if d["status"] == "failed")
    # Pruning again changes nothing, and the counts are not added twice.
    assert prune_runs(db, now - timedelta(days=30)) == 0
    assert sum(d["runs"] for d in db.query("select runs from crawl_run_days")) == pruned
    db.close()


def test_keep_runs_below_a_day_is_refused_with_the_range(tmp_path):
    config = tmp_path / "wirewatch.toml"
    config.write_text('[storage]\nkeep_runs = "1h"\n')
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2
    assert "storage.keep_runs: at least 1d (given '1h')" in result.stderr


def test_a_backup_taken_while_the_monitor_writes_is_whole(tmp_path):
    db_path = tmp_path / "w.db"
    config = tmp_path / "wirewatch.toml"
    with serve_folder(SITE) as base:
        config.write_text(outlets_config(base, db_path, schedule("1s", workers="1")))
        daemon = Daemon(config)
        try:
            wait_for(lambda: len(runs(db_path)) >= 8, 90, "runs being written")
            copy = tmp_path / "backup" / "copy.db"
            copy.parent.mkdir()
            result = wirewatch("--config", str(config), "backup", str(copy))
            again = wirewatch("--config", str(config), "backup", str(copy))
            itself = wirewatch("--config", str(config), "backup", str(db_path))
            forced = wirewatch("--config", str(config), "backup", "--force", str(copy))
        finally:
            daemon.stop()
    assert result.returncode == 0, result.stderr
    assert f"copied to {copy}" in result.stdout
    with sqlite3.connect(copy) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from articles").fetchone()[0] == 5
        assert conn.execute("select count(*) from crawl_runs").fetchone()[0] >= 8
    assert copy.stat().st_mode & 0o077 == 0  # readable by its owner only, as the archive
    assert not list(copy.parent.glob("*.partial"))
    assert again.returncode == 2 and "exists already (--force replaces it)" in again.stderr
    assert itself.returncode == 2 and "is the database itself" in itself.stderr
    assert forced.returncode == 0, forced.stderr
    assert daemon.process.returncode == 0, daemon.log
