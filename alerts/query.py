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
hyphens) removed. Text is then cut into tokens: runs of letters and runs of digits, so a
letter-digit boundary is a token boundary. "S-400", "S400", "S 400" and "S‑400" are all the
tokens ``s 400``; "S-4000" (``s 4000``) and "MS-400" (``ms 400``) are not. A phrase's tokens
must be separated by spaces, at most one dash or apostrophe, or nothing: "S, 400" or a paragraph
break is not "S-400".

One watch across scripts and spellings (docs/configuration.md, "One watch across scripts"):

- Letters are folded as their scripts' spellings vary. Latin, Greek and Arabic letters lose
  their marks after decomposition (``Österreich`` = ``osterreich``, ``Αθήνα`` = ``αθηνα``,
  أ إ آ = ا, ؤ = و, ئ = ي, ۀ = ه); Russian ё is е. Farsi yeh, Arabic yeh and alef maksura are
  one letter, and so are keheh and kaf, and ە ھ ه; tatweel is dropped. The Persian zero-width
  non-joiner is a token boundary, and a word or phrase of Arabic-script tokens also matches
  them written together or apart (``اسنپ‌بک`` = ``اسنپ بک`` = ``اسنپبک``); an Arabic word of
  five letters or more after the article ال is also read without it (الكرملين = كرملين).
