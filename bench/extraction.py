"""Extraction quality on the three shared sets, wirewatch beside bare trafilatura, in one run.

- ``fundus-dev`` (../shared/benchmarks/fundus-dev): 127 publisher pages with the title, authors,
  date and paragraphs their hand-written fundus parsers return;
- ``news-pages`` (../shared/benchmarks/news-pages): 81 pages of goose3's and newspaper4k's
  suites: an opening for every article, the whole text and the metadata for newspaper4k's;
- ``aeb`` (../shared/benchmarks/aeb): 181 hand-annotated pages, also scored with its own
  metric (bench/aeb.py).

wirewatch is called as the crawler calls it for a page its outlet's feed lists
(``extract_article(body, url, headers, listed=True)``); bare is
``trafilatura.bare_extraction(html, url=url, with_metadata=True)``, with lxml's element lookup
as trafilatura ships it. Scores, for each set where the set has the truth:

- body: bag of words (lower-cased ``\\w+`` tokens with their counts) of the text against the
  truth; precision, recall and F1 summed over pages (micro) and F1 as the mean over pages (a page
  refused, left empty or raising scores 0);
- opening: the start of the first true paragraph (60 characters; news-pages: its first 100 word
  characters) found in the text, after folding case and white space;
- title exact (white space trimmed), author set F1 (names folded), date on the same calendar day
  (in the publisher's zone, or the date alone where an extractor gives only one);
- raised: pages on which the extractor raised (wirewatch's should be 0); ms/page.

Usage: ``python bench/extraction.py [--json] [--pages FILE]``; ``--pages`` writes each page's
scores as JSON lines, to see where two extractors differ.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
import sys
import time
import traceback
import unicodedata
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "benchmarks"
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Page:
    """One page and what its set says of it (None where the set does not say)."""

    set: str
    key: str
    body: bytes
    url: str
    text: str | None = None
    opening: str | None = None
    title: str | None = None
    authors: tuple[str, ...] | None = None
    date: str | None = None


@dataclass(frozen=True)
class Found:
    text: str = ""
    title: str | None = None
    author: str | None = None
    date: str | None = None
    raised: str | None = None


def _listed(value: Any) -> list[Any]:
    """fundus's truth fields are lists, some written as their Python repr."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return [value]
    return value if isinstance(value, list) else [value]


def fundus(folder: Path = SHARED / "fundus-dev") -> list[Page]:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        item = truth[key]
        paragraphs = [str(p) for p in _listed(item.get("body_paragraphs"))]
        parts = [str(p) for p in _listed(item.get("summary"))]
        for section in _listed(item.get("sections")):
            if isinstance(section, dict):
                parts += [str(h) for h in _listed(section.get("headline"))]
        parts += paragraphs
        pages.append(
            Page(
                set="fundus-dev",
                key=key,
                body=gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()),
                url=item["url"],
                text="\n".join(parts),
                opening=paragraphs[0][:60] if paragraphs else None,
                title=item.get("title") or None,
                authors=tuple(str(a) for a in _listed(item.get("authors")) if a),
                date=item.get("date") or None,
            )
        )
    return pages


def news_pages(folder: Path = SHARED / "news-pages" / "pages") -> list[Page]:
    """The articles of bench/newspages.py's set, with newspaper4k's whole text and metadata
    where it has them (its front pages are left to bench/newspages.py)."""
    from bench import newspages

    pages = []
    for case in newspages.load(folder):
        if case.front:
            continue
        text = title = published = None
        authors: tuple[str, ...] | None = None
        if (folder / f"{case.key}.txt.gz").exists():
            text = case.opening  # newspaper4k's truth is the whole text
        meta_file = folder / f"{case.key}.meta.json.gz"
        if meta_file.exists():
            meta = json.loads(gzip.decompress(meta_file.read_bytes()))
            title = meta.get("title") or None
            authors = tuple(meta.get("authors") or ()) or None
            published = meta.get("publish_date") or None
        pages.append(
            Page(
                set="news-pages",
                key=case.key,
                body=case.body,
                url=case.url or f"https://news-pages.invalid/{case.key}.html",
                text=text,
                opening=case.opening,
                title=title,
                authors=authors,
                date=published,
            )
        )
    return pages


