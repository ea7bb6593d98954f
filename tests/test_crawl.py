"""End to end: the real spider, in a real process, against the fixture outlets on 127.0.0.1."""

import json
import sqlite3
import subprocess
import sys

from storage.db import open_db
from tests.support.site import PAGES, ROOT, expected_text, normal, outlets_config, wirewatch


def crawl(tmp_path, site, *outlets, extra=""):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "crawl.db", extra))
    result = wirewatch("--config", str(config), "crawl", "--json", *outlets)
    assert result.returncode == 0, result.stderr
    return {row["outlet"]: row for row in json.loads(result.stdout)}


def test_crawl_stores_the_five_articles_clean(tmp_path, site):
    summary = crawl(tmp_path, site)
    assert {o: s["new"] for o, s in summary.items()} == {
        "almayadeen": 1,
        "tehrantimes": 1,
        "presstv": 2,
        "ifpnews": 1,
    }
    db = open_db(tmp_path / "crawl.db")
    rows = list(db.query("select * from articles"))
    assert len(rows) == 5
    texts = {normal(r["text"]) for r in rows}
    for name, (_, chrome) in PAGES.items():
        assert normal(expected_text(name)) in texts
        for row in rows:
            for line in chrome:
                assert line not in row["text"]
    # The canonical link is the identity; the local URL that led there is remembered too.
    urls = {r["url"] for r in rows}
    assert "https://ifpnews.com/russian-exporter-continue-military-cooperation-iran/" in urls
    known = {r["url"] for r in db.query("select url from article_urls")}
    assert f"{site}/ifpnews/russian-exporter-continue-military-cooperation-iran.html" in known


def test_crawl_is_polite_and_counts_its_outcomes(tmp_path, site):
    summary = crawl(tmp_path, site)
    # robots.txt disallows /private/: the Atom feed's link there is not fetched.
    assert summary["tehrantimes"]["skipped"] == {"ignored": 1}
    # The RSS feed's 1995 item is past max_age and its partner link is off the outlet's domains.
    assert summary["almayadeen"]["skipped"] == {"too_old": 1, "off_domain": 1}
    assert all(s["errors"] == 0 for s in summary.values())


def test_crawl_runs_are_recorded(tmp_path, site):
    crawl(tmp_path, site)
    db = open_db(tmp_path / "crawl.db")
    runs = {r["outlet"]: r for r in db.query("select * from crawl_runs")}
    assert set(runs) == {"almayadeen", "tehrantimes", "presstv", "ifpnews"}
    presstv = runs["presstv"]
    assert presstv["status"] == "finished"
    assert presstv["articles_new"] == 2
    assert presstv["pages_fetched"] >= 4  # robots.txt, sitemap, section front, two articles
    assert presstv["finished"] >= presstv["started"]
    assert json.loads(presstv["stats"])["wirewatch/store/new"] == 2


def test_stored_articles_are_not_downloaded_again(tmp_path, site):
    crawl(tmp_path, site)
    second = crawl(tmp_path, site)  # recheck = "0s": no re-check window
    assert sum(s["new"] for s in second.values()) == 0
    assert second["presstv"]["skipped"].get("known") == 2
    assert second["presstv"]["fetched"] == 3  # robots.txt, sitemap, section front
    assert (
        open_db(tmp_path / "crawl.db").execute("select count(*) from articles").fetchone()[0] == 5
    )


def test_recently_stored_articles_are_rechecked(tmp_path, site):
    crawl(tmp_path, site, "ifpnews")
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "crawl.db").replace('recheck = "0s"', 'recheck = "1h"')
    )
    result = wirewatch("--config", str(config), "crawl", "--json", "ifpnews")
    at_once = json.loads(result.stdout)[0]
    # Its first re-check is due an eighth of the window after it was first seen, not yet.
    assert at_once["skipped"] == {"recheck_later": 1}
    assert (at_once["fetched"], at_once["duplicates"]) == (2, 0)
    with sqlite3.connect(tmp_path / "crawl.db") as conn:  # ten minutes go by
        conn.execute(
            "update articles set "
            "first_seen = strftime('%Y-%m-%dT%H:%M:%S+00:00', first_seen, '-10 minutes'), "
            "last_seen = strftime('%Y-%m-%dT%H:%M:%S+00:00', last_seen, '-10 minutes')"
        )
    result = wirewatch("--config", str(config), "crawl", "--json", "ifpnews")
    rechecked = json.loads(result.stdout)[0]
    # Fetched again inside the window, found unchanged, not stored twice.
    assert (rechecked["fetched"], rechecked["duplicates"], rechecked["new"]) == (3, 1, 0)


def test_scrapy_crawl_works_from_the_project_folder(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "crawl.db"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "outlet",
            "-a",
            "name=ifpnews",
            "-s",
            f"WIREWATCH_CONFIG={config}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "'wirewatch/store/new': 1" in result.stderr
    db = open_db(tmp_path / "crawl.db")
    assert db.execute("select outlet from articles").fetchall() == [("ifpnews",)]


def test_unknown_outlet_is_a_clear_error(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "crawl.db"))
    result = wirewatch("--config", str(config), "crawl", "reuters")
    assert result.returncode == 2
    assert "no outlet 'reuters'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_feed_is_recorded_as_an_error(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "crawl.db")
        + f'\n[[outlets]]\nname = "gone"\nfeeds = ["{site}/gone/rss.xml", "http://127.0.0.1:9/feed"]\n'
        'allow_domains = ["127.0.0.1"]\n'
    )
    result = wirewatch("--config", str(config), "crawl", "--json", "gone", "ifpnews")
    summary = {row["outlet"]: row for row in json.loads(result.stdout)}
    assert summary["gone"]["errors"] == 2  # a 404 and a refused connection
    assert summary["ifpnews"]["new"] == 1  # the other outlet is not disturbed
    runs = {
        r["outlet"]: r for r in open_db(tmp_path / "crawl.db").query("select * from crawl_runs")
    }
    assert runs["gone"]["errors"] == 2
