import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from extractors.article import extract_article
from storage.articles import (
    Seen,
    count_candidates,
    recheck_due,
    seen,
    should_fetch,
    store_article,
    text_hash,
    watch_candidates,
)
from storage.db import open_db, write_transaction
from tests.support.site import PAGES, SITE


@pytest.fixture
def article():
    path = PAGES["ifpnews-mikheev-2021"][0]
    return extract_article((SITE / path).read_bytes(), "http://127.0.0.1:8000/" + path).article


def count(db, table="articles"):
    return db.execute(f"select count(*) from {table}").fetchone()[0]


def test_wal_mode_and_busy_timeout(fresh_db):
    assert fresh_db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert fresh_db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_schema_is_migrated_once(db_path):
    open_db(db_path).close()
    db = open_db(db_path)
    tables = {
        "articles",
        "article_urls",
        "crawl_runs",
        "articles_fts",
        "watches",
        "alerts",
        "emails",
        "stories",
        "article_versions",
        "story_bands",
        "outlet_health",
        "outlet_paces",
    }
    assert tables <= set(db.table_names())
    names = [r[0] for r in db.execute("select name from _sqlite_migrations")]
    assert names == [
        "m001_articles",
        "m002_crawl_runs",
        "m003_alerts",
        "m004_stories",
        "m005_monitor",
        "m006_doubt",
        "m007_monitor_heartbeat",
        "m008_run_lag",
        "m009_source_cache",
        "m010_alert_terms",
        "m011_channel_health",
        "m012_run_worker",
        "m013_folded",
        "m014_run_days",
        "m015_outlet_paces",
        "m016_websub",
    ]


def test_same_article_is_stored_once(fresh_db, article):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = store_article(fresh_db, article, "ifpnews", now=t0)
    again = store_article(fresh_db, article, "ifpnews", now=t0 + timedelta(hours=1))
    assert (first.outcome, again.outcome) == ("new", "duplicate")
    assert first.article_id == again.article_id
    assert count(fresh_db) == 1
    row = fresh_db.table("articles").get(first.article_id)
    assert row["first_seen"] == "2026-01-01T00:00:00+00:00"
    assert row["last_seen"] == "2026-01-01T01:00:00+00:00"


def test_other_spellings_of_the_url_are_the_same_article(fresh_db, article):
    store_article(fresh_db, article, "ifpnews")
    tracked = replace(
        article,
        url="https://IFPNEWS.com:443/russian-exporter-continue-military-cooperation-iran/?utm_source=tw&fbclid=1#top",
    )
    from extractors.urls import normalise_url

    tracked = replace(tracked, url=normalise_url(tracked.url))
    assert store_article(fresh_db, tracked, "ifpnews").outcome == "duplicate"
    assert count(fresh_db) == 1


def test_changed_text_updates_in_place(fresh_db, article):
    first = store_article(fresh_db, article, "ifpnews")
    corrected = replace(article, text=article.text + "\nThis paragraph was added in an update.")
    second = store_article(fresh_db, corrected, "ifpnews")
    assert second.outcome == "updated"
    assert second.article_id == first.article_id
    row = fresh_db.table("articles").get(first.article_id)
    assert row["text"].endswith("added in an update.")
    assert row["content_hash"] == text_hash(corrected.text)


def test_whitespace_and_case_do_not_change_the_hash():
    assert text_hash("S-400  systems\nArrive") == text_hash("s-400 systems arrive")
    assert text_hash("S-400 systems") != text_hash("S-300 systems")


def test_a_failed_write_leaves_nothing_half_stored(fresh_db, article):
    with pytest.raises(RuntimeError), write_transaction(fresh_db):
        fresh_db.table("articles").insert(
            {
                "url": "x",
                "outlet": "o",
                "first_seen": "t",
                "last_seen": "t",
                "text": "x",
                "content_hash": "h",
            }
        )
        raise RuntimeError("crash between two writes of one article")
    assert count(fresh_db) == 0
    assert count(fresh_db, "articles_fts") == 0