- Designations: a Cyrillic or Greek letter part next to a number reads as its Latin letters
  (``С-400`` = ``S-400``, ``Су-35`` = ``Su-35``, ``Х-101`` = ``Kh-101``) when it is written in
  capitals or joined to the number by a dash or nothing (``с 400 ракетами``, "with 400
  missiles", is not S-400); so do the Persian and Arabic names of Latin letters before a number
  (``اس-۴۰۰`` and ``إس-٤٠٠`` = ``S-400``, ``ام‌کیو-۹`` = ``MQ-9``).
- Names: a Cyrillic or Greek word written with a capital also reads as its Latin
  transliteration (anyascii: ``Захарова`` = ``Zakharova``, ``Иран`` = ``Iran``), for a watch word
  written with a capital too, so ``Zakharova`` finds ``Захарова`` while ``no`` never finds ``но``.
  Arabic and Persian words are not transliterated (their romanisations drop the vowels).
- Homoglyphs: a word mixing Latin letters with Cyrillic or Greek lookalikes (``ѕnарbаск``) reads
  as its Latin letters.
- ``exact:S-400`` or ``exact:"С-400"`` opts a term out of all but the first rule: it matches its
  own script only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from alerts.scripts import (
    NAME,
    latin_words,
    readings,
    script,
    split_spellings,
    written_apart,
    written_together,
)

#: A letter run or a digit run, in any script.
TOKEN = re.compile(r"[^\W\d_]+|\d+")
#: What may separate two tokens of a phrase in the text.
_GAP = re.compile(r"[^\S\n]*(?:[-'][^\S\n]*)?")
_SPACE = re.compile(r"\s+")
MIN_PREFIX = 2


def shown(query: str, most: int = 80) -> str:
    """A query as an error message quotes it: clipped past ``most`` characters."""
    return repr(query if len(query) <= most else query[: most - 1] + "…")


class QueryError(ValueError):
    """A malformed query; the message says what and where."""


#: Letters written differently across the Arabic script's languages, read as one; the Persian
#: zero-width non-joiner as a space (a token boundary inside a word); tatweel removed.
_LETTERS: dict[str, str | None] = {
    "\u06cc": "\u064a",  # Farsi yeh -> Arabic yeh
    "\u0649": "\u064a",  # alef maksura -> yeh
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u06d5": "\u0647",  # ae -> heh
    "\u06be": "\u0647",  # heh doachashmee -> heh
    "\u06c1": "\u0647",  # heh goal -> heh
    "\u0640": None,  # tatweel
    "\u200c": " ",  # zero-width non-joiner
    "\u0451": "\u0435",  # ё -> е (Russian writes both)
    "\u0401": "\u0415",
}


def _decomposes(code: int) -> bool:
    """Latin, Greek and Arabic letters lose their marks after decomposition; Cyrillic keeps
    them (й is not и)."""
    return code < 0x0400 or 0x0600 <= code < 0x0800 or 0x1E00 <= code < 0x2000


class _Table(dict[int, str | None]):
    """The per-character mapping of :func:`normalise`, filled in as characters are met."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        result: str | None = char
        if char in _LETTERS:
            result = _LETTERS[char]
        elif category in {"Mn", "Me", "Cf"}:
            result = None
        elif category.startswith("L") and code > 127 and _decomposes(code):
            base = "".join(
                _LETTERS.get(c, c) or ""
                for c in unicodedata.normalize("NFD", char)
                if not unicodedata.combining(c)
            )
            result = base or char
        elif category == "Pd" or char in "\u2212\u2043\ufe63\uff0d":
            result = "-"
        elif category == "Nd" and code > 127:
            result = str(unicodedata.digit(char))
        elif char in "\u2018\u2019\u02bc\u2032\uff07":
            result = "'"
        self[code] = result
        return result


_TABLE = _Table()


#: Arabic letters (and the marks and tatweel that may sit between them), for word boundaries.
_ARABIC_LETTER = "\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff"
_MARKS = "[\u064b-\u065f\u0670\u0640]*"
#: The preposition على ("on", with "and"/"so" joined: وعلى, فعلى), whose alef maksura is kept:
#: folded to yeh it would be the name علي (Ali), and a watch for Ali would fire on every "on".
_ALA = re.compile(
    f"(?<![{_ARABIC_LETTER}])[وف]?{_MARKS}ع{_MARKS}ل{_MARKS}\u0649(?![{_ARABIC_LETTER}])"
)
#: What the kept alef maksura reads as: a letter of the script that the table leaves as it
#: is (Kashmiri yeh, which no Arabic or Persian word holds), one character for one.
KEPT_MAKSURA = "\u0620"


def kept(text: str) -> str:
    """``text`` with the alef maksura of the word على marked to stay (see ``_ALA``), the same
    length, so offsets still map."""
    if "\u0649" not in text:
        return text
    return _ALA.sub(lambda found: found.group()[:-1] + KEPT_MAKSURA, text)


def normalise(text: str) -> str:
    """The matching form of ``text``: NFKC, dashes, digits, marks, then case folding.

    Every step after NFKC works character by character, so :func:`offsets` can map positions
    in the result back to positions in ``unicodedata.normalize("NFKC", text)``.
    """
    return kept(unicodedata.normalize("NFKC", text)).translate(_TABLE).casefold()


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
    """A word or phrase: consecutive tokens, the last one a prefix when ``prefix``.

    ``capitals`` says which words the query writes with a capital (names: they also find
    Cyrillic and Greek transliterations); ``variants`` are the other spellings the term stands
    for (its Latin reading, its Arabic-script words written together); ``exact`` terms match
    their own script only.
    """

    words: tuple[str, ...]
    prefix: bool = False
    source: str = ""
    exact: bool = False
    capitals: tuple[bool, ...] = ()
    variants: tuple[tuple[str, ...], ...] = ()

    def matches(self, doc: Document) -> bool:
        return next(self.find(doc), None) is not None

    def find(self, doc: Document) -> Iterator[tuple[int, int]]:
        """Start and end offsets (in the normalised text) of each occurrence."""
        apart = len(self.words) == 1 and script(self.words[0]) == "arabic"
        if self.exact or not (doc.alternates or self.variants or apart):
            yield from self._plain(doc, self.words)
            return
        seen: set[tuple[int, int]] = set()
        for words in (self.words, *self.variants):
            for span in self._folded(doc, words, words is self.words):
                if span not in seen:
                    seen.add(span)
                    yield span

    def _plain(self, doc: Document, words: tuple[str, ...]) -> Iterator[tuple[int, int]]:
        """Occurrences of ``words`` as the text's own tokens."""
        count = len(words)
        last = count - 1
        first = words[0]
        starts = doc.prefixed(first) if count == 1 and self.prefix else doc.positions.get(first, [])
        for start in starts:
            if start + count > len(doc.tokens):
                continue
            for offset in range(1, count):
                index = start + offset
                token = doc.tokens[index]
                word = words[offset]
                if offset == last and self.prefix:
                    if not token.startswith(word):
                        break
                elif token != word:
                    break
                if not doc.joined(index - 1):
                    break
            else:
                yield doc.spans[start][0], doc.spans[start + last][1]

    def _folded(
        self, doc: Document, words: tuple[str, ...], own: bool
    ) -> Iterator[tuple[int, int]]:
        """Occurrences of ``words`` where a word may also be a token's other reading (its
        Latin letters, a transliterated name, Arabic-script tokens written apart)."""
        last = len(words) - 1

        def ways(index: int, at: int) -> Iterator[int]:
            """The last token of each way word ``at`` can be read from token ``index``."""
            word = words[at]
            prefix = self.prefix and at == last
            token = doc.tokens[index]
            if token == word or (prefix and token.startswith(word)):
                yield index
            elif len(token) < len(word) and word.startswith(token) and script(token) == "arabic":
                apart = written_apart(doc, index, word)
                if apart is not None and apart > index:
                    yield apart
            names = own and at < len(self.capitals) and self.capitals[at]
            for form, end, kind in doc.readings.get(index, ()):
                if (form == word or (prefix and form.startswith(word))) and (names or kind != NAME):
                    yield end

        def go(index: int, at: int) -> Iterator[int]:
            for end in ways(index, at):
                if at == last:
                    yield end
                elif end + 1 < len(doc.tokens) and doc.joined(end):
                    yield from go(end + 1, at + 1)

        first = words[0]
        starts = doc.starts(first, self.prefix and last == 0)
        if script(first) == "arabic" and not self.prefix:
            starts = sorted(
                {*starts, *(i for a, _ in split_spellings(first) for i in doc.positions.get(a, ()))}
            )
        for start in starts:
            for end in go(start, 0):
                yield doc.spans[start][0], doc.spans[end][1]

    def terms(self) -> Iterator[Term]:
        yield self

    def anchors(self) -> frozenset[tuple[str, str]]:
        keys: set[tuple[str, str]] = set()
        for words in (self.words, *(() if self.exact else self.variants)):
            if len(words) == 1:
                keys.add(("p" if self.prefix else "w", words[0]))
                if not self.exact:  # an Arabic-script word written apart starts with a part
                    keys.update(("w", part) for part, _ in split_spellings(words[0]))
            else:
                whole = words[:-1] if self.prefix else words
                keys.add(("w", max(whole, key=len)))
        return frozenset(keys)


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

    Title and text are joined by a blank line, which no phrase crosses. ``readings`` holds the
    other readings of tokens (``alerts.scripts.readings``): token index -> (form, last token,
    kind); ``alternates`` the token indexes by form, for finding candidates.
    """

    text: str  # normalised
    outlet: str = ""
    host: str = ""
    language: str = ""
    body: int = 0  # where the text starts, after the title and its blank line
    tokens: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=dict)
    readings: dict[int, list[tuple[str, int, str]]] = field(default_factory=dict)
    alternates: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, title: str | None, text: str, outlet: str = "", host: str = "", language: str = ""
    ) -> Document:
        display = display_text(title, text)
        cased = kept(display).translate(_TABLE)
        doc = cls(cased.casefold(), outlet, host.lower(), language or "")
        if title:
            doc.body = len(normalise(unicodedata.normalize("NFKC", f"{title}\n\n")))
        for index, match in enumerate(TOKEN.finditer(doc.text)):
            token = match.group()
            doc.tokens.append(token)
            doc.spans.append(match.span())
            doc.positions.setdefault(token, []).append(index)
        if not doc.text.isascii():
            # Capitals are read from the text before case folding where folding kept its length
            # (it does but for a few letters such as ß).
            doc.readings = readings(doc, cased if len(cased) == len(doc.text) else None)
            for index, found in doc.readings.items():
                for form, _, _ in found:
                    doc.alternates.setdefault(form, []).append(index)
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

    def starts(self, word: str, prefix: bool) -> list[int]:
        """Token indexes where ``word`` may start, in the text's tokens or their readings."""
        if not prefix:
            return sorted({*self.positions.get(word, ()), *self.alternates.get(word, ())})
        found = set(self.prefixed(word))
        for form, indexes in self.alternates.items():
            if form.startswith(word):
                found.update(indexes)
        return sorted(found)


#: Tokens of context kept around each token the full-text index could not find as written,
#: so that a phrase of a watch (``S-400 Iran``) still meets its neighbours there.
INDEX_CONTEXT = 3


def index_form(doc: Document) -> str:
    """What the full-text index holds of ``doc`` beside its title and text: the passages
    around the tokens that SQLite's tokeniser would not find as the watches read them (a
    token with another reading, replaced by it; an Arabic-script token, folded), each with
    INDEX_CONTEXT tokens either side; "" where there is none (Latin text: the tokeniser folds
    its case and accents itself)."""
    tokens_ = doc.tokens
    ranges: list[list[int]] = []
    for index, token in enumerate(tokens_):
        if token.isascii():
            continue
        found = doc.readings.get(index)
        if not found and script(token) != "arabic":
            continue
        last = max((end for _, end, _ in found), default=index) if found else index
        low, high = max(0, index - INDEX_CONTEXT), min(len(tokens_) - 1, last + INDEX_CONTEXT)
        if ranges and low <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], high)
        else:
            ranges.append([low, high])
    passages: list[str] = []
    more: list[str] = []
    for low, high in ranges:
        shadow: list[str] = []
        index = low
        while index <= high:
            found = doc.readings.get(index)
            if found:
                form, last, _ = found[0]
                shadow.append(form)
                more.extend(other for other, _, _ in found[1:])
                index = last + 1
            else:
                shadow.append(tokens_[index])
                index += 1
        passages.append(" ".join(shadow))
    return "\n".join(passages + ([" ".join(more)] if more else []))


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
#: ``exact:TERM``: the term in its own script only (no reading across scripts).
EXACT = "exact"
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


