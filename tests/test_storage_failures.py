"""Storage failures are loud (#31): a database locked by another process past busy_timeout, at
the start of a crawl or in its middle, ends the run as failed with the reason in words, exit 1;
nothing stored is lost, and the next run stores the rest. A real SQLite file held by a real
second process; the fixture outlets on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

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
