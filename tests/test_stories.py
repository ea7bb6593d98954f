"""One story, one row, one alert: versions, URL identity, syndicated and near-duplicate copies."""

import json
import mailbox
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extractors.article import extract_article
from extractors.urls import url_key
from storage import stories
from storage.articles import store_article
from storage.db import migrations, open_db
from tests.support.site import PAGES, ROOT, SITE, expected_text, outlets_config, wirewatch
from wirewatch.localsite import serve_folder

VARIANTS = ROOT / "tests" / "fixtures" / "variants"


@pytest.fixture
def article():
    path = PAGES["ifpnews-mikheev-2021"][0]
    return extract_article((SITE / path).read_bytes(), "http://127.0.0.1:8000/" + path).article


@pytest.mark.parametrize(
    "variant",
    [
        "http://www.presstv.ir/Detail/2020/11/10/638304/Lavrov",
        "https://m.presstv.ir/Detail/2020/11/10/638304/Lavrov/",
        "https://mobile.presstv.ir/Detail/2020/11/10/638304/Lavrov",
        "https://amp.presstv.ir/Detail/2020/11/10/638304/Lavrov",
        "https://www.presstv.ir/amp/Detail/2020/11/10/638304/Lavrov",
        "https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov/amp",
        "https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov?amp=1",
        "https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov?outputType=amp",
        "https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov/print",
        "https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov?print=1",
        "https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov?utm_source=x&fbclid=y#comments",
        "HTTPS://WWW.PRESSTV.IR:443/Detail/2020/11/10/638304/Lavrov",
    ],
)
def test_url_variants_share_one_key(variant):
    assert url_key(variant) == url_key("https://www.presstv.ir/Detail/2020/11/10/638304/Lavrov")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/news?id=1", "https://example.com/news?id=2"),
        ("https://example.com/campaign/printing", "https://example.com/campaign"),
        ("https://example.com/news/amplifier", "https://example.com/news"),
        ("https://news.example.com/a", "https://example.com/a"),
        ("https://m.co/a", "https://co/a"),
    ],
)
def test_different_pages_keep_different_keys(a, b):
    assert url_key(a) != url_key(b)


def test_seed_stories_sharing_paragraphs_stay_apart():
    # Press TV's two 2020 stories share whole background paragraphs but report two events.
    lavrov = stories.shingles(expected_text("presstv-lavrov-2020"))
    ryabkov = stories.shingles(expected_text("presstv-ryabkov-2020"))
    assert 0.1 < stories.jaccard(lavrov, ryabkov) < stories.THRESHOLD


def test_minhash_values_are_pinned():
    # The values datasketch 2.0's MinHash (affine32, seed 1) gives; stored band keys depend on
    # them, so a change here would split every story across a release.
    pair = {"russia iran military cooperation", "iran military cooperation lavrov"}
    assert list(map(int, stories.minhash(pair)[:6])) == [
        534369746,
        19011460,
        1051069837,
        526334332,
        2367946260,
        1426167612,
    ]
    assert stories.band_keys(pair)[:2] == [3126257388678948600, -3610551849520090290]


def test_band_keys_are_stable_and_follow_similarity(article):
    a = stories.shingles(article.text)
    assert stories.band_keys(a) == stories.band_keys(set(a))
    assert len(stories.band_keys(a)) == stories.BANDS
    edited = stories.shingles(article.text.replace("Moscow", "Russia", 1))
    other = stories.shingles(expected_text("tehrantimes-lavrov-2025"))
    assert set(stories.band_keys(a)) & set(stories.band_keys(edited))
    assert not set(stories.band_keys(a)) & set(stories.band_keys(other))
    assert stories.candidate_probability(0.8) > 0.99 > 0.05 > stories.candidate_probability(0.1)


