"""``wirewatch add``, ``outlets import`` and ``outlets export`` against sites on 127.0.0.1."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.finder import feed_links, robots_sitemaps, web_page_hint
from tests.support.site import ROOT, wirewatch
from wirewatch.localsite import serve_folder
from wirewatch.outlets import name_for

SUBJECTS = ["air defence", "the nuclear file", "a rail corridor", "grain", "oil", "banking"]


def article(title: str, when: datetime) -> str:
    """A page with chrome around an article whose text is its own (no two alike)."""
    seed = sum(map(ord, title))
    body = "".join(
        f"<p>{title}: officials spoke of {SUBJECTS[(seed + n) % 6]} on day {seed % 97 + n}, "
        f"and of {SUBJECTS[(seed * 7 + n) % 6]} after talks number {seed % 13 + n * 3}; "
        f"analysts in {['Tehran', 'Moscow', 'Baku', 'Ankara'][(seed + n) % 4]} said the "
        f"details of {title.lower()} remain unclear ({seed * (n + 1)}).</p>\n"
        for n in range(5)
    )
    return f"""<!doctype html>
<html lang="en"><head><title>{title} | Example Wire</title>
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{when.isoformat()}">
</head><body>
<nav><a href="/">Home</a> <a href="/world/">World</a></nav>
<article><h1>{title}</h1>{body}</article>
<footer>Share this story. Recent posts. Cookie settings.</footer>
</body></html>"""


def make_site(root: Path, *, link: str = "alternate", sitemap: bool = True) -> list[str]:
    """A small outlet: a home page naming its feed (as ``link`` says), an RSS feed, a news
    sitemap named in robots.txt, and three articles dated within the hour."""
    now = datetime.now(UTC).replace(microsecond=0)
    titles = ["Talks on air defence resume", "Snapback deadline nears", "Trade corridor opens"]
    items, urls = [], []
    (root / "news").mkdir(parents=True)
    for number, title in enumerate(titles):
        when = now - timedelta(minutes=10 * (number + 1))
        path = f"news/story-{number}.html"
        (root / path).write_text(article(title, when), encoding="utf-8")
        urls.append(path)
        items.append(
            f"<item><title>{title}</title><link>{{{{base}}}}/{path}</link>"
            f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
        )
    (root / "rss.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Example Wire</title>'
        f"<link>{{{{base}}}}/</link>{''.join(items)}</channel></rss>",
        encoding="utf-8",
    )
    head = {
        "alternate": '<link rel="alternate" type="application/rss+xml" title="News" '
        'href="/rss.xml">'
        '<link rel="alternate" type="application/rss+xml" title="Comments Feed" '
        'href="/comments/feed">',
        "anchor": "",
        "none": "",
    }[link]
    anchor = '<a href="/rss.xml">RSS</a>' if link == "anchor" else ""
    (root / "index.html").write_text(
        f"<!doctype html><html><head><title>Example Wire</title>{head}</head><body>"
        f"<h1>Example Wire</h1>{anchor}"
        + "".join(f'<a href="/{path}">story</a>' for path in urls)
        + "</body></html>",
        encoding="utf-8",
    )
    robots = "User-agent: *\nDisallow: /private/\n"
    if sitemap:
        entries = "".join(
            f"<url><loc>{{{{base}}}}/{path}</loc><news:news><news:publication_date>"
            f"{(now - timedelta(minutes=10 * (n + 1))).isoformat()}</news:publication_date>"
            f"<news:title>{titles[n]}</news:title></news:news></url>"
            for n, path in enumerate(urls)
        )
        (root / "news-sitemap.xml").write_text(
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"{entries}</urlset>",
            encoding="utf-8",
        )
        robots += "Sitemap: {{base}}/news-sitemap.xml\n"
    (root / "robots.txt").write_text(robots, encoding="utf-8")
    return urls


def init(folder: Path) -> Path:
    result = wirewatch("init", str(folder), cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return folder / "wirewatch.toml"


def stored(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("select title from articles order by title")]


# -- the pure parts ----------------------------------------------------------------------------


def test_feed_links_prefer_declared_feeds_and_leave_comment_feeds_out():
    page = (
        b'<html><head><link rel="alternate" type="application/atom+xml" href="/atom.xml">'
        b'<link rel="alternate" type="application/rss+xml" title="Comments" href="/c/rss">'
        b'<link rel="alternate" hreflang="fr" href="/fr/">'
        b'</head><body><a href="/other.rss">x</a></body></html>'
    )
    assert feed_links(page, "https://a.example/world/") == ["https://a.example/atom.xml"]
    plain = b'<html><body><a href="/feeds/world">f</a><a href="https://b.example/rss">b</a></body>'
    assert feed_links(plain, "https://a.example/") == ["https://a.example/feeds/world"]
    assert feed_links(b"", "https://a.example/") == []


def test_robots_sitemaps_and_names():
    text = "User-agent: *\nSitemap: /news.xml\nsitemap:https://a.example/s2.xml\n"
    assert robots_sitemaps(text, "https://a.example/") == [
        "https://a.example/news.xml",
        "https://a.example/s2.xml",
    ]
    assert name_for("https://www.tehrantimes.com/news", []) == "tehrantimes"
    assert name_for("https://feeds.bbci.co.uk/news", ["bbci"]) == "bbci-2"
    assert name_for("http://127.0.0.1:8080/", []) == "127.0.0.1"
    # What the outlet calls itself comes first: its feed's title, in Latin letters, the part
    # of a title that spells the domain, or else the first part.
    assert name_for("http://127.0.0.1:8899/", [], ["Gulf Wire"]) == "gulf-wire"
    assert name_for("http://127.0.0.1:8899/", ["gulf-wire"], ["Gulf Wire"]) == "gulf-wire-2"
    guardian = "https://www.theguardian.com/world"
    assert name_for(guardian, [], ["World news | The Guardian"]) == "the-guardian"
    assert name_for("https://www.tehrantimes.com/", [], ["Tehran Times - Latest"]) == "tehran-times"
    assert name_for("https://tass.ru/", [], ["ТАСС"]) == "tass"
    assert name_for("https://www.irna.ir/", [], ["ایرنا"]) == "irna"
    assert name_for("https://www.tehrantimes.com/", [], ["", "   "]) == "tehrantimes"


def test_a_web_page_where_a_feed_belongs_gets_a_hint():
    page = b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" href="/f.xml">'
    hint = web_page_hint(page, "https://a.example/", "text/html")
    assert "not a feed" in hint and "https://a.example/f.xml" in hint
    assert "wirewatch add" in web_page_hint(b"<html><body>hi</body></html>", "https://a.example/")
    assert web_page_hint(b'<?xml version="1.0"?><rss/>', "https://a.example/", "text/html") == ""


# -- add ---------------------------------------------------------------------------------------


def test_add_finds_the_feed_and_news_sitemap_writes_them_and_a_crawl_stores_the_articles(
    tmp_path,
):
    make_site(tmp_path / "site")
    config = init(tmp_path / "desk")
    starter = config.read_text(encoding="utf-8")
    with serve_folder(tmp_path / "site") as base:
        added = wirewatch("--config", str(config), "add", base + "/", cwd=tmp_path)
        assert added.returncode == 0, added.stderr
        assert f"feed    {base}/rss.xml: 3 items, newest" in added.stdout
        assert f"sitemap {base}/news-sitemap.xml: 3 items" in added.stdout
        assert "newest item: 'Talks on air defence resume'" in added.stdout
        assert "comments" not in added.stdout.split("(passed)")[0]
        # Named after what the feed calls itself, with how to name it otherwise.
        assert "added outlet 'example-wire'" in added.stdout
        assert "--name NAME" in added.stdout
        text = config.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        # The starter's placeholder outlet (example.org) is replaced, its comments kept.
        assert data["outlets"] == [
            {
                "name": "example-wire",
                "feeds": [f"{base}/rss.xml"],
                "sitemaps": [f"{base}/news-sitemap.xml"],
            }
        ]
        for line in starter.splitlines():
            if line.startswith("#"):
                assert line in text
        crawled = wirewatch("--config", str(config), "crawl", cwd=tmp_path)
        assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert stored(tmp_path / "desk" / "wirewatch.db") == [
        "Snapback deadline nears",
        "Talks on air defence resume",
        "Trade corridor opens",
    ]


def test_add_from_a_page_that_only_links_its_feed_or_names_none(tmp_path):
    make_site(tmp_path / "linked", link="anchor", sitemap=False)
    (tmp_path / "usual").mkdir()
    make_site(tmp_path / "usual" / "x", link="none", sitemap=False)
    # A site whose home names no feed: /rss.xml is one of the usual paths.
    usual = tmp_path / "usual" / "x"
    config = init(tmp_path / "desk")
    with serve_folder(tmp_path / "linked") as base:
        added = wirewatch("--config", str(config), "add", base + "/", "--name", "wire")
        assert added.returncode == 0, added.stderr
    with serve_folder(usual) as base:
        again = wirewatch("--config", str(config), "add", base + "/", "--name", "usual")
        assert again.returncode == 0, again.stderr
        assert "(passed)" in again.stdout and f"{base}/feed: HTTP 404" in again.stdout
    names = [o["name"] for o in tomllib.loads(config.read_text())["outlets"]]
    assert names == ["wire", "usual"]


def test_add_refuses_what_it_cannot_use_and_leaves_the_config_alone(tmp_path):
    make_site(tmp_path / "site")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "index.html").write_text("<html><body>No feeds here</body></html>")
    config = init(tmp_path / "desk")
    before = config.read_text(encoding="utf-8")

    def add(*args: str):
        return wirewatch("--config", str(config), "add", *args, cwd=tmp_path)

    with serve_folder(tmp_path / "bare") as bare:
        nothing = add(bare + "/")
    assert nothing.returncode == 2
    assert "no feed or news sitemap found" in nothing.stderr and "start_urls" in nothing.stderr
    unreachable = add("https://news.example.invalid/")
    assert unreachable.returncode == 2 and "cannot fetch" in unreachable.stderr
    assert add("ftp://example.org/").returncode == 2
    with serve_folder(tmp_path / "site") as base:
        bad_name = add(base + "/", "--name", "no spaces")
        assert bad_name.returncode == 2 and "--name" in bad_name.stderr
        dry = add(base + "/", "--dry-run")
        assert dry.returncode == 0 and "dry run" in dry.stdout
        assert config.read_text(encoding="utf-8") == before
        assert add(base + "/").returncode == 0
        twice = add(base + "/", "--name", "other")
        assert twice.returncode == 2 and "configured already" in twice.stderr
        taken = add(base + "/", "--name", "example-wire")
        assert taken.returncode == 2 and "is in the config already" in taken.stderr
    assert config.stat().st_mode & 0o777 == 0o600


def test_a_crawl_of_a_web_page_given_as_a_feed_names_the_feed_it_links(tmp_path):
    make_site(tmp_path / "site", sitemap=False)
    config = tmp_path / "wirewatch.toml"
    with serve_folder(tmp_path / "site") as base:
        config.write_text(f'[[outlets]]\nname = "wire"\nfeeds = ["{base}/"]\n', encoding="utf-8")
        result = wirewatch("--config", str(config), "crawl", cwd=tmp_path)
    assert result.returncode == 1
    assert f"a web page, not a feed; it names the feed {base}/rss.xml" in result.stdout + (
        result.stderr
    )


# -- OPML ----------------------------------------------------------------------------------------


def test_opml_import_adds_working_feeds_reports_dead_ones_and_export_round_trips(tmp_path):
    make_site(tmp_path / "site", sitemap=False)
    config = init(tmp_path / "desk")
    with serve_folder(tmp_path / "site") as base:
        opml = tmp_path / "feeds.opml"
        opml.write_text(
            f"""<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>
