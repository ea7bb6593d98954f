"""The monitor as a real process: scheduled crawls happen, and SIGTERM ends it."""

import os
import signal
import subprocess
import sys
import time
from itertools import pairwise

from conftest import ROOT, outlets_config

from storage.db import open_db


def test_run_crawls_on_schedule_and_stops_on_sigterm(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "run.db")
        + '\n[schedule]\nevery = "2s"\ncrawl_timeout = "60s"\nmax_parallel = 2\n'
    )
    monitor = subprocess.Popen(
        [sys.executable, "scheduler.py", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WIREWATCH_CONFIG": ""},
    )
    try:
        deadline = time.monotonic() + 90
        runs: dict[str, int] = {}
        while time.monotonic() < deadline:
            time.sleep(1)
            if (tmp_path / "run.db").exists():
                db = open_db(tmp_path / "run.db")
                runs = dict(
                    db.execute(
                        "select outlet, count(*) from crawl_runs where status = 'finished' group by outlet"
                    ).fetchall()
                )
                db.close()
                if len(runs) == 4 and min(runs.values()) >= 2:
                    break
        assert len(runs) == 4 and min(runs.values()) >= 2, runs
    finally:
        monitor.send_signal(signal.SIGTERM)
        _, stderr = monitor.communicate(timeout=60)
    assert monitor.returncode == 0, stderr
    assert "Crawled presstv" in stderr
    db = open_db(tmp_path / "run.db")
    assert db.execute("select count(*) from articles").fetchone()[0] == 5
    # One outlet never runs twice at once: its runs do not overlap.
    for outlet in ("presstv", "ifpnews"):
        spans = db.execute(
            "select started, finished from crawl_runs where outlet = ? and finished is not null order by started",
            [outlet],
        ).fetchall()
        for (_, end), (start, _) in pairwise(spans):
            assert start >= end
