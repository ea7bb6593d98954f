"""Watch queries: a Google Alerts-style syntax, parsed once, matched on article title and text.

Syntax::

    S-400 Iran                 every word must appear (AND)
    "arms deal"                a phrase: its words in this order, next to each other
    S-400 OR S-300             either; OR binds tighter than AND, as in Google:
                               ``S-400 OR S-300 Iran`` is ``(S-400 OR S-300) AND Iran``
    -rumour  -"opinion piece"  must not appear
    (snapback OR sanctions)    grouping
    sanction*                  prefix: sanction, sanctions, sanctioned
    outlet:presstv             article from this configured outlet
    site:presstv.ir            article URL on this domain or a subdomain of it
    lang:ru                    article language

Normalisation, applied alike to queries and texts: Unicode NFKC, case folding, every dash
character read as ``-``, typographic apostrophes as ``'``, Arabic-Indic and other decimal digits
as ASCII digits, and combining marks and invisible format characters (Arabic harakat, soft
hyphens, the Persian zero-width non-joiner) removed. Text is then cut into tokens: runs of
letters and runs of digits, so a letter-digit boundary is a token boundary. "S-400", "S400",
"S 400" and "S‑400" are all the tokens ``s 400``; "S-4000" (``s 4000``) and "MS-400"
(``ms 400``) are not. A phrase's tokens must be separated by spaces, at most one dash or
apostrophe, or nothing: "S, 400" or a paragraph break is not "S-400". Letters of any script are
letters, so word boundaries hold in Cyrillic, Arabic and Persian, and the Cyrillic "С-400" is its
own term, not the Latin "S-400".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

#: A letter run or a digit run, in any script.
TOKEN = re.compile(r"[^\W\d_]+|\d+")
#: What may separate two tokens of a phrase in the text.
_GAP = re.compile(r"[^\S\n]*(?:[-'][^\S\n]*)?")
_SPACE = re.compile(r"\s+")
MIN_PREFIX = 2


class QueryError(ValueError):
    """A malformed query; the message says what and where."""


class _Table(dict[int, str | None]):
    """The per-character mapping of :func:`normalise`, filled in as characters are met."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        result: str | None = char
        if category in {"Mn", "Me", "Cf"}:
            result = None
        elif category == "Pd" or char in "\u2212\u2043\ufe63\uff0d":
            result = "-"
        elif category == "Nd" and code > 127:
            result = str(unicodedata.digit(char))
        elif char in "\u2018\u2019\u02bc\u2032\uff07":
            result = "'"
        self[code] = result
        return result


_TABLE = _Table()


def normalise(text: str) -> str:
    """The matching form of ``text``: NFKC, dashes, digits, marks, then case folding.

    Every step after NFKC works character by character, so :func:`offsets` can map positions
    in the result back to positions in ``unicodedata.normalize("NFKC", text)``.
    """
    return unicodedata.normalize("NFKC", text).translate(_TABLE).casefold()


def offsets(display: str) -> list[int]:
    """For each character of ``normalise(display)``, its index in ``display`` (already NFKC).

    One extra entry maps the end of the string.
    """
    table = _TABLE
    if all(len(char.translate(table).casefold()) == 1 for char in set(display)):
        return list(range(len(display) + 1))  # one character for one: the common case
    result: list[int] = []
    for index, char in enumerate(display):
        result.extend([index] * len(char.translate(table).casefold()))
    result.append(len(display))
    return result


def tokens(text: str) -> list[str]:
    """The tokens of already-normalised ``text``."""
    return TOKEN.findall(text)


# -- syntax tree -------------------------------------------------------------------------------


class Node:
    """A query node; ``matches`` is its truth on a document."""

    def matches(self, doc: Document) -> bool:
        raise NotImplementedError

    def terms(self) -> Iterator[Term]:
        """The positive terms (not under a negation), for highlighting."""
        return iter(())

    def anchors(self) -> frozenset[tuple[str, str]] | None:
        """Keys of which at least one occurs in every matching document, or None if unknown.

        A key is ``("w", token)`` for a whole token or ``("p", prefix)`` for a token prefix.
        """
        return None


