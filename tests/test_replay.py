import gzip
import io
import json
import shutil

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from storage.db import open_db
from tests.support.site import PAGES, ROOT, SITE, expected_text, normal, outlets_config, wirewatch


def replay(tmp_path, *paths, config=None):
    config = config or tmp_path / "w.toml"
    if not config.exists():
        config.write_text(
            '[[outlets]]\nname = "presstv"\nfeeds = ["https://www.presstv.ir/rss.xml"]\n'
            'allow_domains = ["presstv.ir"]\n'
        )
    result = wirewatch(
        "--config",
        str(config),
        "--db",
        str(tmp_path / "r.db"),
        "replay",
        "--json",
        *map(str, paths),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def articles(tmp_path):
    db = open_db(tmp_path / "r.db")
    return {row["url"]: row for row in db.query("select * from articles")}


def test_replay_the_seed_pages(tmp_path):
    counts, _ = replay(tmp_path, SITE)
    # The five articles, and Press TV's section front, which is not one.
    assert counts == {
        "seen": 6,
        "new": 5,
        "near_duplicates": 0,
        "updated": 0,
        "duplicates": 0,
        "skipped": 1,
        "errors": 0,
        "alerts": 0,
    }
    stored = articles(tmp_path)
    assert len(stored) == 5
    by_title = {row["title"]: row for row in stored.values()}
    assert len(by_title) == 5
    for name, (_, chrome) in PAGES.items():
        row = next(r for r in stored.values() if normal(r["text"]) == normal(expected_text(name)))
        for line in chrome:
            assert line not in row["text"]
    # Outlets: configured by domain, else the host.
    outlets = {row["outlet"] for row in stored.values()}
    assert outlets == {"presstv", "english.almayadeen.net", "tehrantimes.com", "ifpnews.com"}


def test_replaying_again_changes_nothing(tmp_path):
    replay(tmp_path, SITE)
    before = articles(tmp_path)
    counts, _ = replay(tmp_path, SITE)
    assert counts == {
        "seen": 6,
        "new": 0,
        "near_duplicates": 0,
        "updated": 0,
        "duplicates": 5,
        "skipped": 1,
        "errors": 0,
        "alerts": 0,
    }
    after = articles(tmp_path)
    assert {u: r["text"] for u, r in before.items()} == {u: r["text"] for u, r in after.items()}


def test_bad_files_are_reported_and_the_rest_stored(tmp_path):
    folder = tmp_path / "pages"
    shutil.copytree(SITE / "presstv", folder)
    (folder / "empty.html").write_bytes(b"")
    (folder / "binary.html").write_bytes(bytes(range(256)) * 40)
    whole = (SITE / PAGES["ifpnews-mikheev-2021"][0]).read_bytes()
    (folder / "truncated.html").write_bytes(whole[: len(whole) // 2])
    counts, stderr = replay(tmp_path, folder)
    assert counts["errors"] == 3
    assert counts["new"] == 2  # the two Press TV articles
    assert counts["skipped"] == 1  # the section front
    assert counts["seen"] == 6
    for name in ("empty.html", "binary.html", "truncated.html"):
        assert name in stderr


def warc_record(writer, url, body, content_type="text/html; charset=utf-8"):
    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
    )


# warcio's writer leaves a SpooledTemporaryFile for the garbage collector: its warning, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_replay_warc(tmp_path):
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for name, (path, _) in PAGES.items():
        warc_record(writer, f"https://mirror.example/{name}", (SITE / path).read_bytes())
    warc_record(writer, "https://mirror.example/logo.png", b"\x89PNG", "image/png")
    warc = tmp_path / "crawl.warc.gz"
    warc.write_bytes(buffer.getvalue())
    counts, _ = replay(tmp_path, warc)
    assert counts["new"] == 5
    assert counts["errors"] == 0
    assert "https://ifpnews.com/russian-exporter-continue-military-cooperation-iran/" in articles(
        tmp_path
    )


def test_broken_warc_is_an_error_not_a_crash(tmp_path):
    warc = tmp_path / "broken.warc.gz"
    warc.write_bytes(gzip.compress(b"this is not a WARC file at all\r\n\r\n"))
    page = tmp_path / "page.html"
    page.write_bytes((SITE / PAGES["presstv-lavrov-2020"][0]).read_bytes())
    counts, stderr = replay(tmp_path, warc, page)
    assert counts["errors"] == 1
    assert counts["new"] == 1
    assert "broken.warc.gz" in stderr


def test_replay_with_two_jobs_stores_the_same_as_one(tmp_path):
    variants = SITE.parent / "variants"
    results = []
    for jobs in ("1", "2"):
        folder = tmp_path / f"jobs{jobs}"
        folder.mkdir()
        config = folder / "w.toml"
        config.write_text(outlets_config("http://127.0.0.1:9", folder / "w.db"))
        done = wirewatch(
            "--config", str(config), "replay", "--json", "--jobs", jobs, str(SITE), str(variants)
        )
        assert done.returncode == 0, done.stderr
        db = open_db(folder / "w.db")
        rows = db.execute("select url, story_id, content_hash from articles order by id").fetchall()
        results.append((json.loads(done.stdout), rows))
    assert results[0] == results[1]
    assert results[0][0]["near_duplicates"] == 1 and results[0][0]["updated"] == 1


KILLER = """
import extractors.article as article
import os

_read_meta = article.read_meta


def read_meta(tree):
    if "KILL-MARKER" in tree.text_content():
        os._exit(9)  # as a crash in a native library ends a process
    return _read_meta(tree)


article.read_meta = read_meta
"""


def test_a_page_that_kills_its_extracting_process_costs_no_other_page(tmp_path):
    # More pages than the pool's window (16 a process), the killer among the first, so both
    # the window's and the end's recovery run.
    pages = tmp_path / "pages"
    pages.mkdir()
    seed = (SITE / PAGES["presstv-lavrov-2020"][0]).read_text(encoding="utf-8")
    for n in range(40):
        copy = seed.replace("<body", f"<!-- {n} --><body", 1)
        if n == 3:
            copy = copy.replace("<body>", "<body><p>KILL-MARKER</p>", 1)
            assert "KILL-MARKER" in copy
        (pages / f"{n:02d}.html").write_text(copy, encoding="utf-8")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(KILLER)
    config = tmp_path / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n')
    done = wirewatch(
        "--config",
        str(config),
        "replay",
        "--json",
        "--jobs",
        "2",
        str(pages),
        PYTHONPATH=f"{hooks}:{ROOT}",
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["errors"] == 1, counts
    assert counts["seen"] == 40
    # The 39 others are the one story: stored once, the rest recognised as copies of it.
    assert counts["new"] + counts["duplicates"] + counts["near_duplicates"] == 39, counts
    assert "03.html: failed: the extracting process died on this page" in done.stderr


# -- every archive format its peers read (#14) ------------------------------------------------

SEED = "presstv-lavrov-2020"
SEED_URL = "https://www.presstv.ir/Detail/2020/11/10/638304/russia-iran-military-cooperation"


def _warc_records(writer: WARCWriter, body: bytes, kind: str, url: str = SEED_URL) -> None:
    if kind == "resource":
        # How Webrecorder stores a page: the HTML as a resource, no HTTP headers.
        record = writer.create_warc_record(
            url,
            "resource",
            payload=io.BytesIO(body),
            length=len(body),
            warc_content_type="text/html; charset=utf-8",
        )
    else:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body), http_headers=headers
        )
    writer.write_record(record)


def test_a_resource_record_holding_html_is_a_page(tmp_path):
    warc = tmp_path / "webrecorder.warc"
    with warc.open("wb") as out:
        _warc_records(WARCWriter(out, gzip=False), (SITE / PAGES[SEED][0]).read_bytes(), "resource")
    counts, stderr = replay(tmp_path, warc)
    assert counts["new"] == 1, stderr


def test_a_warc_gzipped_whole_is_read(tmp_path):
    plain = io.BytesIO()
    _warc_records(WARCWriter(plain, gzip=False), (SITE / PAGES[SEED][0]).read_bytes(), "response")
    _warc_records(
        WARCWriter(plain, gzip=False),
        (SITE / PAGES["presstv-ryabkov-2020"][0]).read_bytes(),
        "response",
        "https://www.presstv.ir/Detail/2020/10/18/636839/russia-iran-cooperation-embargo",
    )
    warc = tmp_path / "whole.warc.gz"
    warc.write_bytes(gzip.compress(plain.getvalue()))  # one gzip member, not one per record
    counts, stderr = replay(tmp_path, warc)
    assert counts["errors"] == 0, stderr
    assert counts["new"] + counts["near_duplicates"] == 2, counts


def arc_file(body: bytes, url: str) -> bytes:
    """An ARC (version 1) file holding one HTTP response."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    desc = b"1 0 wirewatch\nURL IP-address Archive-date Content-type Archive-length\n"
    head = b"filedesc://test.arc 0.0.0.0 20201110120000 text/plain %d\n" % len(desc)
    record = b"%s 127.0.0.1 20201110120000 text/html %d\n" % (url.encode(), len(http))
    return head + desc + b"\n" + record + http + b"\n"


def test_an_arc_file_is_read(tmp_path):
    arc = tmp_path / "old.arc"
    arc.write_bytes(arc_file((SITE / PAGES[SEED][0]).read_bytes(), SEED_URL))
    counts, stderr = replay(tmp_path, arc)
    assert counts["new"] == 1, stderr
    assert counts["errors"] == 0


def test_a_warc_without_a_page_says_so(tmp_path):
    warc = tmp_path / "images.warc"
    with warc.open("wb") as out:
        writer = WARCWriter(out, gzip=False)
        record = writer.create_warc_record(
            "https://example.org/a.png",
            "resource",
            payload=io.BytesIO(b"\x89PNG"),
            length=4,
            warc_content_type="image/png",
        )
        writer.write_record(record)
    counts, stderr = replay(tmp_path, warc)
    assert counts["errors"] == 1
    assert "no HTML page in it" in stderr
