"""The monitor as a real process, on second-scale schedules, against local HTTP servers."""

from __future__ import annotations

import json
import mailbox
import os
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from extractors.dates import isoformat
from storage.db import open_db
from storage.runs import FINISHED, finish_run, start_run
from tests.support.daemons import Daemon, only, runs, schedule, wait_for
from tests.support.servers import Handler, hanging_server
from tests.support.site import SITE, outlets_config, wirewatch
from wirewatch.localsite import serve_folder


def doubtful(db_path: Path) -> int:
    """Articles stored with a doubt about their text."""
    db = open_db(db_path)
    try:
        return db.execute("select count(doubt) from articles").fetchone()[0]
    finally:
        db.close()


def kill_crawl(parent: int, outlet: str) -> bool:
    """SIGKILL the monitor's child process crawling ``outlet``, if there is one now."""
    wanted = f"\0crawl\0{outlet}\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and wanted in "\0" + cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                return False
            return True
    return False


def test_crawls_run_on_schedule_one_line_each_and_never_overlap(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "run.db")
        + schedule("2s", crawl_timeout='"60s"', max_parallel="2")
    )
    daemon = Daemon(config, "--log-format", "json")
    try:
        wait_for(
            lambda: (
                len({r["outlet"] for r in runs(tmp_path / "run.db") if r["finished"]}) == 4
                and min(
                    sum(r["status"] == FINISHED for r in runs(tmp_path / "run.db", o))
                    for o in ("almayadeen", "tehrantimes", "presstv", "ifpnews")
                )
                >= 2
            ),
            120,
            "two finished runs of every outlet",
        )
    finally:
        took = daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    assert took < 30
    events = [json.loads(line) for line in daemon.lines if line.startswith("{")]
    # An operator's log: wirewatch's own lines, not the libraries' INFO bookkeeping (#18).
    libraries = ("apscheduler", "scrapy")
    assert not [
        e for e in events if e["logger"].startswith(libraries) and e["level"] in ("debug", "info")
    ]
    crawls = [e for e in events if e.get("event") == "crawl"]
    assert {e["outlet"] for e in crawls} == {"almayadeen", "tehrantimes", "presstv", "ifpnews"}
    first_presstv = next(e for e in crawls if e["outlet"] == "presstv")
    assert first_presstv["status"] == "finished"
    assert (first_presstv["new"], first_presstv["errors"]) == (2, 0)
    assert first_presstv["pages"] >= 4 and first_presstv["duration"] > 0
    # One line per run: as many crawl lines as finished runs.
    assert len(crawls) == len([r for r in runs(tmp_path / "run.db") if r["finished"]])
    db = open_db(tmp_path / "run.db")
    assert db.execute("select count(*) from articles").fetchone()[0] == 5
    for outlet in ("presstv", "ifpnews"):
        spans = [(r["started"], r["finished"]) for r in runs(tmp_path / "run.db", outlet)]
        for (_, end), (start, _) in pairwise(spans):
            assert start >= end


def test_a_hanging_outlet_is_timed_out_and_a_crash_recorded_without_delaying_the_others(
    tmp_path, site
):
    with hanging_server() as stuck:
        config = tmp_path / "w.toml"
        config.write_text(
            only(outlets_config(site, tmp_path / "run.db"), "ifpnews", "tehrantimes")
            + f'\n[[outlets]]\nname = "stuck"\nfeeds = ["{stuck}/feed.xml"]\n'
            'allow_domains = ["127.0.0.1"]\n'
            # A process per run ([schedule] workers = 0), as before the workers.
             + schedule("2s", crawl_timeout='"8s"', max_parallel="3", workers="0")
        )
        daemon = Daemon(config)
        try:
            # Kill one ifpnews crawl mid-run, as the OOM killer or a segfault would.
            wait_for(lambda: kill_crawl(daemon.process.pid, "ifpnews"), 90, "an ifpnews crawl")
            wait_for(
                lambda: any(r["status"] == "timeout" for r in runs(tmp_path / "run.db", "stuck")),
                60,
                "the stuck crawl to time out",
            )
            stuck_runs = runs(tmp_path / "run.db", "stuck")
            timed_out = next(r for r in stuck_runs if r["status"] == "timeout")
            # While the stuck crawl hung, the others went on at their own pace.
            during = [
                r
                for r in runs(tmp_path / "run.db", "tehrantimes")
                if r["status"] == FINISHED
                and timed_out["started"] <= r["started"] < timed_out["finished"]
            ]
            assert len(during) >= 2, runs(tmp_path / "run.db")
            wait_for(
                lambda: (
                    any(r["status"] == "failed" for r in runs(tmp_path / "run.db", "ifpnews"))
                    and sum(r["status"] == FINISHED for r in runs(tmp_path / "run.db", "ifpnews"))
                    >= 1
                ),
                60,
                "ifpnews to record its crash and run again",
            )
        finally:
            took = daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    crashed = next(r for r in runs(tmp_path / "run.db", "ifpnews") if r["status"] == "failed")
    assert "killed by signal 9" in crashed["reason"]
    assert "over the crawl time limit" in timed_out["reason"]
    assert "crawl stuck timeout" in daemon.log
    assert "crawl ifpnews failed" in daemon.log
    # The stuck outlet never ran twice at once, though its interval (2s) is shorter than a run.
    spans = [(r["started"], r["finished"]) for r in runs(tmp_path / "run.db", "stuck")]
    for (_, end), (start, _) in pairwise(spans):
        assert start >= end
    assert took < 8 + 30 + 10


