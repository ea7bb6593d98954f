"""The other readings of a token written in another script than the analyst's watch.

A matching form (``alerts.query.normalise``) already folds each script's own spelling
variants letter by letter. What a letter-by-letter fold cannot do is read a word across
scripts: the Russian designation ``С-400`` is the S-400, the Persian ``اس-۴۰۰`` too, the name
``Захарова`` is Zakharova, and ``ѕnарbаск`` (Cyrillic lookalikes in a Latin word) is snapback.
This module gives those readings, for the text's tokens (:func:`readings`) and for a watch's
words (:func:`latin_words`), by the rules in ``alerts/query.py``'s docstring.

Transliteration is anyascii's (ISC licence, pure Python): its Russian, Ukrainian and Greek
tables give the spellings the press uses (Zakharova, Shoygu, Ryabkov, Athina). Arabic and
Persian words are not transliterated: their romanisations drop the short vowels, and a
consonant skeleton would meet too many other words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from anyascii import anyascii

if TYPE_CHECKING:
    from alerts.query import Document

#: An Arabic word this long that starts with the article ال is also read without it
#: (الكرملين is كرملين); shorter ones are words of their own (الا, الى).
ARTICLE_WORD = 5
#: A name is read in Latin from this many letters (``Иран``, ``Су`` only as a designation).
NAME_LETTERS = 3
#: A designation's letter part has at most this many letters (``С``, ``Су``, ``Ту``, ``Ил``).
DESIGNATION_LETTERS = 3

#: The Persian and Arabic names of Latin letters, as they are folded (hamza dropped, yeh and
#: kaf unified), that stand before a number in a designation (``اس-۴۰۰``, ``ام‌کیو-۹``). Names
#: that are also common words before numbers are left out: في ("in"), ان ("that"), دی (the
#: month Dey), سی ("thirty"), کی ("when"), ال (the article), او ("or").
LETTER_NAMES = {
    "اس": "s",
    "اف": "f",
    "ام": "m",
    "كيو": "q",
    "بي": "b",
    "پي": "p",
    "تي": "t",
    "جي": "g",
    "اچ": "h",
    "اتش": "h",
    "اكس": "x",
    "ايكس": "x",
    "زد": "z",
    "سو": "su",
}

#: Cyrillic and Greek letters that look like Latin ones, for words that mix the scripts.
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
        "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "α": "a", "ο": "o", "ρ": "p", "ε": "e",
        "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "χ": "x",
    }
)  # fmt: skip
_NOT_LATIN_LETTER = re.compile(r"[^a-z]")


@lru_cache(maxsize=1 << 16)
def script(token: str) -> str:
    """``latin``, ``cyrillic_greek``, ``arabic``, ``mixed`` (Latin with Cyrillic or Greek) or
    ``other``, by the token's letters."""
    latin = cyrillic_greek = arabic = False
    for char in token:
        code = ord(char)
        if code < 0x250:
            latin = True
        elif 0x370 <= code < 0x530 or 0x1F00 <= code < 0x2000:
            cyrillic_greek = True
        elif 0x600 <= code < 0x800 or 0xFB50 <= code < 0xFF00:
            arabic = True
        else:
            return "other"
    if cyrillic_greek:
        return "mixed" if latin else "cyrillic_greek"
    if arabic:
        return "other" if latin else "arabic"
    return "latin"


def latin(token: str) -> str | None:
    """A Cyrillic or Greek token's Latin transliteration, lower-case letters only."""
    reading = _NOT_LATIN_LETTER.sub("", anyascii(token).lower())
    return reading or None


def lookalike(token: str) -> str | None:
    """A word mixing Latin letters with Cyrillic or Greek lookalikes, read in Latin; None if
    one of its letters looks like no Latin letter."""
    reading = token.translate(_LOOKALIKES)
    return reading if reading.isascii() else None


#: Kinds of reading: a Latin reading (designation, lookalike, letter names, a word without its
#: article), or a transliterated name (for watch words written with a capital only).
LATIN, NAME = "latin", "name"


