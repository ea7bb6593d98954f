from datetime import UTC, datetime

import pytest
from conftest import SITE

from crawler.discovery import DiscoveryError, parse_feed, parse_sitemap


def served(path: str, base: str = "http://127.0.0.1:9") -> bytes:
    return (SITE / path).read_bytes().replace(b"{{base}}", base.encode())


def test_rss():
    entries = parse_feed(served("almayadeen/rss.xml"), "http://127.0.0.1:9/almayadeen/rss.xml")
    assert len(entries) == 3
    first = entries[0]
    assert first.url.startswith("http://127.0.0.1:9/almayadeen/news/politics/")
    assert first.published == datetime(2023, 3, 2, 11, 35, 11, tzinfo=UTC)
    assert entries[1].published.year == 1995


def test_atom():
    entries = parse_feed(served("tehrantimes/atom.xml"), "http://127.0.0.1:9/tehrantimes/atom.xml")
    assert [e.url for e in entries] == [
        "http://127.0.0.1:9/tehrantimes/news/517845-russia-voices-commitment.html",
        "http://127.0.0.1:9/private/briefing.html",
    ]
    assert entries[0].published == datetime(2025, 10, 17, 14, 54, tzinfo=UTC)


def test_json_feed():
    entries = parse_feed(served("ifpnews/feed.json"), "http://127.0.0.1:9/ifpnews/feed.json")
    assert len(entries) == 1
    assert entries[0].title.startswith("Russian exporter")
    assert entries[0].published == datetime(2021, 11, 14, 9, 12, 43, tzinfo=UTC)


def test_google_news_sitemap_dates():
    kind, entries = parse_sitemap(served("presstv/sitemap-news.xml"))
    assert kind == "urlset"
    assert [e.published.date().isoformat() for e in entries] == ["2020-11-10", "2020-10-18"]
    assert entries[0].title.startswith("Russia observes")


def test_sitemap_index():
    body = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://a.example/s1.xml</loc><lastmod>2025-01-01</lastmod></sitemap>
  <sitemap><loc>https://a.example/s2.xml</loc></sitemap>
</sitemapindex>"""
    kind, entries = parse_sitemap(body)
    assert kind == "sitemapindex"
    assert [e.url for e in entries] == ["https://a.example/s1.xml", "https://a.example/s2.xml"]


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>Not a feed</body></html>", b'{"a": 1}', b"\x00\x01\x02"]
)
def test_not_a_feed(body):
    with pytest.raises(DiscoveryError):
        parse_feed(body, "http://127.0.0.1:9/feed")


@pytest.mark.parametrize("body", [b"", b"<html><body>Not a sitemap</body></html>", b"garbage"])
def test_not_a_sitemap(body):
    with pytest.raises(DiscoveryError):
        parse_sitemap(body)


def test_entity_bomb_in_sitemap_stays_inert():
    body = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://a.example/&lol3;</loc></url>
<url><loc>https://a.example/ok</loc></url></urlset>"""
    _, entries = parse_sitemap(body)
    assert "https://a.example/ok" in [e.url for e in entries]
    assert all(len(e.url) < 100 for e in entries)
