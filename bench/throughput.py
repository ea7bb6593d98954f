"""Ingest throughput: the whole replay path beside bare trafilatura, on the same pages, one run.

Pages: the 181 AEB pages, written as HTML files with their URL as canonical link (``--copies N``
repeats them N times under distinct URLs, a larger corpus). Measured, in this order:

* bare ``trafilatura.extract(html, include_comments=False)`` over every page, in this process;
* ``wirewatch replay --json --jobs 1`` and ``--jobs 2`` into fresh SQLite files with 100 watches:
  extract, dedup, store, match, as a user runs it (process start included).

Usage: ``python bench/throughput.py [--copies 1]``; prints pages per second and the ratios,
and keeps the last run's table in ``bench/throughput.txt``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import trafilatura  # noqa: E402
from aeb import DEFAULT_AEB, load  # noqa: E402


def write_corpus(folder: Path, copies: int) -> list[bytes]:
    pages = load(DEFAULT_AEB)
    bodies = []
    for copy in range(copies):
        for index, (key, body, _url, _) in enumerate(pages):
            canonical = f"https://bench{copy}.example/{key}"
            link = f'<link rel="canonical" href="{canonical}">'.encode()
            marked = body.replace(b"<head>", b"<head>" + link, 1)
            if marked == body:
                marked = link + body
            (folder / f"{copy:03d}-{index:03d}.html").write_bytes(marked)
            bodies.append(marked)
    return bodies


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


def replay(folder: Path, jobs: int) -> tuple[float, dict, float]:
    """Seconds, counts, and the replay process's peak memory in MB (jobs=1 only: the workers
    of --jobs N are its children, which the kernel does not add to its maximum)."""
    work = folder / f"jobs{jobs}"
    work.mkdir()
    config = work / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{work / "w.db"}"\n\n' + watches())
    started = time.perf_counter()
    command = [sys.executable, "-m", "wirewatch", "--config", str(config), "replay", "--json"]
    done = subprocess.run(
        [*command, "--jobs", str(jobs), str(folder / "pages")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - started, json.loads(done.stdout), peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pages").mkdir()
        bodies = write_corpus(folder / "pages", args.copies)
        started = time.perf_counter()
        for body in bodies:
            trafilatura.extract(body.decode("utf-8", "replace"), include_comments=False)
        bare = time.perf_counter() - started
        one, counts, peak = replay(folder, 1)
        two, _, _ = replay(folder, 2)
    pages = len(bodies)
    lines = [
        f"{pages} pages; replay counts {counts}",
        f"{'path':34} {'seconds':>8} {'pages/s':>8} {'vs bare':>8}",
    ]
    for name, seconds in (
        ("bare trafilatura.extract", bare),
        ("wirewatch replay --jobs 1", one),
        ("wirewatch replay --jobs 2", two),
    ):
        lines.append(f"{name:34} {seconds:8.1f} {pages / seconds:8.1f} {bare / seconds:7.2f}x")
    lines.append(f"--jobs 2 vs --jobs 1: {one / two:.2f}x")
    lines.append(f"peak memory of replay --jobs 1: {peak:.0f} MB")
    print("\n".join(lines))
    (ROOT / "bench" / "throughput.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