#: How deep parentheses and '-' may nest in a query: far beyond any real watch, well within
#: Python's stack (matching and the full-text form walk the tree recursively too).
MAX_NESTING = 50


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _lex(query)
        self.index = 0
        self.depth = 0

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
        if token.kind in {"not", "open"}:
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise QueryError(
                    f"nested deeper than {MAX_NESTING} groups or '-' at column {token.at}: "
                    "write the query flatter"
                )
            try:
                return self._nested(token)
            finally:
                self.depth -= 1
        return self._plain(token)

    def _nested(self, token: _Token) -> Node:
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
        return self._plain(token)

    def _plain(self, token: _Token) -> Node:
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
        if operator and operator.group(1).lower() == EXACT:
            return self.exact(token, operator.group(2))
        if operator and not operator.group(1).isdigit():
            name, value = operator.group(1).lower(), operator.group(2)
            if name not in FIELDS:
                raise QueryError(
                    f"unknown operator {name + ':'!r} at column {token.at} "
                    f"(known: {', '.join(f + ':' for f in (*FIELDS, EXACT))})"
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

    def exact(self, token: _Token, value: str) -> Node:
        """``exact:WORD`` or ``exact:"PHRASE"``: a term in its own script only."""
        if not value:
            following = self.peek()
            if (
                following is None
                or following.kind != "phrase"
                or following.at != token.at + len(token.text)
            ):
                raise QueryError(f"exact: at column {token.at} needs a word or a quoted phrase")
            node = self.phrase(self.take())
        else:
            prefix = value.endswith("*")
            node = self.term(value.rstrip("*") if prefix else value, prefix, token)
        assert isinstance(node, Term)
        return Term(node.words, node.prefix, node.source, exact=True)

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
        cased = tokens(kept(unicodedata.normalize("NFKC", text)).translate(_TABLE))
        capitals = tuple(word[:1].isupper() for word in cased) if len(cased) == len(words) else ()
        variants = tuple(
            v for v in (latin_words(words, capitals), written_together(words)) if v is not None
        )
        return Term(words, prefix, _SPACE.sub(" ", text.strip()), False, capitals, variants)


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
