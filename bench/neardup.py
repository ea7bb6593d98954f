"""Near-duplicate detection: precision and recall on a labelled set of text pairs.

The set is built from real article texts (the AEB benchmark's hand-extracted bodies and the
seed stories of tests/fixtures/expected), with a fixed random seed so every run builds the same
pairs:

* same story (positives): copies with 1, 3, 5 and 10 % of their words edited, another outlet's
  leftovers added (share lines, "first published by"), an excerpt cut to 70 % and 50 %, a
  paragraph added, and a syndicated copy (leftovers, 2 % edits, last paragraph dropped);
* different stories (negatives): two unrelated articles, articles that borrow 20, 35 and 50 %
  of their words from another one as background, and every pair of the five seed stories
  (same topic, same people; Press TV's 002 and 003 share whole paragraphs).

A pair is detected when it shares an LSH band key and its shingle Jaccard reaches the
threshold, which is exactly what ``storage.stories`` does when it stores an article.

Usage: ``python bench/neardup.py [--aeb DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import stories  # noqa: E402

DEFAULT_AEB = ROOT.parent / "shared" / "benchmarks" / "aeb"
SEEDS = ROOT / "tests" / "fixtures" / "expected"
LEFTOVERS = [
    "Share this article",
    "Follow us on Telegram and X for the latest news.",
    "This story was first published by {outlet} and is republished with permission.",
    "Read more: {headline}",
    "Subscribe to our newsletter",
]
OUTLETS = ["Reuters", "AP", "AFP", "IRNA", "TASS", "Xinhua"]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def edit(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    """Replace, drop or insert words at ``rate``, keeping the paragraph breaks."""
    out = []
    for para in paragraphs(text):
        kept = []
        for word in para.split():
            roll = rng.random()
            if roll < rate / 3:
                continue
            if roll < 2 * rate / 3:
                kept.append(rng.choice(vocabulary))
            elif roll < rate:
                kept.extend([word, rng.choice(vocabulary)])
            else:
                kept.append(word)
        out.append(" ".join(kept))
    return "\n".join(out)


def leftovers(text: str, rng: random.Random, headline: str) -> str:
    paras = paragraphs(text)
    fill = {"outlet": rng.choice(OUTLETS), "headline": headline}
    head = [LEFTOVERS[0]]
    middle = LEFTOVERS[3].format(**fill)
    tail = [LEFTOVERS[2].format(**fill), LEFTOVERS[1], LEFTOVERS[4]]
    cut = len(paras) // 2
    return "\n".join(head + paras[:cut] + [middle] + paras[cut:] + tail)


def cut(text: str, share: float) -> str:
    """The leading paragraphs that make up about ``share`` of the words."""
    paras, out, total = paragraphs(text), [], len(text.split())
    for para in paras:
        out.append(para)
        if sum(len(p.split()) for p in out) >= share * total:
            break
    return "\n".join(out)


def borrow(own: str, other: str, share: float) -> str:
    """``own`` with a block of ``other``'s paragraphs making about ``share`` of the words."""
    block = cut(other, share / (1 - share) * len(own.split()) / max(1, len(other.split())))
    paras = paragraphs(own)
    middle = len(paras) // 2
    return "\n".join(paras[:middle] + paragraphs(block) + paras[middle:])


def build_pairs(aeb: Path, limit: int = 80) -> list[tuple[str, bool, str, str]]:
    """(kind, same story?, text a, text b) pairs; deterministic."""
    rng = random.Random(2026)
    truth = json.loads((aeb / "ground-truth.json").read_text(encoding="utf-8"))
    texts = [v["articleBody"] for v in truth.values() if len(v["articleBody"].split()) >= 150]
    texts.sort()
    rng.shuffle(texts)
    vocabulary = sorted({w for t in texts for w in t.split()})
    bases = texts[:limit]
    pairs: list[tuple[str, bool, str, str]] = []

    def same(kind: str, a: str, b: str) -> None:
        pairs.append((kind, True, a, b))

    def different(kind: str, a: str, b: str) -> None:
        pairs.append((kind, False, a, b))

    for i, base in enumerate(bases):
        other = bases[(i + 1) % len(bases)]
        headline = paragraphs(other)[0][:80]
        for rate in (0.01, 0.03, 0.05, 0.10):
            same(f"copy, {rate:.0%} words edited", base, edit(base, rate, rng, vocabulary))
        same("copy with another outlet's leftovers", base, leftovers(base, rng, headline))
        same("excerpt, first 70 %", base, cut(base, 0.7))
        same("excerpt, first 50 %", base, cut(base, 0.5))
        same("update, a paragraph added", base, base + "\n" + paragraphs(other)[-1])
        syndicated = "\n".join(paragraphs(edit(base, 0.02, rng, vocabulary))[:-1])
        same("syndicated: leftovers, 2 % edits, cut", base, leftovers(syndicated, rng, headline))
        different("unrelated article", base, other)
        third = bases[(i + 2) % len(bases)]
        for share in (0.2, 0.35, 0.5):
            different(
                f"other story, {share:.0%} borrowed background", base, borrow(third, base, share)
            )
    seeds = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    for a in range(len(seeds)):
        for b in range(a + 1, len(seeds)):
            different("seed stories, same topic", seeds[a], seeds[b])
    return pairs


def measure(pairs: list[tuple[str, bool, str, str]]) -> list[dict]:
    rows = []
    for kind, same, a, b in pairs:
        sa, sb = stories.shingles(a), stories.shingles(b)
        shared = bool(set(stories.band_keys(sa)) & set(stories.band_keys(sb)))
        score = stories.jaccard(sa, sb)
        rows.append({"kind": kind, "same": same, "jaccard": score, "band": shared})
    return rows


def scores(rows: list[dict], threshold: float) -> tuple[float, float]:
    found = [r for r in rows if r["band"] and r["jaccard"] >= threshold]
    tp = sum(r["same"] for r in found)
    positives = sum(r["same"] for r in rows)
    return (tp / len(found) if found else 1.0, tp / positives)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aeb", type=Path, default=DEFAULT_AEB)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = measure(build_pairs(args.aeb))
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(row)
    sweep = {t / 100: scores(rows, t / 100) for t in range(20, 85, 5)}
    if args.json:
        print(json.dumps({"rows": rows, "sweep": sweep}, indent=1))
        return 0
    print(
        f"{len(rows)} labelled pairs; shingles of {stories.SHINGLE} words; MinHash "
        f"{stories.BANDS} bands x {stories.ROWS} rows; threshold {stories.THRESHOLD}"
    )
    header = ("pair kind", "label", "n", "J min", "J med", "J max", "found")
    print("{:44} {:9} {:>3} {:>6} {:>6} {:>6} {:>6}".format(*header))
    for kind, group in by_kind.items():
        values = sorted(r["jaccard"] for r in group)
        found = sum(r["band"] and r["jaccard"] >= stories.THRESHOLD for r in group)
        label = "same" if group[0]["same"] else "different"
        print(
            f"{kind:44} {label:9} {len(group):3} {values[0]:6.3f} "
            f"{values[len(values) // 2]:6.3f} {values[-1]:6.3f} {found:3}/{len(group):<3}"
        )
    print("\nthreshold  precision  recall  (band-key hit and Jaccard >= threshold)")
    for threshold, (precision, recall) in sweep.items():
        mark = "  <- chosen" if abs(threshold - stories.THRESHOLD) < 1e-9 else ""
        print(f"{threshold:9.2f}  {precision:9.3f}  {recall:6.3f}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
