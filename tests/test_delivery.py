"""Alerts go out when the run that raised them ends (#33): the monitor hands them to delivery
at once, not at the notify tick (which stays the retry path). A real monitor, a real crawl of
the fixture outlets on 127.0.0.1, a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from tests.support.daemons import Daemon, only, schedule, wait_for
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