<outline text="Wires"><outline text="Example Wire" type="rss" xmlUrl="{base}/rss.xml"/>
<outline text="Dead" type="rss" xmlUrl="{base}/gone.xml"/></outline>
<outline text="Nowhere" type="rss" xmlUrl="https://nowhere.example.invalid/rss"/>
</body></opml>""",
            encoding="utf-8",
        )
        result = wirewatch("--config", str(config), "outlets", "import", str(opml), cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "not added Dead" in result.stderr and "HTTP 404" in result.stderr
        assert "not added Nowhere" in result.stderr
        assert "added 1 outlet(s), 1 feed(s)" in result.stdout
        again = wirewatch("--config", str(config), "outlets", "import", str(opml), cwd=tmp_path)
        assert "configured already, in outlet 'Example-Wire'" in again.stdout
        exported = wirewatch("--config", str(config), "outlets", "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert f'text="Example-Wire" title="Example-Wire" xmlUrl="{base}/rss.xml"' in exported.stdout
    # Into another config, unchecked: the same outlet comes back.
    other = init(tmp_path / "other")
    (tmp_path / "out.opml").write_text(exported.stdout, encoding="utf-8")
    back = wirewatch(
        "--config", str(other), "outlets", "import", "--no-check", str(tmp_path / "out.opml")
    )
    assert back.returncode == 0, back.stderr
    assert tomllib.loads(other.read_text())["outlets"] == [
        {"name": "Example-Wire", "feeds": [f"{base}/rss.xml"]}
    ]
    broken = tmp_path / "broken.opml"
    broken.write_text("<html><body>not opml</body></html>")
    bad = wirewatch("--config", str(other), "outlets", "import", str(broken))
    assert bad.returncode == 2 and "not OPML" in bad.stderr


# -- the way in, as a new user has it ----------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("CI"), reason="a fresh virtualenv install; CI runs it")
def test_a_fresh_install_outside_the_repository_inits_adds_and_crawls(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    command = str(venv / "bin" / "wirewatch")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    make_site(tmp_path / "site")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [command, *args], capture_output=True, text=True, cwd=home, env=env, timeout=300
        )

    assert run("init").returncode == 0
    with serve_folder(tmp_path / "site") as base:
        added = run("add", base + "/")
        assert added.returncode == 0, added.stderr
        crawled = run("crawl")
        assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert len(stored(home / "wirewatch.db")) == 3
