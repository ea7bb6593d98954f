"""What ``wirewatch status`` shows: each outlet's schedule, runs, health and recent articles."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from cluster.bus import Bus, RedisError
from extractors.dates import isoformat
from monitor.planning import HEARTBEAT, next_due, outlet_trigger
from storage import monitor as heartbeat
from storage import websub
from storage.articles import new_articles
from storage.channels import failing_channels
from storage.health import health_state
from storage.outbox import counts
from storage.paces import outlet_paces
from storage.runs import OVER_LIMIT, last_run, run_problems, run_stats
from wirewatch.config import Config

#: Seconds without a heartbeat (workers beat every second) after which a worker is "silent".
WORKER_SILENT = 15.0


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
    paces = outlet_paces(db)
    hubs = {row["feed"]: row for row in websub.feeds(db) if row["named"]}
    outlets = []
    for outlet in config.outlets:
        pace = paces.get(outlet.name) if monitor["running"] else None
        seconds = pace["seconds"] if pace else None
        _, _, schedule = outlet_trigger(config, outlet, seconds)
        last = last_run(db, outlet.name)
        problems = run_problems(last) if last else []
        backlog = 0
        if last:
            backlog = int(run_stats(last).get(OVER_LIMIT, 0) or 0)
            del last["stats"]
        started = datetime.fromisoformat(last["started"]) if last else None
        due = next_due(config, outlet, started, seconds)
        health = health_state(db, outlet.name)
        new_24h, doubtful_24h = new_articles(db, outlet.name, day_ago)
        outlets.append(
            {
                "outlet": outlet.name,
                "schedule": schedule,
                # Why the monitor polls it so often (monitor.rhythm), while one runs.
                "pace": pace["why"] if pace else None,
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
                # New items its last run listed past [crawl] max_pages: the next runs fetch them.
                "backlog": backlog,
                # Its feeds that name a WebSub hub, and the subscription (monitor.websub).
                "websub": [
                    {
                        k: hubs[feed][k]
                        for k in ("feed", "hub", "state", "lease_until", "pushes", "error")
                    }
                    for feed in outlet.feeds
                    if feed in hubs
                ],
            }
        )
    outbox = counts(db)
    report = {
        "now": isoformat(now),
        "monitor": monitor,
        "outlets": outlets,
        "alerts": outbox["alerts"],
        "emails": outbox["emails"],
        "failing_channels": failing_channels(db),
    }
    if config.cluster.redis:
        report["cluster"] = cluster_status(config, now)
    return report


def cluster_status(config: Config, now: datetime) -> dict[str, Any]:
    """The cluster's Redis as the monitor sees it: the backlog of both streams, and each worker
    heard from in the last week (host, runs in hand, last heartbeat; ``silent`` when it has
    not beaten for WORKER_SILENT seconds)."""
    bus = Bus(config.redis_url)
    try:
        workers = bus.workers()
        backlog = bus.backlog()
    except RedisError as exc:
        return {"redis": bus.where(), "error": str(exc)}
    finally:
        bus.close()
    for worker in workers:
        worker["age"] = (now - datetime.fromisoformat(worker["beat"])).total_seconds()
        if worker.get("stopped") == "1":
            worker["state"] = "stopped"
        elif worker["age"] > WORKER_SILENT:
            worker["state"] = "silent"
        else:
            worker["state"] = "draining" if worker.get("draining") == "1" else "running"
    workers.sort(key=lambda w: (w["state"] != "running", w["id"]))
    return {"redis": bus.where(), "backlog": backlog, "workers": workers}
