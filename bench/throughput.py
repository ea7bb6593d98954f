"""Ingest throughput: the whole replay path beside bare trafilatura, on the same pages, one run.

Pages: the 181 AEB pages, written as HTML files with their URL as canonical link (``--copies N``
repeats them N times under distinct URLs, a larger corpus). Measured, in this order:

* bare ``trafilatura.extract(html, include_comments=False)`` over every page file, in a fresh
  Python process that imports trafilatura and reads the files;
* ``wirewatch replay --json`` as a user runs it (its default: one extracting process per core,
  up to 6) and ``--jobs 1`` (one process), into fresh SQLite files with 100 watches: extract,
  dedup, store, match.

Both sides are timed the same way, from process start to exit, so the ratio compares the work
done per page and neither side is charged for start-up the other is spared.

Usage: ``python bench/throughput.py [--copies 1,5,20] [--repeat 3]`` (corpus sizes: 181, 905
and 3,620 pages; rounds per size, the machine being shared and noisy); prints a table of time,
pages per second, ratios (the median of the rounds' ratios, and the ratio of each side's
fastest run) and peak memory per size, and keeps it in ``bench/throughput.txt``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Before bench/ goes on the path: bench/ingest.py would shadow the ingest package.
from wirewatch.replay import default_jobs  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

from aeb import DEFAULT_AEB, load  # noqa: E402
from proc import Measured, run_measured  # noqa: E402


def write_corpus(folder: Path, copies: int) -> int:
    """Write ``copies`` x 181 page files into ``folder``; their number."""
    pages = load(DEFAULT_AEB)
    written = 0
    for copy in range(copies):
        for index, (key, body, _url, _) in enumerate(pages):
            canonical = f"https://bench{copy}.example/{key}"
            link = f'<link rel="canonical" href="{canonical}">'.encode()
            marked = body.replace(b"<head>", b"<head>" + link, 1)
            if marked == body:
                marked = link + body
            (folder / f"{copy:03d}-{index:03d}.html").write_bytes(marked)
            written += 1
    return written


def watches(count: int = 100) -> str:
    rng = random.Random(6)
    words = ["iran", "russia", "election", "climate", "market", "football", "police", "court"]
    blocks = []
    for n in range(count):
        query = " ".join(rng.sample(words, 2))
        blocks.append(
            f'[[watches]]\nname = "w{n}"\nquery = "{query}"\nemail = "a@example.org"\n'
            'max_age = "100000d"\n'
        )
    return "\n".join(blocks)


BARE = """
import sys
from pathlib import Path
import trafilatura
for path in sorted(Path(sys.argv[1]).iterdir()):
    trafilatura.extract(path.read_bytes().decode("utf-8", "replace"), include_comments=False)
"""


def bare_trafilatura(pages: Path) -> Measured:
    """A fresh process importing trafilatura and extracting every page, measured."""
    return run_measured([sys.executable, "-c", BARE, str(pages)], ROOT)


def replay(folder: Path, pages: Path, jobs: int | None) -> Measured:
    """``wirewatch replay --json [--jobs JOBS]`` into a fresh database, measured."""
    folder.mkdir()
    config = folder / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{folder / "w.db"}"\n\n' + watches())
    command = [sys.executable, "-m", "wirewatch", "--config", str(config), "replay", "--json"]
    chosen = ["--jobs", str(jobs)] if jobs else []
    return run_measured([*command, *chosen, str(pages)], ROOT)


def measure(copies: int, repeat: int) -> dict:
    """One corpus size, ``repeat`` rounds of bare trafilatura, replay as run by default and
    replay --jobs 1, in that order; the median of each figure (ratios are taken within a
    round)."""
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pages").mkdir()
        pages = write_corpus(folder / "pages", copies)
        for n in range(repeat):
            bare = bare_trafilatura(folder / "pages")
            run = replay(folder / f"{n}-default", folder / "pages", None)
            one = replay(folder / f"{n}-jobs1", folder / "pages", 1)
            counts = json.loads(run.stdout)
            if json.loads(one.stdout) != counts:
                raise SystemExit(f"--jobs 1 stored otherwise: {one.stdout} against {run.stdout}")
            size = (folder / f"{n}-jobs1" / "w.db").stat().st_size / 1e6
            rounds.append(
                {
                    "bare": bare.seconds,
                    "bare_peak": bare.peak_mb,
                    "run": run.seconds,
                    "one": one.seconds,
                    "peak": one.peak_mb,
                    "db_mb": size,
                    "vs_bare": bare.seconds / run.seconds,
                    "one_vs_bare": bare.seconds / one.seconds,
                    "cpu_vs_bare": bare.cpu_seconds / one.cpu_seconds,
                }
            )
    row: dict[str, Any] = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    for key in ("vs_bare", "one_vs_bare"):
        row[f"{key}_range"] = (min(r[key] for r in rounds), max(r[key] for r in rounds))
    # Noise on a shared machine only ever adds time, so the fastest run of each is the least
    # disturbed one (timeit's reasoning); their ratios are shown beside the medians.
    fastest = {key: min(r[key] for r in rounds) for key in ("bare", "run", "one")}
    row["best_vs_bare"] = fastest["bare"] / fastest["run"]
    row["best_one"] = fastest["bare"] / fastest["one"]
    return {"pages": pages, "counts": counts, **row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copies", default="1,5,20", help="corpus sizes, as copies of the 181 pages (1,5,20)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (3)")
    args = parser.parse_args(argv)
    rows = [measure(int(copies), args.repeat) for copies in args.copies.split(",")]
    lines = [
        f"medians of {args.repeat} rounds; ratios (bare's time over replay's: above 1 is faster "
        "than bare) within a round, their range in brackets; 'fastest': the ratio of the fastest "
        f"run of each side; replay's default here is --jobs {default_jobs()}",
        "",
        "pages | bare s | replay s | pages/s | vs bare | vs bare, fastest | --jobs 1 s "
        "| jobs 1 vs bare | jobs 1 vs bare, fastest | jobs 1 vs bare, CPU time | peak MB bare "
        "| peak MB jobs 1 | database MB",
        "---|---|---|---|---|---|---|---|---|---|---|---|---",
    ]
    for r in rows:
        low, high = r["vs_bare_range"]
        low1, high1 = r["one_vs_bare_range"]
        lines.append(
            f"{r['pages']:,} | {r['bare']:.1f} | {r['run']:.1f} | {r['pages'] / r['run']:.1f} "
            f"| {r['vs_bare']:.2f}x ({low:.2f}-{high:.2f}) | {r['best_vs_bare']:.2f}x "
            f"| {r['one']:.1f} | {r['one_vs_bare']:.2f}x ({low1:.2f}-{high1:.2f}) "
            f"| {r['best_one']:.2f}x | {r['cpu_vs_bare']:.2f}x "
            f"| {r['bare_peak']:.0f} | {r['peak']:.0f} | {r['db_mb']:.0f}"
        )
    lines += ["", *(f"{r['pages']} pages: replay counts {r['counts']}" for r in rows)]
    print("\n".join(lines))
    (ROOT / "bench" / "throughput.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
