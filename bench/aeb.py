"""Extraction quality on the Article Extraction Benchmark (../shared/benchmarks/aeb).

The metric, as the benchmark's README describes it: texts become multisets of overlapping word
4-grams (tokens are runs of ``\\w+``); per page tp, fp and fn are normalised by tp+fp+fn;
precision and recall are the means over pages, F1 is computed from the two means.

Usage: ``python bench/aeb.py [--aeb DIR] [--json]``; prints wirewatch's extractor beside bare
``trafilatura.extract(html, include_comments=False)``, measured in the same run, then the
news-pages set crawled through its outlets' feeds (``bench/newspages.py``) in the same run, so
that no rule is judged on one benchmark.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_AEB = ROOT.parent / "shared" / "benchmarks" / "aeb"
_TOKEN = re.compile(r"\w+")


def grams(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """The multiset of word n-grams of ``text`` (one shorter gram if it has fewer words)."""
    tokens = _TOKEN.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def page_counts(predicted: str, truth: str) -> tuple[float, float, float]:
    """tp, fp, fn of one page, normalised so that they sum to 1 (0, 0, 0 if both are empty)."""
    pred, true = grams(predicted), grams(truth)
    tp = sum((pred & true).values())
    fp = sum(pred.values()) - tp
    fn = sum(true.values()) - tp
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    pages: int
    seconds: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(pairs: Iterable[tuple[str, str]], seconds: float = 0.0) -> Score:
    """Score (predicted, truth) pairs with the benchmark's metric."""
    precisions, recalls, pages = [], [], 0
    for predicted, truth in pairs:
        pages += 1
        tp, fp, fn = page_counts(predicted, truth)
        if fp == 0 and fn == 0:
            precisions.append(1.0)
            recalls.append(1.0)
            continue
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(tp / (tp + fn))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return Score(mean(precisions), mean(recalls), pages, seconds)


def load(aeb: Path) -> list[tuple[str, bytes, str, str]]:
    """(id, html bytes, url, true text) for every page of the benchmark."""
    truth = json.loads((aeb / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        body = gzip.decompress((aeb / "html" / f"{key}.html.gz").read_bytes())
        pages.append((key, body, truth[key]["url"], truth[key]["articleBody"]))
    return pages


def wirewatch_text(body: bytes, url: str) -> str:
    from extractors.article import extract_article

    result = extract_article(body, url, min_text=0)
    return result.article.text if result.article else ""


def trafilatura_text(body: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(body.decode("utf-8"), url=url, include_comments=False) or ""


def run(extractor: Callable[[bytes, str], str], pages: list[tuple[str, bytes, str, str]]) -> Score:
    with as_shipped() if extractor is trafilatura_text else nullcontext():
        started = time.perf_counter()
        predicted = [(extractor(body, url), truth) for _, body, url, truth in pages]
        return score(predicted, time.perf_counter() - started)


@contextmanager
def as_shipped() -> Iterator[None]:
    """trafilatura's parser with lxml.html's own element class lookup, as trafilatura ships it:
    importing extractors.article gives it lxml's C lookup, for the whole process."""
    import lxml.html
    from trafilatura.utils import HTML_PARSER

    from extractors.article import ELEMENT_LOOKUP

    HTML_PARSER.set_element_class_lookup(lxml.html.HtmlElementClassLookup())
    try:
        yield
    finally:
        HTML_PARSER.set_element_class_lookup(ELEMENT_LOOKUP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--aeb", type=Path, default=Path(os.environ.get("WIREWATCH_AEB", DEFAULT_AEB))
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not (args.aeb / "ground-truth.json").exists():
        sys.exit(f"no benchmark at {args.aeb} (set --aeb or $WIREWATCH_AEB)")
    pages = load(args.aeb)
    for extractor in (wirewatch_text, trafilatura_text):
        run(extractor, pages[:10])  # imports and first-call set-up stay out of the timing
    results = {"wirewatch": run(wirewatch_text, pages), "trafilatura": run(trafilatura_text, pages)}
    if args.json:
        print(
            json.dumps(
                {
                    k: {
                        "f1": v.f1,
                        "precision": v.precision,
                        "recall": v.recall,
                        "ms_per_page": 1000 * v.seconds / v.pages,
                    }
                    for k, v in results.items()
                }
            )
        )
        return
    print(f"AEB: {len(pages)} pages")
    print(f"{'extractor':<12} {'F1':>6} {'P':>6} {'R':>6} {'ms/page':>8}")
    for name, s in results.items():
        ms = 1000 * s.seconds / s.pages
        print(f"{name:<12} {s.f1:6.3f} {s.precision:6.3f} {s.recall:6.3f} {ms:8.1f}")
    from bench import newspages

    if newspages.DEFAULT_PAGES.is_dir():
        news = newspages.measure()
        print(
            f"\nnews-pages: {news['articles']} articles and {news['front_pages']} front pages, "
            "crawled through their outlets' feeds"
        )
        print(f"  articles stored: {news['stored']} of {news['articles']}")
        print(
            f"  opening found: wirewatch {news['opening_wirewatch']}, "
            f"bare trafilatura {news['opening_trafilatura']}"
        )
        print(f"  front pages stored: {len(news['front_pages_stored'])}")  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