def test_sigterm_lets_crawls_finish_within_the_grace_period_and_delivers_due_alerts(tmp_path, site):
    with hanging_server() as stuck:
        config = tmp_path / "w.toml"
        config.write_text(
            only(outlets_config(site, tmp_path / "run.db"), "tehrantimes")
            + f'\n[[outlets]]\nname = "stuck"\nfeeds = ["{stuck}/feed.xml"]\n'
            'allow_domains = ["127.0.0.1"]\n'
            + schedule("1h", crawl_timeout='"5m"', max_parallel="2", grace='"3s"', notify='"1h"')
            + f'\n[email]\nmaildir = "{tmp_path / "maildir"}"\n'
            '\n[[watches]]\nname = "S-400"\nquery = "S-400"\nemail = "analyst@example.org"\n'
            'max_age = "10000d"\n'
        )
        daemon = Daemon(config)
        try:
            wait_for(
                lambda: (
                    any(r["status"] == FINISHED for r in runs(tmp_path / "run.db", "tehrantimes"))
                    and any(r["status"] == "running" for r in runs(tmp_path / "run.db", "stuck"))
                ),
                60,
                "tehrantimes done and the stuck crawl running",
            )
        finally:
            took = daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    assert took < 3 + 10 + 10, daemon.log  # grace, then SIGTERM's wait, then notify
    assert "Waiting up to 3s for" in daemon.log
    assert "Terminating crawl workers with 1 run(s) in hand" in daemon.log
    (stuck_run,) = runs(tmp_path / "run.db", "stuck")
    # Scrapy closed its run itself ("shutdown"), or the monitor did after killing it.
    assert stuck_run["status"] in ("failed", "killed") and stuck_run["finished"]
    assert stuck_run["reason"] in ("shutdown", "terminated: the monitor was stopping")
    # The S-400 alert of Tehran Times' story was due (immediate) and left before the exit.
    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    assert [m["X-Wirewatch-Watch"] for m in box] == ["S-400"]


def test_a_restart_runs_the_overdue_outlets_first(tmp_path, site):
    db_path = tmp_path / "run.db"
    db = open_db(db_path)
    now = datetime.now(UTC)
    for outlet, ago in (("almayadeen", 60), ("tehrantimes", 1), ("ifpnews", 20)):
        run_id = start_run(db, outlet, now=now - timedelta(minutes=ago))
        finish_run(
            db,
            run_id,
            FINISHED,
            pages_fetched=1,
            articles_new=0,
            articles_updated=0,
            errors=0,
            now=now - timedelta(minutes=ago) + timedelta(seconds=5),
        )
    db.close()
    config = tmp_path / "w.toml"
    config.write_text(
        only(outlets_config(site, db_path), "almayadeen", "tehrantimes", "ifpnews")
        + schedule("10m", max_parallel="1")
    )
    daemon = Daemon(config)
    try:
        wait_for(
            lambda: (
                len([r for r in runs(db_path) if r["started"] >= isoformat(now)]) >= 2
                and all(r["finished"] for r in runs(db_path))
            ),
            60,
            "two runs after the restart",
        )
        time.sleep(2)
    finally:
        daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    fresh = [r["outlet"] for r in runs(db_path) if r["started"] >= isoformat(now)]
    # 50 minutes overdue first, then 10 minutes overdue; tehrantimes is not due for 9 minutes.
    assert fresh == ["almayadeen", "ifpnews"]


def test_sighup_and_a_saved_config_reload_the_schedule(tmp_path, site):
    config = tmp_path / "w.toml"
    full = outlets_config(site, tmp_path / "run.db")
    config.write_text(only(full, "tehrantimes") + schedule("1h"))
    daemon = Daemon(config)
    try:
        wait_for(lambda: runs(tmp_path / "run.db", "tehrantimes"), 60, "the first crawl")
        # Saving the file with a new outlet schedules it without a restart.
        config.write_text(only(full, "tehrantimes", "ifpnews") + schedule("1h"))
        wait_for(lambda: runs(tmp_path / "run.db", "ifpnews"), 60, "the added outlet's crawl")
        # A broken file is refused and the running schedule kept; SIGHUP forces a reread.
        config.write_text(only(full, "tehrantimes", "ifpnews") + '\n[schedule]\nevery = "often"\n')
        wait_for(lambda: "Config not reloaded" in daemon.log, 30, "the refusal")
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.log.count("Config not reloaded") >= 2, 30, "the SIGHUP reread")
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    assert "schedule.every" in daemon.log
    assert "Config reloaded: 2 outlet(s) scheduled" in daemon.log


