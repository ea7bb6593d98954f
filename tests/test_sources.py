"""Every way an outlet fails is seen, said in words, and reported once (#14): real servers on
127.0.0.1, names under .invalid, a real SMTP server, the real monitor."""

from __future__ import annotations

import json
import threading
import urllib.parse
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alerts.health import _extraction
from storage.db import open_db
from tests.support.daemons import Daemon, wait_for
from tests.support.servers import free_port
from tests.support.site import SITE, crawl_with_hosts, outlets_config, wirewatch
from wirewatch.crawl import CrawlSummary
from wirewatch.localsite import serve_folder

QUICK = (
    '[crawl]\ndelay = "0s"\nautothrottle = false\ntimeout = "3s"\n'
    'user_agent = "wirewatch-test/0.1 (+https://example.org/bot)"\n'
)
ARTICLE = SITE / "ifpnews" / "russian-exporter-continue-military-cooperation-iran.html"


def dead_config(tmp_path: Path, extra: str = "") -> Path:
    closed = free_port()  # bound and released: nothing listens there
    config = tmp_path / "w.toml"
    config.write_text(
        f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}'
        f'[[outlets]]\nname = "closed"\nfeeds = ["http://127.0.0.1:{closed}/rss.xml"]\n'
        '[[outlets]]\nname = "nowhere"\nfeeds = ["http://feeds.nowhere.invalid/rss.xml"]\n' + extra
    )
    return config


def test_crawl_of_an_unreachable_outlet_says_why_in_one_line_and_exits_1(tmp_path):
    config = dead_config(tmp_path)
    for outlet, why in (
        ("closed", "feed unreachable: connection refused by 127.0.0.1:"),
        ("nowhere", "feed unreachable: DNS lookup failed for feeds.nowhere.invalid"),
    ):
        result = wirewatch("--config", str(config), "crawl", outlet)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines[0].startswith(f"{outlet}: {why}"), result.stderr
        assert lines[1] == f"{outlet}: none of its sources could be read"
        assert len(lines) == 2, result.stderr


def test_dead_outlets_turn_unhealthy_with_one_operator_email_each(tmp_path, smtp):
    handler, port = smtp
    config = dead_config(
        tmp_path,
        '[schedule]\nevery = "2s"\nnotify = "1s"\n[health]\nfeed_errors = 2\n'
        '[email]\noperator = "ops@example.org"\nfrom = "wirewatch@example.org"\n',
    )
    daemon = Daemon(config, env={"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        wait_for(lambda: len(handler.messages) >= 2, 90, "an unhealthy email per outlet")
        db = open_db(tmp_path / "w.db")
        runs = lambda: db.execute("select count(*) from crawl_runs").fetchone()[0]  # noqa: E731
        seen = runs()
        wait_for(lambda: runs() >= seen + 4, 60, "more runs of the dead outlets")
        db.close()
    finally:
        daemon.stop()
    assert daemon.process.returncode == 0, daemon.log
    subjects = sorted(str(m["Subject"]) for m in handler.messages)
    assert subjects == [
        "[wirewatch] outlet closed is unhealthy",
        "[wirewatch] outlet nowhere is unhealthy",
    ]
    bodies = {str(m["Subject"]): m.get_body(("plain",)).get_content() for m in handler.messages}
    assert "DNS lookup failed for feeds.nowhere.invalid" in bodies[subjects[1]]
    assert "connection refused by 127.0.0.1:" in bodies[subjects[0]]
    # The run's own line is a WARNING that says why.
    assert "WARNING wirewatch.scheduler: crawl nowhere finished" in daemon.log
    assert "(feed unreachable: DNS lookup failed for feeds.nowhere.invalid)" in daemon.log
    status = json.loads(wirewatch("--config", str(config), "status", "--json").stdout)
    for row in status["outlets"]:
        assert row["health"] == "unhealthy"
        assert row["problems"] and "unreachable" in row["problems"][0]


def test_a_feed_on_feeds_x_listing_articles_on_www_x_is_stored(tmp_path):
    root = tmp_path / "www"
    (root / "news").mkdir(parents=True)
    page = ARTICLE.read_text(encoding="utf-8")
    # The page's own canonical would name ifpnews.com; this outlet is example.test.
    page = page.replace("https://ifpnews.com/", "http://www.example.test/")
    (root / "news" / "arms.html").write_text(page, encoding="utf-8")
    with serve_folder(root) as base:
        port = base.rsplit(":", 1)[1]
        feed = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>X</title><item><title>A</title>'
            f"<link>http://www.example.test:{port}/news/arms.html</link></item></channel></rss>"
        )
        (root / "rss.xml").write_text(feed)
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}obey_robots = false\n'
            f'[[outlets]]\nname = "x"\nfeeds = ["http://feeds.example.test:{port}/rss.xml"]\n'
            'max_age = "100000d"\n'
        )
        hosts = {"feeds.example.test": "127.0.0.1", "www.example.test": "127.0.0.1"}
        # www.example.test stands for a public host; here it can only be on 127.0.0.1, which
        # the address guard refuses for a name the config does not name (crawler/guard.py).
        trusted = ["feeds.example.test", "www.example.test"]
        stats = crawl_with_hosts(config, ["x"], hosts, WIREWATCH_TRUSTED_HOSTS=trusted)["x"]
    assert stats.get("wirewatch/store/new") == 1, stats
    assert "wirewatch/discover/off_domain" not in stats
    db = open_db(tmp_path / "w.db")
    assert db.execute("select outlet from articles").fetchall() == [("x",)]
    db.close()


