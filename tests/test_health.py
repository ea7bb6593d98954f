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
