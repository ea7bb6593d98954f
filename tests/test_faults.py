"""Faults: killed processes, a locked database, two crawls at once, an SMTP server down for an
hour. Real processes, real SQLite files, a real SMTP server; nothing may be lost or doubled."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller

from alerts.mail import SmtpSettings, SmtpTransport
from alerts.outbox import notify
from storage.db import open_db
from tests.support.servers import Handler, free_port
from tests.support.site import ROOT, SITE, outlets_config, wirewatch
from wirewatch.config import load_config
from wirewatch.localsite import serve_folder

ARTICLE = SITE / "ifpnews" / "russian-exporter-continue-military-cooperation-iran.html"
WORDS = [
    "arms",
    "embargo",
    "treaty",
    "missile",
    "drone",
    "frigate",
    "radar",
    "sanctions",
    "summit",
    "envoy",
    "tariff",
]


def many_articles(root: Path, count: int) -> None:
    """``count`` distinct articles behind one feed, at /wire/N.html."""
    template = ARTICLE.read_text(encoding="utf-8")
    rng = random.Random(7)
    (root / "wire").mkdir(parents=True)
    items = []
    for n in range(count):
        extra = " ".join(rng.choice(WORDS) for _ in range(120))
        html = template.replace(
            "https://ifpnews.com/russian-exporter-continue-military-cooperation-iran/",
            f"https://wire.example/story/{n}",
        ).replace("</p>\n        </div>", f"</p><p>Dispatch {n}: {extra}.</p>\n        </div>", 1)
        (root / "wire" / f"{n}.html").write_text(html, encoding="utf-8")
        items.append(f"<item><title>{n}</title><link>{{{{base}}}}/wire/{n}.html</link></item>")
    (root / "wire" / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        + "".join(items)
        + "</channel></rss>"
    )


def wire_config(folder: Path, base: str, delay: str = "0.2s") -> Path:
    config = folder / "w.toml"
    config.write_text(
        f'[storage]\ndatabase = "{folder / "w.db"}"\n'
        f'[crawl]\nuser_agent = "wirewatch-test/0.1 (+https://example.org/bot)"\n'
        f'delay = "{delay}"\nautothrottle = false\nrecheck = "0s"\n'
        f'[[outlets]]\nname = "wire"\nfeeds = ["{base}/wire/feed.xml"]\n'
        'allow_domains = ["127.0.0.1"]\nmax_age = "10000d"\n'
    )
    return config


def consistent(db_path: Path) -> dict[str, int]:
    """Check that every stored article is whole; return the table counts."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        counts = {
            table: db.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("articles", "stories", "story_bands", "article_urls", "articles_fts")
        }
        orphans = db.execute(
            "select count(*) from articles a where a.story_id is null "
            "or not exists (select 1 from stories s where s.id = a.story_id) "
            "or not exists (select 1 from article_urls u where u.article_id = a.id) "
            "or (select count(*) from story_bands b where b.article_id = a.id) = 0"
        ).fetchone()[0]
        assert orphans == 0
        assert counts["articles_fts"] == counts["articles"]
        (dupes,) = db.execute(
            "select count(*) from (select url from articles group by url having count(*) > 1)"
        ).fetchone()
        assert dupes == 0
        return counts
    finally:
        db.close()


