"""Crawl throughput: one crawl process over N article pages behind a feed, on 127.0.0.1.

The pages are the AEB benchmark's, cycled under distinct URLs (each with its own canonical
link). The crawl runs as users run it (``wirewatch crawl --json``, no politeness delay, 8
requests at a time to the one local host). Reported: pages per second, the crawl process's
peak memory (its resident-set high-water mark, see bench/proc.py), and the share of the crawl spent
outside extraction (from the spider's ``wirewatch/time/extract_seconds`` stat).

Usage: ``python bench/crawl.py [--pages 2000 500 ...]``; the table goes to ``bench/crawl.txt``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aeb import DEFAULT_AEB, load  # noqa: E402
from proc import run_measured  # noqa: E402

from wirewatch.localsite import serve_folder  # noqa: E402


def write_site(folder: Path, count: int) -> None:
    pages = load(DEFAULT_AEB)
    items = []
    for n in range(count):
        key, body, _, _ = pages[n % len(pages)]
        canonical = f"https://crawl.example/{n // len(pages)}/{key}"
        link = f'<link rel="canonical" href="{canonical}">'.encode()
        marked = body.replace(b"<head>", b"<head>" + link, 1)
        (folder / f"{n}.html").write_bytes(marked if marked != body else link + body)
        items.append(f"<item><title>{n}</title><link>{{{{base}}}}/{n}.html</link></item>")
    (folder / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>'
        + "".join(items)
        + "</channel></rss>"
    )


def crawl(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "site").mkdir()
        write_site(folder / "site", count)
        with serve_folder(folder / "site") as base:
            config = folder / "w.toml"
            config.write_text(
                f'[storage]\ndatabase = "{folder / "w.db"}"\n'
                '[crawl]\nuser_agent = "wirewatch-bench/0.1 (+https://example.org/bot)"\n'
                'delay = "0s"\nautothrottle = false\nconcurrency_per_domain = 8\n'
                f'max_pages = {count}\nrecheck = "0s"\n'
                f'[[outlets]]\nname = "bench"\nfeeds = ["{base}/feed.xml"]\n'
                'allow_domains = ["127.0.0.1"]\nmax_age = "100000d"\n'
            )
            measured = run_measured(
                [sys.executable, "-m", "wirewatch", "--config", str(config), "crawl", "--json"],
                ROOT,
            )
        summary = json.loads(measured.stdout)[0]
        with sqlite3.connect(folder / "w.db") as db:
            (stats,) = db.execute("select stats from crawl_runs").fetchone()
        stats = json.loads(stats)
    extract = float(stats.get("wirewatch/time/extract_seconds", 0.0))
    elapsed = float(stats.get("elapsed_time_seconds", measured.seconds))
    return {
        "pages": count,
        "fetched": summary["fetched"],
        "stored": summary["new"] + summary["near_duplicates"],
        "seconds": measured.seconds,
        "pages_per_s": summary["fetched"] / measured.seconds,
        "peak_mb": measured.peak_mb,
        "outside_extraction": 1 - extract / elapsed if elapsed else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[250, 1000, 2000])
    args = parser.parse_args(argv)
    rows = [crawl(count) for count in sorted(args.pages)]
    lines = [
        "One crawl process, pages behind a feed on 127.0.0.1 (AEB pages, distinct URLs)",
        f"{'pages':>6} {'fetched':>8} {'stored':>7} {'seconds':>8} {'pages/s':>8} "
        f"{'peak MB':>8} {'outside extraction':>19}",
    ]
    for row in rows:
        lines.append(
            f"{row['pages']:6d} {row['fetched']:8d} {row['stored']:7d} {row['seconds']:8.1f} "
            f"{row['pages_per_s']:8.1f} {row['peak_mb']:8.0f} {row['outside_extraction']:18.0%}"
        )
    report = "\n".join(lines)
    print(report)
    (ROOT / "bench" / "crawl.txt").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
