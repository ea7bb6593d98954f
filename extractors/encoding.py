"""Decode a page's bytes as a browser would, and recover from a missing or wrong charset.

w3lib's ``html_to_unicode`` reads the encoding as browsers do (BOM, HTTP ``Content-Type``,
``<meta charset>``) and falls back to UTF-8. Two failures are common on news sites: no charset
anywhere on a page that is not UTF-8 (old Cyrillic, Arabic, Persian sites), and a declared
charset that the bytes contradict. When the declared (or default) decoding turns more than
``BAD_SHARE`` of the text into U+FFFD, charset-normalizer guesses the encoding from the bytes,
and its reading is kept if it is cleaner. A few stray bytes in an otherwise UTF-8 page (mixed
encodings) stay replacement characters: the rest of the page is right.
"""

from __future__ import annotations

from charset_normalizer import from_bytes
from w3lib.encoding import html_to_unicode

BAD_SHARE = 0.02
REPLACEMENT = "\ufffd"


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """The page's text and the encoding it was read with."""
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