def test_a_correction_keeps_the_earlier_text_as_a_version(fresh_db, article):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = store_article(fresh_db, article, "ifpnews", now=t0)
    corrected = replace(article, text=article.text + "\nCorrection: the airshow was in Dubai.")
    second = store_article(fresh_db, corrected, "ifpnews", now=t0 + timedelta(hours=1))
    again = store_article(fresh_db, corrected, "ifpnews", now=t0 + timedelta(hours=2))
    assert (first.outcome, second.outcome, again.outcome) == ("new", "updated", "duplicate")
    assert first.article_id == second.article_id == again.article_id
    assert first.story_id == second.story_id
    row = fresh_db.table("articles").get(first.article_id)
    assert row["text"].endswith("was in Dubai.")
    assert row["updated"] == "2026-01-01T01:00:00+00:00"
    versions = list(fresh_db.query("select * from article_versions"))
    assert [(v["article_id"], v["fetched"], v["text"]) for v in versions] == [
        (first.article_id, "2026-01-01T00:00:00+00:00", article.text)
    ]
    # A stale copy of the earlier text (a cache, an old replay) does not bring it back.
    stale = store_article(fresh_db, article, "ifpnews", now=t0 + timedelta(hours=3))
    assert stale.outcome == "duplicate"
    assert fresh_db.table("articles").get(first.article_id)["text"] == corrected.text
    assert fresh_db.execute("select count(*) from article_versions").fetchone()[0] == 1


def test_the_same_text_on_another_site_joins_the_story(fresh_db, article):
    first = store_article(fresh_db, article, "ifpnews")
    copy = replace(
        article, url="https://syndication.example/a", fetched_url="https://syndication.example/a"
    )
    second = store_article(fresh_db, copy, "syndication.example")
    assert second.outcome == "near_duplicate"
    assert second.article_id != first.article_id
    assert second.story_id == first.story_id
    story = fresh_db.table("stories").get(first.story_id)
    assert (story["articles"], json.loads(story["outlets"])) == (
        2,
        ["ifpnews", "syndication.example"],
    )


def test_a_verbatim_copy_reuses_the_stored_band_keys(fresh_db, article):
    first = store_article(fresh_db, article, "ifpnews")
    bands = fresh_db.execute("select count(*) from story_bands").fetchone()[0]
    assert bands == stories.BANDS
    copy = replace(article, url="https://wire.example/a", fetched_url="https://wire.example/a")
    assert store_article(fresh_db, copy, "wire.example").story_id == first.story_id
    # the copy adds no band keys of its own: they would be the stored text's keys again
    assert fresh_db.execute("select count(*) from story_bands").fetchone()[0] == bands
    # a light edit of the text is still found, through the stored article's keys
    edited = replace(
        article,
        url="https://other.example/b",
        fetched_url="https://other.example/b",
        text=article.text.replace("Russian", "Russia's", 1) + "\nReporting by a wire service.",
    )
    third = store_article(fresh_db, edited, "other.example")
    assert (third.outcome, third.story_id) == ("near_duplicate", first.story_id)
    assert fresh_db.execute("select count(*) from story_bands").fetchone()[0] > bands


def test_an_unrelated_article_starts_its_own_story(fresh_db, article):
    first = store_article(fresh_db, article, "ifpnews")
    other = replace(
        article,
        url="https://www.tehrantimes.com/news/517845",
        fetched_url="https://www.tehrantimes.com/news/517845",
        text=expected_text("tehrantimes-lavrov-2025"),
    )
    second = store_article(fresh_db, other, "tehrantimes")
    assert second.outcome == "new"
    assert second.story_id != first.story_id


