"""What one hostile page costs wirewatch's extractor beside bare trafilatura, page by page.

Pages: the big and deep pages of ``tests/support/hostile.py``, and link-dense pages of small link
blocks (a sitemap rendered as HTML, a tag cloud) at 2, 4 and 11 MB: the first under the
element budget (extracted), the others over it (skipped as ``over_budget``). Each side
extracts each page in a fresh process: ``extract_article(body, url)`` against
``trafilatura.extract(html)``; the figures are the extraction's own seconds (imports
excluded) and the process's peak resident memory (VmHWM) above what it held after its imports.

Usage: ``python bench/hostile.py [--runs N] [--json]``. The issue's bound: at most 1.5x bare
trafilatura in time and in memory on every page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proc import run_measured  # noqa: E402

URL = "http://127.0.0.1:8000/hostile/page.html"

# One child process: import, note the memory, extract once, print seconds and memory.
CHILD = """
import sys, time, resource
sys.path.insert(0, {root!r})
side, path, url = sys.argv[1], sys.argv[2], sys.argv[3]
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
if side == "wirewatch":
    from extractors.article import extract_article
    run = lambda body: extract_article(body, url)
else:
    import trafilatura
    run = lambda body: trafilatura.extract(body.decode("utf-8", "replace"), url=url,
                                           include_comments=False)
body = open(path, "rb").read()
before = hwm()
started = time.perf_counter()
result = run(body)
seconds = time.perf_counter() - started
print(seconds, hwm() - before, getattr(result, "reason", None) or "")
"""


def pages() -> dict[str, bytes]:
    """The hostile pages, by name."""
    from tests.support.hostile import ARTICLE, page

    def links(size: int) -> bytes:
        block = '<div class="c"><a href="/t/{0}">Topic {0}</a></div>'
        parts, total, n = [], 0, 0
        while total < size:
            part = block.format(n)
            parts.append(part)
            total += len(part)
            n += 1
        return page("Links", ARTICLE + "".join(parts))

    return {
        "big (11 MB of text)": page("Big", ARTICLE + "<p>" + "x" * 11_000_000 + "</p>"),
        "deep (10,000 levels)": page("Deep", "<div>" * 10_000 + ARTICLE + "</div>" * 10_000),
        "link-dense 2 MB": links(2_000_000),
        "link-dense 4 MB": links(4_000_000),
        "link-dense 11 MB": links(11_000_000),
    }


def measure(side: str, file: Path, runs: int) -> tuple[float, float, str]:
    """Median extraction seconds and median peak MB above the imports, over ``runs``."""
    seconds, memory, reason = [], [], ""
    for _ in range(runs):
        child = [sys.executable, "-c", CHILD.format(root=str(ROOT)), side, str(file), URL]
        out = run_measured(child, ROOT).stdout.split()
        seconds.append(float(out[0]))
        memory.append(float(out[1]))
        reason = out[2] if len(out) > 2 else "stored"
    return statistics.median(seconds), statistics.median(memory), reason


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per page and side (median)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, body in pages().items():
            file = Path(folder) / "page.html"
            file.write_bytes(body)
            ours = measure("wirewatch", file, args.runs)
            bare = measure("trafilatura", file, args.runs)
            rows.append(
                {
                    "page": name,
                    "mb": round(len(body) / 1e6, 1),
                    "wirewatch_s": round(ours[0], 2),
                    "trafilatura_s": round(bare[0], 2),
                    "time_ratio": round(ours[0] / bare[0], 2) if bare[0] else None,
                    "wirewatch_mb": round(ours[1]),
                    "trafilatura_mb": round(bare[1]),
                    "memory_ratio": round(ours[1] / bare[1], 2) if bare[1] >= 1 else None,
                    "outcome": ours[2],
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'page':<22} {'MB':>5} {'ours s':>7} {'bare s':>7} {'x':>5} "
        f"{'ours MB':>8} {'bare MB':>8} {'x':>5}  outcome"
    )
    for r in rows:
        print(
            f"{r['page']:<22} {r['mb']:>5} {r['wirewatch_s']:>7} {r['trafilatura_s']:>7} "
            f"{r['time_ratio']!s:>5} {r['wirewatch_mb']:>8} {r['trafilatura_mb']:>8} "
            f"{r['memory_ratio']!s:>5}  {r['outcome']}"
        )


if __name__ == "__main__":
    main()
