from datetime import UTC, datetime

import pytest

from crawler.discovery import DiscoveryError, parse_feed, parse_sitemap
from tests.support.site import SITE


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
    sitemap = parse_sitemap(served("presstv/sitemap-news.xml"))
    kind, entries = sitemap.kind, sitemap.entries
    assert kind == "urlset"
    assert [e.published.date().isoformat() for e in entries] == ["2020-11-10", "2020-10-18"]
    assert entries[0].title.startswith("Russia observes")


def test_sitemap_index():
    body = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://a.example/s1.xml</loc><lastmod>2025-01-01</lastmod></sitemap>
  <sitemap><loc>https://a.example/s2.xml</loc></sitemap>
</sitemapindex>"""
    sitemap = parse_sitemap(body)
    kind, entries = sitemap.kind, sitemap.entries
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
    entries = parse_sitemap(body).entries
    assert "https://a.example/ok" in [e.url for e in entries]
    assert all(len(e.url) < 100 for e in entries)


# -- every format its peers read, read right (#14) --------------------------------------------


def test_image_and_video_urls_are_never_taken_for_the_page():
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
        xmlns:video="http://www.google.com/schemas/sitemap-video/1.1"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc>https://a.example/news/s-400-deliveries</loc>
    <news:news><news:publication_date>2025-10-17T14:54:00Z</news:publication_date>
      <news:title>S-400 deliveries</news:title></news:news>
    <image:image><image:loc>https://a.example/photo.jpg</image:loc></image:image>
    <video:video><video:content_loc>https://a.example/v.mp4</video:content_loc>
      <video:title>A video title</video:title></video:video>
  </url>
</urlset>"""
    sitemap = parse_sitemap(body)
    assert [e.url for e in sitemap.entries] == ["https://a.example/news/s-400-deliveries"]
    assert sitemap.entries[0].title == "S-400 deliveries"
    assert sitemap.entries[0].published == datetime(2025, 10, 17, 14, 54, tzinfo=UTC)
    assert sitemap.warning == ""


def test_plain_text_sitemap():
    body = b"https://a.example/one\r\nhttps://a.example/two\n\n"
    sitemap = parse_sitemap(body)
    assert sitemap.kind == "text"
    assert [e.url for e in sitemap.entries] == ["https://a.example/one", "https://a.example/two"]


def test_a_feed_given_as_a_sitemap_is_read_as_a_feed():
    sitemap = parse_sitemap(served("almayadeen/rss.xml"), "http://127.0.0.1:9/almayadeen/rss.xml")
    assert sitemap.kind == "feed"
    assert len(sitemap.entries) == 3


def test_a_cut_off_sitemap_keeps_the_urls_before_the_cut_and_says_so():
    body = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://a.example/one</loc></url><url><loc>https://a.example/tw"
    )
    sitemap = parse_sitemap(body)
    assert [e.url for e in sitemap.entries] == ["https://a.example/one"]
    assert "cut off" in sitemap.warning


def test_an_atom_entry_without_a_link_is_not_fetched_by_its_id():
    body = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><id>http://a.example/id/1</id><title>no link</title></entry>
<entry><id>tag:a.example,2025:2</id><title>linked</title><link href="http://a.example/2"/></entry>
</feed>"""
    assert [e.url for e in parse_feed(body, "http://a.example/atom")] == ["http://a.example/2"]


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"<html><body>Not a sitemap</body></html>", b"garbage\nmore", b"<"]
)
def test_every_refusal_says_why(body):
    with pytest.raises(DiscoveryError) as caught:
        parse_sitemap(body)
    assert str(caught.value).split(":", 1)[1].strip()
