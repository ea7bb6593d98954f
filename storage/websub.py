"""The ``websub`` table: feeds that name a WebSub hub, as the crawl last read them, and the
monitor's subscription for each (``monitor.websub``).

A subscription's ``state``: "" (none yet), ``requested`` (the hub took the request; its
verification of intent is awaited), ``verified`` (pushes come until ``lease_until``),
``unsubscribing``, ``denied`` (the hub refused, ``error`` says why) or ``failed`` (the request
could not be made, or was never verified; tried again later).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from extractors.dates import isoformat
from storage.db import write_transaction


def _now(now: datetime | None) -> str:
    return isoformat(now or datetime.now(UTC))


def record_hub(db: Database, feed: str, hub: str, topic: str, now: datetime | None = None) -> None:
    """The feed ``feed`` (as configured) names ``hub`` for ``topic``; "" for ``hub`` when a
    full read found none: the row is kept (with the hub it named, to unsubscribe there) and
    marked no longer ``named``. A feed that never named one gets no row. A feed that names
    another hub starts afresh: its subscription at the old one lapses with its lease."""
    row = db.execute("select hub, named from websub where feed = ?", [feed]).fetchone()
    if not hub and (row is None or not row[1]):
        return  # a read first: most feeds name no hub, and their polls take no write lock
    with write_transaction(db):
        if not hub:
            db.execute("update websub set named = 0, seen = ? where feed = ?", [_now(now), feed])
            return
        if row is not None and row[0] != hub:
            db.execute("delete from websub where feed = ?", [feed])
        db.execute(
            "insert into websub (feed, hub, topic, seen) values (?, ?, ?, ?) on conflict (feed) "
            "do update set hub = excluded.hub, topic = excluded.topic, seen = excluded.seen, "
            "named = 1",
            [feed, hub, topic, _now(now)],
        )


def feeds(db: Database) -> list[dict[str, Any]]:
    """Every feed row, hub or none, with its subscription."""
    return list(db.query("select * from websub order by feed"))


def by_token(db: Database, token: str) -> dict[str, Any] | None:
    rows = list(db.query("select * from websub where token = ?", [token]))
    return rows[0] if rows else None


def requested(
    db: Database,
    feed: str,
    *,
    outlet: str,
    token: str,
    secret: str,
    state: str,
    now: datetime | None = None,
) -> None:
    """A (un)subscription request the hub accepted; its verification is awaited."""
    with write_transaction(db):
        db.execute(
            "update websub set outlet = ?, token = ?, secret = ?, state = ?, requested = ?, "
            "error = '' where feed = ?",
            [outlet, token, secret, state, _now(now), feed],
        )


def verified(
    db: Database, token: str, lease: float, lease_until: str, now: datetime | None = None
) -> None:
    with write_transaction(db):
        db.execute(
            "update websub set state = 'verified', verified = ?, lease = ?, lease_until = ?, "
            "error = '' where token = ?",
            [_now(now), lease, lease_until, token],
        )


def failed(db: Database, feed: str, state: str, error: str, now: datetime | None = None) -> None:
    """The subscription of ``feed`` is ``denied`` or ``failed``, for the reason ``error``."""
    with write_transaction(db):
        db.execute(
            "update websub set state = ?, error = ?, requested = ? where feed = ?",
            [state, error[:500], _now(now), feed],
        )


def pushed(db: Database, token: str, now: datetime | None = None) -> None:
    with write_transaction(db):
        db.execute(
            "update websub set pushed = ?, pushes = pushes + 1 where token = ?",
            [_now(now), token],
        )


def forget(db: Database, feed: str) -> None:
    """The feed is no longer configured and its subscription ended."""
    with write_transaction(db):
        db.execute("delete from websub where feed = ?", [feed])
