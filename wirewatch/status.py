"""What ``wirewatch status`` shows: each outlet's schedule, runs, health and recent articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from extractors.dates import isoformat
from scheduler import next_due, outlet_trigger
from storage.runs import problems_of
from wirewatch.config import Config


def outlet_status(db: Database, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Every configured outlet's state, and the alert outbox's, as plain data."""
    now = now or datetime.now(UTC)
    day_ago = isoformat(now - timedelta(hours=24))
    outlets = []
    for outlet in config.outlets:
        _, _, schedule = outlet_trigger(config, outlet)
        cursor = db.execute(
            "select started, finished, status, pages_fetched, articles_new, errors, reason, stats "
            "from crawl_runs where outlet = ? order by started desc, id desc limit 1",
            [outlet.name],
        )
        row = cursor.fetchone()
        last = dict(zip([c[0] for c in cursor.description], row, strict=True)) if row else None
        due = next_due(config, outlet, datetime.fromisoformat(last["started"]) if last else None)
        health = db.execute(
            "select state, reason, since from outlet_health where outlet = ?", [outlet.name]
        ).fetchone()
        (new_24h, doubtful_24h) = db.execute(
            "select count(*), count(doubt) from articles where outlet = ? and first_seen >= ?",
            [outlet.name, day_ago],
        ).fetchone()
        problems = []
        if last:
            try:
                problems = problems_of(json.loads(last.pop("stats") or "{}"))
            except ValueError:
                problems = []
        outlets.append(
            {
                "outlet": outlet.name,
                "schedule": schedule,
                "last_run": last,
                "next_run": isoformat(max(due, now)) if due else isoformat(now),
                "health": health[0] if health else "unknown",
                "health_reason": health[1] if health else "",
                "health_since": health[2] if health else None,
                "new_24h": new_24h,
                "doubtful_24h": doubtful_24h,
                "problems": problems,
            }
        )
    alerts = dict(db.execute("select status, count(*) from alerts group by status").fetchall())
    emails = dict(db.execute("select status, count(*) from emails group by status").fetchall())
    return {
        "now": isoformat(now),
        "outlets": outlets,
        "alerts": {k: alerts.get(k, 0) for k in ("pending", "sent", "failed")},
        "emails": {k: emails.get(k, 0) for k in ("pending", "sent", "failed")},
    }