def test_a_redesigned_outlet_turns_unhealthy_once_and_recovers_once(
    tmp_path: Path, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    root = tmp_path / "www"
    (root / "wire").mkdir(parents=True)
    article = SITE / "ifpnews" / "russian-exporter-continue-military-cooperation-iran.html"
    section = SITE / "presstv" / "Section" / "iran.html"

    def publish(kind: str, names: list[str]) -> None:
        for name in names:
            shutil.copy(article if kind == "article" else section, root / "wire" / name)
        items = "".join(
            f"<item><title>{n}</title><link>{{{{base}}}}/wire/{n}</link></item>" for n in names
        )
        feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>'
        (root / "wire" / "feed.xml").write_text(feed)

    publish("article", ["a1.html"])
    with serve_folder(root) as base:
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "run.db"}"\n'
            '[crawl]\ndelay = "0s"\nautothrottle = false\nrecheck = "0s"\n'
            'user_agent = "wirewatch-test/0.1 (+https://example.org/bot)"\n'
            f'[[outlets]]\nname = "wire"\nfeeds = ["{base}/wire/feed.xml"]\n'
            'allow_domains = ["127.0.0.1"]\nmax_age = "4000d"\n'
            + schedule("2s")
            + "\n[health]\nextraction_runs = 2\nextraction_min_pages = 2\n"
            '\n[email]\noperator = "ops@example.org"\nfrom = "wirewatch@example.org"\n'
        )
        daemon = Daemon(config, env={"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
        try:
            wait_for(lambda: len(runs(tmp_path / "run.db", "wire")) >= 2, 60, "two healthy runs")
            # A redesign: the feed's new links lead to pages the extractor cannot read. They
            # are stored, as the feed lists them, but with a doubt, run after run.
            publish("section", ["r1.html", "r2.html", "r3.html"])
            wait_for(lambda: doubtful(tmp_path / "run.db") == 3, 60, "the first three kept")
            publish("section", ["r4.html", "r5.html", "r6.html"])
            wait_for(lambda: len(handler.messages) >= 1, 60, "the unhealthy email")
            status = wirewatch("--config", str(config), "status", "--json")
            (row,) = json.loads(status.stdout)["outlets"]
            assert row["health"] == "unhealthy"
            assert "most pages are not articles" in row["health_reason"]
            text = wirewatch("--config", str(config), "status").stdout
            assert "wire" in text and "unhealthy" in text and "most pages are not articles" in text
            assert "\x1b[" not in text  # colour only on a terminal
            settled = len(runs(tmp_path / "run.db", "wire"))
            wait_for(lambda: len(runs(tmp_path / "run.db", "wire")) >= settled + 3, 60, "more runs")
            assert len(handler.messages) == 1  # one email when it breaks, not one per run
            # Fixed: articles again.
            publish("article", ["a2.html"])
            wait_for(lambda: len(handler.messages) >= 2, 60, "the recovery email")
            time.sleep(3)
        finally:
            daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    subjects = [str(m["Subject"]) for m in handler.messages]
    assert subjects == [
        "[wirewatch] outlet wire is unhealthy",
        "[wirewatch] outlet wire has recovered",
    ]
    assert "most pages are not articles in 2 runs in a row" in handler.messages[0].get_content()
    status = json.loads(wirewatch("--config", str(config), "status", "--json").stdout)
    assert status["outlets"][0]["health"] == "healthy"
    # the article (a2 is a1 again, by its canonical link), and the six section pages the feed
    # listed, kept with their doubt
    assert status["outlets"][0]["new_24h"] == 7
    assert status["outlets"][0]["doubtful_24h"] == 6


def test_status_says_whether_a_monitor_runs_and_gives_next_runs_only_then(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "run.db") + schedule("1h"))

    def status() -> dict:
        return json.loads(wirewatch("--config", str(config), "status", "--json").stdout)

    daemon = Daemon(config)
    try:
        wait_for(lambda: runs(tmp_path / "run.db") and status()["monitor"]["running"], 60, "a beat")
        live = status()
        assert live["monitor"]["pid"] == daemon.process.pid
        assert all(row["next_run"] for row in live["outlets"])
        text = wirewatch("--config", str(config), "status").stdout
        assert text.startswith("monitor: running since ") and f"pid {daemon.process.pid}" in text
    finally:
        daemon.stop()
    gone = status()
    assert gone["monitor"]["running"] is False
    assert all(row["next_run"] is None for row in gone["outlets"])
    assert wirewatch("--config", str(config), "status").stdout.startswith("monitor: not running")