@dataclass(frozen=True)
class Term(Node):
    """A word or phrase: consecutive tokens, the last one a prefix when ``prefix``."""

    words: tuple[str, ...]
    prefix: bool = False
    source: str = ""

    def matches(self, doc: Document) -> bool:
        return next(self.find(doc), None) is not None

    def find(self, doc: Document) -> Iterator[tuple[int, int]]:
        """Start and end offsets (in the normalised text) of each occurrence."""
        count = len(self.words)
        last = count - 1
        first = self.words[0]
        starts = doc.prefixed(first) if count == 1 and self.prefix else doc.positions.get(first, [])
        for start in starts:
            if start + count > len(doc.tokens):
                continue
            for offset in range(1, count):
                index = start + offset
                token = doc.tokens[index]
                word = self.words[offset]
                if offset == last and self.prefix:
                    if not token.startswith(word):
                        break
                elif token != word:
                    break
                if not doc.joined(index - 1):
                    break
            else:
                yield doc.spans[start][0], doc.spans[start + last][1]

    def terms(self) -> Iterator[Term]:
        yield self

    def anchors(self) -> frozenset[tuple[str, str]]:
        if len(self.words) == 1:
            return frozenset({("p" if self.prefix else "w", self.words[0])})
        whole = self.words[:-1] if self.prefix else self.words
        return frozenset({("w", max(whole, key=len))})


@dataclass(frozen=True)
class Field(Node):
    """``outlet:``, ``site:`` or ``lang:``."""

    name: str
    value: str

    def matches(self, doc: Document) -> bool:
        if self.name == "outlet":
            return doc.outlet.casefold() == self.value
        if self.name == "site":
            return doc.host == self.value or doc.host.endswith("." + self.value)
        language = doc.language.casefold()
        return language == self.value or language.startswith(self.value + "-")


@dataclass(frozen=True)
class Not(Node):
    child: Node

    def matches(self, doc: Document) -> bool:
        return not self.child.matches(doc)


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]

    def matches(self, doc: Document) -> bool:
        return all(child.matches(doc) for child in self.children)

    def terms(self) -> Iterator[Term]:
        for child in self.children:
            yield from child.terms()

    def anchors(self) -> frozenset[tuple[str, str]] | None:
        known = [a for a in (child.anchors() for child in self.children) if a is not None]
        return min(known, key=len) if known else None


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]

    def matches(self, doc: Document) -> bool:
        return any(child.matches(doc) for child in self.children)

    def terms(self) -> Iterator[Term]:
        for child in self.children:
            yield from child.terms()

    def anchors(self) -> frozenset[tuple[str, str]] | None:
        keys: set[tuple[str, str]] = set()
        for child in self.children:
            anchors = child.anchors()
            if anchors is None:
                return None
            keys |= anchors
        return frozenset(keys)


# -- documents ---------------------------------------------------------------------------------


@dataclass
class Document:
    """An article prepared for matching: tokens of its title and text, and its facets.

    Title and text are joined by a blank line, which no phrase crosses.
    """

    text: str  # normalised
    outlet: str = ""
    host: str = ""
    language: str = ""
    body: int = 0  # where the text starts, after the title and its blank line
    tokens: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, title: str | None, text: str, outlet: str = "", host: str = "", language: str = ""
    ) -> Document:
        display = display_text(title, text)
        doc = cls(normalise(display), outlet, host.lower(), language or "")
        if title:
            doc.body = len(normalise(unicodedata.normalize("NFKC", f"{title}\n\n")))
        for index, match in enumerate(TOKEN.finditer(doc.text)):
            token = match.group()
            doc.tokens.append(token)
            doc.spans.append(match.span())
            doc.positions.setdefault(token, []).append(index)
        return doc

    def joined(self, index: int) -> bool:
        """Whether token ``index`` and the next one may belong to one phrase."""
        end = self.spans[index][1]
        start = self.spans[index + 1][0]
        return _GAP.fullmatch(self.text, end, start) is not None

    def prefixed(self, prefix: str) -> list[int]:
        found: list[int] = []
        for token, indexes in self.positions.items():
            if token.startswith(prefix):
                found.extend(indexes)
        return sorted(found)


def display_text(title: str | None, text: str) -> str:
    """The text that is matched and quoted in snippets: NFKC of the title, a blank line, text."""
    return unicodedata.normalize("NFKC", f"{title}\n\n{text}" if title else text)


# -- parser ------------------------------------------------------------------------------------

