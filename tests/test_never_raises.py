"""Extraction never loses an article (#28): no page raises, a bug keeps the listed page.

Property-based: any JSON-LD and meta shape real pages use, and real pages mutated byte by
byte, give an article or a reason, never an exception. End to end: a page on which extraction
raises (a fault put into the real code of the crawl's process) is stored all the same, its doubt
and the run's problems saying why, and `wirewatch extract` goes on past it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractors.article import FAILED, extract_article
from extractors.metadata import read_meta
from tests.support.site import PAGES, ROOT, SITE, wirewatch
from wirewatch.localsite import serve_folder

URL = "https://news.example.org/2025/06/01/a-story-of-some-length-here"
PROSE = "".join(
    f"<p>Paragraph {n} of the story says what happened in the city on Monday, and why it "
    "matters to the people who live there, in some detail.</p>"
    for n in range(8)
)
KEYS = [
    "@type",
    "@graph",
    "@id",
    "@value",
    "@context",
    "name",
    "author",
    "headline",
    "datePublished",
    "dateModified",
    "articleBody",
    "inLanguage",
    "publisher",
    "creator",
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["NewsArticle", "Person", "#author", "#article", "2025-06-01T10:00:00Z"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def page(ld: object = None, meta: str = "", body: str = PROSE) -> bytes:
    script = (
        f'<script type="application/ld+json">{json.dumps(ld)}</script>' if ld is not None else ""
    )
    return (
        f"<html><head><title>A story</title>{meta}{script}</head><body><article>"
        f"<h1>A story</h1>{body}</article></body></html>"
    ).encode()


@PROPERTY
@given(JSON)
def test_any_json_ld_gives_an_article_and_never_raises(ld):
    result = extract_article(page(ld), URL, listed=True)
    assert result.article is not None, result
    assert result.reason is None, result  # the page's JSON-LD is read, never a failure
    assert "Paragraph 7" in result.article.text


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "author",
                "article:author",
                "og:type",
                "date",
                "og:locale",
                "description",
                "og:title",
                "language",
            ]
        ),
        # What real pages write in a meta tag: any text but control characters, a page of
        # which more than 1 % are control characters being binary (looks_like_html).
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40),
        max_size=5,
    )
)
def test_any_meta_tags_give_an_article(tags):
    from html import escape

    meta = "".join(f'<meta name="{escape(k)}" content="{escape(v)}">' for k, v in tags.items())
    result = extract_article(page(meta=meta), URL, listed=True)
    assert result.article is not None and result.reason is None, result


def seed_bodies() -> list[bytes]:
    return [(SITE / path).read_bytes() for path, _ in PAGES.values()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(PAGES))),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 400), st.binary(max_size=40)), max_size=5),
)
def test_real_pages_mutated_give_an_article_or_a_reason(index, edits):
    body = bytearray(seed_bodies()[index])
    for where, cut, insert in edits:
        at = int(where * len(body))
        body[at : at + cut] = insert
    result = extract_article(bytes(body), URL, listed=True, budget=10)
    assert result.article is not None or result.reason
    assert result.reason != FAILED, result.detail


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        ([["Anna Maier", "Jonas Berg"]], "Anna Maier; Jonas Berg"),  # a list in a list
        ({"@type": "Person", "name": ["Anna Maier", ["Jonas Berg"]]}, "Anna Maier; Jonas Berg"),
        ([{"@type": "Person", "name": {"@value": "Anna Maier"}}], "Anna Maier"),
        ({"@type": "Person"}, None),  # a node without a name
        (42, "42"),
        ({"@id": "#author"}, "Anna Maier"),  # a reference into the @graph
    ],
)
def test_json_ld_authors_of_every_shape(author, expected):
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "NewsArticle", "headline": ["A story"], "author": author},
            {"@type": "Person", "@id": "#author", "name": "Anna Maier"},
        ],
    }
    result = extract_article(page(graph), URL, listed=True)
    assert result.article is not None
    if expected is None:
        assert read_meta(_tree(page(graph))).author is None
    else:
        assert result.article.author == expected
    assert result.article.title == "A story"


def test_a_reference_cycle_in_the_graph_ends():
    # #b's name is #c's, whose name is #b's: only the bound on references ends the reading.
    graph = {
        "@graph": [
            {"@type": "NewsArticle", "@id": "#a", "headline": "A story", "author": {"@id": "#b"}},
            {"@type": "Person", "@id": "#b", "name": {"@id": "#c"}},
            {"@type": "Person", "@id": "#c", "name": {"@id": "#b"}},
        ]
    }
    meta = read_meta(_tree(page(graph)))
    assert meta.title == "A story" and meta.author is None


@pytest.mark.parametrize(
    ("published", "day"),
    [
        (["2025-06-01T10:00:00Z", "2025-06-02"], "2025-06-01"),
        (1748772000, "2025-06-01"),  # seconds since 1970
        (1748772000000, "2025-06-01"),  # milliseconds
        ({"@value": "2025-06-01"}, "2025-06-01"),
        (1e300, None),
    ],
)
def test_json_ld_dates_as_lists_and_numbers(published, day):
    ld = {"@type": "NewsArticle", "headline": "A story", "datePublished": published}
    article = extract_article(page(ld), URL, listed=True).article
    assert article is not None
    if day is not None:
        assert (article.published or "").startswith(day)


def _tree(body: bytes):
    from trafilatura.utils import load_html

    return load_html(body.decode())


# -- a bug on one page costs no article -----------------------------------------------------

FAULT = textwrap.dedent(
    """
    # Put into the crawl's own process by tests/test_never_raises.py: the page metadata reader
    # raises on pages that carry the marker, as a real bug would.
    import extractors.article as article

    _read_meta = article.read_meta

    def read_meta(tree):
        if "FAULT-MARKER" in tree.text_content():
            raise AttributeError("'list' object has no attribute 'split'")
        return _read_meta(tree)

    article.read_meta = read_meta
    """
)


def faulty_outlet(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    story = (SITE / PAGES["tehrantimes-lavrov-2025"][0]).read_text(encoding="utf-8")
    (site / "good.html").write_text(story, encoding="utf-8")
    bad = re.sub(
        r"(<body[^>]*>)", r"\1<p>FAULT-MARKER S-400 deliveries were discussed.</p>", story, count=1
    )
    assert "FAULT-MARKER" in bad
    (site / "bad.html").write_text(bad.replace("517845", "517846"), encoding="utf-8")
    items = "".join(
        f"<item><title>{n}</title><link>{{{{base}}}}/{n}.html</link></item>"
        for n in ("good", "bad")
    )
    (site / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(FAULT)
    return hooks


def test_a_listed_page_on_which_extraction_raises_is_stored_and_the_run_says_so(tmp_path):
    hooks = faulty_outlet(tmp_path)
    config = tmp_path / "w.toml"
    database = tmp_path / "w.db"
    with serve_folder(tmp_path / "site") as base:
        config.write_text(
            f'[storage]\ndatabase = "{database}"\n'
            '[crawl]\ndelay = "0s"\nobey_robots = false\n'
            '[[outlets]]\nname = "wire"\n'
            f'feeds = ["{base}/feed.xml"]\nmax_age = "100000d"\n'
            '[[watches]]\nname = "s400"\nquery = "S-400"\nemail = ["analyst@example.org"]\n'
        )
        result = wirewatch("--config", str(config), "crawl", "--json", PYTHONPATH=f"{hooks}:{ROOT}")
    assert result.returncode in (0, 1), result.stderr
    (row,) = json.loads(result.stdout)
    # Both stored (the second is the same story, so a near-duplicate of the first).
    assert row["new"] + row["near_duplicates"] == 2, result.stdout
    assert "failed" not in row["skipped"]
    assert any("extraction failed on" in p and "bad.html" in p for p in row["problems"])
    db = sqlite3.connect(database)
    doubt, text = db.execute("select doubt, text from articles where doubt is not null").fetchone()
    assert doubt.startswith("extraction failed (AttributeError:")
    assert "FAULT-MARKER" in text  # watches see the text that was kept
    alerts = db.execute("select count(*) from alerts").fetchone()[0]
    assert alerts == 1


def test_extract_goes_on_past_a_page_that_fails_and_exits_1(tmp_path):
    hooks = faulty_outlet(tmp_path)
    files = [str(tmp_path / "site" / n) for n in ("bad.html", "good.html")]
    result = wirewatch("extract", "--url", URL, *files, PYTHONPATH=f"{hooks}:{ROOT}")
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == ["bad.html", "good.html"]
    assert lines[0]["error"].startswith("failed: AttributeError")
    assert lines[1]["title"] and "error" not in lines[1]
    assert "a bug, please report it" in result.stderr


# -- refuse only what plainly is not an article ---------------------------------------------

ARTICLE = page({"@type": "WebPage"}).decode()


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.org/?p=12345",  # WordPress's default permalinks
        "https://news.example.org/?page_id=77",
        "https://news.example.org/index.php?q=node/4711",  # Drupal's
        "https://news.example.org/archives/123",  # WordPress's numeric permalinks
        "https://news.example.org/topic/air-defence/123",
        "https://news.example.org/topics/iran/irans-new-air-defence-deal-is-signed",
    ],
)
def test_permalink_shapes_are_articles_not_fronts(url):
    assert extract_article(ARTICLE.encode(), url).ok  # even when a section page links them
    assert extract_article(ARTICLE.encode(), url, listed=True).ok


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.org/",
        "https://news.example.org/?lang=en",
        "https://news.example.org/tag/iran",
        "https://news.example.org/category/world/page/3",
        "https://news.example.org/archives/2024/05",
    ],
)
def test_fronts_and_listings_are_still_section_pages_when_found_by_following_links(url):
    result = extract_article(ARTICLE.encode(), url)
    assert result.reason == "section_front", result


def test_a_listing_shaped_url_its_feed_lists_is_kept():
    result = extract_article(ARTICLE.encode(), "https://news.example.org/page/2", listed=True)
    assert result.ok


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-16"),  # with its BOM
        lambda t: t.encode("utf-16-le"),
        lambda t: t.encode("utf-16-be"),
        lambda t: t.encode("utf-32"),
        lambda t: t.encode("utf-32-be"),
        lambda t: b"\xef\xbb\xbf" + t.encode(),
        lambda t: t.encode().replace(b"<title>", b"\x00<title>", 1),  # one stray NUL
        lambda t: b'<?xml version="1.0"?>\n' + t.encode(),
        lambda t: b"<!-- " + b"x" * 5000 + b" -->\n" + t.encode(),  # a long comment first
        lambda t: b"\n" * 3000 + t.encode(),
    ],
)
def test_every_real_html_page_is_sniffed_as_html(encode):
    text = ARTICLE.replace("Paragraph 7", "Параграф 7")
    result = extract_article(encode(text), URL, listed=True)
    assert result.ok, result
    assert "Параграф 7" in result.article.text


def test_binary_is_still_not_html():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"<p>"
    assert extract_article(png, URL, listed=True).reason == "not_html"


# -- whole texts ------------------------------------------------------------------------------


def split_article(paragraphs: int = 12, witness: str | None = None) -> bytes:
    """A long article that its layout splits into containers around adverts, as news sites
    do, with comments, a related list and a newsletter box of prose beside it."""
    chunks = []
    for start in range(0, paragraphs, 3):
        body = "".join(
            f"<p>Paragraph {n}: the minister said on Tuesday that the talks on the air defence "
            f"deal would resume, and officials gave details number {n}.</p>"
            for n in range(start, min(start + 3, paragraphs))
        )
        chunks.append(f'<div class="body-chunk">{body}</div><div class="ad">Advertisement</div>')
    script = (
        f'<script type="application/ld+json">{json.dumps({"@type": "NewsArticle", "articleBody": witness})}</script>'
        if witness
        else ""
    )
    return (
        f"<html><head><title>Talks resume</title>{script}</head><body><main><article>"
        "<h1>Talks resume</h1>"
        + "".join(chunks)
        + '</article><section class="comments"><p>A reader wrote a long comment about the deal '
        "and its meaning for the region, which is not part of the article at all.</p></section>"
        '<ul class="related"><li><a href="/x">Another story about the deal that is a link</a></li></ul>'
        '<div class="newsletter"><p>Sign up to our morning briefing and get the news of the day in '
        "your inbox before breakfast, every weekday.</p></div></main></body></html>"
    ).encode()


def test_a_long_article_split_around_adverts_is_kept_whole():
    text = extract_article(split_article(), URL, listed=True).article.text
    for n in range(12):
        assert f"Paragraph {n}:" in text
    assert text.index("Paragraph 3:") < text.index("Paragraph 9:")  # in page order
    assert "A reader wrote" not in text and "Sign up" not in text and "Another story" not in text


def test_the_paragraphs_left_out_are_put_back_and_the_pages_article_body_bounds_them():
    from trafilatura.utils import load_html

    from extractors.article import whole_text

    line = (
        "Paragraph {n}: the minister said on Tuesday that the talks on the air defence deal "
        "would resume, and officials gave details number {n}."
    )
    precise = "\n".join(line.format(n=n) for n in range(3))  # precision mode kept a third
    tree = load_html(split_article().decode())
    whole = whole_text(tree, precise)
    assert whole is not None
    assert whole.split("\n") == [line.format(n=n) for n in range(12)]
    witness = " ".join(line.format(n=n) for n in range(6))
    bounded = whole_text(tree, precise, witness)
    assert bounded is not None
    assert bounded.split("\n") == [line.format(n=n) for n in range(6)]
    assert whole_text(tree, "\n".join(line.format(n=n) for n in range(12))) is None