def test_a_crash_inside_store_article_rolls_back(fresh_db, article, monkeypatch):
    # The second write of the article (its URLs) fails after the first (the row) succeeded.
    def fail(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(type(fresh_db.table("article_urls")), "insert_all", fail)
    with pytest.raises(sqlite3.OperationalError):
        store_article(fresh_db, article, "ifpnews")
    monkeypatch.undo()
    assert count(fresh_db) == 0
    assert store_article(fresh_db, article, "ifpnews").outcome == "new"


def test_full_text_candidates(fresh_db, article):
    store_article(fresh_db, article, "ifpnews")
    hits = list(watch_candidates(fresh_db, '"s 300"'))
    assert [h["outlet"] for h in hits] == ["ifpnews"]
    assert count_candidates(fresh_db, '"s 300"') == 1
    assert list(watch_candidates(fresh_db, '"rosoboronexport" AND "mikheev"'))
    assert list(watch_candidates(fresh_db, '"snapback"')) == []
    assert len(list(watch_candidates(fresh_db, None))) == count_candidates(fresh_db, None) == 1


def test_should_fetch_honours_the_recheck_window(fresh_db, article):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert should_fetch(fresh_db, article.fetched_url, 3600, now=now)
    store_article(fresh_db, article, "ifpnews", now=now)
    assert should_fetch(fresh_db, article.fetched_url, 3600, now=now + timedelta(minutes=30))
    assert not should_fetch(fresh_db, article.fetched_url, 3600, now=now + timedelta(hours=2))
    assert not should_fetch(
        fresh_db, article.url + "?utm_medium=x", 3600, now=now + timedelta(hours=2)
    )


def test_a_stored_article_is_rechecked_a_few_times_however_often_it_is_polled(fresh_db, article):
    """Polled every 2 minutes through a 2-hour window, an article is fetched again at 15, 30
    and 60 minutes: three re-checks, not sixty."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store_article(fresh_db, article, "ifpnews", now=start)
    fetched = []
    for minute in range(2, 121, 2):
        now = start + timedelta(minutes=minute)
        if should_fetch(fresh_db, article.fetched_url, 7200, now=now):
            fetched.append(minute)
            store_article(fresh_db, article, "ifpnews", now=now)  # unchanged: last_seen moves
    assert fetched == [16, 32, 64]
    (known,) = [seen(fresh_db, article.fetched_url)]
    assert known is not None and known.last > known.first


def test_the_recheck_schedule_reads_what_it_is_given():
    now = datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert recheck_due(Seen("2026-01-01T00:00:00+00:00", "not a time"), 7200, now) is None
    assert (
        recheck_due(Seen("2026-01-01T00:50:00+00:00", "2026-01-01T00:50:00+00:00"), 7200, now)
        is False
    )
    # A last fetch written before the first (clocks): read as the first.
    assert recheck_due(Seen("2026-01-01T00:30:00+00:00", "2026-01-01T00:00:00+00:00"), 7200, now)


def test_runs_left_open_by_a_dead_process_are_marked_killed(fresh_db):
    import subprocess
    import sys

    from storage.runs import close_abandoned, start_run

    live = start_run(fresh_db, "alive")
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout
    dead = start_run(fresh_db, "dead")
    fresh_db.table("crawl_runs").update(dead, {"pid": int(dead_pid)})
    assert close_abandoned(fresh_db) == 1
    assert fresh_db.table("crawl_runs").get(dead)["status"] == "killed"
    assert fresh_db.table("crawl_runs").get(live)["status"] == "running"


def test_opening_the_database_again_keeps_this_process_locks(db_path):
    # POSIX locks belong to the process: closing any descriptor of the file drops them all, so
    # open_db must not open and close the file of a database this process already uses (the
    # monitor's threads do, and a dropped lock let another process corrupt the file).
    import subprocess
    import sys

    holder = open_db(db_path)
    holder.execute("begin")
    holder.execute("select count(*) from articles").fetchone()  # a reader: its lock is held
    try:
        open_db(db_path).close()
        probe = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0)\n"
            "try:\n    print(c.execute('pragma journal_mode = delete').fetchone()[0])\n"
            "except sqlite3.OperationalError as e:\n    print(e)"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe, str(db_path)], capture_output=True, text=True
        )
        # Leaving WAL needs the file to itself: refused while this process reads.
        assert result.stdout.strip() in {"database is locked", "wal"}, result.stdout + result.stderr
    finally:
        holder.execute("rollback")
        holder.close()