def test_a_run_that_drops_most_links_as_off_domain_says_so(tmp_path):
    with serve_folder(SITE) as base:
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}'
            f'[[outlets]]\nname = "a"\nfeeds = ["{base}/almayadeen/rss.xml"]\n'
            'allow_domains = ["elsewhere.example"]\n'
        )
        result = wirewatch("--config", str(config), "crawl", "a", "--json")
    (row,) = json.loads(result.stdout)
    assert any("off the outlet's domains" in p for p in row["problems"]), row


def test_robots_txt_forbidding_every_article_is_a_problem(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.html").write_bytes(ARTICLE.read_bytes())
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /a.html\n")
    with serve_folder(root) as base:
        (root / "rss.xml").write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>R</title><item>'
            f"<title>A</title><link>{base}/a.html</link></item></channel></rss>"
        )
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}'
            f'[[outlets]]\nname = "r"\nfeeds = ["{base}/rss.xml"]\nmax_age = "100000d"\n'
        )
        result = wirewatch("--config", str(config), "crawl", "r", "--json")
    (row,) = json.loads(result.stdout)
    assert row["problems"] == ["robots.txt forbids every article (1 of 1 links)"], row
    assert result.returncode == 0  # the feed was read: not unreadable


def test_a_feed_that_is_not_one_and_a_feed_with_no_items_are_problems(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "home.html").write_text("<html><body><p>Welcome</p></body></html>")
    (root / "empty.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>E</title></channel></rss>'
    )
    with serve_folder(root) as base:
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}'
            f'[[outlets]]\nname = "s"\nfeeds = ["{base}/home.html", "{base}/empty.xml"]\n'
        )
        result = wirewatch("--config", str(config), "crawl", "s", "--json")
    (row,) = json.loads(result.stdout)
    problems = sorted(row["problems"])
    assert len(problems) == 2, row
    assert problems[0] == f"feed {base}/empty.xml lists no items"
    # A web page where a feed belongs: said so, with the way to its feeds.
    assert problems[1] == (
        f"feed {base}/home.html unreadable: a web page, not a feed; "
        f"`wirewatch add {base}/home.html` looks for the site's feeds"
    )
    assert not row["unreadable"]  # one of the two was a feed
    assert result.returncode == 0


# -- addresses checked where connections are made (#20) ---------------------------------------


