"""Outlet health rules, and one operator email per change of state (a real SQLite file)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from alerts.health import check_outlet, problems
from storage.db import open_db
from storage.runs import FINISHED, finish_run, start_run
from wirewatch.config import HealthConfig, parse_config

RULES = HealthConfig(failures=3, quiet_runs=3, extraction_runs=2, feed_errors=2)


def run(status="finished", new=0, stats=None, reason=""):
    return {
        "status": status,
        "articles_new": new,
        "reason": reason,
        "stats": json.dumps(stats or {}),
    }


ARTICLES = {"wirewatch/extract/ok": 5}
REDESIGNED = {"wirewatch/extract/ok": 1, "wirewatch/extract/section_front": 9}


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([run(new=2), run(new=1)], []),
        ([run("failed", reason="x")] * 2 + [run(new=1)], []),
        ([run("timeout"), run("failed"), run("killed", reason="boom")], ["3 runs in a row failed"]),
        ([run()] * 3 + [run(new=4)], ["no new article in 3 runs in a row"]),
        ([run()] * 5, []),  # never had articles: a quiet outlet, not a broken one
        (
            [run(stats=REDESIGNED)] * 2 + [run(new=3, stats=ARTICLES)],
            ["most pages are not articles"],
        ),
        ([run(stats=REDESIGNED), run(stats=ARTICLES)], []),
        ([run(stats={"wirewatch/extract/section_front": 2})] * 2, []),  # too few pages to judge
        ([run(stats={"wirewatch/discover/failed": 1})] * 2, ["feeds or sitemaps failed in 2 runs"]),
    ],
)
def test_rules(history, expected):
    found = problems(history, RULES)
    assert len(found) == len(expected), found
    for text, start in zip(found, expected, strict=True):
        assert text.startswith(start), found


def test_one_email_when_an_outlet_breaks_and_one_when_it_recovers(db_path):
    config = parse_config(
        '[email]\noperator = "ops@example.org"\n[health]\nfailures = 2\n'
        '[[outlets]]\nname = "wire"\nfeeds = ["https://example.org/feed"]\n'
    )
    db = open_db(db_path)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    changes = []
    for minute, status in enumerate(["finished", "failed", "failed", "failed", "finished"]):
        run_id = start_run(db, "wire", now=now + timedelta(minutes=minute))
        finish_run(
            db,
            run_id,
            status,
            pages_fetched=1,
            articles_new=1 if status == FINISHED else 0,
            articles_updated=0,
            errors=0,
            reason="closespider" if status != FINISHED else "finished",
            now=now + timedelta(minutes=minute, seconds=30),
        )
        changes.append(
            check_outlet(db, config, "wire", now + timedelta(minutes=minute, seconds=31))
        )
    states = [c.state if c else None for c in changes]
    assert states == [None, None, "unhealthy", None, "healthy"]
    emails = list(db.query("select kind, subject, status from emails order by id"))
    assert [(e["kind"], e["subject"]) for e in emails] == [
        ("health", "[wirewatch] outlet wire is unhealthy"),
        ("health", "[wirewatch] outlet wire has recovered"),
    ]
    row = db.execute("select state, since from outlet_health").fetchone()
    assert row == ("healthy", "2026-01-01T00:04:31+00:00")


# -- gone quiet: silent far beyond the outlet's own rhythm (#31) ------------------------------


def publish(db, outlet, moments, first=0, dated=True):
    """One distinct article per moment, published (if ``dated``) and first seen then,
    numbered from ``first``."""
    from extractors.article import Article
    from storage.articles import store_article

    words = ["missile", "talks", "sanctions", "port", "envoy", "grain", "border", "drill"]
    for n, moment in enumerate(moments, first):
        text = " ".join(words[(n * 7 + k) % len(words)] + str(n * k) for k in range(60))
        article = Article(
            url=f"https://{outlet}.example/news/{n}",
            fetched_url=f"https://{outlet}.example/news/{n}",
            title=f"Story {n}",
            author=None,
            published=moment.isoformat() if dated else None,
            language="en",
            sitename=None,
            text=text,
        )
        store_article(db, article, outlet, now=moment)


def quiet_config():
    return parse_config(
        '[email]\noperator = "ops@example.org"\n'
        '[[outlets]]\nname = "daily"\nfeeds = ["https://daily.example/feed"]\n'
        '[[outlets]]\nname = "weekly"\nfeeds = ["https://weekly.example/feed"]\n'
    )


def finished_run(db, outlet, when):
    run_id = start_run(db, outlet, now=when)
    finish_run(db, run_id, FINISHED, pages_fetched=1, articles_new=0, articles_updated=0,
               errors=0, reason="finished", now=when)  # fmt: skip


def test_an_outlet_silent_far_beyond_its_rhythm_has_gone_quiet_and_recovers(db_path):
    config = quiet_config()
    db = open_db(db_path)
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    daily = [start + timedelta(days=n, hours=n % 3) for n in range(30)]  # once a day
    weekly = [start + timedelta(weeks=n) for n in range(12)]  # once a week
    publish(db, "daily", daily)
    publish(db, "weekly", weekly)
    # Six days after the daily outlet's last article; four after the weekly one's.
    now = daily[-1] + timedelta(days=6)
    assert now - weekly[-1] < timedelta(weeks=1)
    for outlet in ("daily", "weekly"):
        finished_run(db, outlet, now)
    # Three days in, the daily outlet is not quiet yet (it waited up to 25 hours; told past 75).
    assert check_outlet(db, config, "daily", daily[-1] + timedelta(days=3)) is None
    change = check_outlet(db, config, "daily", now)
    assert change is not None and change.state == "unhealthy"
    assert change.reason == (
        "gone quiet: no new article for 6.0 days, where it has waited at most 1.0 days between "
        "articles 9 times in 10 (its last 30); told past 3.1 days"
    )
    assert check_outlet(db, config, "weekly", now) is None  # within its own rhythm
    (email,) = db.query("select subject, body from emails where kind = 'health'")
    assert email["subject"] == "[wirewatch] outlet daily is unhealthy"
    assert "gone quiet" in email["body"]
    publish(db, "daily", [now], first=100)
    back = check_outlet(db, config, "daily", now + timedelta(minutes=1))
    assert back is not None and back.state == "healthy"


def test_no_rhythm_yet_no_quiet_and_a_first_crawls_burst_is_no_rhythm(db_path):
    config = quiet_config()
    db = open_db(db_path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Nine articles are too few; and thirty undated ones first seen at once give no waits.
    publish(db, "daily", [start + timedelta(days=n) for n in range(9)])
    finished_run(db, "daily", start + timedelta(days=60))
    assert check_outlet(db, config, "daily", start + timedelta(days=60)) is None
    later = parse_config(
        '[email]\noperator = "ops@example.org"\n[health]\nquiet_factor = 0\n'
        '[[outlets]]\nname = "daily"\nfeeds = ["https://daily.example/feed"]\n'
    )
    publish(db, "daily", [start + timedelta(days=9 + n) for n in range(21)], first=9)
    now = start + timedelta(days=90)
    finished_run(db, "daily", now)
    assert check_outlet(db, later, "daily", now) is None  # quiet_factor = 0: off
    burst = [start + timedelta(seconds=n) for n in range(30)]  # a first crawl, undated
    publish(db, "weekly", burst, dated=False)
    finished_run(db, "weekly", now)
    assert check_outlet(db, config, "weekly", now) is None