def aeb(folder: Path = SHARED / "aeb") -> list[Page]:
    from bench.aeb import load

    return [
        Page(set="aeb", key=key, body=body, url=url, text=truth)
        for key, body, url, truth in load(folder)
    ]


def wirewatch(page: Page) -> Found:
    from extractors.article import extract_article

    result = extract_article(page.body, page.url, {"Content-Type": "text/html"}, listed=True)
    article = result.article
    if article is None:
        return Found()
    return Found(article.text, article.title, article.author, article.published)


def bare(page: Page) -> Found:
    import trafilatura

    from extractors.encoding import decode_html

    html, _ = decode_html(page.body, "text/html")
    document = trafilatura.bare_extraction(html, url=page.url, with_metadata=True)
    if document is None:
        return Found()
    return Found(document.text or "", document.title, document.author, document.date)


EXTRACTORS: dict[str, Callable[[Page], Found]] = {"wirewatch": wirewatch, "bare": bare}


def words(text: str | None) -> Counter[str]:
    return Counter(_TOKEN.findall((text or "").casefold()))


def overlap(predicted: str, truth: str) -> tuple[int, int, int]:
    """tp, fp, fn of two bags of words."""
    pred, true = words(predicted), words(truth)
    tp = sum(min(n, true.get(w, 0)) for w, n in pred.items())
    return tp, sum(pred.values()) - tp, sum(true.values()) - tp


def f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _spaces(text: str) -> str:
    return " ".join(text.casefold().split())


def opening_found(page: Page, text: str) -> bool:
    assert page.opening is not None
    if page.set == "news-pages":
        fold = lambda t: " ".join(_TOKEN.findall(t.casefold()))  # noqa: E731
        return fold(page.opening)[:100] in fold(text)
    return _spaces(page.opening) in _spaces(text)


def _name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def authors_f1(truth: tuple[str, ...], found: str | None) -> float:
    true = {_name(a) for a in truth}
    got = {
        _name(a) for a in re.split(r";|\band\b|\bund\b|,(?=\s*\S+\s+\S+)", found or "") if a.strip()
    }
    if not true and not got:
        return 1.0
    tp = len(true & got)
    return f1(tp, len(got) - tp, len(true) - tp)


def _day(value: str) -> tuple[date, datetime | None]:
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        moment = datetime.fromisoformat(text[:10])
    return moment.date(), moment if moment.tzinfo else None


def same_day(truth: str, found: str | None) -> bool:
    if not found:
        return False
    try:
        true_day, true_moment = _day(truth)
        found_day, found_moment = _day(found)
    except ValueError:
        return False
    if found_day == true_day:
        return True
    if true_moment is not None and found_moment is not None:
        return found_moment.astimezone(true_moment.tzinfo).date() == true_day
    return False


@dataclass
class Tally:
    pages: int = 0
    raised: int = 0
    empty: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    page_f1: list[float] = field(default_factory=list)
    openings: list[bool] = field(default_factory=list)
    titles: list[bool] = field(default_factory=list)
    authors: list[float] = field(default_factory=list)
    dates: list[bool] = field(default_factory=list)
    aeb: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
        figures: dict[str, Any] = {
            "pages": self.pages,
            "raised": self.raised,
            "empty": self.empty,
            "ms_per_page": 1000 * self.seconds / self.pages if self.pages else None,
        }
        if self.page_f1:
            p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
            r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
            figures |= {
                "body_pages": len(self.page_f1),
                "precision": p,
                "recall": r,
                "f1": f1(self.tp, self.fp, self.fn),
                "mean_f1": mean(self.page_f1),
            }
        if self.openings:
            figures["opening"] = f"{sum(self.openings)}/{len(self.openings)}"
        if self.titles:
            figures["title"] = f"{sum(self.titles)}/{len(self.titles)}"
        if self.authors:
            figures["authors_f1"] = mean(self.authors)
        if self.dates:
            figures["date"] = f"{sum(self.dates)}/{len(self.dates)}"
        if self.aeb:
            from bench.aeb import score

            s = score(self.aeb)
            figures |= {"aeb_f1": s.f1, "aeb_precision": s.precision, "aeb_recall": s.recall}
        return figures


