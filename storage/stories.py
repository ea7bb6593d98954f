"""Stories: the same report published more than once, found by exact and near-duplicate text.

An article joins the story of an earlier article when its normalised text hashes the same (an
exact copy) or when the Jaccard similarity of their word shingles reaches ``THRESHOLD`` (a
syndicated copy with light edits, another outlet's leftovers, a cut). Near-duplicate candidates
come from MinHash signatures (datasketch) cut into ``BANDS`` bands of ``ROWS`` values; each band
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

from datasketch import MinHash
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
    sketch = MinHash(num_perm=BANDS * ROWS)
    sketch.update_batch([s.encode("utf-8") for s in shingle_set])
    values = sketch.hashvalues
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
    cursor = db.execute(
        "select id, outlet, url, title, author, published, first_seen, last_seen, updated, "
        "language, content_hash, text from articles where story_id = ? order by first_seen, id",
        [story_id],
    )
    columns = [c[0] for c in cursor.description]
    story["articles"] = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
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
