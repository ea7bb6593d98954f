"""The monitor's long-lived crawl workers (#15), against the real monitor, real workers, a real
HTTP server on 127.0.0.1 and a real SQLite file: a worker killed with SIGKILL mid-run, a hung
outlet beside healthy ones in one worker, an outlet that keeps killing its worker."""

from __future__ import annotations

import mailbox
import os
import signal
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from storage.runs import FINISHED
from tests.support.daemons import (
    Daemon,
    assert_quarantine_reported,
    only,
    runs,
    schedule,
    stored,
    wait_for,
)
from tests.support.servers import hanging_server
from tests.support.site import SITE, outlets_config
from wirewatch.localsite import serve_folder

WATCH = (
    '\n[[watches]]\nname = "S-400"\nquery = "S-400 OR Russia"\nemail = "analyst@example.org"\n'
    'max_age = "10000d"\n'
)


def kill_worker_running(db_path: Path, outlet: str) -> int | None:
    """SIGKILL the worker holding a running run of ``outlet`` now; its pid, or None."""
    for run in runs(db_path, outlet):
        if run["status"] == "running" and run["pid"]:
            try:
                os.kill(run["pid"], signal.SIGKILL)
            except ProcessLookupError:
                return None
            return int(run["pid"])
    return None


def test_a_worker_killed_mid_run_loses_nothing_and_stores_nothing_twice(tmp_path):
    db_path = tmp_path / "run.db"
    # Every answer but robots.txt takes 0.4 s, so a run is caught in flight.
    with serve_folder(SITE, delay=0.4) as slow:
        config = tmp_path / "w.toml"
        config.write_text(
            outlets_config(slow, db_path)
            + schedule("3s", workers="1", max_parallel="4", notify='"1s"')
            + f'\n[email]\nmaildir = "{tmp_path / "maildir"}"\n'
            + WATCH
        )
        daemon = Daemon(config)
        try:
            killed = wait_for(
                lambda: kill_worker_running(db_path, "presstv"), 60, "a presstv run in flight"
            )
            wait_for(
                lambda: all(
                    any(r["status"] == FINISHED and r["pid"] != killed for r in runs(db_path, o))
                    for o in ("presstv", "tehrantimes", "almayadeen", "ifpnews")
                ),
                90,
                "every outlet to finish a run in the new worker",
            )
            wait_for(lambda: len(list(mailbox.Maildir(tmp_path / "maildir"))) >= 1, 30, "mail")
        finally:
            daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    assert f"Crawl worker {killed} died (killed by signal 9); a new one replaces it" in daemon.log
    crashed = [r for r in runs(db_path, "presstv") if r["pid"] == killed]
    assert crashed and crashed[0]["status"] == "failed", crashed
    assert "killed by signal 9: its crawl worker died" in crashed[0]["reason"]
    # The presstv run was run again at once, and nothing of any run was lost or doubled.
    assert "crawl presstv failed" in daemon.log
    # Tehran Times' feed lists one article and one page robots.txt forbids: once the article
    # is stored, the forbidden page alone is not "robots.txt forbids every article".
    assert "forbids every article" not in daemon.log
    assert all(r["status"] != "running" for r in runs(db_path)), runs(db_path)
    urls, alerts = stored(db_path)
    assert len(urls) == len(set(urls)) == 5, urls
    assert len(alerts) == len(set(alerts)), alerts
    messages = list(mailbox.Maildir(tmp_path / "maildir"))
    ids = [m["Message-ID"] for m in messages]
    assert len(ids) == len(set(ids))


