"""Several machines' workers through Redis (#16): a real redis-server on 127.0.0.1 with its AOF
on, the real monitor and real `wirewatch worker` processes, the fixture outlets on a real HTTP
server, a real SQLite file and a real SMTP server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from cluster.bus import KNOWN, REJECTED, RUNS, WORKER_GROUP, Bus
from cluster.home import Home
from extractors.article import Article
from ingest import Ingest
from storage.articles import known_url_keys
from storage.db import open_db
from storage.runs import FINISHED, RUNNING, start_run
from tests.support.daemons import (
    Daemon,
    assert_quarantine_reported,
    only,
    runs,
    schedule,
    stored,
    wait_for,
)
from tests.support.site import ROOT, SITE, outlets_config, wirewatch
from wirewatch.config import load_config
from wirewatch.localsite import serve_folder

WATCH = (
    '\n[[watches]]\nname = "S-400"\nquery = "S-400 OR Russia"\nemail = "analyst@example.org"\n'
    'max_age = "10000d"\n'
)


def cluster(url: str, **extra: str) -> str:
    lines = [f'redis = "{url}"'] + [f"{k} = {v}" for k, v in extra.items()]
    return "\n[cluster]\n" + "\n".join(lines) + "\n"


class Workers:
    """``wirewatch worker`` as a child process (its own process group), logging to a file."""

    def __init__(self, config: Path, log: Path, processes: int = 1) -> None:
        self.log_path = log
        command = [sys.executable, "-m", "wirewatch", "--config", str(config), "worker"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--processes", str(processes)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=out,
                start_new_session=True,
                env={**os.environ, "WIREWATCH_CONFIG": ""},
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=90)


def heartbeats(url: str) -> list[dict]:
    bus = Bus(url)
    try:
        return bus.workers()
    except redis.RedisError:
        return []
    finally:
        bus.close()


def held_runs(url: str, worker: str) -> list[int]:
    """The crawl_runs ids of the runs ``worker`` holds now."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        pending = client.xpending_range(RUNS, WORKER_GROUP, "-", "+", 100, consumername=worker)
        found = []
        for entry in pending:
            for _, fields in client.xrange(RUNS, entry["message_id"], entry["message_id"]):
                found.append(json.loads(fields["m"])["run"])
        return found
    finally:
        client.close()


