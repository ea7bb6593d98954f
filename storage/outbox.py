"""The outbox tables, ``emails`` and the delivery state of ``alerts``: every statement that
reads or writes them. ``alerts.outbox`` decides what to send and when; this module only keeps
the record, each change in its own transaction unless the caller holds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from extractors.dates import isoformat
from storage.db import write_transaction

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class DueEmail:
    """An email whose (next) attempt is due."""

    id: int
    watch: str
    kind: str
    message_id: str
    attempts: int
    delivered: set[str]


def unplanned_alerts(db: Database) -> list[tuple[int, str]]:
    """(alert id, watch) of the pending alerts that have no email yet, oldest first."""
    rows = db.execute(
        "select id, watch from alerts where status = 'pending' and email_id is null order by id"
    ).fetchall()
    return [(int(alert_id), str(watch)) for alert_id, watch in rows]


def fail_alerts(db: Database, alert_ids: list[int], reason: str) -> None:
    """Mark alerts failed for good, with the reason."""
    marks = ",".join("?" * len(alert_ids))
    db.execute(
        f"update alerts set status = 'failed', last_error = ? where id in ({marks})",
        [reason, *alert_ids],
    )


def new_email(
    db: Database,
    *,
    watch: str,
    kind: str,
    created: str,
    message_id: str,
    alert_ids: Sequence[int] = (),
    subject: str | None = None,
    body: str | None = None,
) -> int:
    """A pending email, carrying ``alert_ids`` (an alert email) or its own ``subject`` and
    ``body`` (an operator notice); returns its id."""
    row: dict[str, Any] = {
        "watch": watch,
        "kind": kind,
        "created": created,
        "status": PENDING,
        "message_id": message_id,
    }
    if subject is not None:
        row.update(subject=subject, body=body)
    email_id = db.table("emails").insert(row).last_pk
    assert email_id is not None
    if alert_ids:
        marks = ",".join("?" * len(alert_ids))
        db.execute(f"update alerts set email_id = ? where id in ({marks})", [email_id, *alert_ids])
    return int(email_id)


def last_digest(db: Database, watch: str) -> str | None:
    """When the watch's last digest left (else when the watch was created); None if unknown."""
    row = db.execute(
        "select coalesce(last_digest, created) from watches where name = ?", [watch]
    ).fetchone()
    return row[0] if row else None


def set_last_digest(db: Database, watch: str, stamp: str) -> None:
    db.execute("update watches set last_digest = ? where name = ?", [stamp, watch])


def due_emails(db: Database, now: datetime) -> list[DueEmail]:
    """Pending emails whose next attempt is due at ``now``, oldest first."""
    rows = db.execute(
        "select id, watch, kind, message_id, attempts, delivered from emails "
        "where status = 'pending' and (next_attempt is null or next_attempt <= ?) order by id",
        [isoformat(now)],
    ).fetchall()
    return [
        DueEmail(int(i), w or "", k, m, int(a or 0), set(json.loads(d or "[]")))
        for i, w, k, m, a, d in rows
    ]


def last_email_id(db: Database) -> int:
    """The id of the newest email, 0 if none."""
    return int(db.execute("select coalesce(max(id), 0) from emails").fetchone()[0])


def waiting(db: Database, now: datetime) -> int:
    """Pending emails not yet due for a retry."""
    (count,) = db.execute(
        "select count(*) from emails where status = 'pending' and next_attempt > ?",
        [isoformat(now)],
    ).fetchone()
    return int(count)


def notice(db: Database, email_id: int) -> tuple[str, str]:
    """The subject and body of an operator notice."""
    subject, body = db.execute(
        "select subject, body from emails where id = ?", [email_id]
    ).fetchone()
    return subject, body


def email_articles(db: Database, email_id: int) -> list[dict[str, Any]]:
    """The articles an alert email carries, newest first: title, url, outlet, date (published
    else first seen), snippets and terms (JSON), the story's outlets (JSON) and the article's
    doubt."""
    return list(
        db.query(
            "select a.title, a.url, a.outlet, coalesce(a.published, a.first_seen) as date, "
            "l.snippets, l.terms, s.outlets, a.doubt "
            "from alerts l join articles a on a.id = l.article_id "
            "left join stories s on s.id = a.story_id where l.email_id = ? "
            "order by coalesce(a.published, a.first_seen) desc, l.id",
            [email_id],
        )
    )


def record_delivered(db: Database, email_id: int, delivered: set[str]) -> None:
    """Commit at once that these recipients have the email."""
    with write_transaction(db):
        db.execute(
            "update emails set delivered = ? where id = ?",
            [json.dumps(sorted(delivered)), email_id],
        )


#: Control characters, never stored in an error (a server's reply may hold them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _plain(error: str | None) -> str | None:
    return _CONTROL.sub(" ", error).strip() if error else error


def finish_email(
    db: Database, email_id: int, status: str, error: str | None, now: datetime
) -> None:
    """An email is sent, or failed for good; its alerts follow."""
    stamp = isoformat(now)
    error = _plain(error)
    with write_transaction(db):
        db.execute(
            "update emails set status = ?, attempts = attempts + 1, sent_at = ?, "
            "last_error = ?, next_attempt = null where id = ?",
            [status, stamp if status == SENT else None, error, email_id],
        )
        _mirror(db, email_id)


def retry_email(db: Database, email_id: int, attempts: int, error: str, when: datetime) -> None:
    """An email failed for now: try again at ``when``; its alerts follow."""
    error = _plain(error) or ""
    with write_transaction(db):
        db.execute(
            "update emails set attempts = ?, last_error = ?, next_attempt = ? where id = ?",
            [attempts, error, isoformat(when), email_id],
        )
        _mirror(db, email_id)


def _mirror(db: Database, email_id: int) -> None:
    """Copy an email's delivery state onto its alerts."""
    db.execute(
        "update alerts set (status, attempts, sent_at, last_error) = "
        "(select status, attempts, sent_at, last_error from emails where id = ?) "
        "where email_id = ?",
        [email_id, email_id],
    )


def list_alerts(
    db: Database, watch: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict]:
    """Alerts, newest first, with their article and delivery state."""
    where, params = [], []
    if watch:
        where.append("l.watch = ?")
        params.append(watch)
    if status:
        where.append("l.status = ?")
        params.append(status)
    sql = (
        "select l.id, l.created, l.watch, l.status, l.attempts, l.sent_at, l.last_error, "
        "e.next_attempt, a.id as article_id, a.story_id, a.outlet, a.title, a.url, a.published, "
        "l.snippets, l.terms "
        "from alerts l join articles a on a.id = l.article_id "
        "left join emails e on e.id = l.email_id "
        + ("where " + " and ".join(where) if where else "")
        + " order by l.id desc limit ?"
    )
    rows = list(db.query(sql, [*params, limit]))
    for row in rows:
        row["snippets"] = json.loads(row["snippets"] or "[]")
        row["terms"] = json.loads(row["terms"] or "[]")
    return rows


def counts(db: Database) -> dict[str, dict[str, int]]:
    """Alerts and emails by status (pending, sent, failed)."""
    found = {}
    for table in ("alerts", "emails"):
        by = dict(db.execute(f"select status, count(*) from {table} group by status").fetchall())
        found[table] = {k: int(by.get(k, 0)) for k in (PENDING, SENT, FAILED)}
    return found
