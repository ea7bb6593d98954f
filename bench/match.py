"""Watch matching cost per article with 10, 1,000 and 10,000 watch terms.

Usage: ``python bench/match.py [--aeb DIR] [--json]``.

The articles are the 181 hand-written article texts of the AEB benchmark (real news prose,
4.5 kB on average). Two scenarios (see :func:`queries`): **steady**, where 10 of the watches
fire now and then and the others never do, as when an analyst team watches thousands of names;
and **firing**, where every watch is drawn from the corpus, so the alerts per article grow with
the number of watches (the worst case: the cost of the alerts themselves). Every figure comes
from one run, so the ratios between rows are what to read on a shared machine. ``scan``
evaluates every watch on every article (no index), for comparison.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.query import Document, normalise, parse_query, tokens
from alerts.watches import Watch, WatchSet
from extractors.article import Article

DEFAULT_AEB = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "aeb"
SIZES = (10, 1_000, 10_000)


def corpus(aeb: Path) -> list[Article]:
    truth = json.loads((aeb / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Article(entry["url"], entry["url"], None, None, None, "en", None, entry["articleBody"])
        for _, entry in sorted(truth.items())
        if entry.get("articleBody")
    ]


def _vocabulary(articles: list[Article]) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Rare words, rare adjacent pairs (in at most 3 articles) and common words (in >= 20)."""
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for article in articles:
        found = tokens(normalise(article.text))
        words.update({t for t in found if len(t) > 3 and not t.isdigit()})
        pairs.update({(a, b) for a, b in pairwise(found) if len(a) > 3 and len(b) > 3})
    rare_words = sorted(w for w, n in words.items() if n <= 3)
    rare_pairs = sorted(p for p, n in pairs.items() if n <= 3)
    common = sorted(w for w, n in words.items() if n >= 20)
    return rare_words, rare_pairs, common


def queries(articles: list[Article], count: int, firing: int, seed: int = 7) -> list[str]:
    """``count`` watch queries of which ``firing`` are drawn from the corpus.

    Those alternate rare words and rare phrases, so they fire on a few articles each. The rest
    never fire but are not free either: made-up names, prefix and OR queries over them, and
    phrases that pair a common corpus word with a made-up name, so the index hands many of
    them to the full check.
    """
    rng = random.Random(seed)
    rare_words, rare_pairs, common = _vocabulary(articles)
    made: list[str] = []
    for number in range(count):
        name = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(7))
        if number < firing:
            pair = rng.choice(rare_pairs)
            made.append(rng.choice(rare_words) if number % 2 else f'"{pair[0]} {pair[1]}"')
        elif number % 3 == 0:
            made.append(name)
        elif number % 3 == 1:
            made.append(f"{name[:5]}* OR {name[::-1]} -{name[:4]}x")
        else:
            made.append(f'"{rng.choice(common)} {name}"')
    return made


def measure(articles: list[Article], watches: WatchSet, rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` microseconds per article for WatchSet.match, and what it found."""
    best = float("inf")
    matched = candidates = 0
    for _ in range(rounds):
        started = time.perf_counter()
        for article in articles:
            watches.match(article, "bench")
        best = min(best, time.perf_counter() - started)
    for article in articles:
        doc = Document.of(article.title, article.text, "bench")
        candidates += len(watches.candidates(doc))
        matched += len(watches.match_document(doc))
    return {
        "us_per_article": best / len(articles) * 1e6,
        "candidates_per_article": candidates / len(articles),
        "matches_per_article": matched / len(articles),
    }


def scan(articles: list[Article], watches: list[Watch]) -> float:
    """Microseconds per article evaluating every watch (no index)."""
    started = time.perf_counter()
    for article in articles:
        doc = Document.of(article.title, article.text, "bench")
        for watch in watches:
            watch.matches(doc)
    return (time.perf_counter() - started) / len(articles) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aeb", type=Path, default=DEFAULT_AEB, help="the AEB benchmark folder")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (best is kept)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    articles = corpus(args.aeb)
    tokenise = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        for article in articles:
            Document.of(article.title, article.text, "bench")
        tokenise = min(tokenise, time.perf_counter() - started)
    rows = []
    for scenario, firing in (("steady", lambda size: 10), ("firing", lambda size: size)):
        for size in SIZES:
            texts = queries(articles, size, firing(size))
            watches = [Watch(f"w{n}", parse_query(q)) for n, q in enumerate(texts)]
            rounds = args.rounds if scenario == "steady" else 1
            row = {"scenario": scenario, "terms": size}
            row.update(measure(articles, WatchSet(watches), rounds))
            row["scan_us_per_article"] = scan(articles, watches)
            rows.append(row)
    for row in rows:
        base = next(r for r in rows if r["scenario"] == row["scenario"])["us_per_article"]
        row["vs_10"] = row["us_per_article"] / base
    result = {
        "articles": len(articles),
        "mean_chars": statistics.mean(len(a.text) for a in articles),
        "tokenise_us_per_article": tokenise / len(articles) * 1e6,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['articles']} articles, {result['mean_chars']:.0f} characters on average; "
        f"normalising and tokenising one: {result['tokenise_us_per_article']:.0f} µs"
    )
    print(
        f"{'scenario':<9} {'terms':>7} {'µs/article':>11} {'vs 10':>6} {'candidates':>11} "
        f"{'matches':>8} {'scan µs':>9}"
    )
    for row in rows:
        print(
            f"{row['scenario']:<9} {row['terms']:>7} {row['us_per_article']:>11.0f} "
            f"{row['vs_10']:>6.2f} "
            f"{row['candidates_per_article']:>11.1f} {row['matches_per_article']:>8.2f} "
            f"{row['scan_us_per_article']:>9.0f}"
        )


if __name__ == "__main__":
    main()
