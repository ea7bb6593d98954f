"""What ``wirewatch status`` shows: each outlet's schedule, runs, health and recent articles."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from extractors.dates import isoformat
from scheduler import HEARTBEAT, next_due, outlet_trigger
from storage import monitor as heartbeat
from storage.articles import new_articles
from storage.channels import failing_channels
from storage.health import health_state
from storage.outbox import counts
from storage.runs import last_run, run_problems
from wirewatch.config import Config


def monitor_state(db: Database, now: datetime) -> dict[str, Any]:
    """Whether a monitor runs on this database: its last heartbeat is recent (and, on this
    host, its process is alive)."""
    found = heartbeat.latest(db)
    if found is None:
        return {"running": False}
    age = (now - datetime.fromisoformat(found["beat"])).total_seconds()
    alive = age <= 3 * HEARTBEAT
    if alive and found["host"] == socket.gethostname():
        try:
            os.kill(int(found["pid"]), 0)
        except ProcessLookupError:
            alive = False
        except PermissionError:
            pass
    return {"running": alive, **found}


def outlet_status(db: Database, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Every configured outlet's state, and the alert outbox's, as plain data. Next runs are
    given only while a monitor runs: without one, nothing is due to happen."""
    now = now or datetime.now(UTC)
    day_ago = isoformat(now - timedelta(hours=24))
    monitor = monitor_state(db, now)
    outlets = []
    for outlet in config.outlets:
        _, _, schedule = outlet_trigger(config, outlet)
        last = last_run(db, outlet.name)
        problems = run_problems(last) if last else []
        if last:
            del last["stats"]
        due = next_due(config, outlet, datetime.fromisoformat(last["started"]) if last else None)
        health = health_state(db, outlet.name)
        new_24h, doubtful_24h = new_articles(db, outlet.name, day_ago)
        outlets.append(
            {
                "outlet": outlet.name,
                "schedule": schedule,
                "last_run": last,
                "next_run": (isoformat(max(due, now)) if due else isoformat(now))
                if monitor["running"]
                else None,
                "health": health["state"] if health else "unknown",
                "health_reason": health["reason"] if health else "",
                "health_since": health["since"] if health else None,
                "new_24h": new_24h,
                "doubtful_24h": doubtful_24h,
                "problems": problems,
            }
        )
    outbox = counts(db)
    return {
        "now": isoformat(now),
        "monitor": monitor,
        "outlets": outlets,
        "alerts": outbox["alerts"],
        "emails": outbox["emails"],
        "failing_channels": failing_channels(db),
    }