def test_kill_9_of_a_crawl_leaves_no_half_stored_article(tmp_path):
    root = tmp_path / "www"
    many_articles(root, 40)
    with serve_folder(root) as base:
        config = wire_config(tmp_path, base)
        crawl = subprocess.Popen(
            [sys.executable, "-m", "wirewatch", "--config", str(config), "crawl", "wire"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (tmp_path / "w.db").exists():
                with sqlite3.connect(tmp_path / "w.db", timeout=30) as db:
                    try:
                        if db.execute("select count(*) from articles").fetchone()[0] >= 5:
                            break
                    except sqlite3.OperationalError:
                        pass
            time.sleep(0.05)
        crawl.send_signal(signal.SIGKILL)
        crawl.wait()
        partial = consistent(tmp_path / "w.db")
        assert 5 <= partial["articles"] < 40
        again = wirewatch("--config", str(config), "crawl", "--json", "wire")
        assert again.returncode == 0, again.stderr
    final = consistent(tmp_path / "w.db")
    assert final["articles"] == 40
    assert (
        json.loads(again.stdout)[0]["new"] + json.loads(again.stdout)[0]["near_duplicates"]
        == 40 - partial["articles"]
    )
    db = open_db(tmp_path / "w.db")
    statuses = [r[0] for r in db.execute("select status from crawl_runs order by id")]
    # The killed run, closed by the next crawl as the monitor would at its start.
    assert statuses == ["killed", "finished"]


def test_two_crawls_of_one_outlet_at_once_store_each_article_once(tmp_path):
    root = tmp_path / "www"
    many_articles(root, 20)
    with serve_folder(root) as base:
        config = wire_config(tmp_path, base, delay="0s")
        command = [sys.executable, "-m", "wirewatch", "--config", str(config), "crawl", "wire"]
        crawls = [subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE) for _ in range(2)]
        for crawl in crawls:
            _, stderr = crawl.communicate(timeout=120)
            assert crawl.returncode == 0, stderr
    counts = consistent(tmp_path / "w.db")
    assert counts["articles"] == 20


def test_a_long_reader_and_a_held_write_lock_only_make_the_crawl_wait(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "w.db"))
    open_db(tmp_path / "w.db").close()
    reader = sqlite3.connect(tmp_path / "w.db")
    reader.execute("begin")
    reader.execute("select count(*) from articles").fetchone()  # a snapshot held open
    writer = sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False)
    writer.execute("begin immediate")  # someone else's long write, for 4 seconds

    def release() -> None:
        time.sleep(4)
        writer.execute("commit")

    threading.Thread(target=release).start()
    started = time.monotonic()
    done = wirewatch("--config", str(config), "crawl", "--json", "ifpnews", "tehrantimes")
    took = time.monotonic() - started
    reader.close()
    writer.close()
    assert done.returncode == 0, done.stderr
    assert sum(row["new"] for row in json.loads(done.stdout)) == 2
    assert took >= 3  # it waited for the lock rather than failing
    assert consistent(tmp_path / "w.db")["articles"] == 2


class SlowHandler(Handler):
    """Keeps each message, then takes ``pause`` seconds before saying 250 (a slow server)."""

    pause = 0.0

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.pause:
            import asyncio

            await asyncio.sleep(self.pause)
        return reply


WATCH = """
[[watches]]
name = "cooperation"
query = "cooperation"
email = "analyst@example.org"
max_age = "10000d"

[email]
from = "wirewatch@example.org"
"""


