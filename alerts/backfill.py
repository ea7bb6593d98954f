"""``wirewatch search`` and ``backfill``: what the archive holds for a watch query.

SQLite's full-text index finds the candidates (a looser query: the words of each term, with
"S400"-style joined variants, negations left out) and the watch's own matcher confirms them, so
the result is exactly what a watch with that query would have alerted on. The candidates are
read newest first, page by page, until enough match: none is lost to a cap on the first stage.
"""

from __future__ import annotations

import itertools
from typing import Protocol

from sqlite_utils import Database

from alerts.config import WatchConfig
from alerts.query import And, Node, Or, Term, display_text, parse_query
from alerts.watches import Watch, document, explain
from extractors.article import Article
from storage.articles import count_candidates, watch_candidates


class Progress(Protocol):
    """What backfill tells of its progress (``wirewatch.progress.Progress`` is one)."""

    def start(self, total: int | None) -> None: ...

    def update(self, count: int = 1) -> None: ...


def fts_query(node: Node) -> str | None:
    """An FTS5 query matching a superset of what ``node`` matches; None if it cannot narrow."""
    if isinstance(node, Term):
        star = "*" if node.prefix else ""
        variants = ['"' + " ".join(words) + '"' + star for words in _joined_variants(node.words)]
        return "(" + " OR ".join(variants) + ")"
    if isinstance(node, And):
        parts = [p for p in (fts_query(child) for child in node.children) if p]
        return "(" + " AND ".join(parts) + ")" if parts else None
    if isinstance(node, Or):
        options: list[str] = []
        for child in node.children:
            part = fts_query(child)
            if part is None:
                return None
            options.append(part)
        return "(" + " OR ".join(options) + ")"
    return None  # negations and filters: left to the exact matcher


def _joined_variants(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``("s", "400")`` -> also ``("s400",)``: the tokeniser of FTS keeps S400 as one token."""
    seams = [
        index
        for index in range(len(words) - 1)
        if words[index][-1].isdigit() != words[index + 1][0].isdigit()
    ][:3]
    variants = []
    for joins in itertools.product((False, True), repeat=len(seams)):
        merged: list[str] = [words[0]]
        for index in range(1, len(words)):
            seam = index - 1
            if seam in seams and joins[seams.index(seam)]:
                merged[-1] += words[index]
            else:
                merged.append(words[index])
        variants.append(tuple(merged))
    return variants


def find_articles(
    db: Database,
    node: Node,
    outlets: frozenset[str] = frozenset(),
    limit: int = 50,
    progress: Progress | None = None,
) -> list[dict]:
    """Stored articles ``node`` matches, newest first, each with its snippets and the terms it
    holds: what a watch with this query would have alerted on.

    Args:
        outlets: Only these outlets' articles (a watch's ``outlets``); empty: all.
        progress: Told how many candidates the full-text stage found, and of each one checked.
    """
    matcher = Watch("search", node, outlets)
    match = fts_query(node)
    found: list[dict] = []
    if progress is not None:
        progress.start(count_candidates(db, match))
    seen: set[int] = set()  # an article written meanwhile shifts the pages by one
    for row in watch_candidates(db, match):
        if progress is not None:
            progress.update()
        if row["id"] in seen:
            continue
        seen.add(row["id"])
        title, text = row["title"], row["text"]
        article = Article(
            row["url"], row["url"], title, None, row["published"], row["language"], None, text
        )
        doc = document(article, row["outlet"])
        if not matcher.matches(doc):
            continue
        quoted, terms = explain(node, doc, display_text(title, text))
        found.append(
            {
                "id": row["id"],
                "story_id": row["story_id"],
                "url": row["url"],
                "outlet": row["outlet"],
                "title": title,
                "published": row["published"],
                "first_seen": row["first_seen"],
                "terms": terms,
                "snippets": quoted,
            }
        )
        if len(found) == limit:
            break
    return found


def backfill(
    db: Database, watch: WatchConfig, limit: int = 50, progress: Progress | None = None
) -> list[dict]:
    """Stored articles the watch matches, newest first, each with snippets."""
    return find_articles(db, parse_query(watch.query), frozenset(watch.outlets), limit, progress)
