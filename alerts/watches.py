"""Match one article against every configured watch, cheaply, and quote where it matched.

Each query names, through :meth:`alerts.query.Node.anchors`, a few tokens (or token prefixes) of
which at least one must be in any article it matches. The watch set keeps an inverted index from
those keys to watches; an article's distinct tokens (and their prefixes) are looked up in it,
and only the watches found there are evaluated in full. The lookup costs the same with ten
watches or ten thousand: it depends on the article, not on the number of watches. Watches
without anchors (a query made only of ``outlet:`` or ``lang:`` filters) are evaluated on every
article.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.query import (
    MIN_PREFIX,
    Document,
    Node,
    display_text,
    normalise,
    offsets,
    parse_query,
    tokens,
)
from alerts.scripts import script
from extractors.article import Article
from extractors.urls import host_of

#: Characters of context on each side of a match in a snippet.
CONTEXT = 70
MAX_SNIPPETS = 3

#: A snippet is a list of (text, highlighted) pieces.
Snippet = list[tuple[str, bool]]


@dataclass(frozen=True)
class Watch:
    name: str
    query: Node
    outlets: frozenset[str] = frozenset()

    def matches(self, doc: Document) -> bool:
        if self.outlets and doc.outlet not in self.outlets:
            return False
        return self.query.matches(doc)


@dataclass(frozen=True)
class Match:
    watch: str
    snippets: list[Snippet]
    #: Each watched term the article holds, with how often, the rarest first.
    terms: list[tuple[str, int]]


class WatchSet:
    """Watches indexed by their anchor tokens."""

    def __init__(self, watches: Iterable[Watch]) -> None:
        self.watches = list(watches)
        self._exact: dict[str, list[int]] = {}
        self._prefix: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._longest_prefix = 0
        for number, watch in enumerate(self.watches):
            anchors = watch.query.anchors()
            if anchors is None:
                self._always.append(number)
                continue
            for kind, key in anchors:
                if kind == "w":
                    self._exact.setdefault(key, []).append(number)
                else:
                    self._prefix.setdefault(key, []).append(number)
                    self._longest_prefix = max(self._longest_prefix, len(key))

    @classmethod
    def parse(cls, specs: Iterable[tuple[str, str, Sequence[str]]]) -> WatchSet:
        """Build from (name, query, outlets) triples; raises QueryError on a bad query."""
        return cls(
            Watch(name, parse_query(query), frozenset(outlets)) for name, query, outlets in specs
        )

    def __len__(self) -> int:
        return len(self.watches)

    def candidates(self, doc: Document) -> list[Watch]:
        """The watches that may match ``doc``: a superset of those that do."""
        found = set(self._always)
        exact, prefixes, longest = self._exact, self._prefix, self._longest_prefix
        for token in itertools.chain(doc.positions, doc.alternates):
            hit = exact.get(token)
            if hit:
                found.update(hit)
            if prefixes:
                for size in range(MIN_PREFIX, min(len(token), longest) + 1):
                    hit = prefixes.get(token[:size])
                    if hit:
                        found.update(hit)
        return [self.watches[number] for number in sorted(found)]

    def match_document(self, doc: Document) -> list[Watch]:
        return [watch for watch in self.candidates(doc) if watch.matches(doc)]

    def match(self, article: Article, outlet: str, doc: Document | None = None) -> list[Match]:
        """The watches ``article`` matches, each with snippets of its matched terms; ``doc``
        is ``document(article, outlet)`` where the caller made it already."""
        if not self.watches:
            return []
        doc = doc or document(article, outlet)
        matched = self.match_document(doc)
        if not matched:
            return []
        display = display_text(article.title, article.text)
        where = offsets(display)
        return [Match(watch.name, *explain(watch.query, doc, display, where)) for watch in matched]


def document(article: Article, outlet: str) -> Document:
    """The matching form of an article: its title and text, outlet, host and language."""
    return Document.of(
        article.title,
        article.text,
        outlet=outlet,
        host=host_of(article.url),
        language=article.language or "",
    )


def explain(
    query: Node,
    doc: Document,
    display: str,
    where: list[int] | None = None,
    limit: int = MAX_SNIPPETS,
) -> tuple[list[Snippet], list[tuple[str, int]]]:
    """Why ``query`` matched ``doc``: its snippets, and each positive term the article holds
    (as the query writes it) with how often it occurs in title and text, the rarest first.

    Each term is looked for once. One passage per matched term or phrase, the rarest term
    first, so every term the text holds is shown at least once; then, up to ``limit``
    passages, further occurrences. The title is never quoted (every listing shows it): a term
    found only there gets no passage. Each passage stays within one paragraph and highlights
    every term occurrence inside it. ``display`` is ``display_text(title, text)``; ``where`` is
    ``offsets(display)``, computed once per article when several watches match it.
    """
    where = where if where is not None else offsets(display)
    found = _term_spans(query, doc)
    counts = sorted(
        (
            (_as_written(source, spans, display, where), len(spans))
            for source, spans in found.values()
            if spans
        ),
        key=lambda item: item[1],
    )
    body = [
        [(where[start], where[end - 1] + 1) for start, end in spans if start >= doc.body]
        for _, spans in found.values()
    ]
    occurrences = sorted((marks for marks in body if marks), key=len)
    every = _disjoint(sorted({mark for marks in occurrences for mark in marks}))
    passages: list[tuple[int, int]] = []

    def shown(mark: tuple[int, int]) -> bool:
        return any(start <= mark[0] and mark[1] <= end for start, end in passages)

    for marks in occurrences:  # one passage per term, the rarest first
        if not any(shown(mark) for mark in marks):
            passages.append(_window(display, marks[0]))
    for mark in (mark for marks in occurrences for mark in marks):  # then more, up to limit
        if len(passages) >= max(limit, len(occurrences)):
            break
        if not shown(mark):
            passages.append(_window(display, mark))
    return [_passage(display, window, every) for window in passages], counts


def _term_spans(query: Node, doc: Document) -> dict[Any, tuple[str, list[tuple[int, int]]]]:
    """Each positive term of ``query`` (looked for once), as the query writes it, with the
    token spans where ``doc`` holds it."""
    found: dict[Any, tuple[str, list[tuple[int, int]]]] = {}
    for term in query.terms():
        key = (term.words, term.prefix)
        if key not in found:
            found[key] = (term.source or " ".join(term.words), list(term.find(doc)))
    return found


def marks(
    query: Node, doc: Document, display: str, where: list[int] | None = None
) -> list[tuple[int, int, str]]:
    """Every occurrence of ``query``'s terms in ``doc``'s text (not its title), as
    ``(start, end, term)`` in ``display``'s characters, the term as the query writes it; in
    text order, overlapping ones joined (a phrase and a word inside it: the first kept)."""
    where = where if where is not None else offsets(display)
    every = sorted(
        (where[start], where[end - 1] + 1, source)
        for source, spans in _term_spans(query, doc).values()
        for start, end in spans
        if start >= doc.body
    )
    joined: list[tuple[int, int, str]] = []
    for start, end, source in every:
        if joined and start < joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]), joined[-1][2])
        else:
            joined.append((start, end, source))
    return joined


def _as_written(source: str, spans: list[tuple[int, int]], display: str, where: list[int]) -> str:
    """The term as the query writes it, and how the text wrote it where that is another
    script ("S-400 (as С-400)"): a match across scripts is shown as one."""
    mine = _scripts(source)
    others: list[str] = []
    for start, end in spans:
        form = " ".join(display[where[start] : where[end - 1] + 1].split())
        if _scripts(form) != mine and form not in others:
            others.append(form)
    return f"{source} (as {', '.join(others[:3])})" if others else source


def _scripts(text: str) -> set[str]:
    return {script(token) for token in tokens(normalise(text)) if not token.isdigit()}


def snippets(
    query: Node,
    doc: Document,
    display: str,
    where: list[int] | None = None,
    limit: int = MAX_SNIPPETS,
) -> list[Snippet]:
    """The snippets of :func:`explain`."""
    return explain(query, doc, display, where, limit)[0]


def _disjoint(marks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted marks with overlapping ones joined (a phrase and a word inside it)."""
    joined: list[tuple[int, int]] = []
    for start, end in marks:
        if joined and start < joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


