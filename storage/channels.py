"""The ``channel_health`` table: how each alert channel (an Apprise URL as the config writes
it) has been delivering. Call the writers inside a write transaction."""

from __future__ import annotations

from sqlite_utils import Database


def record_failure(db: Database, url: str, error: str, stamp: str) -> tuple[int, bool]:
    """One more failed delivery; returns the failures in a row and whether the operator was
    already told."""
    db.execute(
        "insert into channel_health (url, failures, since, last_error, checked) "
        "values (?, 1, ?, ?, ?) on conflict (url) do update set "
        "failures = failures + 1, since = coalesce(since, excluded.since), "
        "last_error = excluded.last_error, checked = excluded.checked",
        [url, stamp, error, stamp],
    )
    failures, reported = db.execute(
        "select failures, reported from channel_health where url = ?", [url]
    ).fetchone()
    return int(failures), bool(reported)


def set_reported(db: Database, url: str, reported: bool) -> None:
    db.execute("update channel_health set reported = ? where url = ?", [int(reported), url])


def failing(db: Database, url: str) -> bool:
    """Whether the channel has failures on record (or a report not yet withdrawn)."""
    row = db.execute(
        "select failures > 0 or reported from channel_health where url = ?", [url]
    ).fetchone()
    return bool(row and row[0])


def record_success(db: Database, url: str, stamp: str) -> bool:
    """A delivery went through: the failures restart. Returns whether the operator had been
    told the channel was failing (and so should hear that it works again)."""
    row = db.execute("select reported from channel_health where url = ?", [url]).fetchone()
    db.execute(
        "update channel_health set failures = 0, since = null, last_error = null, "
        "reported = 0, checked = ? where url = ?",
        [stamp, url],
    )
    return bool(row and row[0])


def failing_channels(db: Database) -> list[dict]:
    """Channels whose last delivery failed: url, failures in a row, since, last error."""
    return list(
        db.query(
            "select url, failures, since, last_error from channel_health where failures > 0 "
            "order by url"
        )
    )