def kill_a_busy_worker(url: str) -> tuple[str, list[int]] | None:
    """SIGKILL a worker process that holds runs; its id and the runs it held."""
    for beat in heartbeats(url):
        if beat.get("stopped") or int(beat.get("crawling", 0)) == 0:
            continue
        held = held_runs(url, beat["id"])
        if not held:
            continue
        try:
            os.kill(int(beat["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            continue
        return beat["id"], held
    return None


def test_a_monitor_and_three_workers_lose_nothing_through_a_killed_worker_a_redis_restart_and_a_monitor_restart(
    tmp_path, redis_server, smtp
):
    handler, port = smtp
    db_path = tmp_path / "run.db"
    # Every answer but robots.txt takes 0.4 s, so that runs are caught in flight.
    with serve_folder(SITE, delay=0.4) as slow:
        base = outlets_config(slow, db_path) + f'\n[email]\nfrom = "ww@example.org"\n{WATCH}'
        # The reference: the same outlets crawled once on one machine, no Redis.
        reference = tmp_path / "one.toml"
        reference.write_text(
            outlets_config(slow, tmp_path / "one.db") + f"\n{WATCH}" + schedule("1h")
        )
        done = wirewatch("--config", str(reference), "crawl", timeout=300)
        assert done.returncode == 0, done.stderr
        expected, _ = stored(tmp_path / "one.db")
        assert len(expected) == 5

        config = tmp_path / "w.toml"
        config.write_text(
            base
            + schedule("4s", notify='"1s"', max_parallel="8", grace='"60s"')
            + cluster(redis_server.url, claim_after='"4s"', runs="2")
        )
        env = {"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
        monitor = Daemon(config, env=env)
        workers = [Workers(config, tmp_path / f"worker{i}.log") for i in range(3)]
        monitors = [monitor]
        try:
            wait_for(lambda: len(heartbeats(redis_server.url)) >= 3, 60, "three workers beating")
            # 1. A worker is killed holding runs: another worker takes them over.
            killed, held = wait_for(
                lambda: kill_a_busy_worker(redis_server.url), 60, "a worker holding a run"
            )
            wait_for(
                lambda: all(r["status"] != RUNNING for r in runs(db_path) if r["id"] in held),
                90,
                "the killed worker's runs answered by another worker",
            )
            # 2. Redis restarts mid-crawl (SIGTERM: it writes its AOF; then it starts again).
            wait_for(
                lambda: any(r["status"] == RUNNING for r in runs(db_path)), 30, "a run in flight"
            )
            before_restart = max(r["id"] for r in runs(db_path))
            redis_server.restart()
            # 3. The monitor restarts.
            wait_for(
                lambda: any(
                    r["id"] > before_restart and r["status"] == FINISHED for r in runs(db_path)
                ),
                90,
                "a run finished after Redis's restart",
            )
            monitor.stop()
            monitor = Daemon(config, env=env)
            monitors.append(monitor)
            restarted = max(r["id"] for r in runs(db_path))
            outlets = {r["outlet"] for r in runs(db_path)}
            wait_for(
                lambda: all(
                    any(r["id"] > restarted and r["status"] == FINISHED for r in runs(db_path, o))
                    for o in outlets
                ),
                120,
                "every outlet to finish a run under the new monitor",
            )
            wait_for(
                lambda: stored(db_path)[0] == expected, 60, "every article of the outlets stored"
            )
            alerts = stored(db_path)[1]
            wait_for(lambda: len(handler.messages) >= len(alerts), 60, "every alert mailed")
            # The monitor stops last of all, after the runs in flight are answered (its grace).
            monitor.stop(timeout=120)
        finally:
            codes = [w.stop() for w in workers]
            for daemon in monitors:
                if daemon.process.poll() is None:
                    daemon.stop()
            (tmp_path / "monitor.log").write_text("\n".join(d.log for d in monitors))
    logs = "\n".join(d.log for d in monitors)
    assert all(d.process.returncode == 0 for d in monitors), logs[-3000:]
    assert codes == [0, 0, 0], [w.log[-2000:] for w in workers]
    worker_logs = "\n".join(w.log for w in workers)
    # The killed worker's process was replaced, and its runs were answered by others.
    assert "Crawl worker process" in worker_logs and "killed by signal 9" in worker_logs
    for run in runs(db_path):
        if run["id"] in held:
            assert run["status"] == FINISHED, run
            assert run["worker"] and run["worker"] != killed, run
    # Redis's restart was noticed and survived; its AOF kept the state: built once, at the
    # first start, and no run was lost with it.
    assert "Redis at 127.0.0.1" in logs and "is back" in logs
    assert logs.count("Redis held no crawl state") == 1
    assert "lost" not in logs
    # Every run is accounted for: closed, with a reason when it did not finish.
    every = runs(db_path)
    assert every and all(r["status"] != RUNNING for r in every), every
    assert all(r["reason"] for r in every if r["status"] != FINISHED), every
    assert all(r["worker"] is not None for r in every)
    # Every article stored once, every alert raised and sent once.
    urls, alerts = stored(db_path)
    assert urls == expected
    assert alerts and len(alerts) == len(set(alerts))
    ids = [m["Message-ID"] for m in handler.messages]
    assert len(ids) == len(set(ids)) == len(alerts), [m["Subject"] for m in handler.messages]
    with sqlite3.connect(db_path) as db:
        assert db.execute("select count(*) from alerts where status != 'sent'").fetchone()[0] == 0
    assert "Traceback" not in logs + worker_logs


def test_results_stored_twice_change_nothing_and_an_emptied_redis_is_rebuilt_from_sqlite(
    tmp_path, redis_server
):
    config_path = tmp_path / "w.toml"
    config_path.write_text(
        outlets_config("http://127.0.0.1:9", tmp_path / "w.db") + WATCH + cluster(redis_server.url)
    )
    config = load_config(config_path)
    bus = Bus(redis_server.url)
    db = open_db(tmp_path / "w.db")
    settled: list[dict] = []
    home = Home(bus, lambda: open_db(tmp_path / "w.db"), config.watches, settled.append)
    ingest = Ingest(db, config.watches)
    home.rebuild(db)
    run_id = start_run(db, "presstv", cluster=True)
    article = Article(
        url="https://www.presstv.ir/Detail/2025/01/01/1/s400",
        fetched_url="https://www.presstv.ir/Detail/2025/01/01/1/s400",
        title="Russia delivers S-400 parts",
        author=None,
        published="2026-11-29T10:00:00+00:00",
        language="en",
        sitename="Press TV",
        text="Russia delivered parts of the S-400 system to Iran, officials said. " * 10,
    )
    articles = {"kind": "articles", "run": run_id, "outlet": "presstv", "worker": "w:1"}
    done = {
        "kind": "done",
        "run": run_id,
        "outlet": "presstv",
        "worker": "w:1",
        "reason": "finished",
        "stats": {"downloader/response_count": 3},
        "sources": [{"url": "http://x/feed", "etag": '"e1"', "last_modified": "", "digest": "d"}],
    }
    # At-least-once: the monitor died before acknowledging, and reads both messages again.
    for _ in range(2):
        home.handle(db, ingest, {**articles, "articles": [article.as_dict()]})
        home.handle(db, ingest, done)
    assert db.execute("select count(*) from articles").fetchone()[0] == 1
    assert db.execute("select count(*) from alerts").fetchone()[0] == 1
    (run,) = db.query("select * from crawl_runs where id = ?", [run_id])
    assert (run["status"], run["articles_new"], run["pages_fetched"], run["worker"]) == (
        FINISHED,
        1,
        3,
        "w:1",
    )
    assert len(settled) == 1  # no monitor waited for it: it is logged and judged once
    # The workers can skip the stored URL, and see the feed's validators.
    keys = {key: (first, last) for key, first, last in known_url_keys(db)}
    assert keys and all(bus.known(key) == seen for key, seen in keys.items())
    assert bus.source("http://x/feed")["etag"] == '"e1"'
    # A worker process gone for a day, holding no run, leaves the group at the hourly trim.
    bus.dispatch({"run": 0, "outlet": "presstv", "deadline": 60, "expires": 0})
    ((message_id, _),) = bus.take("gone:1", 1, 0.01)
    assert bus.forget_workers(0) == []  # it holds a run
    bus.finish(message_id)
    assert bus.forget_workers(0) == ["gone:1"]
    # Redis keeps a window of the URL keys; SQLite keeps them all.
    home.known_for = -60  # a window that ends before the article was first seen
    home.trim()
    assert bus.redis.hlen(KNOWN) == 0
    home.known_for = 86400
    # Redis comes back empty (no AOF): the state is rebuilt from SQLite.
    bus.redis.flushall()
    assert not bus.ready() and bus.redis.hlen(KNOWN) == 0
    home.rebuild(db)
    assert bus.ready()
    assert bus.redis.hlen(KNOWN) == len(keys)
    assert bus.source("http://x/feed")["etag"] == '"e1"'
    # A result the monitor cannot read is set aside, loudly, and blocks nothing behind it.
    second = start_run(db, "presstv", cluster=True)
    bus.ensure_groups()
    bus.send({"kind": "done", "outlet": "presstv"})  # no run
    bus.send({**done, "run": second})
    home.start()
    try:
        wait_for(lambda: bus.backlog()["results"] == 0, 30, "the results stream drained")
    finally:
        home.stop()
    assert bus.redis.xlen(REJECTED) == 1
    assert runs(tmp_path / "w.db")[-1]["status"] == FINISHED
    db.close()
    bus.close()


def test_status_lists_the_workers_heard_from(tmp_path, redis_server, site):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "w.db") + cluster(redis_server.url))
    assert wirewatch("--config", str(config), "crawl", "presstv").returncode == 0
    workers = Workers(config, tmp_path / "worker.log", processes=2)
    try:
        wait_for(lambda: len(heartbeats(redis_server.url)) >= 2, 60, "two workers beating")
        shown = wirewatch("--config", str(config), "status")
        report = json.loads(wirewatch("--config", str(config), "status", "--json").stdout)
    finally:
        assert workers.stop() == 0, workers.log
    assert shown.returncode == 0, shown.stderr
    assert f"cluster: Redis at 127.0.0.1:{redis_server.port}/0" in shown.stdout
    beats = report["cluster"]["workers"]
    assert len(beats) == 2 and all(b["state"] == "running" for b in beats)
    assert all(b["host"] and int(b["pid"]) > 0 for b in beats)
    for beat in beats:
        assert beat["id"] in shown.stdout
    # Once stopped, they are listed as such.
    stopped = json.loads(wirewatch("--config", str(config), "status", "--json").stdout)
    assert {b["state"] for b in stopped["cluster"]["workers"]} == {"stopped"}
    # Redis away: status says so and still shows the outlets.
    redis_server.stop()
    away = wirewatch("--config", str(config), "status")
    assert away.returncode == 0 and "unreachable" in away.stdout and "presstv" in away.stdout


def test_the_cluster_config_keeps_the_password_out_of_the_file(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config("http://127.0.0.1:9", tmp_path / "w.db")
        + cluster("redis://:secret@10.0.0.5:6379/0")
    )
    result = wirewatch("--config", str(config), "worker")
    assert result.returncode != 0
    assert "cluster.redis: a password in the file" in result.stderr
    assert "WIREWATCH_REDIS_URL" in result.stderr
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db"))
    alone = wirewatch("--config", str(config), "worker")
    assert alone.returncode != 0 and "no [cluster] redis" in alone.stderr


def test_the_url_with_its_password_comes_from_the_environment(tmp_path, monkeypatch):
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config("http://127.0.0.1:9", tmp_path / "w.db") + cluster("redis://10.0.0.5/0")
    )
    monkeypatch.setenv("WIREWATCH_REDIS_URL", "redis://:pw@127.0.0.1:6390/2")
    assert load_config(config).redis_url == "redis://:pw@127.0.0.1:6390/2"
    monkeypatch.delenv("WIREWATCH_REDIS_URL")
    assert load_config(config).redis_url == "redis://10.0.0.5/0"
    assert Bus("redis://:pw@127.0.0.1:6390/2").where() == "127.0.0.1:6390/2"


@pytest.mark.parametrize("redis_server", ["s3cret-redis-pass"], indirect=True)
def test_the_redis_password_comes_from_the_environment_and_is_shown_nowhere(
    tmp_path, redis_server, site
):
    password = redis_server.password
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "w.db") + cluster(redis_server.url))
    secret_url = f"redis://:{password}@127.0.0.1:{redis_server.port}/0"
    assert wirewatch("--config", str(config), "crawl", "presstv").returncode == 0
    # Without the password, Redis refuses, and status says so.
    refused = wirewatch("--config", str(config), "status")
    assert "unreachable" in refused.stdout and "uthentication" in refused.stdout
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "wirewatch", "--config", str(config), "worker"],
            cwd=ROOT,
            stderr=out,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "WIREWATCH_REDIS_URL": secret_url, "WIREWATCH_CONFIG": ""},
        )
    try:
        wait_for(lambda: heartbeats(secret_url), 60, "a worker beating with the password")
        shown = wirewatch("--config", str(config), "status", WIREWATCH_REDIS_URL=secret_url)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=90) == 0
    assert "running" in shown.stdout and f"127.0.0.1:{redis_server.port}/0" in shown.stdout
    for text in (shown.stdout, shown.stderr, refused.stdout, refused.stderr, log.read_text()):
        assert password not in text


