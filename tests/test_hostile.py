"""Bad and hostile input: a real crawl of a hostile server; each case skipped or bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from crawler.discovery import Entry
from crawler.spiders.outlet import OutletSpider
from storage.db import open_db
from tests.support.hostile import CASES, hostile_server
from tests.support.site import outlets_config, wirewatch

ROOT = Path(__file__).resolve().parent.parent
MAX_PAGES = 50
TIMEOUT = 3


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    with hostile_server() as base:
        config = folder / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{folder / "w.db"}"\n'
            '[crawl]\nuser_agent = "wirewatch-test/0.1 (+https://example.org/bot)"\n'
            f'delay = "0s"\nautothrottle = false\ntimeout = "{TIMEOUT}s"\nmax_pages = {MAX_PAGES}\n'
            '[[outlets]]\nname = "hostile"\n'
            f'feeds = ["{base}/feed.xml", "{base}/not-a-feed.xml", "{base}/entity-bomb.xml"]\n'
            f'sitemaps = ["{base}/huge-sitemap.xml"]\n'
            'allow_domains = ["127.0.0.1"]\nmax_age = "10000d"\n'
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "wirewatch", "--config", str(config), "-v", "crawl", "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    db = open_db(folder / "w.db")
    (stats,) = db.execute("select stats from crawl_runs").fetchone()
    articles = {row["url"].rpartition("/")[2]: row for row in db.query("select * from articles")}
    return {
        "summary": json.loads(done.stdout)[0],
        "stats": json.loads(stats),
        "log": done.stderr,
        "articles": articles,
        "took": took,
        "base": base,
    }


def stat(crawl: dict, key: str) -> int:
    return int(crawl["stats"].get(f"wirewatch/{key}", 0))


def test_the_crawl_finishes_and_stores_the_good_articles(hostile_crawl):
    assert hostile_crawl["summary"]["finish_reason"] == "finished"
    urls = {row["url"] for row in hostile_crawl["articles"].values()}
    assert "https://ifpnews.com/russian-exporter-continue-military-cooperation-iran/" in urls
    assert any("tehrantimes.com/news/517845" in url for url in urls)
    # Bounded: the slowest case is the drip server, TIMEOUT seconds per attempt, 3 attempts.
    assert hostile_crawl["took"] < 90


def test_every_hostile_page_is_logged_by_its_url(hostile_crawl):
    log = hostile_crawl["log"]
    stored = set(hostile_crawl["articles"])
    for path in CASES:
        if path.endswith(".xml"):
            continue  # feeds and the sitemap: checked by their own stats below
        if path.lstrip("/") in stored:
            continue  # stored, with its damage bounded (see the next tests)
        assert path in log, f"no log line names {path}"


def test_each_case_is_skipped_or_bounded_with_a_stat(hostile_crawl):
    assert stat(hostile_crawl, "extract/empty") == 1
    assert stat(hostile_crawl, "extract/not_html") == 1  # the binary page
    assert stat(hostile_crawl, "fetch/too_large") == 2  # the 11 MB page and the gzip bomb
    assert stat(hostile_crawl, "fetch/too_many_redirects") == 1
    assert stat(hostile_crawl, "fetch/timeout") == 1  # the drip server
    assert stat(hostile_crawl, "fetch/http_500") == 1
    assert stat(hostile_crawl, "fetch/http_404") >= 1
    assert stat(hostile_crawl, "discover/failed") == 1  # the feed that is not XML
    # The sitemap of 100,000 URLs: read in full, MAX_PAGES of them fetched, the rest left.
    assert stat(hostile_crawl, "discover/over_limit") >= 100_000 - MAX_PAGES
    assert hostile_crawl["summary"]["fetched"] < 2 * MAX_PAGES + 40


def test_damaged_pages_that_are_stored_are_stored_right(hostile_crawl):
    articles = hostile_crawl["articles"]
    # No charset, or the wrong one: read from the bytes.
    assert "Москва продолжит" in articles["cp1251.html"]["text"]
    assert "Сергей Лавров" in articles["wrong-charset.html"]["text"]
    assert "\ufffd" not in articles["cp1251.html"]["text"]
    # Stray bytes in a UTF-8 page: the rest is right.
    assert "military-technical cooperation" in articles["mixed.html"]["text"]
    # Implausible dates are dropped, not trusted.
    assert articles["bad-dates.html"]["published"] is None
    assert articles["future.html"]["published"] is None
    # A 50 kB title is clipped.
    assert len(articles["long-title.html"]["title"]) <= 1000


def test_the_entity_bomb_is_not_expanded(hostile_crawl):
    # Expanded, its title would be 3 GB; the crawl would not have finished, let alone quickly.
    assert hostile_crawl["summary"]["finish_reason"] == "finished"
    assert "lollollol" not in hostile_crawl["log"]


def test_links_to_private_addresses_from_a_public_outlet_are_not_followed(tmp_path):
    (tmp_path / "w.toml").write_text(
        f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n'
        '[[outlets]]\nname = "pub"\nfeeds = ["https://news.example/feed"]\n'
    )
    crawler = get_crawler(OutletSpider, {"WIREWATCH_CONFIG": str(tmp_path / "w.toml")})
    spider = OutletSpider.from_crawler(crawler, name="pub")
    # In the outlet's domains or not, a private address is refused from a public outlet.
    spider.domains = ["news.example", "127.0.0.1", "10.0.0.8", "localhost", "::1"]
    entries = [
        Entry("https://news.example/politics/1.html"),
        Entry("http://127.0.0.1:8080/admin"),
        Entry("http://10.0.0.8/internal"),
        Entry("http://localhost/"),
        Entry("http://[::1]/"),
        Entry("http://169.254.169.254/latest/meta-data/"),
    ]
    requested = [r.url for r in spider._requests_for(entries, "https://news.example/feed")]
    assert requested == ["https://news.example/politics/1.html"]
    assert crawler.stats.get_value("wirewatch/discover/private") == 5
    spider.state.close()


def test_a_crawl_opens_no_remote_control_port_and_leaves_no_job_file(tmp_path, site):
    # Scrapy 2.19's remote control runs posted Python code on a port per crawler, its token in
    # a file under the state folder: off in wirewatch (crawler/settings.py).
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "w.db"))
    state = tmp_path / "state"
    result = wirewatch(
        "--config", str(config), "-vv", "crawl", "presstv", XDG_STATE_HOME=str(state)
    )
    assert result.returncode == 0, result.stderr
    assert "scrapy.core.engine" in result.stderr  # Scrapy's own lines are shown
    assert "Remote control" not in result.stderr
    assert not (state / "scrapy").exists()
