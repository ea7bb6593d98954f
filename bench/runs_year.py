"""A year unattended: does the database stay flat under a year of crawl runs?

Writes a simulated year of ``crawl_runs`` rows into a real SQLite file (storage.db.open_db):
OUTLETS outlets each run every 15 minutes (96 runs a day, each row with a realistic stats
blob), and once a simulated day the monitor's prune (storage.runs.prune_runs with the default
``[storage] keep_runs``, 30 days). It prints the file's size, the rows in ``crawl_runs`` and in
``crawl_run_days`` at the end of each month; without pruning the same year is extrapolated
from the first month's growth.

Usage: ``python bench/runs_year.py [--outlets 100] [--days 365]``; the table goes to stdout and
``bench/runs_year.txt``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractors.dates import isoformat  # noqa: E402
from storage.config import StorageConfig  # noqa: E402
from storage.db import open_db, write_transaction  # noqa: E402
from storage.runs import prune_runs  # noqa: E402

RUNS_A_DAY = 96
STATS = json.dumps(
    {
        "downloader/response_count": 12,
        "wirewatch/discover/entries": 40,
        "wirewatch/discover/known": 38,
        "wirewatch/discover/requested": 2,
        "wirewatch/store/new": 1,
        "wirewatch/store/duplicate": 1,
        "wirewatch/sources/total": 2,
        "finish_reason": "finished",
        "elapsed_time_seconds": 3.2,
    },
    sort_keys=True,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    keep = StorageConfig().keep_runs
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        f"bench/runs_year.py: {args.outlets} outlets x {RUNS_A_DAY} runs a day, {args.days} days, "
        f"keep_runs {keep / 86400:g} days ({datetime.now(UTC):%Y-%m-%d})",
        f"{'day':>5} {'file MB':>9} {'crawl_runs':>11} {'run_days':>9} {'prune s':>8}",
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "year.db"
        db = open_db(path)
        first_month = 0.0
        for day in range(args.days):
            today = start + timedelta(days=day)
            rows = []
            for slot in range(RUNS_A_DAY):
                began = today + timedelta(minutes=15 * slot)
                for n in range(args.outlets):
                    rows.append(
                        {
                            "outlet": f"outlet-{n:04d}",
                            "started": isoformat(began),
                            "finished": isoformat(began + timedelta(seconds=4)),
                            "status": "finished",
                            "reason": "finished",
                            "pid": 1000 + n,
                            "pages_fetched": 12,
                            "articles_new": 1,
                            "articles_updated": 0,
                            "errors": 0,
                            "stats": STATS,
                        }
                    )
            with write_transaction(db):
                db.table("crawl_runs").insert_all(rows, batch_size=2000)
            started = time.perf_counter()
            prune_runs(db, today + timedelta(days=1) - timedelta(seconds=keep))
            took = time.perf_counter() - started
            if (day + 1) % 30 == 0 or day + 1 == args.days:
                size = path.stat().st_size / 1e6
                if day + 1 == 30:
                    first_month = size
                runs = db.execute("select count(*) from crawl_runs").fetchone()[0]
                days = db.execute("select count(*) from crawl_run_days").fetchone()[0]
                line = f"{day + 1:>5} {size:>9.1f} {runs:>11,} {days:>9,} {took:>8.2f}"
                lines.append(line)
                print(line, flush=True)
        db.close()
    unpruned = first_month * args.days / 30
    lines.append(
        f"Without pruning the file would grow about {first_month:.0f} MB a month: "
        f"~{unpruned:,.0f} MB after {args.days} days."
    )
    print(lines[-1])
    (ROOT / "bench" / "runs_year.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