def test_a_redis_that_comes_back_empty_is_rebuilt_and_the_runs_lost_with_it_are_sent_again(
    tmp_path, redis_server
):
    db_path = tmp_path / "run.db"
    # Every answer takes 1 s: a run lasts seconds, and runs are always in flight.
    with serve_folder(SITE, delay=1.0) as slow:
        config = tmp_path / "w.toml"
        config.write_text(
            outlets_config(slow, db_path)
            + f"\n{WATCH}"
            + schedule("3s", max_parallel="8")
            + cluster(redis_server.url, claim_after='"4s"')
        )
        monitor = Daemon(config)
        workers = Workers(config, tmp_path / "worker.log", processes=2)
        try:
            wait_for(
                lambda: len({r["outlet"] for r in runs(db_path) if r["status"] == FINISHED}) == 4,
                90,
                "every outlet to finish a run",
            )
            wait_for(
                lambda: any(r["status"] == RUNNING for r in runs(db_path)), 30, "a run in flight"
            )
            # Redis loses everything (a restart without its AOF): streams, groups, state.
            client = redis.Redis.from_url(redis_server.url)
            client.flushall()
            client.close()
            flushed = max(r["id"] for r in runs(db_path))
            # Built at the start, and again now.
            wait_for(lambda: monitor.log.count("Redis held no crawl state") == 2, 30, "the rebuild")
            wait_for(
                lambda: (
                    len(
                        {
                            r["outlet"]
                            for r in runs(db_path)
                            if r["id"] > flushed and r["status"] == FINISHED
                        }
                    )
                    == 4
                ),
                90,
                "every outlet to finish a run after the loss",
            )
            monitor.stop(timeout=120)
        finally:
            assert workers.stop() == 0, workers.log
            if monitor.process.poll() is None:
                monitor.stop()
    assert monitor.process.returncode == 0, monitor.log[-3000:]
    # The state came back from SQLite: the known URL keys the workers skip.
    bus = Bus(redis_server.url)
    with sqlite3.connect(db_path) as db:
        keys = db.execute("select count(distinct key) from article_urls").fetchone()[0]
    assert bus.redis.hlen(KNOWN) == keys > 0
    bus.close()
    # Every run accounted for; the lost ones say so; nothing stored twice.
    every = runs(db_path)
    assert all(r["status"] != RUNNING for r in every), every
    lost = [r for r in every if r["reason"] and r["reason"].startswith("lost")]
    assert lost and all(r["status"] == "failed" for r in lost), every
    assert f"{len(lost)} run(s) in flight were lost and are sent again" in monitor.log
    urls, alerts = stored(db_path)
    assert len(urls) == len(set(urls)) == 5
    assert len(alerts) == len(set(alerts))
    assert "Traceback" not in monitor.log + workers.log


