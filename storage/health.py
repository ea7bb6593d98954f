"""The ``outlet_health`` table: each outlet's state, the reason and since when."""

from __future__ import annotations

from sqlite_utils import Database


def health_state(db: Database, outlet: str) -> dict | None:
    """The outlet's recorded health (state, reason, since, checked), or None if never judged."""
    rows = list(
        db.query(
            "select state, reason, since, checked from outlet_health where outlet = ?", [outlet]
        )
    )
    return rows[0] if rows else None


def record_health(db: Database, outlet: str, state: str, reason: str, stamp: str) -> str | None:
    """Record the outlet's judged state at ``stamp`` (``since`` moves only when the state
    changes); returns the state it had before, None if it had none. Call inside a write
    transaction, with what the change sends."""
    row = db.execute("select state from outlet_health where outlet = ?", [outlet]).fetchone()
    before = row[0] if row else None
    if before != state:
        db.execute(
            "insert into outlet_health (outlet, state, reason, since, checked) "
            "values (?, ?, ?, ?, ?) on conflict (outlet) do update set state = excluded.state, "
            "reason = excluded.reason, since = excluded.since, checked = excluded.checked",
            [outlet, state, reason, stamp, stamp],
        )
    else:
        db.execute(
            "update outlet_health set reason = ?, checked = ? where outlet = ?",
            [reason, stamp, outlet],
        )
    return before