def readings(doc: Document, cased: str | None) -> dict[int, list[tuple[str, int, str]]]:
    """The other readings of ``doc``'s tokens: token index -> (form, last token, kind).
    ``cased`` is the text before case folding, position for position, or None where folding
    changed its length (capitals are then unknown: no name is read)."""
    found: dict[int, list[tuple[str, int, str]]] = {}
    tokens, spans, text = doc.tokens, doc.spans, doc.text
    count = len(tokens)

    def add(index: int, form: str | None, last: int, kind: str = LATIN) -> None:
        if form and form != tokens[index]:
            found.setdefault(index, []).append((form, last, kind))

    # Words the text also writes in lower case are common words, not names, where a capital
    # may only open a sentence ("Нет, ..." is not Net).
    foreign = sorted(
        index
        for token, indexes in doc.positions.items()
        if not token.isascii()
        for index in indexes
    )
    lower = (
        {tokens[i] for i in foreign if cased[spans[i][0]].islower()} if cased is not None else set()
    )
    for index in foreign:
        token = tokens[index]
        kind = script(token)
        number = index + 1 < count and tokens[index + 1].isdigit()
        gap = text[spans[index][1] : spans[index + 1][0]] if index + 1 < count else "\n"
        if kind == "mixed":
            add(index, lookalike(token), index)
        elif kind == "cyrillic_greek":
            capital = cased is not None and cased[spans[index][0]].isupper()
            if not (capital or number):
                continue
            if number and len(token) <= DESIGNATION_LETTERS:
                upper = cased is not None and cased[spans[index][0] : spans[index][1]].isupper()
                # A capital opening a sentence is no designation: "С 1 января" ("from 1 January").
                spaced = upper and gap == " " and not _opens_sentence(text, spans[index][0])
                if gap in ("", "-") or spaced:
                    add(index, latin(token), index)
            elif (
                capital
                and len(token) >= NAME_LETTERS
                and (token not in lower or not _opens_sentence(text, spans[index][0]))
            ):
                add(index, latin(token), index, NAME)
        elif kind == "arabic":
            letter = LETTER_NAMES.get(token) or (_glued_letters(token) if number else None)
            if letter and number and gap in ("", "-", " "):
                add(index, letter, index)
            if (
                letter
                and index + 2 < count
                and tokens[index + 1] in LETTER_NAMES
                and tokens[index + 2].isdigit()
                and doc.joined(index)
                and doc.joined(index + 1)
            ):
                add(index, letter + LETTER_NAMES[tokens[index + 1]], index + 1)
            if token.startswith("ال") and len(token) >= ARTICLE_WORD:
                add(index, token[2:], index)  # the Arabic article joined to its word
    return found


_OPENING = re.compile(r"(?:^|[.!?…:]\s*|\n)[\s\"'«“„(—–-]*$")


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence (or a line)."""
    return _OPENING.search(text, max(0, start - 8), start) is not None


def latin_words(words: tuple[str, ...], capitals: tuple[bool, ...]) -> tuple[str, ...] | None:
    """A watch's words read in Latin by the same rules as the text's, or None if none is read
    otherwise: designations, names written with a capital, lookalikes, letter names."""
    read: list[str] = []
    changed = False
    index = 0
    while index < len(words):
        word = words[index]
        kind = script(word)
        number = index + 1 < len(words) and words[index + 1].isdigit()
        reading: str | None = None
        if kind == "mixed":
            reading = lookalike(word)
        elif kind == "cyrillic_greek":
            capital = index < len(capitals) and capitals[index]
            if (number and len(word) <= DESIGNATION_LETTERS) or (
                capital and len(word) >= NAME_LETTERS
            ):
                reading = latin(word)
        elif kind == "arabic" and number and _glued_letters(word):
            reading = _glued_letters(word)
        elif kind == "arabic" and word in LETTER_NAMES:
            after = words[index + 1] if index + 1 < len(words) else ""
            if after in LETTER_NAMES and index + 2 < len(words) and words[index + 2].isdigit():
                read.append(LETTER_NAMES[word] + LETTER_NAMES[after])
                changed = True
                index += 2
                continue
            if number:
                reading = LETTER_NAMES[word]
        if reading:
            changed = True
        read.append(reading or word)
        index += 1
    return tuple(read) if changed else None


@lru_cache(maxsize=1 << 12)
def _glued_letters(token: str) -> str | None:
    """Two letter names written together (``امکیو``: the zero-width non-joiner of ``ام‌کیو``
    lost, as trafilatura drops it), read as their letters (``mq``)."""
    for cut in range(2, len(token) - 1):
        first, second = LETTER_NAMES.get(token[:cut]), LETTER_NAMES.get(token[cut:])
        if first and second:
            return first + second
    return None


def split_spellings(word: str) -> list[tuple[str, str]]:
    """An Arabic-script word cut in two everywhere (parts of 2 letters or more): how it may be
    written apart (``اسنپ بک``), for the full-text index and the watches' anchors."""
    if script(word) != "arabic":
        return []
    return [(word[:cut], word[cut:]) for cut in range(2, len(word) - 1)]


def written_apart(doc: Document, index: int, word: str) -> int | None:
    """The last token of ``word`` written apart from token ``index`` on (Arabic-script tokens
    separated by spaces or non-joiners), or None."""
    start, joined = index, doc.tokens[index]
    while len(joined) < len(word) and index + 1 < len(doc.tokens) and doc.joined(index):
        index += 1
        joined += doc.tokens[index]
        if not word.startswith(joined):
            return None
    return index if joined == word and index > start else None


def written_together(words: tuple[str, ...]) -> tuple[str, ...] | None:
    """A phrase of Arabic-script words as one word (``اسنپ بک`` -> ``اسنپبک``), or None."""
    if len(words) > 1 and all(script(word) == "arabic" for word in words):
        return ("".join(words),)
    return None