def test_sighup_or_a_saved_config_gives_a_worker_machine_fresh_processes(tmp_path, redis_server):
    config = tmp_path / "w.toml"
    text = outlets_config("http://127.0.0.1:9", tmp_path / "w.db") + cluster(redis_server.url)
    config.write_text(text)
    workers = Workers(config, tmp_path / "worker.log")

    def running() -> set[str]:
        return {b["id"] for b in heartbeats(redis_server.url) if not b.get("stopped")}

    try:
        first = wait_for(running, 60, "a worker process beating")
        workers.process.send_signal(signal.SIGHUP)
        second = wait_for(lambda: running() - first, 60, "a fresh process")
        wait_for(lambda: running() == second, 60, "the old one stopped")
        # A broken file is not taken: the workers go on as they are.
        config.write_text(text + "\n[cluster]\nbogus = 1\n")
        wait_for(lambda: "Config not reloaded" in workers.log, 30, "the refusal")
        assert running() == second
    finally:
        assert workers.stop() == 0, workers.log
    assert "Config reloaded: fresh worker processes take over" in workers.log
    assert "Traceback" not in workers.log


def test_a_monitor_stopped_with_runs_out_exits_at_once_and_the_next_one_records_them(
    tmp_path, redis_server, site
):
    db_path = tmp_path / "run.db"
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, db_path)
        + schedule("1h", grace='"2s"')
        + cluster(redis_server.url, claim_after='"4s"')
    )
    # No worker yet: the runs wait in Redis.
    first = Daemon(config)
    try:
        wait_for(lambda: len(runs(db_path)) == 4, 60, "the four runs sent")
        took = first.stop(timeout=60)
    finally:
        if first.process.poll() is None:
            first.process.kill()
    assert first.process.returncode == 0, first.log
    assert took < 20, first.log  # the grace, not the crawl time limit
    assert "Stopping with 4 cluster run(s) unanswered" in first.log
    assert all(r["status"] == RUNNING for r in runs(db_path))
    sent = {r["id"] for r in runs(db_path)}
    # A worker takes them; the next monitor stores what they found and closes them.
    workers = Workers(config, tmp_path / "worker.log")
    second = Daemon(config)
    try:
        wait_for(
            lambda: all(r["status"] == FINISHED for r in runs(db_path) if r["id"] in sent),
            90,
            "the first monitor's runs closed by the second",
        )
    finally:
        second.stop()
        assert workers.stop() == 0, workers.log
    assert second.process.returncode == 0, second.log
    assert len(stored(db_path)[0]) == 5
    for outlet in ("presstv", "tehrantimes", "almayadeen", "ifpnews"):
        assert f"crawl {outlet} finished" in second.log


