"""The ``watches`` and ``alerts`` tables as the write path uses them: which watches exist since
when, and one alert per watch and story (a unique index makes a second one a no-op)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from storage.db import write_transaction


def sync_watches(db: Database, watches: Iterable[tuple[str, str]], stamp: str) -> None:
    """Record each (name, query) watch, first seen at ``stamp``, with its current query."""
    with write_transaction(db):
        for name, query in watches:
            db.execute(
                "insert into watches (name, query, created) values (?, ?, ?) "
                "on conflict (name) do update set query = excluded.query",
                [name, query, stamp],
            )


def watches_created(db: Database) -> dict[str, str]:
    """When each recorded watch was first seen."""
    return dict(db.execute("select name, created from watches").fetchall())


def add_alert(
    db: Database,
    watch: str,
    article_id: int,
    story_id: int,
    created: str,
    snippets: Any,
    terms: Any = (),
) -> int:
    """A pending alert of ``watch`` for the article, unless the story has one; returns 1 or 0.
    Call inside the article's write transaction."""
    cursor = db.execute(
        "insert or ignore into alerts "
        "(watch, article_id, story_id, created, status, snippets, terms) "
        "values (?, ?, ?, ?, 'pending', ?, ?)",
        [
            watch,
            article_id,
            story_id,
            created,
            json.dumps(snippets, ensure_ascii=False),
            json.dumps(list(terms), ensure_ascii=False),
        ],
    )
    return int(cursor.rowcount)


def alert_titles(db: Database) -> list[tuple[str, str, str]]:
    """(watch, article title, outlet) of every alert, oldest first."""
    return db.execute(
        "select l.watch, a.title, a.outlet from alerts l "
        "join articles a on a.id = l.article_id order by l.id"
    ).fetchall()
