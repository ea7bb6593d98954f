"""Storage failures are loud (#31): a database locked by another process past busy_timeout, at
the start of a crawl or in its middle, or a disk that fills up during a crawl, ends the run as
failed with the reason in words, exit 1; nothing stored is lost, and the next run stores the
rest. A real SQLite file held by a real second process, a real 3 MB tmpfs; outlets on
127.0.0.1."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import open_db
from tests.support.site import SITE, outlets_config, wirewatch
from wirewatch.localsite import serve_folder

HOLD = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN IMMEDIATE')\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


class Holder:
    """Another process holding the database's write lock until :meth:`release`."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def configured(tmp_path: Path, base: str, delay: str = "0s") -> tuple[Path, Path]:
    db = tmp_path / "w.db"
    config = tmp_path / "wirewatch.toml"
    text = outlets_config(base, db).replace("[storage]\n", '[storage]\nbusy_timeout = "1s"\n', 1)
    config.write_text(text.replace('delay = "0s"', f'delay = "{delay}"', 1))
    assert 'busy_timeout = "1s"' in config.read_text()
    open_db(db).close()
    return db, config


def stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from articles").fetchone()[0]


def test_a_crawl_on_a_database_locked_by_another_process_fails_in_words(tmp_path):
    with serve_folder(SITE) as base:
        db, config = configured(tmp_path, base)
        holder = Holder(db)
        try:
            result = wirewatch("--config", str(config), "crawl")
        finally:
            holder.release()
        assert result.returncode == 1
        assert "storage failed: the database stayed locked by another process" in result.stderr
        assert "no outlet was crawled" in result.stderr
        assert "Traceback" not in result.stderr
        # Once the lock is gone, everything is stored.
        again = wirewatch("--config", str(config), "crawl")
    assert again.returncode == 0, again.stderr
    assert stored(db) == 5


def test_a_lock_taken_in_the_middle_of_a_crawl_stops_it_and_the_next_run_stores_the_rest(
    tmp_path,
):
    # One outlet of two articles, one request at a time two seconds apart: the lock is taken
    # between its two articles.
    with serve_folder(SITE) as base:
        db, config = configured(tmp_path, base, delay="2s")
        held: list[Holder] = []

        def take_when_one_is_stored() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if stored(db) >= 1:
                        held.append(Holder(db))
                        return
                except sqlite3.Error:
                    pass
                time.sleep(0.01)

        watcher = threading.Thread(target=take_when_one_is_stored)
        watcher.start()
        try:
            result = wirewatch("--config", str(config), "crawl", "presstv")
        finally:
            watcher.join()
            for holder in held:
                holder.release()
        assert held, "no article was stored"
        first = stored(db)
        again = wirewatch("--config", str(config), "crawl", "presstv")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "storage failed: the database stayed locked by another process" in result.stderr
    assert "Traceback" not in result.stderr
    assert again.returncode == 0, again.stderr
    assert first == 1 and stored(db) == 2  # nothing lost: the next run stored the rest


# -- a real full disk: a 3 MB tmpfs -----------------------------------------------------------


def many_articles(folder: Path, count: int = 70) -> None:
    """An outlet of ``count`` long, distinct articles listed by one feed (about 40 kB each,
    with its full-text index: more than 3 MB in all)."""
    import random
    from datetime import UTC, datetime
    from email.utils import format_datetime

    rng = random.Random(31)
    words = [f"w{n}" for n in range(5000)]
    folder.mkdir()
    now = format_datetime(datetime.now(UTC))
    items = []
    for n in range(count):
        paragraphs = "".join(
            f"<p>{' '.join(rng.choice(words) for _ in range(120))}.</p>" for _ in range(40)
        )
        (folder / f"story-{n}.html").write_text(
            f"<html><head><title>Story {n} of many</title></head><body><article>"
            f"<h1>Story {n} of many</h1>{paragraphs}</article></body></html>",
            encoding="utf-8",
        )
        items.append(f"<item><title>Story {n}</title><link>{{{{base}}}}/story-{n}.html</link>"
                     f"<pubDate>{now}</pubDate></item>")  # fmt: skip
    (folder / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>{"".join(items)}'
        "</channel></rss>",
        encoding="utf-8",
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (needs root and mount rights; skipped, saying why, without them)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_ends_the_run_as_failed_in_words_and_the_rest_is_stored_later(
    tmp_path, small_disk
):
    many_articles(tmp_path / "site")
    db = small_disk / "w.db"
    config = tmp_path / "wirewatch.toml"
    with serve_folder(tmp_path / "site") as base:
        config.write_text(
            f'[storage]\ndatabase = "{db}"\n[crawl]\ndelay = "0s"\nautothrottle = false\n'
            f'[[outlets]]\nname = "many"\nfeeds = ["{base}/feed.xml"]\n'
        )
        full = wirewatch("--config", str(config), "crawl")
        assert full.returncode == 1, full.stdout + full.stderr
        assert "storage failed" in full.stderr and "disk is full" in full.stderr, full.stderr
        assert "Traceback" not in full.stderr
        with sqlite3.connect(db) as conn:
            kept = conn.execute("select count(*) from articles").fetchone()[0]
            statuses = [row[0] for row in conn.execute("select status from crawl_runs")]
        assert 0 < kept < 70, kept
        assert "running" not in statuses, statuses  # the run's row is closed, as failed
        status = wirewatch("--config", str(config), "status")
        assert "disk is full" in status.stdout, status.stdout
        # Space comes back: the next run stores the rest, and nothing stored is lost.
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        again = wirewatch("--config", str(config), "crawl")
        # The same files on a read-only file system (root writes any file, so a read-only
        # bind mount is how that mistake looks here): refused before anything is crawled.
        view = tmp_path / "read-only"
        view.mkdir()
        subprocess.run(["mount", "--bind", str(small_disk), str(view)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
            frozen = wirewatch("--config", str(config), "--db", str(view / "w.db"), "crawl")
        finally:
            subprocess.run(["umount", "-l", str(view)], check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert stored(db) == 70
    assert frozen.returncode == 1, frozen.stdout + frozen.stderr
    assert "storage failed" in frozen.stderr and "read-only" in frozen.stderr, frozen.stderr
    assert "Traceback" not in frozen.stderr


def test_a_crawl_closes_the_runs_a_killed_crawl_left_open(tmp_path):
    from storage.runs import start_run

    with serve_folder(SITE) as base:
        db, config = configured(tmp_path, base)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        conn = open_db(db)
        run_id = start_run(conn, "presstv")
        conn.execute("update crawl_runs set pid = ? where id = ?", [gone.pid, run_id])
        conn.conn.commit()
        conn.close()
        result = wirewatch("--config", str(config), "crawl", "presstv")
    assert result.returncode == 0, result.stderr
    assert "1 crawl run(s) left open by a dead process marked killed" in result.stderr
    with sqlite3.connect(db) as conn:
        status, reason = conn.execute(
            "select status, reason from crawl_runs where id = ?", [run_id]
        ).fetchone()
    assert (status, reason) == ("killed", "process ended without closing its run")
