"""Alerts go out as their article is stored (#33), and again as the run that raised them ends:
the monitor hands them to delivery at once, not at the notify tick (which stays the retry
path). A real monitor, real crawls of outlets on 127.0.0.1, a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import ClassVar

from monitor.again import Again, Turns
from tests.support.daemons import Daemon, only, schedule, wait_for
from tests.support.servers import Answering, serving, story_page
from tests.support.site import outlets_config

WATCH = (
    '\n[[watches]]\nname = "S-400"\nquery = "S-400"\nemail = "analyst@example.org"\n'
    'max_age = "10000d"\n'
)


def test_an_alert_is_delivered_when_its_run_ends_not_at_the_notify_tick(tmp_path, site, smtp):
    handler, port = smtp
    db_path = tmp_path / "run.db"
    config = tmp_path / "w.toml"
    # The notify tick runs at start, then once an hour: only the run's end can send it.
    config.write_text(
        only(outlets_config(site, db_path), "tehrantimes")
        + schedule("1h", workers="1", notify='"1h"')
        + WATCH
    )
    daemon = Daemon(config, env={"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        wait_for(lambda: handler.messages, 60, "the alert email")
        with sqlite3.connect(db_path) as db:
            finished = db.execute(
                "select finished from crawl_runs where status = 'finished' order by id"
            ).fetchone()
            sent = db.execute("select sent_at from emails where status = 'sent'").fetchone()
    finally:
        daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    (message,) = handler.messages
    assert message["X-Envelope-To"] == "analyst@example.org" and "S-400" in message["Subject"]
    assert finished is not None and sent is not None, daemon.log
    # Sent right after the run closed, seconds apart, not an hour.
    gap = datetime.fromisoformat(sent[0]) - datetime.fromisoformat(finished[0])
    assert gap.total_seconds() < 30, (finished, sent)


class SlowOutlet(Answering):
    """A feed of two stories: one on the S-400, answered at once, and one held until the test
    lets it go (the rest of a long run)."""

    release: ClassVar[threading.Event] = threading.Event()
    held: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        now = datetime.now(UTC)
        if self.path == "/feed.xml":
            items = "".join(
                f"<item><title>{name}</title><link>{self.base()}/story/{name}</link>"
                f"<pubDate>{format_datetime(now - timedelta(minutes=age))}</pubDate></item>"
                for name, age in (("held", 5), ("s400", 10))
            )
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
            self.answer(200, body.encode(), {"Content-Type": "application/rss+xml"})
        elif self.path.startswith("/story/"):
            name = self.path.rsplit("/", 1)[1]
            if name == "held":
                type(self).held.set()
                type(self).release.wait(60)
            lead = "Moscow offered the S-400 system. " if name == "s400" else ""
            self.answer(200, story_page(name, lead), {"Content-Type": "text/html; charset=utf-8"})
        else:
            self.answer(404)

    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def test_an_alert_is_delivered_as_its_article_is_stored_while_the_run_goes_on(tmp_path, smtp):
    handler, port = smtp
    db_path = tmp_path / "run.db"
    config = tmp_path / "w.toml"
    SlowOutlet.release.clear()
    SlowOutlet.held.clear()
    with serving(SlowOutlet) as base:
        config.write_text(
            f'[storage]\ndatabase = "{db_path}"\n'
            '[crawl]\ndelay = "0s"\nautothrottle = false\nconcurrency_per_domain = 2\n'
            f'[[outlets]]\nname = "wire"\nfeeds = ["{base}/feed.xml"]\n'
            + schedule("1h", workers="1", notify='"1h"')
            + WATCH
        )
        daemon = Daemon(config, env={"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
        try:
            wait_for(lambda: handler.messages, 60, "the alert email")
            # The run is still going: its other story is held, the run's row open.
            assert SlowOutlet.held.is_set() and not SlowOutlet.release.is_set()
            with sqlite3.connect(db_path) as db:
                statuses = [row[0] for row in db.execute("select status from crawl_runs")]
            assert statuses == ["running"], statuses
            SlowOutlet.release.set()
            wait_for(
                lambda: (
                    sqlite3.connect(db_path)
                    .execute("select count(*) from crawl_runs where status = 'finished'")
                    .fetchone()[0]
                ),
                60,
                "the run's end",
            )
        finally:
            SlowOutlet.release.set()
            daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    (message,) = handler.messages  # once: the run's end found nothing more to send
    assert "S-400" in message["Subject"]


def test_delivery_asked_for_while_it_runs_runs_once_more():
    runs, starts = [], []
    inside, release = threading.Event(), threading.Event()

    def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            inside.set()
            release.wait(10)

    again = Again(work, lambda: starts.append(1))
    worker = threading.Thread(target=again.run)
    worker.start()
    inside.wait(10)
    again.soon()  # while the first delivery runs: no second start, one more round instead
    again.soon()
    release.set()
    worker.join(10)
    assert runs == [0, 1] and starts == []
    again.soon()  # idle: it is started
    assert starts == [1]


def test_a_run_asked_for_while_its_outlet_runs_comes_once_after():
    turns = Turns()
    assert turns.take("wire")
    assert not turns.take("wire") and turns.defer("wire")  # asked twice meanwhile
    assert turns.again("wire") and not turns.again("wire")  # one more run, not two
    turns.release("wire")
    assert not turns.defer("wire") and turns.take("wire")
