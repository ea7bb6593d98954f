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
from alerts.query import And, Document, Node, Or, Term, display_text, index_form, parse_query
from alerts.scripts import split_spellings
from alerts.watches import Watch, document, explain
from extractors.article import Article
from storage.articles import (
    count_candidates,
    count_unfolded,
    set_folded,
    unfolded,
    watch_candidates,
)


class Progress(Protocol):
    """What backfill tells of its progress (``wirewatch.progress.Progress`` is one)."""

    def start(self, total: int | None) -> None: ...

    def update(self, count: int = 1) -> None: ...


def fold_archive(db: Database, progress: Progress | None = None) -> int:
    """Compute the matching form in other scripts (``articles.folded``, for the full-text
    index) of every stored article that lacks it: the archive of an earlier version, once.
    Returns how many were computed."""
    total = count_unfolded(db)
    if not total:
        return 0
    if progress is not None:
        progress.start(total)
    done = 0
    for rows in unfolded(db):
        forms = {row["id"]: index_form(Document.of(row["title"], row["text"])) for row in rows}
        set_folded(db, forms)
        done += len(rows)
        if progress is not None:
            progress.update(len(rows))
    return done


def fts_query(node: Node) -> str | None:
    """An FTS5 query matching a superset of what ``node`` matches; None if it cannot narrow."""
    if isinstance(node, Term):
        star = "*" if node.prefix else ""
        spellings = (node.words,) if node.exact else (node.words, *node.variants)
        variants = [
            '"' + " ".join(joined) + '"' + star
            for words in spellings
            for joined in _joined_variants(words)
        ]
        if len(node.words) == 1 and not node.exact:
            # An Arabic-script word may be written in two (``اسنپ بک``): the index has the parts.
            variants += [f'"{a} {b}"{star}' for a, b in split_spellings(node.words[0])]
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
