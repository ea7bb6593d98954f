"""What the last poll of each feed and sitemap saw, for conditional GET (``source_cache``).

A source's validators (``ETag``, ``Last-Modified``) are sent back on the next poll, and an
answer of 304 Not Modified spares the download and the parse. Some servers keep the same
validators while the file changes (MediaCloud met many), and a 304 from them hides news; so a
304 is trusted only while it proves right: every few polls the source is fetched in full, and
if its bytes changed under the same validators it is never polled conditionally again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from extractors.dates import isoformat
from storage.db import write_transaction


def source_state(db: Database, url: str) -> dict[str, Any] | None:
    """The last poll of ``url``: ``etag``, ``last_modified``, ``digest``, ``trusted`` (1/0)
    and ``polls`` (304s since the last full fetch); None before its first poll."""
    rows = list(db.query("select * from source_cache where url = ?", [url]))
    return rows[0] if rows else None


def record_fetch(
    db: Database,
    url: str,
    *,
    etag: str,
    last_modified: str,
    digest: str,
    trusted: bool,
    now: datetime | None = None,
) -> None:
    """A full answer (200) of ``url``: its validators and the digest of its bytes."""
    with write_transaction(db):
        db.execute(
            "insert into source_cache (url, etag, last_modified, digest, trusted, polls, checked) "
            "values (?, ?, ?, ?, ?, 0, ?) on conflict (url) do update set etag = excluded.etag, "
            "last_modified = excluded.last_modified, digest = excluded.digest, "
            "trusted = excluded.trusted, polls = 0, checked = excluded.checked",
            [url, etag, last_modified, digest, int(trusted), isoformat(now or datetime.now(UTC))],
        )


def record_not_modified(db: Database, url: str, now: datetime | None = None) -> None:
    """A 304 for ``url``: one more poll on the same bytes."""
    with write_transaction(db):
        db.execute(
            "update source_cache set polls = polls + 1, checked = ? where url = ?",
            [isoformat(now or datetime.now(UTC)), url],
        )


def source_states(db: Database, urls: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The last poll of each of ``urls`` that has one, or of every source: url -> state."""
    if urls is not None and not urls:
        return {}
    sql = "select * from source_cache"
    if urls is not None:
        sql += f" where url in ({','.join('?' * len(urls))})"
    return {row["url"]: row for row in db.query(sql, urls or [])}