@contextmanager
def recording_server(pages: dict[str, Any]):
    """A server on 127.0.0.1 that answers ``pages`` (path -> status, headers, body, or a
    function of the request's headers that returns them) and records every path it is asked
    for."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            answer = pages.get(self.path, (404, {}, b"not here"))
            status, headers, body = answer(self.headers) if callable(answer) else answer
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def rss(*links: str) -> bytes:
    items = "".join(
        f"<item><title>{n}</title><link>{link}</link></item>" for n, link in enumerate(links)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>P</title>{items}</channel></rss>'.encode()


def test_a_public_outlet_reaches_no_private_address_by_name_or_by_redirect(tmp_path):
    article = ARTICLE.read_bytes()
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
    with recording_server(pages) as (port, seen):
        pages["/feed.xml"] = (
            200,
            {"Content-Type": "application/rss+xml"},
            rss(
                f"http://intranet.public.test:{port}/secret.html",  # a name -> 127.0.0.1
                f"http://feeds.public.test:{port}/moved.html",  # redirects to 127.0.0.1
                f"http://feeds.public.test:{port}/story.html",
            ),
        )
        pages["/moved.html"] = (302, {"Location": f"http://127.0.0.1:{port}/admin"}, b"")
        pages["/story.html"] = (200, {"Content-Type": "text/html"}, article)
        pages["/secret.html"] = pages["/admin"] = (200, {"Content-Type": "text/html"}, article)
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}obey_robots = false\n'
            f'[[outlets]]\nname = "pub"\nfeeds = ["http://feeds.public.test:{port}/feed.xml"]\n'
            'max_age = "100000d"\n'
        )
        hosts = {"feeds.public.test": "127.0.0.1", "intranet.public.test": "127.0.0.1"}
        stats = crawl_with_hosts(config, ["pub"], hosts)["pub"]
    assert "/secret.html" not in seen and "/admin" not in seen, seen
    assert "/story.html" in seen and "/moved.html" in seen
    assert stats["wirewatch/fetch/refused_private"] == 2, sorted(stats.items())
    assert stats["wirewatch/store/new"] == 1


def test_an_outlet_configured_on_a_private_address_still_crawls_it(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config(site, tmp_path / "w.db"))
    result = wirewatch("--config", str(config), "crawl", "--json", "ifpnews")
    (row,) = json.loads(result.stdout)
    assert row["new"] == 1, result.stderr
    assert not row["problems"]


# -- conditional GET (#15) ----------------------------------------------------------------------


@contextmanager
def validating_server(feed: dict[str, object], path: str = "/feed.xml"):
    """A feed at /feed.xml with an ETag, answering 304 when the poll sends that ETag back; two
    articles at /a1.html and /a2.html. ``feed`` holds "body" and "etag", changed by the test
    between polls. Yields the port and the If-None-Match header of each poll of the feed
    (None: none sent)."""
    polls: list[str | None] = []

    def answer(headers: Any) -> tuple[int, dict[str, str], bytes]:
        sent = headers.get("If-None-Match")
        polls.append(sent)
        etag = {"ETag": str(feed["etag"])}
        if sent is not None and sent == feed["etag"]:
            return 304, etag, b""
        return 200, {"Content-Type": "application/rss+xml", **etag}, bytes(feed["body"])  # type: ignore[call-overload]

    html = {"Content-Type": "text/html"}
    almayadeen = (
        SITE / "almayadeen/news/politics/"
        "russia-iran-military-cooperation-observing-international-law.html"
    )
    pages = {
        urllib.parse.quote(path): answer,
        "/a1.html": (200, html, ARTICLE.read_bytes()),
        "/a2.html": (200, html, almayadeen.read_bytes()),
    }
    with recording_server(pages) as (port, _):
        yield port, polls


def conditional_config(tmp_path: Path, port: int, path: str = "/feed.xml") -> Path:
    config = tmp_path / "w.toml"
    config.write_text(
        f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}recheck = "0s"\n'
        f'[[outlets]]\nname = "c"\nfeeds = ["http://127.0.0.1:{port}{path}"]\n'
        'max_age = "100000d"\n'
    )
    return config


def test_a_feed_at_a_persian_path_is_polled_conditionally_too(tmp_path):
    """Its state is kept under the URL as configured, not as Scrapy percent-encodes it."""
    feed: dict[str, object] = {}
    with validating_server(feed, "/fa/اخبار.xml") as (port, polls):
        feed.update(body=rss(f"http://127.0.0.1:{port}/a1.html"), etag='"v1"')
        config = conditional_config(tmp_path, port, "/fa/اخبار.xml")
        crawl_with_hosts(config, ["c"], {})
        again = crawl_with_hosts(config, ["c"], {})["c"]
    assert polls == [None, '"v1"']
    assert again["wirewatch/sources/not_modified"] == 1


def test_an_unchanged_feed_is_answered_304_and_a_changed_one_read_again(tmp_path):
    feed: dict[str, object] = {}
    with validating_server(feed) as (port, polls):
        feed.update(body=rss(f"http://127.0.0.1:{port}/a1.html"), etag='"v1"')
        config = conditional_config(tmp_path, port)
        first = crawl_with_hosts(config, ["c"], {})["c"]
        again = crawl_with_hosts(config, ["c"], {})["c"]
        feed.update(
            body=rss(f"http://127.0.0.1:{port}/a1.html", f"http://127.0.0.1:{port}/a2.html"),
            etag='"v2"',
        )
        changed = crawl_with_hosts(config, ["c"], {})["c"]
    assert polls == [None, '"v1"', '"v1"']
    assert first["wirewatch/store/new"] == 1
    # The 304: nothing downloaded but the answer, nothing parsed, no problem, not unreadable.
    assert again["wirewatch/sources/not_modified"] == 1
    assert "wirewatch/problems" not in again and "wirewatch/store/new" not in again
    assert changed["wirewatch/store/new"] == 1
    assert "wirewatch/sources/not_modified" not in changed


def test_a_feed_that_changes_under_the_same_etag_is_no_longer_polled_conditionally(tmp_path):
    feed: dict[str, object] = {}
    with validating_server(feed) as (port, polls):
        feed.update(body=rss(f"http://127.0.0.1:{port}/a1.html"), etag='"same"')
        config = conditional_config(tmp_path, port)
        stats = [crawl_with_hosts(config, ["c"], {}, WIREWATCH_VERIFY_EVERY=2)["c"]]
        # A new item, and the server keeps its ETag: its 304s now hide news.
        feed["body"] = rss(f"http://127.0.0.1:{port}/a1.html", f"http://127.0.0.1:{port}/a2.html")
        for _ in range(4):
            stats.append(crawl_with_hosts(config, ["c"], {}, WIREWATCH_VERIFY_EVERY=2)["c"])
    # Two polls answered 304, then the full fetch every second poll finds new bytes under the
    # same ETag: the item is stored, and the source is polled in full from then on.
    assert polls == [None, '"same"', '"same"', None, None]
    assert [s.get("wirewatch/sources/not_modified", 0) for s in stats] == [0, 1, 1, 0, 0]
    assert stats[3]["wirewatch/store/new"] == 1
    assert stats[3]["wirewatch/sources/validators_untrusted"] == 1


def test_a_fresh_listing_outweighs_an_old_date_guessed_from_the_page(tmp_path):
    """A headline with a year in it ("The 2015 nuclear deal, ten years on") and no date on the
    page: the extractor dates the page 2015-01-01 (htmldate takes such a year from 1995 on).
    The feed dates it now, within max_age: it is stored with the feed's date (so it can
    alert), not dropped as too old. An item the feed itself dates too old is still left out."""
    now = datetime.now(UTC)
    text = "".join(
        f"<p>Paragraph {n}: the defence ministers met again to talk about the S-400 "
        "batteries, the grain corridor and the banking channel, officials said.</p>"
        for n in range(8)
    )
    page = (
        "<!doctype html><html lang='en'><head><title>The 2015 nuclear deal, ten years on</title>"
        f"</head><body><article><h1>The 2015 nuclear deal, ten years on</h1>{text}</article>"
        "</body></html>"
    ).encode()
    html = {"Content-Type": "text/html"}
    pages: dict[str, Any] = {
        "/a/7.html": (200, html, page),
        "/a/6.html": (200, html, page),
    }
    with recording_server(pages) as (port, seen):
        items = "".join(
            f"<item><title>{n}</title><link>http://127.0.0.1:{port}/a/{n}.html</link>"
            f"<pubDate>{format_datetime(when)}</pubDate></item>"
            for n, when in ((7, now), (6, now - timedelta(days=30)))
        )
        pages["/feed.xml"] = (
            200,
            {"Content-Type": "application/rss+xml"},
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>O</title>{items}'
            "</channel></rss>".encode(),
        )
        config = tmp_path / "w.toml"
        config.write_text(
            f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n{QUICK}obey_robots = false\n'
            f'[[outlets]]\nname = "o"\nfeeds = ["http://127.0.0.1:{port}/feed.xml"]\n'
            'max_age = "1d"\n'
        )
        stats = crawl_with_hosts(config, ["o"], {})["o"]
    assert stats.get("wirewatch/note/listing_date_kept") == 1, stats
    # A note, not a skip: the summary's skips leave it out, and health counts the page once.
    summary = CrawlSummary("o", "finished", stats)
    assert summary.notes == {"listing_date_kept": 1}
    assert "listing_date_kept" not in summary.skipped
    assert _extraction({"stats": json.dumps(stats)}) == (1, 1)
    assert stats.get("wirewatch/discover/too_old") == 1 and "/a/6.html" not in seen
    db = open_db(tmp_path / "w.db")
    (published,) = db.execute("select published from articles").fetchone()
    db.close()
    assert abs(datetime.fromisoformat(published) - now) < timedelta(seconds=2), published