def test_a_hung_outlet_is_closed_at_its_deadline_without_delaying_the_others_in_its_worker(
    tmp_path, site
):
    db_path = tmp_path / "run.db"
    with hanging_server() as stuck:
        config = tmp_path / "w.toml"
        # The download timeout stays at its 30 s default: the run's deadline holds its
        # downloads too (crawler/deadline.py).
        config.write_text(
            only(outlets_config(site, db_path), "tehrantimes")
            + f'\n[[outlets]]\nname = "stuck"\nfeeds = ["{stuck}/feed.xml"]\n'
            + schedule("1s", crawl_timeout='"4s"', workers="1", max_parallel="4")
        )
        daemon = Daemon(config)
        try:
            wait_for(
                lambda: any(r["status"] == "timeout" for r in runs(db_path, "stuck")),
                60,
                "the stuck run to be closed at its deadline",
            )
        finally:
            daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    timed_out = next(r for r in runs(db_path, "stuck") if r["status"] == "timeout")
    assert "over the crawl time limit" in timed_out["reason"]
    # Over by its deadline and a few seconds, not by the 30 s a download may take.
    took = datetime.fromisoformat(timed_out["finished"]) - datetime.fromisoformat(
        timed_out["started"]
    )
    assert took.total_seconds() < 4 + 6, timed_out
    # The same worker kept crawling tehrantimes while the stuck run hung in it.
    during = [
        r
        for r in runs(db_path, "tehrantimes")
        if r["status"] == FINISHED
        and r["pid"] == timed_out["pid"]
        and timed_out["started"] <= r["started"] < timed_out["finished"]
    ]
    assert len(during) >= 2, runs(db_path)
    assert "Killing crawl worker" not in daemon.log
    # Each run knows how late it started after it was due: not late at all here.
    assert all(r["lag"] is not None and 0 <= r["lag"] < 5 for r in during), during
    # The later runs in the worker used the robots.txt an earlier one read.
    later = runs(db_path, "tehrantimes")[1:]
    assert later and all('"robotstxt/kept"' in r["stats"] for r in later), later


def test_an_outlet_that_keeps_killing_its_worker_is_quarantined_and_reported(tmp_path):
    db_path = tmp_path / "run.db"
    with serve_folder(SITE, delay=0.5) as slow:
        config = tmp_path / "w.toml"
        config.write_text(
            only(outlets_config(slow, db_path), "presstv")
            + schedule("2s", workers="1")
            + f'\n[email]\nmaildir = "{tmp_path / "maildir"}"\noperator = "ops@example.org"\n'
        )
        daemon = Daemon(config)
        try:
            killed: set[int] = set()

            def kill_next() -> bool:
                pid = kill_worker_running(db_path, "presstv")
                if pid is not None:
                    killed.add(pid)
                return len(killed) >= 3

            wait_for(kill_next, 120, "three presstv runs killed in flight")
            wait_for(lambda: "quarantined" in daemon.log, 30, "the quarantine")
            wait_for(lambda: "skipped: quarantined" in daemon.log, 30, "a skipped run")
        finally:
            daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    assert "Outlet presstv quarantined: its runs killed their crawl worker 3 times" in daemon.log
    assert_quarantine_reported(db_path, tmp_path / "maildir")


def test_twisted_errors_in_a_worker_are_log_lines_but_scrapys_close_race_is_dropped():
    import subprocess
    import sys

    from tests.support.site import ROOT

    code = (
        "import logging, sys\n"
        "from twisted.internet.defer import AlreadyCalledError\n"
        "from twisted.python import log\n"
        "from wirewatch.logs import setup_logging\n"
        "from workers.serve import route_twisted_logs\n"
        "setup_logging(logging.WARNING, 'text', 0)\n"
        "route_twisted_logs()\n"
        "try:\n    raise AlreadyCalledError()\n"
        "except AlreadyCalledError:\n    log.err(None, 'while handling timed call')\n"
        # The reactor's own path (runUntilCurrent): the traceback travels as exc_info.
        "from twisted.logger import Logger\n"
        "try:\n    raise AlreadyCalledError()\n"
        "except AlreadyCalledError:\n    Logger().failure('while handling timed call')\n"
        "try:\n    raise ValueError('a real one')\n"
        "except ValueError:\n    log.err(None, 'while handling timed call')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert "a real one" in done.stderr and " CRITICAL twisted: " in done.stderr, done.stderr
    assert "AlreadyCalledError" not in done.stderr


def test_two_outlets_of_one_site_never_crawl_it_at_once(tmp_path):
    db_path = tmp_path / "run.db"
    with serve_folder(SITE, delay=0.5) as slow:
        config = tmp_path / "w.toml"
        config.write_text(
            only(outlets_config(slow, db_path), "tehrantimes", "almayadeen")
            + schedule("1s", workers="2", max_parallel="4")
        )
        daemon = Daemon(config)
        try:
            wait_for(
                lambda: sum(r["status"] == FINISHED for r in runs(db_path)) >= 8,
                90,
                "eight runs",
            )
        finally:
            daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    done = [r for r in runs(db_path) if r["status"] == FINISHED]
    # One worker held the site, and its runs followed one another.
    assert len({r["pid"] for r in done}) == 1, done
    spans = sorted((r["started"], r["finished"]) for r in done)
    for (_, end), (start, _) in pairwise(spans):
        assert start >= end, spans
