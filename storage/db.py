"""Open the wirewatch SQLite file: WAL mode, a busy timeout, and the schema migrated by code.

The schema is public (see the README's "Schema" section): users query it with any SQLite tool
while the crawler writes, which WAL allows.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("wirewatch")


@migrations()
def m001_articles(db: Database) -> None:
    db.table("articles").create(
        {
            "id": int,
            "url": str,
            "outlet": str,
            "title": str,
            "author": str,
            "published": str,
            "first_seen": str,
            "last_seen": str,
            "language": str,
            "sitename": str,
            "text": str,
            "content_hash": str,
        },
        pk="id",
        not_null={"url", "outlet", "first_seen", "last_seen", "text", "content_hash"},
    )
    db.table("articles").create_index(["url"], unique=True)
    db.table("articles").create_index(["outlet", "first_seen"])
    db.table("articles").create_index(["published"])
    db.table("articles").create_index(["content_hash"])
    db.table("article_urls").create(
        {"url": str, "article_id": int},
        pk="url",
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("article_urls").create_index(["article_id"])
    db.table("articles").enable_fts(["title", "text"], fts_version="FTS5", create_triggers=True)


@migrations()
def m002_crawl_runs(db: Database) -> None:
    db.table("crawl_runs").create(
        {
            "id": int,
            "outlet": str,
            "started": str,
            "finished": str,
            "status": str,
            "pages_fetched": int,
            "articles_new": int,
            "articles_updated": int,
            "errors": int,
            "reason": str,
            "stats": str,
            "pid": int,
        },
        pk="id",
        not_null={"outlet", "started", "status"},
        defaults={"pages_fetched": 0, "articles_new": 0, "articles_updated": 0, "errors": 0},
    )
    db.table("crawl_runs").create_index(["outlet", "started"])


@migrations()
def m003_alerts(db: Database) -> None:
    db.table("watches").create(
        {"name": str, "query": str, "created": str, "last_digest": str},
        pk="name",
        not_null={"query", "created"},
    )
    db.table("emails").create(
        {
            "id": int,
            "watch": str,
            "kind": str,
            "created": str,
            "status": str,
            "attempts": int,
            "next_attempt": str,
            "sent_at": str,
            "last_error": str,
            "message_id": str,
            "delivered": str,
        },
        pk="id",
        not_null={"watch", "kind", "created", "status", "message_id"},
        defaults={"status": "pending", "attempts": 0, "delivered": "[]"},
    )
    db.table("emails").create_index(["status", "next_attempt"])
    db.table("alerts").create(
        {
            "id": int,
            "watch": str,
            "article_id": int,
            "created": str,
            "status": str,
            "attempts": int,
            "sent_at": str,
            "last_error": str,
            "snippets": str,
            "email_id": int,
        },
        pk="id",
        not_null={"watch", "article_id", "created", "status"},
        defaults={"status": "pending", "attempts": 0, "snippets": "[]"},
        foreign_keys=[("article_id", "articles", "id"), ("email_id", "emails", "id")],
    )
    db.table("alerts").create_index(["watch", "article_id"], unique=True)
    db.table("alerts").create_index(["status", "email_id"])
    db.table("alerts").create_index(["email_id"])
    db.table("alerts").create_index(["created"])


@migrations()
def m004_stories(db: Database) -> None:
    # Imported here: storage.stories loads numpy, which only this step of opening needs.
    from extractors.urls import url_key
    from storage.stories import band_keys, shingles

    db.table("stories").create(
        {
            "id": int,
            "title": str,
            "first_seen": str,
            "last_seen": str,
            "articles": int,
            "outlets": str,
        },
        pk="id",
        not_null={"first_seen", "last_seen", "articles", "outlets"},
        defaults={"articles": 0, "outlets": "[]"},
    )
    db.table("stories").create_index(["last_seen"])
    # Plain ALTER TABLE: sqlite-utils would rebuild the table (and its FTS triggers) for a key.
    db.execute("alter table articles add column story_id integer references stories(id)")
    db.table("articles").add_column("updated", str)
    db.table("articles").create_index(["story_id"])
    db.table("article_versions").create(
        {
            "id": int,
            "article_id": int,
            "fetched": str,
            "content_hash": str,
            "title": str,
            "text": str,
        },
        pk="id",
        not_null={"article_id", "fetched", "content_hash", "text"},
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("article_versions").create_index(["article_id", "content_hash"])
    # Band keys: no rowid, the primary key is the lookup index.
    db.execute(
        "create table story_bands (key integer not null, article_id integer not null "
        "references articles(id), primary key (key, article_id)) without rowid"
    )
    db.table("article_urls").add_column("key", str)
    db.table("article_urls").create_index(["key"])
    db.execute("alter table alerts add column story_id integer references stories(id)")
    db.table("alerts").create_index(["watch", "story_id"], unique=True)
    # What earlier versions stored: every article its own story.
    db.execute(
        "insert into stories (id, title, first_seen, last_seen, articles, outlets) "
        "select id, title, first_seen, last_seen, 1, json_array(outlet) from articles"
    )
    db.execute("update articles set story_id = id")
    db.execute(
        "update alerts set story_id = (select story_id from articles a where a.id = article_id)"
    )
    for (url,) in db.execute("select url from article_urls").fetchall():
        db.execute("update article_urls set key = ? where url = ?", [url_key(url), url])
    for article_id, text in db.execute("select id, text from articles").fetchall():
        db.conn.executemany(
            "insert or ignore into story_bands (key, article_id) values (?, ?)",
            [(key, article_id) for key in band_keys(shingles(text))],
        )


@migrations()
def m005_monitor(db: Database) -> None:
    db.table("outlet_health").create(
        {"outlet": str, "state": str, "reason": str, "since": str, "checked": str},
        pk="outlet",
        not_null={"state", "since"},
    )
    # Operator emails (outlet health) carry their own text; alert emails are built from alerts.
    db.table("emails").add_column("subject", str)
    db.table("emails").add_column("body", str)


@migrations()
def m006_doubt(db: Database) -> None:
    # Why an article's text may not be the whole article: a page its outlet's feed lists, kept
    # though a rule for section-page links would have refused it (extractors.article).
    db.table("articles").add_column("doubt", str)


@migrations()
def m007_monitor_heartbeat(db: Database) -> None:
    # A running monitor's heartbeat (storage/monitor.py), read by `status`.
    db.table("monitor").create(
        {"host": str, "pid": int, "started": str, "beat": str, "config": str},
        pk=("host", "pid"),
        not_null={"beat"},
    )


@migrations()
def m008_run_lag(db: Database) -> None:
    # Seconds each monitor run started after it was due: is the monitor keeping up?
    db.table("crawl_runs").add_column("lag", float)


@migrations()
def m009_source_cache(db: Database) -> None:
    # The validators and digest of each feed's and sitemap's last full answer, for conditional
    # GET (storage/sources.py).
    db.table("source_cache").create(
        {
            "url": str,
            "etag": str,
            "last_modified": str,
            "digest": str,
            "trusted": int,
            "polls": int,
            "checked": str,
        },
        pk="url",
        not_null={"trusted", "polls"},
        defaults={"trusted": 1, "polls": 0},
    )


@migrations()
def m010_alert_terms(db: Database) -> None:
    # Which watched terms an alert's article holds and how often: [[term, count], ...], the
    # rarest first; the email and `alerts` show them.
    db.table("alerts").add_column("terms", str, not_null_default="[]")


@migrations()
def m011_channel_health(db: Database) -> None:
    # Each alert channel's (Apprise URL, as written) failures in a row, the last error, and
    # whether the operator was told (storage/channels.py).
    db.table("channel_health").create(
        {
            "url": str,
            "failures": int,
            "since": str,
            "last_error": str,
            "reported": int,
            "checked": str,
        },
        pk="url",
        not_null={"failures", "reported"},
        defaults={"failures": 0, "reported": 0},
    )


@migrations()
def m012_run_worker(db: Database) -> None:
    # The cluster worker (host:pid) that ran a run; "" while no worker has answered it; NULL
    # for a run on the monitor's own machine (storage/runs.py).
    db.table("crawl_runs").add_column("worker", str)


@migrations()
def m013_folded(db: Database) -> None:
    # The matching form of an article's words in other scripts (alerts.query.index_form: its
    # Arabic-script letters folded, its Cyrillic designations and names read in Latin), so
    # that the full-text index finds what a watch would (#29). NULL until it is computed:
    # storage cannot compute it, the layer that matches does (fold_archive, when the archive
    # is opened for a command); "" where the article's words need no other reading.
    db.table("articles").add_column("folded", str)
    db.execute("create index articles_unfolded on articles(id) where folded is null")
    db.table("articles").enable_fts(
        ["title", "text", "folded"], fts_version="FTS5", create_triggers=True, replace=True
    )


@migrations()
def m014_run_days(db: Database) -> None:
    # What is kept of the crawl runs pruned past [storage] keep_runs: a row a day, outlet and
    # status, with the runs' sums (storage.runs.prune_runs).
    db.execute(
        "create table crawl_run_days (day text not null, outlet text not null, "
        "status text not null, runs integer not null, pages integer not null, "
        "new integer not null, updated integer not null, errors integer not null, "
        "primary key (day, outlet, status))"
    )
    db.execute("create index if not exists crawl_runs_started on crawl_runs(started)")


@migrations()
def m015_outlet_paces(db: Database) -> None:
    # How often the monitor polls each outlet now and why (monitor.rhythm), for `status`.
    db.execute(
        "create table outlet_paces (outlet text primary key, seconds real not null, "
        "why text not null, until text)"
    )


@migrations()
def m016_websub(db: Database) -> None:
    # Feeds that name a WebSub hub (the crawl writes feed, hub, topic, seen) and the monitor's
    # subscription at it (monitor.websub writes the rest).
    db.execute(
        "create table websub (feed text primary key, hub text not null, topic text not null, "
        "seen text not null, outlet text, token text unique, secret text, "
        "state text not null default '', requested text, verified text, lease_until text, "
        "lease real, error text not null default '', pushed text, pushes integer not null "
        "default 0, named integer not null default 1)"
    )


def trouble(exc: sqlite3.Error) -> str | None:
    """What is wrong with the database as a whole, in words, when ``exc`` says so (a full
    disk, a read-only file, a lock held too long, an I/O error); None for an error of one
    write (a constraint, a bad value), after which the next write may well succeed."""
    text = str(exc).lower()
    if "disk is full" in text:
        return "the disk is full (SQLite: database or disk is full): free some space"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only: check the permissions of the file and its folder"
    if "locked" in text or "busy" in text:
        return (
            "the database stayed locked by another process past [storage] busy_timeout: "
            "find what holds it (a backup tool, a second monitor, a long query)"
        )
    if "disk i/o error" in text or "unable to open" in text or "malformed" in text:
        return f"the database cannot be written ({exc}): check the disk and the file"
    return None


def backup(source: str | Path, target: str | Path, pages: int = 1024) -> None:
    """A consistent copy of the database at ``source`` in ``target``, while others write to it
    (SQLite's online backup, ``pages`` at a time so that writers are never held up for long).
    Written beside ``target`` first and renamed into place: a copy is whole or absent."""
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    src = sqlite3.connect(str(source))
    try:
        dest = sqlite3.connect(str(partial))
        try:
            src.backup(dest, pages=pages)
            (check,) = dest.execute("pragma integrity_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {check}")
        finally:
            dest.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    os.replace(partial, target)


def open_db(path: str | Path, busy_timeout: float = 30.0) -> Database:
    """Open (creating if needed) and migrate the database at ``path``.

    Args:
        path: The SQLite file.
        busy_timeout: Seconds a write waits for another writer (or a long reader during a WAL
            checkpoint) before giving up.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only: the archive holds recipients' addresses and what they watch.
    # SQLite gives the -wal and -shm files the database file's permissions. Only a file that
    # does not exist yet is created here (O_EXCL): closing any other descriptor of an open
    # database would drop this process's SQLite locks on it (POSIX locks are per process).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    if migrations.pending(db):
        # Under the write lock, so two processes starting on a new file never migrate at once.
        with write_transaction(db):
            migrations.apply(db)
    return db


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """One atomic write, taking the write lock up front.

    ``BEGIN IMMEDIATE`` rather than sqlite-utils' plain ``BEGIN``: a deferred transaction that
    reads and then writes fails at once with "database is locked" when another process wrote in
    between, whatever the busy timeout; an immediate one waits its turn.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()
