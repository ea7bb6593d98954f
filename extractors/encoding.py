"""Decode a page's bytes as a browser would, and recover from a missing or wrong charset.

w3lib's ``html_to_unicode`` reads the encoding as browsers do (BOM, HTTP ``Content-Type``,
``<meta charset>``) and falls back to UTF-8. Two failures are common on news sites: no charset
anywhere on a page that is not UTF-8 (old Cyrillic, Arabic, Persian sites), and a declared
charset that the bytes contradict. When the declared (or default) decoding turns more than
``BAD_SHARE`` of the text into U+FFFD, charset-normalizer guesses the encoding from the bytes,
and its reading is kept if it is cleaner. A few stray bytes in an otherwise UTF-8 page (mixed
encodings) stay replacement characters: the rest of the page is right.

UTF-16 and UTF-32 pages are read by their BOM or, without one, by where their NUL bytes fall;
a stray NUL in a UTF-8 page is dropped (lxml refuses text that holds one).
"""

from __future__ import annotations

from charset_normalizer import from_bytes
from w3lib.encoding import html_to_unicode

BAD_SHARE = 0.02
REPLACEMENT = "\ufffd"


#: Bytes of a page's start read to tell its kind and its wide encoding.
HEAD = 65_536
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def wide_encoding(body: bytes) -> str | None:
    """UTF-16 or UTF-32 (with its byte order) for a page written in one, by its BOM or, for
    text that is mostly ASCII markup, by where its NUL bytes fall; None otherwise."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return None if codec == "utf-8" else codec
    head = body[: HEAD - HEAD % 4]
    if head.count(0) < len(head) / 4:
        return None
    quads = len(head) // 4
    if quads and all(head[4 * i + 1 : 4 * i + 4] == b"\0\0\0" for i in range(min(quads, 64))):
        return "utf-32-le"
    if quads and all(head[4 * i : 4 * i + 3] == b"\0\0\0" for i in range(min(quads, 64))):
        return "utf-32-be"
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > len(head) / 2 * 0.8:
        return "utf-16-le"
    if even > len(head) / 2 * 0.8:
        return "utf-16-be"
    return None


def sniff_text(body: bytes) -> str:
    """The start of the page as text, for telling whether it is HTML: decoded by its wide
    encoding if it has one, else as Latin-1 (every byte a character, markup as it is)."""
    wide = wide_encoding(body)
    head = body[:HEAD]
    if wide:
        return head[: len(head) - len(head) % 4].decode(wide, errors="replace")
    return head.decode("latin-1")


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """The page's text and the encoding it was read with."""
    wide = wide_encoding(body)
    if wide:
        return body.decode(wide, errors="replace").lstrip("\ufeff").replace("\x00", ""), wide
    text, encoding = _decode(body, content_type)
    return text.replace("\x00", ""), encoding


def _decode(body: bytes, content_type: str | None) -> tuple[str, str]:
    encoding, text = html_to_unicode(content_type or None, body)
    bad = text.count(REPLACEMENT)
    if bad <= BAD_SHARE * max(len(text), 1):
        return text, encoding
    guess = from_bytes(body[:200_000]).best()
    if guess is None:
        return text, encoding
    try:
        better = body.decode(guess.encoding, errors="replace")
    except LookupError:
        return text, encoding
    if better.count(REPLACEMENT) < bad:
        return better, guess.encoding
    return text, encoding