def test_kill_9_of_notify_mid_send_repeats_at_most_the_email_in_flight(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db", WATCH))
    replayed = wirewatch("--config", str(config), "replay", "--json", str(SITE))
    assert json.loads(replayed.stdout)["alerts"] == 5
    handler = SlowHandler()
    handler.pause = 3.0
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = {**os.environ, "WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
        command = [sys.executable, "-m", "wirewatch", "--config", str(config), "notify"]
        sender = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(handler.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The server holds the second message and has not said 250 yet: kill the sender now.
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        handler.pause = 0.0
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    finally:
        controller.stop()
    ids = Counter(str(m["Message-ID"]) for m in handler.messages)
    assert len(ids) == 5  # every email arrived: none lost
    assert sum(n - 1 for n in ids.values()) <= 1  # at most the one in flight, twice
    db = open_db(tmp_path / "w.db")
    assert {r[0] for r in db.execute("select status from alerts")} == {"sent"}


def test_an_smtp_server_down_for_an_hour_delays_and_then_delivers_everything_once(tmp_path):
    config_file = tmp_path / "w.toml"
    port = free_port()
    config_file.write_text(
        outlets_config(
            "http://127.0.0.1:9",
            tmp_path / "w.db",
            WATCH.replace("[email]\n", '[email]\nretry = "1m"\nretry_max = "15m"\n'),
        )
    )
    replayed = wirewatch("--config", str(config_file), "replay", str(SITE))
    assert replayed.returncode == 0, replayed.stderr
    config = load_config(config_file)
    db = open_db(tmp_path / "w.db")
    settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")
    t0 = datetime.now(UTC)
    attempts = 0
    # The daemon's notify job runs every minute; the server is down for the first hour.
    for minute in range(61):
        report = notify(
            db,
            config,
            SmtpTransport(settings, config.email.sender),
            tmp_path / "w.db",
            now=t0 + timedelta(minutes=minute),
        )
        assert report.emails_sent == 0
        attempts += report.retrying
    pending = db.execute("select max(attempts), count(*) from emails where status = 'pending'")
    most, waiting = pending.fetchone()
    assert waiting == 5
    assert 5 <= most <= 10  # backoff: 1, 2, 4, 8, 15, 15, ... minutes apart, not 60 tries
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        for minute in range(61, 90):
            notify(
                db,
                config,
                SmtpTransport(settings, config.email.sender),
                tmp_path / "w.db",
                now=t0 + timedelta(minutes=minute),
            )
    finally:
        controller.stop()
    assert len(handler.messages) == 5
    assert len({str(m["Message-ID"]) for m in handler.messages}) == 5
    assert {r[0] for r in db.execute("select status from emails")} == {"sent"}
    assert attempts > 0


def test_kill_9_of_the_monitor_takes_its_crawls_down_and_a_restart_carries_on(tmp_path, site):
    from tests.support.daemons import Daemon, only, runs, schedule, wait_for
    from tests.support.servers import hanging_server

    with hanging_server() as stuck:
        config = tmp_path / "w.toml"
        config.write_text(
            only(outlets_config(site, tmp_path / "run.db"), "tehrantimes").replace(
                'recheck = "0s"', 'recheck = "0s"\ntimeout = "60s"'
            )
            + f'\n[[outlets]]\nname = "stuck"\nfeeds = ["{stuck}/feed.xml"]\n'
            'allow_domains = ["127.0.0.1"]\n'
            + schedule("2s", crawl_timeout='"5m"', max_parallel="2", grace='"1s"')
        )
        daemon = Daemon(config)
        running = wait_for(
            lambda: [r for r in runs(tmp_path / "run.db", "stuck") if r["status"] == "running"],
            60,
            "the stuck crawl",
        )
        child = running[0]["pid"]  # type: ignore[index]
        daemon.process.send_signal(signal.SIGKILL)
        daemon.stop()
        # Left alone, the crawl would wait 60 s on its stuck download; the kernel killed it when
        # its monitor died.
        wait_for(lambda: not Path(f"/proc/{child}").exists(), 10, "the orphaned crawl to end")
        before = len(runs(tmp_path / "run.db"))
        restarted = Daemon(config)
        try:
            wait_for(
                lambda: (
                    sum(r["status"] == "finished" for r in runs(tmp_path / "run.db", "tehrantimes"))
                    >= 2
                    and len(runs(tmp_path / "run.db")) > before
                ),
                60,
                "runs after the restart",
            )
        finally:
            restarted.stop()
    assert restarted.process.returncode == 0, restarted.log
    stuck_runs = runs(tmp_path / "run.db", "stuck")
    # The run the kill interrupted was closed by the next monitor.
    assert stuck_runs[0]["status"] == "killed" and stuck_runs[0]["finished"]
    # The kill may also catch the other outlet's crawl (it runs every 2 s): every run the dead
    # monitor left open is marked killed by the next one.
    found = re.search(
        r"(\d+) crawl run\(s\) left open by a dead process marked killed", restarted.log
    )
    left_open = [r for r in runs(tmp_path / "run.db")[:before] if r["status"] == "killed"]
    assert found and int(found[1]) == len(left_open) >= 1, restarted.log
    assert all(r["status"] != "running" for r in runs(tmp_path / "run.db"))


def test_a_full_disk_drops_the_writes_and_the_next_run_stores_them(tmp_path):
    import resource

    root = tmp_path / "www"
    many_articles(root, 30)
    with serve_folder(root) as base:
        config = wire_config(tmp_path, base, delay="0s")
        open_db(tmp_path / "w.db").close()
        limit = 700_000  # bytes any one file of the crawl may reach: the disk "fills up" there

        def full_disk() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        command = [sys.executable, "-m", "wirewatch", "--config", str(config), "crawl", "wire"]
        full = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, preexec_fn=full_disk, timeout=120
        )
        # SQLite says "disk I/O error" for EFBIG, "database or disk is full" for ENOSPC.
        assert "Could not store" in full.stderr, full.stderr[-2000:]
        assert "disk I/O error" in full.stderr or "disk is full" in full.stderr
        partial = consistent(tmp_path / "w.db")
        assert partial["articles"] < 30
        # Space again: the next run fetches what was not stored (its URLs were not recorded).
        again = wirewatch("--config", str(config), "crawl", "--json", "wire")
        assert again.returncode == 0, again.stderr
    assert consistent(tmp_path / "w.db")["articles"] == 30