def measure(sets: dict[str, list[Page]], pages_out: Any = None) -> dict[str, dict[str, Any]]:
    """Every extractor on every page of every set, tallied per set."""
    from bench.aeb import as_shipped

    tallies: dict[str, dict[str, Tally]] = {}
    for name, extractor in EXTRACTORS.items():
        for set_name, pages in sets.items():
            tally = tallies.setdefault(set_name, {}).setdefault(name, Tally())
            with as_shipped() if extractor is bare else nullcontext():
                for page in pages:
                    started = time.perf_counter()
                    try:
                        found = extractor(page)
                    except Exception:
                        found = Found(raised=traceback.format_exc(limit=-1).strip())
                    tally.seconds += time.perf_counter() - started
                    row = add(tally, page, found)
                    if pages_out is not None:
                        pages_out.write(json.dumps({"extractor": name, **row}) + "\n")
    return {s: {n: t.figures() for n, t in by.items()} for s, by in tallies.items()}


def add(tally: Tally, page: Page, found: Found) -> dict[str, Any]:
    """Count one page; its scores as a row."""
    tally.pages += 1
    row: dict[str, Any] = {"set": page.set, "page": page.key, "chars": len(found.text)}
    if found.raised:
        tally.raised += 1
        row["raised"] = found.raised
    if not found.text:
        tally.empty += 1
    if page.text is not None:
        tp, fp, fn = overlap(found.text, page.text)
        tally.tp, tally.fp, tally.fn = tally.tp + tp, tally.fp + fp, tally.fn + fn
        tally.page_f1.append(f1(tp, fp, fn))
        row |= {"f1": round(f1(tp, fp, fn), 3), "p": tp / (tp + fp) if tp + fp else 0}
        row["r"] = tp / (tp + fn) if tp + fn else 0
    if page.set == "aeb":
        tally.aeb.append((found.text, page.text or ""))
    if page.opening:
        tally.openings.append(opening_found(page, found.text))
        row["opening"] = tally.openings[-1]
    if page.title:
        tally.titles.append(" ".join((found.title or "").split()) == " ".join(page.title.split()))
        row["title"] = tally.titles[-1]
    if page.authors is not None:
        tally.authors.append(authors_f1(page.authors, found.author))
        row["authors"] = round(tally.authors[-1], 3)
    if page.date:
        tally.dates.append(same_day(page.date, found.date))
        row["date"] = tally.dates[-1]
    return row


def report(figures: dict[str, dict[str, Any]]) -> str:
    columns = [
        ("raised", "raised", "{}"),
        ("empty", "empty", "{}"),
        ("precision", "P", "{:.3f}"),
        ("recall", "R", "{:.3f}"),
        ("f1", "F1", "{:.3f}"),
        ("mean_f1", "mean F1", "{:.3f}"),
        ("aeb_f1", "AEB F1", "{:.3f}"),
        ("aeb_precision", "AEB P", "{:.3f}"),
        ("opening", "opening", "{}"),
        ("title", "title", "{}"),
        ("authors_f1", "authors", "{:.3f}"),
        ("date", "date", "{}"),
        ("ms_per_page", "ms/page", "{:.1f}"),
    ]
    lines = []
    for set_name, by in figures.items():
        pages = next(iter(by.values()))["pages"]
        used = [c for c in columns if any(f.get(c[0]) is not None for f in by.values())]
        lines.append(f"{set_name}: {pages} pages")
        lines.append(f"  {'':<10}" + "".join(f"{label:>9}" for _, label, _ in used))
        for name, f in by.items():
            cells = "".join(
                f"{fmt.format(f[key]) if f.get(key) is not None else '-':>9}"
                for key, _, fmt in used
            )
            lines.append(f"  {name:<10}{cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--pages", type=Path, help="write each page's scores here (JSON lines)")
    parser.add_argument("--sets", default="fundus-dev,news-pages,aeb")
    args = parser.parse_args()
    loaders = {"fundus-dev": fundus, "news-pages": news_pages, "aeb": aeb}
    sets = {name: loaders[name]() for name in args.sets.split(",")}
    warm = {name: pages[:5] for name, pages in sets.items()}
    measure(warm)  # imports, the language model and first calls stay out of the timing
    out = args.pages.open("w", encoding="utf-8") if args.pages else None
    try:
        figures = measure(sets, out)
    finally:
        if out is not None:
            out.close()
    print(json.dumps(figures, indent=1) if args.json else report(figures))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
