"""The news-pages set (../shared/benchmarks/news-pages) crawled as a news crawler meets it.

81 real pages from goose3's and newspaper4k's test suites: articles, and three outlets' front
pages. Each outlet (the registrable domain of a page's original URL) is served by its own HTTP
server on 127.0.0.1, every page at its original path, with a feed listing them all, the front
page at ``/`` included; pages that name no URL go to one more outlet. ``wirewatch crawl`` then
crawls every outlet through its feed, and the result is read from the database:

- articles stored, of the pages with a truth file (every one should be);
- the expected opening found in the stored text, beside bare ``trafilatura.extract`` on the same
  bytes: the first 100 characters of the truth (goose3's ``cleaned_text``, newspaper4k's text),
  compared after folding case and keeping only word characters;
- front pages stored (none should be).

Usage: ``python bench/newspages.py [--pages DIR] [--json]``. tests/test_newspages.py holds
the same figures as a floor.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGES = ROOT.parent / "shared" / "benchmarks" / "news-pages" / "pages"
OPENING = 100
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Case:
    """One page of the set."""

    key: str
    body: bytes
    url: str | None  # its original URL, where the set gives one
    opening: str | None  # the start of its expected text; None for pages without a truth
    front: bool  # an outlet's front page: never an article


def fold(text: str) -> str:
    return " ".join(_WORD.findall((text or "").casefold()))


def found(text: str | None, opening: str) -> bool:
    """Whether ``text`` holds the expected opening (its first OPENING folded characters)."""
    return fold(opening)[:OPENING] in fold(text or "")


def load(folder: Path = DEFAULT_PAGES) -> list[Case]:
    """Every page with a truth file, and the front pages."""
    cases = []
    for page in sorted(folder.glob("*.html.gz")):
        key = page.name.removesuffix(".html.gz")
        url = opening = None
        goose = folder / f"{key}.json.gz"
        if goose.exists():
            data = json.loads(gzip.decompress(goose.read_bytes()))
            url, opening = data.get("url"), data["expected"].get("cleaned_text")
        text, meta = folder / f"{key}.txt.gz", folder / f"{key}.meta.json.gz"
        if text.exists():
            opening = gzip.decompress(text.read_bytes()).decode("utf-8")
        if meta.exists():
            url = json.loads(gzip.decompress(meta.read_bytes())).get("url") or url
        front = "_main_site" in key
        if opening or front:
            body = gzip.decompress(page.read_bytes())
            cases.append(Case(key, body, url, opening or None, front))
    return cases


def outlet_of(case: Case) -> str:
    """The outlet a page belongs to: its original domain, or "misc" for pages without one."""
    from extractors.urls import registrable_domain

    if case.front:
        return {"np4k_cnn_main_site": "cnn.com", "np4k_wired_main_site": "wired.com"}.get(
            case.key, "yahoo.com"
        )
    return registrable_domain(case.url) if case.url else "misc"


def path_of(case: Case) -> str:
    """Where a page is served: its original path and query; a front page at ``/``."""
    if case.front:
        return "/"
    if not case.url:
        return f"/{case.key}.html"
    parts = urlsplit(case.url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@contextmanager
def serve(cases: list[Case]) -> Iterator[dict[str, tuple[str, dict[str, Case]]]]:
    """One server per outlet on 127.0.0.1; yields outlet -> (base URL, served URL -> case)."""
    groups: dict[str, dict[str, Case]] = {}
    for case in cases:
        group = groups.setdefault(outlet_of(case), {})
        path = path_of(case)
        # Some test pages share an original URL: the second is served under its own name.
        group[f"/{case.key}.html" if path in group else path] = case
    outlets = {}
    with ExitStack() as stack:
        for name, pages in sorted(groups.items()):
            base = stack.enter_context(_server(pages))
            outlets[name] = (base, {base + path: case for path, case in pages.items()})
        yield outlets


@contextmanager
def _server(pages: dict[str, Case]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/feed.xml":
                self._send(feed(base, pages), "application/rss+xml")
            elif self.path in pages:
                self._send(pages[self.path].body, "text/html")
            else:
                self.send_error(404)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def feed(base: str, pages: dict[str, Case]) -> bytes:
    items = "".join(
        f"<item><title>{escape(case.key)}</title><link>{escape(base + path)}</link></item>"
        for path, case in pages.items()
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>news-pages</title>'
        f"{items}</channel></rss>"
    ).encode()


def config(outlets: dict[str, tuple[str, dict[str, Case]]], database: Path) -> str:
    lines = [
        f'[storage]\ndatabase = "{database}"',
        '[crawl]\ndelay = "0s"\nautothrottle = false\nobey_robots = false\n'
        'user_agent = "wirewatch-bench/0.1 (+https://example.org/bot)"',
    ]
    for name, (base, _) in outlets.items():
        lines.append(
            f'[[outlets]]\nname = "{name}"\nfeeds = ["{base}/feed.xml"]\nmax_age = "100000d"'
        )
    return "\n".join(lines) + "\n"


def crawl(cases: list[Case], folder: Path) -> dict[str, object]:
    """Crawl every outlet through its feed; what was stored, page by page."""
    from storage.db import open_db

    database = folder / "news.db"
    with serve(cases) as outlets:
        config_file = folder / "news.toml"
        config_file.write_text(config(outlets, database))
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "wirewatch", "--config", str(config_file), "crawl", "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        seconds = time.perf_counter() - started
        if result.returncode not in (0, 1):
            raise RuntimeError(f"crawl failed ({result.returncode}): {result.stderr[-2000:]}")
        db = open_db(database)
        try:
            stored = {}
            for served, case in ((u, c) for _, pages in outlets.values() for u, c in pages.items()):
                stored[case.key] = _stored_text(db, served)
        finally:
            db.close()
    return {"stored": stored, "seconds": seconds}


def _stored_text(db: object, url: str) -> str | None:
    from extractors.urls import url_key

    row = db.execute(  # type: ignore[attr-defined]
        "select a.title, a.text from article_urls u join articles a on a.id = u.article_id "
        "where u.key = ?",
        [url_key(url)],
    ).fetchone()
    return None if row is None else row[1]


def bare(cases: list[Case]) -> dict[str, str]:
    """Bare trafilatura on each page's bytes (its own decoding), at its original URL."""
    import trafilatura

    return {
        case.key: trafilatura.extract(case.body, url=case.url, include_comments=False) or ""
        for case in cases
    }


