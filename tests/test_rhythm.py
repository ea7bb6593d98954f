"""Adaptive polling (#33): each outlet's interval from its own publishing rate, ``every`` the
budget's centre, bursts of breaking news; the rules, then a real monitor on a real archive."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from monitor.rhythm import Pace, arrival_rate, burst, paces
from storage.db import open_db
from tests.support.daemons import Daemon, schedule, wait_for
from tests.support.site import wirewatch
from wirewatch.config import parse_config

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def dated(every: timedelta, count: int = 30) -> list[tuple[str | None, str]]:
    """``count`` articles, the newest first, one every ``every`` up to NOW."""
    moments = [NOW - every * n for n in range(count)]
    return [(m.isoformat(), m.isoformat()) for m in moments]


def config(extra: str = "", outlets: tuple[str, ...] = ("busy", "daily", "weekly", "new")):
    blocks = "".join(
        f'[[outlets]]\nname = "{name}"\nfeeds = ["https://{name}.example/feed"]\n'
        for name in outlets
    )
    return parse_config(f'[schedule]\nevery = "15m"\n{extra}\n' + blocks)


def test_an_arrival_rate_needs_arrivals_not_a_first_crawls_batch():
    assert arrival_rate(dated(timedelta(hours=1)), NOW) == pytest.approx(30 / (29 * 3600))
    assert arrival_rate(dated(timedelta(hours=1), count=9), NOW) is None  # too few
    batch = [(None, NOW.isoformat())] * 30  # undated, all first seen at once
    assert arrival_rate(batch, NOW) is None
    # An outlet gone silent slows down: the time since its last article counts.
    silent = arrival_rate(dated(timedelta(hours=1)), NOW + timedelta(days=29))
    assert silent is not None and silent < arrival_rate(dated(timedelta(hours=1)), NOW) / 20


def test_polls_are_shared_by_the_square_root_of_the_rates_around_every():
    rates = {"busy": 1 / 600, "daily": 1 / 86400, "weekly": 1 / (7 * 86400), "new": None}
    found = paces(config('min_every = "1m"\nmax_every = "1d"'), rates)
    every = 900.0
    # The busy outlet polled most often, the weekly one least; a new one at every.
    assert found["busy"].seconds < every < found["daily"].seconds < found["weekly"].seconds
    assert found["new"] == Pace(every, "[schedule] every: too few articles for a rate yet")
    assert found["busy"].why == "adaptive: about 144 arrivals a day"
    assert found["weekly"].why == "adaptive: about 1 arrival a week"
    assert found["daily"].why == "adaptive: about 1 arrival a day"
    # Within the bounds, every is the centre: the rated outlets poll, together, as if each
    # polled at every in the mean of the square roots (the budget kept).
    rated = [found[name] for name in ("busy", "daily", "weekly")]
    centre = sum(math.sqrt(p.rate or 0) for p in rated) / 3
    for pace in rated:
        # (rounded to whole minutes, for a schedule people read)
        assert pace.seconds == pytest.approx(every * centre / math.sqrt(pace.rate or 0), abs=30)
        assert pace.seconds % 60 == 0
    # Intervals stay within min_every and max_every.
    bounded = paces(config('min_every = "10m"\nmax_every = "1h"'), rates)
    assert bounded["busy"].seconds == 600 and bounded["weekly"].seconds == 3600


def test_an_outlets_own_every_or_cron_and_adaptive_false_are_kept():
    text = (
        '[schedule]\nevery = "15m"\n'
        '[[outlets]]\nname = "own"\nevery = "5m"\nfeeds = ["https://own.example/feed"]\n'
        '[[outlets]]\nname = "cron"\ncron = "0 * * * *"\nfeeds = ["https://cron.example/feed"]\n'
        '[[outlets]]\nname = "busy"\nfeeds = ["https://busy.example/feed"]\n'
    )
    rates = {"own": 1 / 60, "cron": 1 / 60, "busy": 1 / 600}
    assert set(paces(parse_config(text), rates)) == {"busy"}
    off = paces(
        parse_config(text.replace('every = "15m"', 'every = "15m"\nadaptive = false')), rates
    )
    assert off["busy"] == Pace(900.0, "[schedule] every (adaptive = false)")
    with pytest.raises(Exception, match="min_every is longer than max_every"):
        config('min_every = "2h"\nmax_every = "1h"')


def test_a_burst_of_breaking_news_polls_at_min_every():
    settings = config()
    daily = Pace(900.0, "adaptive: about 24 arrivals a day", 1 / 3600)
    assert burst(daily, 2, settings) is None  # as usual
    fast = burst(daily, 8, settings)
    assert fast is not None and fast.seconds == 120.0 and fast.why.startswith("burst: 8 new")
    busy = Pace(120.0, "adaptive", 1 / 10)  # 12 arrivals a poll expected: 8 is no burst
    assert burst(busy, 8, settings) is None


def test_the_monitor_polls_each_outlet_at_its_pace_and_status_says_why(tmp_path, site):
    from extractors.article import Article
    from storage.articles import store_article

    db_path = tmp_path / "run.db"
    db = open_db(db_path)
    now = datetime.now(UTC)
    for name, every in (("busy", timedelta(minutes=10)), ("slow", timedelta(days=2))):
        for n in range(30):
            moment = now - every * (n + 1)
            text = " ".join(f"{name}{n}word{k}" for k in range(80))
            article = Article(f"https://{name}.example/{n}", f"https://{name}.example/{n}",
                              f"{name} {n}", None, moment.isoformat(), "en", None, text)  # fmt: skip
            store_article(db, article, name, now=moment)
    db.close()
    # The outlets' feeds do not answer (port 9): their runs fail, the paces stand.
    config_file = tmp_path / "w.toml"
    config_file.write_text(
        f'[storage]\ndatabase = "{db_path}"\n[crawl]\nobey_robots = false\n'
        '[[outlets]]\nname = "busy"\nfeeds = ["http://127.0.0.1:9/busy.xml"]\n'
        '[[outlets]]\nname = "slow"\nfeeds = ["http://127.0.0.1:9/slow.xml"]\n'
        '[[outlets]]\nname = "fresh"\nfeeds = ["http://127.0.0.1:9/fresh.xml"]\n'
        + schedule("15m", min_every='"1m"', max_every='"6h"')
    )
    daemon = Daemon(config_file)
    try:

        def paced() -> dict | None:
            done = wirewatch("--config", str(config_file), "status", "--json")
            report = json.loads(done.stdout)
            rows = {row["outlet"]: row for row in report["outlets"]}
            return rows if all(row["pace"] for row in rows.values()) else None

        rows = wait_for(paced, 60, "the monitor's paces in status")
        text = wirewatch("--config", str(config_file), "status").stdout
    finally:
        daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    busy, slow, fresh = rows["busy"], rows["slow"], rows["fresh"]
    assert busy["pace"] == "adaptive: about 144 arrivals a day", busy
    assert slow["pace"].startswith("adaptive: about 3.5 arrivals a week"), slow
    assert fresh["pace"] == "[schedule] every: too few articles for a rate yet"
    assert fresh["schedule"] == "every 15m"
    assert busy["schedule"] != "every 15m" and slow["schedule"] != "every 15m"
    assert "adaptive: about 144 arrivals a day" in text
