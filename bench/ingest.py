"""Ingest cost per article as the archive grows: 1k, 100k and 1M stored articles.

The archive is filled with synthetic articles written straight into the schema (a text of 150
words drawn from the AEB vocabulary, its URL key, its story, 32 random band keys as a distinct
text would have, and the full-text index through the table's triggers), because storing a
million articles one by one would take hours and measure nothing more. At each size, 300 new
articles go through the real path, ``Ingest.store`` with 100 watches: URL lookup, exact and
near-duplicate story lookup, insert, band keys, full-text index, alert matching. They are AEB
texts, each made distinct by a random edit of a third of its words; one in ten is instead a
light copy (2 % of words edited) of one stored earlier in the run, so the near-duplicate path
runs too.

Usage: ``python bench/ingest.py [--sizes 1000,100000,1000000] [--db PATH]``; numbers go to
stdout and ``bench/ingest.txt`` is the last run's copy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractors.article import Article  # noqa: E402
from extractors.urls import url_key  # noqa: E402
from ingest import Ingest  # noqa: E402
from storage import stories  # noqa: E402
from storage.articles import text_hash  # noqa: E402
from storage.db import open_db  # noqa: E402
from wirewatch.config import Config  # noqa: E402

AEB = ROOT.parent / "shared" / "benchmarks" / "aeb" / "ground-truth.json"
MEASURED = 300
FILL_BATCH = 20_000


def load_texts() -> list[str]:
    truth = json.loads(AEB.read_text(encoding="utf-8"))
    return sorted(v["articleBody"] for v in truth.values() if len(v["articleBody"]) > 500)


def config_with_watches(vocabulary: list[str], rng: random.Random) -> Config:
    watches = [
        {
            "name": f"w{i}",
            "query": " ".join(rng.sample(vocabulary, 2)),
            "email": "analyst@example.org",
            "max_age": "10000d",
        }
        for i in range(100)
    ]
    return Config.model_validate({"outlets": [], "watches": watches})


def fill(db, start: int, stop: int, vocabulary: list[str], rng: random.Random) -> None:
    """Synthetic articles ``start``..``stop``-1, committed in batches."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    (next_article,) = db.execute("select coalesce(max(id), 0) + 1 from articles").fetchone()
    (next_story,) = db.execute("select coalesce(max(id), 0) + 1 from stories").fetchone()
    for first in range(start, stop, FILL_BATCH):
        last = min(stop, first + FILL_BATCH)
        articles, urls, bands, story_rows = [], [], [], []
        for n in range(first, last):
            article_id, story_id = next_article + n - start, next_story + n - start
            text = " ".join(rng.choices(vocabulary, k=150))
            url = f"https://filler{n % 50}.example/news/{n}"
            seen = (now - timedelta(minutes=n)).isoformat()
            story_rows.append((story_id, f"Filler {n}", seen, seen, 1, '["filler"]'))
            articles.append(
                (
                    article_id,
                    url,
                    "filler",
                    f"Filler {n}",
                    seen,
                    seen,
                    text,
                    text_hash(text),
                    story_id,
                )
            )
            urls.append((url, article_id, url_key(url)))
            bands.extend((rng.getrandbits(64) - 2**63, article_id) for _ in range(stories.BANDS))
        bands.sort()
        with db.conn:
            db.conn.executemany(
                "insert into stories (id, title, first_seen, last_seen, articles, outlets) "
                "values (?, ?, ?, ?, ?, ?)",
                story_rows,
            )
            db.conn.executemany(
                "insert into articles (id, url, outlet, title, first_seen, last_seen, text, "
                "content_hash, story_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                articles,
            )
            db.conn.executemany(
                "insert into article_urls (url, article_id, key) values (?, ?, ?)", urls
            )
            db.conn.executemany("insert into story_bands (key, article_id) values (?, ?)", bands)


def edit(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    return " ".join(
        rng.choice(vocabulary) if rng.random() < rate else word for word in text.split(" ")
    )


def measure(db, ingest: Ingest, texts, vocabulary, rng, size: int, stored: list[str]) -> dict:
    timings, outcomes = [], {}
    for i in range(MEASURED):
        if stored and i % 10 == 9:
            text = edit(rng.choice(stored), 0.02, rng, vocabulary)
        else:
            text = edit(rng.choice(texts), 0.33, rng, vocabulary)
        url = f"https://bench.example/{size}/{i}"
        article = Article(
            url=url,
            fetched_url=url,
            title=text[:60],
            author=None,
            published=None,
            language="en",
            sitename="Bench",
            text=text,
        )
        started = time.perf_counter()
        result = ingest.store(article, "bench")
        timings.append(time.perf_counter() - started)
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        stored.append(text)
    return {
        "size": size,
        "mean_ms": statistics.fmean(timings) * 1000,
        "median_ms": statistics.median(timings) * 1000,
        "p95_ms": sorted(timings)[int(0.95 * len(timings))] * 1000,
        "outcomes": outcomes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--db", type=Path, help="Where to build the archive (default: a temp dir).")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(4)
    texts = load_texts()
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha()})
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "ingest.db"
        db = open_db(path)
        ingest = Ingest(db, config_with_watches(vocabulary, rng).watches)
        rows, stored, have = [], [], 0
        for size in sizes:
            started = time.perf_counter()
            fill(db, have, size - len(stored), vocabulary, rng)
            have = size - len(stored)
            filled = time.perf_counter() - started
            row = measure(db, ingest, texts, vocabulary, rng, size, stored)
            row["fill_s"] = filled
            row["db_mb"] = os.path.getsize(path) / 2**20
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        db.close()
    base = rows[0]["mean_ms"]
    lines = [
        f"Ingest per article (Ingest.store, 100 watches), {MEASURED} articles at each size",
        f"{'stored':>9} {'mean ms':>8} {'median':>7} {'p95':>7} {'vs first':>8} "
        f"{'db MB':>7}  outcomes",
    ]
    for row in rows:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(row["outcomes"].items()))
        lines.append(
            f"{row['size']:>9,} {row['mean_ms']:8.2f} {row['median_ms']:7.2f} "
            f"{row['p95_ms']:7.2f} {row['mean_ms'] / base:7.2f}x {row['db_mb']:7.0f}  {outcomes}"
        )
    report = "\n".join(lines)
    print(report)
    if args.sizes == parser.get_default("sizes"):
        (ROOT / "bench" / "ingest.txt").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
