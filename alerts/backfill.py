"""``wirewatch backfill``: what the archive already holds for a watch.

SQLite's full-text index finds the candidates (a looser query: the words of each term, with
"S400"-style joined variants, negations left out) and the watch's own matcher confirms them, so
the result is exactly what the watch would have alerted on.
"""

from __future__ import annotations

import itertools
from typing import Protocol

from sqlite_utils import Database

from alerts.config import WatchConfig
from alerts.query import And, Node, Or, Term, display_text, parse_query
from alerts.watches import Snippet, Watch, document, snippets
from extractors.article import Article
from storage.articles import watch_candidates


class Progress(Protocol):
    """What backfill tells of its progress (``wirewatch.progress.Progress`` is one)."""

    def start(self, total: int | None) -> None: ...

    def update(self, count: int = 1) -> None: ...


#: How many rows the full-text stage hands to the exact matcher for each one shown.
OVERSCAN = 20


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


def backfill(
    db: Database, watch: WatchConfig, limit: int = 50, progress: Progress | None = None
) -> list[dict]:
    """Stored articles the watch matches, newest first, each with snippets.

    Args:
        progress: Told how many candidates the full-text stage found, and of each one checked.
    """
    node = parse_query(watch.query)
    matcher = Watch(watch.name, node, frozenset(watch.outlets))
    match = fts_query(node)
    found: list[dict] = []
    rows = watch_candidates(db, match, limit * OVERSCAN)
    if progress is not None:
        progress.start(len(rows))
    for row in rows:
        if progress is not None:
            progress.update()
        article_id, url, outlet, title = row["id"], row["url"], row["outlet"], row["title"]
        published, first_seen, language, text = (
            row["published"],
            row["first_seen"],
            row["language"],
            row["text"],
        )
        article = Article(url, url, title, None, published, language, None, text)
        doc = document(article, outlet)
        if not matcher.matches(doc):
            continue
        quoted: list[Snippet] = snippets(node, doc, display_text(title, text))
        found.append(
            {
                "id": article_id,
                "url": url,
                "outlet": outlet,
                "title": title,
                "published": published,
                "first_seen": first_seen,
                "snippets": quoted,
            }
        )
        if len(found) == limit:
            break
    return found