def test_an_outlet_whose_runs_kill_every_worker_that_takes_them_is_quarantined(
    tmp_path, redis_server
):
    db_path = tmp_path / "run.db"
    with serve_folder(SITE, delay=0.5) as slow:
        config = tmp_path / "w.toml"
        config.write_text(
            only(outlets_config(slow, db_path), "presstv")
            + schedule("2s")
            + f'\n[email]\nmaildir = "{tmp_path / "maildir"}"\noperator = "ops@example.org"\n'
            + cluster(redis_server.url, claim_after='"2s"')
        )
        monitor = Daemon(config)
        workers = Workers(config, tmp_path / "worker.log", processes=2)
        try:

            def kill_or_quarantined() -> bool:
                kill_a_busy_worker(redis_server.url)
                return "quarantined" in monitor.log

            wait_for(kill_or_quarantined, 150, "every worker that takes the run killed")
            wait_for(lambda: "skipped: quarantined" in monitor.log, 30, "a skipped run")
        finally:
            monitor.stop()
            assert workers.stop() == 0, workers.log
    assert monitor.process.returncode == 0, monitor.log
    assert "Outlet presstv quarantined: its runs killed 4 crawl workers in a row" in monitor.log
    (abandoned,) = [r for r in runs(db_path) if (r["reason"] or "").startswith("abandoned")]
    assert abandoned["status"] == "failed"
    assert "handed to 4 crawl workers" in abandoned["reason"]
    assert_quarantine_reported(db_path, tmp_path / "maildir")