def measure(folder: Path = DEFAULT_PAGES) -> dict[str, object]:
    cases = load(folder)
    with tempfile.TemporaryDirectory() as work:
        crawled = crawl(cases, Path(work))
    stored: dict[str, str | None] = crawled["stored"]  # type: ignore[assignment]
    theirs = bare(cases)
    articles = [c for c in cases if not c.front and c.opening]
    missing = [c.key for c in articles if stored[c.key] is None]
    ours_found = [c.key for c in articles if found(stored[c.key], c.opening or "")]
    bare_found = [c.key for c in articles if found(theirs[c.key], c.opening or "")]
    return {
        "articles": len(articles),
        "stored": len(articles) - len(missing),
        "not_stored": missing,
        "opening_wirewatch": len(ours_found),
        "opening_trafilatura": len(bare_found),
        "only_trafilatura": sorted(set(bare_found) - set(ours_found)),
        "only_wirewatch": sorted(set(ours_found) - set(bare_found)),
        "front_pages": sum(c.front for c in cases),
        "front_pages_stored": [c.key for c in cases if c.front and stored[c.key] is not None],
        "crawl_seconds": round(float(crawled["seconds"]), 1),  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.pages.is_dir():
        sys.exit(f"no news-pages set at {args.pages}")
    result = measure(args.pages)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"news-pages, crawled through each outlet's feed ({result['crawl_seconds']} s):")
    print(f"  articles stored: {result['stored']} of {result['articles']}")
    print(
        f"  opening found: wirewatch {result['opening_wirewatch']}, "
        f"bare trafilatura {result['opening_trafilatura']} (of {result['articles']})"
    )
    print(
        f"  front pages stored: {len(result['front_pages_stored'])} "  # type: ignore[arg-type]
        f"of {result['front_pages']}"
    )
    for key in ("not_stored", "only_trafilatura", "only_wirewatch", "front_pages_stored"):
        if result[key]:
            print(f"  {key}: {', '.join(result[key])}")  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
