"""New items first (#31): a run fetches the items it has never stored before it re-checks the
known ones, and ``max_pages`` caps the work, not the discovery: what was over the cap is
fetched by the next runs until the backlog is gone, and ``status`` shows it meanwhile. A real
server on 127.0.0.1, a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support.servers import Answering, serving, story_page
from tests.support.site import wirewatch

ITEMS = 30


class Outlet(Answering):
    """A feed of ITEMS fresh articles, the newest first, and the articles."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path == "/feed.xml":
            # Unchanged between runs, and it says so: a conditional poll is answered 304.
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
                return
            now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            items = "".join(
                f"<item><title>Story {n}</title><link>{self.base()}/story/{n}</link>"
                f"<pubDate>{format_datetime(now - timedelta(minutes=n))}</pubDate></item>"
                for n in range(ITEMS)
            )
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
            self.answer(200, body.encode(), {"Content-Type": "application/rss+xml", "ETag": '"v1"'})
        elif self.path.startswith("/story/"):
            name = self.path.rsplit("/", 1)[1]
            self.answer(200, story_page(name), {"Content-Type": "text/html; charset=utf-8"})
        else:
            self.answer(404)

    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def outlet() -> Iterator[str]:
    with serving(Outlet) as base:
        yield base


def capped(tmp_path: Path, outlet: str) -> tuple[Path, Path]:
    """A config of the outlet at ``max_pages = 5``: the database's path and the config's."""
    db = tmp_path / "w.db"
    config = tmp_path / "wirewatch.toml"
    config.write_text(
        f'[storage]\ndatabase = "{db}"\n[crawl]\ndelay = "0s"\nmax_pages = 5\n'
        f'[[outlets]]\nname = "wire"\nfeeds = ["{outlet}/feed.xml"]\n'
    )
    return db, config


def test_new_items_come_before_rechecks_and_the_backlog_drains_run_by_run(tmp_path, outlet):
    db, config = capped(tmp_path, outlet)
    stored: list[int] = []
    backlogs: list[int] = []
    order: list[set[str]] = []
    for _ in range(ITEMS // 5):
        Outlet.hits.clear()
        result = wirewatch("--config", str(config), "crawl")
        assert result.returncode == 0, result.stderr
        # Every story fetched is one never stored before: no known one is fetched again
        # while new ones wait (the re-checks get only what max_pages leaves).
        fetched = [hit for hit in Outlet.hits if hit.startswith("/story/")]
        assert len(fetched) == 5, fetched
        order.append(set(fetched))
        with sqlite3.connect(db) as conn:
            stored.append(conn.execute("select count(*) from articles").fetchone()[0])
        status = json.loads(wirewatch("--config", str(config), "status", "--json").stdout)
        backlogs.append(status["outlets"][0]["backlog"])
    assert stored == [5, 10, 15, 20, 25, 30]
    # The oldest listed first (story 29 is the oldest), so the feed never drops one unread.
    assert order[0] == {f"/story/{n}" for n in range(25, 30)}
    assert order[-1] == {f"/story/{n}" for n in range(5)}
    assert backlogs == [25, 20, 15, 10, 5, 0]
    # The backlog gone, the feed is polled conditionally again: a 304, nothing fetched.
    Outlet.hits.clear()
    assert wirewatch("--config", str(config), "crawl").returncode == 0
    assert Outlet.hits.count("/feed.xml") == 1
    assert not [hit for hit in Outlet.hits if hit.startswith("/story/")]


def test_status_says_the_backlog_in_words(tmp_path, outlet):
    _, config = capped(tmp_path, outlet)
    assert wirewatch("--config", str(config), "crawl").returncode == 0
    text = wirewatch("--config", str(config), "status").stdout
    assert "backlog: 25 new item(s) listed past [crawl] max_pages" in text
