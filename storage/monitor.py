"""The ``monitor`` table: the heartbeat of a running monitor, so ``status`` can tell whether one
runs. One row per monitor process (host and pid), refreshed every few seconds, removed when
the monitor stops."""

from __future__ import annotations

from sqlite_utils import Database

from storage.db import write_transaction


def beat(db: Database, host: str, pid: int, started: str, now: str, config: str) -> None:
    """Record that the monitor ``host``/``pid`` is alive at ``now``."""
    with write_transaction(db):
        db.execute(
            "insert into monitor (host, pid, started, beat, config) values (?, ?, ?, ?, ?) "
            "on conflict (host, pid) do update set beat = excluded.beat",
            [host, pid, started, now, config],
        )


def stopped(db: Database, host: str, pid: int) -> None:
    """The monitor ``host``/``pid`` has stopped."""
    with write_transaction(db):
        db.execute("delete from monitor where host = ? and pid = ?", [host, pid])


def latest(db: Database) -> dict | None:
    """The monitor that beat last (host, pid, started, beat, config), or None."""
    rows = list(db.query("select * from monitor order by beat desc limit 1"))
    return rows[0] if rows else None