_LEXER = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<not>-(?=["(\w]))
  | (?P<phrase>"[^"]*"?\*?)
  | (?P<word>[^\s()"]+)
    """,
    re.VERBOSE,
)
FIELDS = ("outlet", "site", "lang")
_OPERATOR = re.compile(r"^([A-Za-z]+):(.*)$")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _lex(query: str) -> list[_Token]:
    found: list[_Token] = []
    for match in _LEXER.finditer(query):
        kind = match.lastgroup
        assert kind is not None
        if kind == "space":
            continue
        text = match.group()
        if kind == "word" and text in {"OR", "|"}:
            kind = "or"
        found.append(_Token(kind, text, match.start() + 1))
    return found


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _lex(query)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise QueryError("empty query")
        node = self.conjunction()
        token = self.peek()
        if token is not None:
            raise QueryError(f"unexpected {token.text!r} at column {token.at}")
        return node

    def conjunction(self) -> Node:
        children: list[Node] = []
        while (token := self.peek()) is not None and token.kind != "close":
            children.append(self.disjunction())
        if not children:
            token = self.peek()
            where = f"at column {token.at}" if token else "at the end"
            raise QueryError(f"empty group {where}")
        return children[0] if len(children) == 1 else And(tuple(children))

    def disjunction(self) -> Node:
        children = [self.unary()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            if self.peek() is None or self.peek().kind in {"or", "close"}:  # type: ignore[union-attr]
                raise QueryError(f"OR at column {token.at} needs a term after it")
            children.append(self.unary())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def unary(self) -> Node:
        token = self.take()
        if token.kind == "not":
            if self.peek() is None:
                raise QueryError(f"'-' at column {token.at} needs a term after it")
            return Not(self.unary())
        if token.kind == "open":
            following = self.peek()
            if following is None:
                raise QueryError(f"parenthesis at column {token.at} is never closed")
            if following.kind == "close":
                raise QueryError(f"empty parentheses at column {token.at}")
            node = self.conjunction()
            if self.peek() is None:
                raise QueryError(f"parenthesis at column {token.at} is never closed")
            self.take()
            return node
        if token.kind == "close":
            raise QueryError(f"unmatched ')' at column {token.at}")
        if token.kind == "or":
            raise QueryError(f"OR at column {token.at} needs a term before it")
        if token.kind == "phrase":
            return self.phrase(token)
        return self.word(token)

    def phrase(self, token: _Token) -> Node:
        text = token.text
        prefix = text.endswith("*")
        text = text.removesuffix("*")
        if len(text) < 2 or not text.endswith('"'):
            raise QueryError(f"quote at column {token.at} is never closed")
        inner = text[1:-1]
        if inner.endswith("*"):
            prefix, inner = True, inner[:-1]
        return self.term(inner, prefix, token)

    def word(self, token: _Token) -> Node:
        operator = _OPERATOR.match(token.text)
        if operator and not operator.group(1).isdigit():
            name, value = operator.group(1).lower(), operator.group(2)
            if name not in FIELDS:
                raise QueryError(
                    f"unknown operator {name + ':'!r} at column {token.at} "
                    f"(known: {', '.join(f + ':' for f in FIELDS)})"
                )
            if not value:
                raise QueryError(f"{name}: at column {token.at} needs a value")
            value = value.casefold()
            if name == "site":
                value = value.removeprefix("www.").strip(".")
            return Field(name, value)
        text = token.text
        prefix = text.endswith("*")
        return self.term(text.rstrip("*") if prefix else text, prefix, token)

    def term(self, text: str, prefix: bool, token: _Token) -> Node:
        if "*" in text:
            raise QueryError(f"'*' at column {token.at} may only end a word")
        words = tuple(tokens(normalise(text)))
        if not words:
            raise QueryError(f"{token.text!r} at column {token.at} has no letters or digits")
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise QueryError(
                f"prefix {token.text!r} at column {token.at} needs at least "
                f"{MIN_PREFIX} letters before '*'"
            )
        return Term(words, prefix, _SPACE.sub(" ", text.strip()))


def parse_query(query: str) -> Node:
    """Parse a watch query.

    Raises:
        QueryError: The query is malformed or could only ever match by exclusion.
    """
    node = _Parser(query).parse()
    if not _positive(node):
        raise QueryError("the query needs a word, phrase or filter that must be present")
    return node


def _positive(node: Node) -> bool:
    """Whether every match needs something present (not only absences)."""
    if isinstance(node, Term | Field):
        return True
    if isinstance(node, And):
        return any(_positive(child) for child in node.children)
    if isinstance(node, Or):
        return all(_positive(child) for child in node.children)
    return False