def _window(text: str, mark: tuple[int, int]) -> tuple[int, int]:
    """The passage around ``mark``: ``CONTEXT`` characters each side, cut at spaces, within
    its line."""
    line_start = text.rfind("\n", 0, mark[0]) + 1
    line_end = text.find("\n", mark[1])
    line_end = len(text) if line_end < 0 else line_end
    start = max(line_start, mark[0] - CONTEXT)
    end = min(line_end, mark[1] + CONTEXT)
    if start > line_start:
        space = text.find(" ", start, mark[0])
        start = space + 1 if space >= 0 else start
    if end < line_end:
        space = text.rfind(" ", mark[1], end)
        end = space if space >= 0 else end
    return start, end


def _passage(text: str, window: tuple[int, int], marks: list[tuple[int, int]]) -> Snippet:
    """The window as pieces, every mark inside it highlighted; "…" where the line goes on."""
    start, end = window
    pieces: Snippet = []
    if start > 0 and text[start - 1] != "\n":
        pieces.append(("…", False))
    cursor = start
    for mark_start, mark_end in marks:
        if mark_start < start or mark_end > end:
            continue
        if mark_start > cursor:
            pieces.append((text[cursor:mark_start], False))
        pieces.append((text[mark_start:mark_end], True))
        cursor = mark_end
    if end > cursor:
        pieces.append((text[cursor:end], False))
    if end < len(text) and text[end] != "\n":
        pieces.append(("…", False))
    return _merge(pieces)


def _merge(pieces: Snippet) -> Snippet:
    merged: Snippet = []
    for text, mark in pieces:
        if merged and merged[-1][1] == mark:
            merged[-1] = (merged[-1][0] + text, mark)
        else:
            merged.append((text, mark))
    return merged


def snippet_text(snippet: Snippet, left: str = "[", right: str = "]") -> str:
    """A snippet as plain text, highlights between ``left`` and ``right``."""
    return "".join(f"{left}{text}{right}" if mark else text for text, mark in snippet)