def test_a_failed_write_leaves_no_story_behind(fresh_db, article):
    fresh_db.execute(
        "create trigger boom before insert on article_urls begin select raise(abort, 'disk says no'); end"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk says no"):
        store_article(fresh_db, article, "ifpnews")
    for table in ("articles", "stories", "story_bands", "article_urls"):
        assert fresh_db.execute(f"select count(*) from {table}").fetchone()[0] == 0, table


def replay_json(tmp_path: Path, *paths: Path) -> dict:
    config = tmp_path / "wirewatch.toml"
    if not config.exists():
        config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db", WATCHES))
    done = wirewatch("--config", str(config), "replay", "--json", *map(str, paths))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


WATCHES = """
[[watches]]
name = "rosoboronexport"
query = "Rosoboronexport"
email = "analyst@example.org"
max_age = "10000d"

[[watches]]
name = "ryabkov"
query = "Ryabkov"
email = "analyst@example.org"
max_age = "10000d"
"""


def test_fixture_variants_are_one_article_or_one_story_and_replay_twice(tmp_path):
    first = replay_json(tmp_path, SITE, VARIANTS)
    # 5 seed stories (Press TV's two stay apart); the AMP twin, the print view, the mobile page
    # and the tracking-parameter link are the same articles; the syndicated copy is a new
    # article of IFP's story; the corrected page updates Al Mayadeen's.
    assert first == {
        "seen": 12,
        "new": 5,
        "near_duplicates": 1,
        "updated": 1,
        "duplicates": 4,
        "skipped": 1,
        "errors": 0,
        # Rosoboronexport: IFP's story once (not again for its copy). Ryabkov: Al Mayadeen's
        # and both Press TV stories (three stories); the correction does not alert again.
        "alerts": 4,
    }
    db = open_db(tmp_path / "w.db")
    snapshot = {
        table: db.execute(f"select * from {table} order by 1").fetchall()
        for table in ("articles", "stories", "article_versions", "alerts", "story_bands")
    }
    assert len(snapshot["articles"]) == 6
    assert len(snapshot["stories"]) == 5
    assert len(snapshot["article_versions"]) == 1
    second = replay_json(tmp_path, SITE, VARIANTS)
    assert second == {
        **first,
        "new": 0,
        "near_duplicates": 0,
        "updated": 0,
        "duplicates": 11,
        "alerts": 0,
    }
    for table, rows in snapshot.items():
        after = db.execute(f"select * from {table} order by 1").fetchall()
        if table in ("articles", "stories"):  # only last_seen moves
            strip = lambda r: [v for v in r if not str(v).startswith("20") or "T" not in str(v)]  # noqa: E731
            assert [strip(r) for r in after] == [strip(r) for r in rows], table
        else:
            assert after == rows, table


def test_story_command_shows_articles_outlets_and_versions(tmp_path):
    replay_json(tmp_path, SITE, VARIANTS)
    config = str(tmp_path / "wirewatch.toml")
    db = open_db(tmp_path / "w.db")
    (ifp_story,) = db.execute(
        "select story_id from articles where url like 'https://ifpnews.com/%'"
    ).fetchone()
    done = wirewatch("--config", config, "story", str(ifp_story))
    assert done.returncode == 0, done.stderr
    assert "reported by ifpnews.com" in done.stdout
    assert "also reported by syndication.example" in done.stdout
    assert "Rosoboronexport: Russia will keep up arms cooperation with Iran" in done.stdout
    (almayadeen,) = db.execute(
        "select id from articles where outlet = 'english.almayadeen.net'"
    ).fetchone()
    done = wirewatch("--config", config, "story", "--article", str(almayadeen), "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    (item,) = shown["articles"]
    assert "Correction: an earlier version" in item["text"]
    (version,) = item["versions"]
    assert "Correction" not in version["text"]
    assert version["replaced"] == item["updated"]
    missing = wirewatch("--config", config, "story", "999")
    assert missing.returncode == 2
    assert "no story 999" in missing.stderr


def test_alert_email_names_the_other_outlets(tmp_path):
    replay_json(tmp_path, SITE, VARIANTS)
    done = wirewatch("--config", str(tmp_path / "wirewatch.toml"), "notify", "--json")
    assert done.returncode == 0, done.stderr
    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    (ifp,) = [m for m in box if m["X-Wirewatch-Watch"] == "rosoboronexport"]
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in ifp.walk()
        if not part.is_multipart()
    }
    assert "Also reported by syndication.example" in parts["text/plain"]
    assert "Also reported by syndication.example" in parts["text/html"]
    # One alert for the story, though its copy matches the watch too.
    assert len([m for m in box if m["X-Wirewatch-Watch"] == "rosoboronexport"]) == 1


def test_a_v3_database_is_migrated_to_stories(tmp_path, article):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    from sqlite_utils import Database

    old = Database(conn)
    migrations.apply(old, stop_before="m004_stories")
    old.table("articles").insert(
        {
            "url": article.url,
            "outlet": "ifpnews",
            "first_seen": "2026-01-01T00:00:00+00:00",
            "last_seen": "2026-01-01T00:00:00+00:00",
            "text": article.text,
            "content_hash": "x",
            "title": article.title,
        }
    )
    old.table("article_urls").insert({"url": article.url, "article_id": 1})
    conn.commit()
    conn.close()
    db = open_db(path)
    assert db.execute("select id, story_id from articles").fetchall() == [(1, 1)]
    assert db.execute("select articles, outlets from stories").fetchall() == [(1, '["ifpnews"]')]
    assert db.execute("select count(*) from story_bands").fetchone()[0] == stories.BANDS
    copy = replace(
        article, url="https://syndication.example/a", fetched_url="https://syndication.example/a"
    )
    assert store_article(db, copy, "syndication.example").story_id == 1


def test_crawling_the_variants_over_http(tmp_path):
    # The fixture outlets, plus a "wire" outlet whose feed lists the variant pages.
    root = tmp_path / "www"
    shutil.copytree(SITE, root)
    shutil.copytree(VARIANTS, root / "variants")
    items = "".join(
        f"<item><title>{page.stem}</title><link>{{{{base}}}}/variants/{page.name}</link></item>"
        for page in sorted(VARIANTS.glob("*.html"))
    )
    (root / "wire.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{items}'
        "</channel></rss>"
    )
    with serve_folder(root) as base:
        config = tmp_path / "w.toml"
        config.write_text(
            outlets_config(base, tmp_path / "crawl.db")
            + f'\n[[outlets]]\nname = "wire"\nfeeds = ["{base}/wire.xml"]\n'
            'allow_domains = ["127.0.0.1"]\nmax_age = "4000d"\n'
        )
        outlets = ["almayadeen", "tehrantimes", "presstv", "ifpnews"]
        first = wirewatch("--config", str(config), "crawl", *outlets)
        assert first.returncode == 0, first.stderr
        runs = []
        for _ in range(2):
            done = wirewatch("--config", str(config), "crawl", "--json", "wire")
            assert done.returncode == 0, done.stderr
            runs.append(json.loads(done.stdout)[0])
    wire = runs[0]
    # robots.txt, the feed and the six pages.
    assert (wire["fetched"], wire["new"], wire["near_duplicates"]) == (8, 0, 1)
    assert (wire["updated"], wire["duplicates"], wire["errors"]) == (1, 4, 0)
    # The second crawl knows every URL of the feed and downloads none of them.
    again = runs[1]
    assert (again["new"], again["near_duplicates"], again["updated"]) == (0, 0, 0)
    assert again["skipped"] == {"known": 6}
    db = open_db(tmp_path / "crawl.db")
    assert db.execute("select count(*) from articles").fetchone()[0] == 6
    assert db.execute("select count(*) from stories").fetchone()[0] == 5
    (outlets_of_ifp,) = db.execute(
        "select s.outlets from stories s join articles a on a.story_id = s.id "
        "where a.url like 'https://ifpnews.com/%'"
    ).fetchone()
    assert json.loads(outlets_of_ifp) == ["ifpnews", "wire"]
