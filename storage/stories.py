"""Stories: the same report published more than once, found by exact and near-duplicate text.

An article joins the story of an earlier article when its normalised text hashes the same (an
exact copy) or when the Jaccard similarity of their word shingles reaches ``THRESHOLD`` (a
syndicated copy with light edits, another outlet's leftovers, a cut). Near-duplicate candidates
come from MinHash signatures cut into ``BANDS`` bands of ``ROWS`` values; each band
hashes to a 64-bit key kept in the indexed ``story_bands`` table, so a lookup is ``BANDS`` index
probes however large the archive. The candidates' texts are then compared exactly, so a chance
band collision never merges two stories.

``THRESHOLD``, ``SHINGLE`` and the band shape were chosen from ``bench/neardup.py``: see the
README's "Stories" section for the precision and recall they give on its labelled pairs.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
from sqlite_utils import Database

#: Words per shingle.
SHINGLE = 4
#: MinHash permutations, split into BANDS bands of ROWS values.
BANDS = 32
ROWS = 3
#: Jaccard similarity of shingle sets from which two texts are the same story.
THRESHOLD = 0.5
#: Most candidates compared exactly per lookup (the ones sharing most bands first).
MAX_CANDIDATES = 20

_WORD = re.compile(r"\w+")

# MinHash exactly as datasketch 2.0 computes it by default ("affine32": SHA-1's first 4 bytes,
# the MurmurHash3 32-bit finalizer, then a*h+b mod 2^32 with odd a; seed 1), so the band keys of
# databases written while wirewatch used datasketch stay valid. Its package imports scipy, 40 MB
# more in every crawl process, for these few lines; tests/test_stories.py pins the values.
_MAX_HASH = np.uint32(0xFFFFFFFF)
_generator = np.random.RandomState(1)
_A = _generator.randint(0, 1 << 31, BANDS * ROWS, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
_B = _generator.randint(0, 1 << 32, BANDS * ROWS, dtype=np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def minhash(shingle_set: Iterable[str]) -> np.ndarray:
    """The BANDS * ROWS minimum hash values (uint32) of a set of shingles."""
    sha1 = hashlib.sha1
    prefixes = b"".join([sha1(s.encode("utf-8")).digest()[:4] for s in shingle_set])
    hashes = np.frombuffer(prefixes, dtype="<u4").astype(np.uint32)
    if not len(hashes):
        return np.full(BANDS * ROWS, _MAX_HASH, dtype=np.uint32)
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps: that is the modulo
        permuted = _fmix32(hashes).reshape(-1, 1) * _A + _B
    return permuted.min(axis=0)


def words(text: str) -> list[str]:
    """The text's words after NFKC and case folding."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    """The set of overlapping ``size``-word sequences (the whole text if it is shorter)."""
    tokens = words(text)
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 0 for two empty sets."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def band_keys(shingle_set: Iterable[str]) -> list[int]:
    """The LSH band keys of a shingle set: one signed 64-bit integer per band.

    Texts whose shingle sets have Jaccard similarity ``s`` share at least one key with
    probability ``1 - (1 - s**ROWS) ** BANDS``.
    """
    values = minhash(shingle_set)
    keys = []
    for band in range(BANDS):
        chunk = values[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=band.to_bytes(16, "big")).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def candidate_probability(similarity: float) -> float:
    """The chance that two texts of this Jaccard similarity share a band key."""
    return 1 - (1 - similarity**ROWS) ** BANDS


def best_match(
    mine: set[str], candidates: Sequence[tuple[int, str]], threshold: float = THRESHOLD
) -> tuple[int, float] | None:
    """The candidate (id, text) most similar to ``mine`` at or above ``threshold``, or None."""
    best: tuple[int, float] | None = None
    for ident, text in candidates:
        score = jaccard(mine, shingles(text))
        if score >= threshold and (best is None or score > best[1]):
            best = (ident, score)
    return best


def read_story(db: Database, story_id: int) -> dict | None:
    """A story with its articles, oldest first, each with its earlier versions; None if unknown.

    An earlier version's ``replaced`` is when the next text took its place.
    """
    row = db.execute(
        "select id, title, first_seen, last_seen, outlets from stories where id = ?", [story_id]
    ).fetchone()
    if row is None:
        return None
    story = dict(zip(("id", "title", "first_seen", "last_seen", "outlets"), row, strict=True))
    story["outlets"] = json.loads(story["outlets"])
    story["articles"] = list(
        db.query(
            "select id, outlet, url, title, author, published, first_seen, last_seen, updated, "
            "language, content_hash, text, doubt from articles where story_id = ? "
            "order by first_seen, id",
            [story_id],
        )
    )
    for article in story["articles"]:
        versions = db.execute(
            "select fetched, content_hash, title, text from article_versions "
            "where article_id = ? order by id",
            [article["id"]],
        ).fetchall()
        article["versions"] = []
        for i, (fetched, digest, title, text) in enumerate(versions):
            replaced = versions[i + 1][0] if i + 1 < len(versions) else article["updated"]
            article["versions"].append(
                {
                    "fetched": fetched,
                    "replaced": replaced,
                    "content_hash": digest,
                    "title": title,
                    "text": text,
                }
            )
    return story
