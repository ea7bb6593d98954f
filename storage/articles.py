"""Store articles once, and group the copies of one report into a story.

* An article is identified by its URL key (``extractors.urls.url_key``: the canonical URL with
  http/https, AMP, mobile and print variants folded), over every URL that led to it, which
  ``article_urls`` remembers so that the crawler need not download them again.
* Storing a known article with the same text only moves ``last_seen``; so does a text that is
  one of its earlier versions (a stale cache or an old copy replayed). A changed text becomes
  the article's text and the one it replaces is kept in ``article_versions``.
* A new article joins the story of an earlier one with the same normalised text or a similar
  enough one (``storage.stories``), else starts a story of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlite_utils import Database

from extractors.article import Article
from extractors.dates import isoformat
from extractors.urls import normalise_url, url_key
from storage import stories
from storage.db import write_transaction

NEW = "new"  # a new article, and a new story
NEAR_DUPLICATE = "near_duplicate"  # a new article of a known story (exact or near copy)
UPDATED = "updated"  # a known article whose text changed
DUPLICATE = "duplicate"  # a known article, text unchanged

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Stored:
    """What storing one article did."""

    article_id: int
    outcome: str  # NEW, NEAR_DUPLICATE, UPDATED or DUPLICATE
    story_id: int
    alerts: int = 0  # alerts created by the on_change hook


@dataclass(frozen=True)
class Change:
    """A new or changed article, as the storing transaction's ``on_change`` hook sees it."""

    article_id: int
    story_id: int
    first_seen: str
    outcome: str
    #: The stored article's published date (kept from the first text that had one), or None.
    published: str | None = None


@lru_cache(maxsize=8)
def text_hash(text: str) -> str:
    """Hash of the text after NFKC, case folding and whitespace collapsing.

    Two texts that differ only in spacing, case or Unicode presentation hash the same.
    Remembered for the last few texts: storing one article asks for it three times.
    """
    normal = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


#: Called inside the storing transaction for a new or changed article; returns the number of
#: alerts it created.
OnChange = Callable[[Database, Change], int]


def store_article(
    db: Database,
    article: Article,
    outlet: str,
    now: datetime | None = None,
    on_change: OnChange | None = None,
    is_unchanged: bool | None = None,
    folded: str | None = None,
) -> Stored:
    """Insert or refresh one article, in one transaction.

    Args:
        on_change: Runs in the same transaction when the article is new or its text changed,
            so what it writes (alerts) is committed with the article or not at all.
        is_unchanged: What :func:`unchanged` just said of ``article``, if the caller asked
            it; None asks it here. Either way the write transaction checks again.
        folded: The text's matching form in other scripts, for the full-text index
            (``alerts.query.index_form``); None leaves it to be computed later.
    """
    seen = isoformat(now or datetime.now(UTC))
    digest = text_hash(article.text)
    keys = _url_keys(article)
    # The MinHash signature (a millisecond or two) is computed outside the write lock, and not
    # at all for a re-fetch of an unchanged page, the commonest case in a re-check or a replay,
    # nor for a verbatim copy of a stored text (a wire story): the stored text's band keys
    # already lead to its story, and the copy's would be the same keys again.
    mine: set[str] | None = None
    bands: list[int] = []
    if is_unchanged is None:
        is_unchanged = unchanged(db, article)
    if not is_unchanged and _text_story(db, digest) is None:
        mine = stories.shingles(article.text)
        bands = stories.band_keys(mine)
    with write_transaction(db):
        row = _find(db, set(keys.values()))
        if row is None:
            exact = _text_story(db, digest)
            if exact is None and mine is None:
                mine = stories.shingles(article.text)  # it changed since the check: rare
                bands = stories.band_keys(mine)
            story_id, outcome = _story_for(db, exact, mine, bands, article, outlet, seen)
            article_id = _insert(db, article, outlet, seen, digest, story_id, folded)
            _set_bands(db, article_id, bands)
            first_seen, published = seen, article.published
        else:
            article_id, story_id, first_seen = row["id"], row["story_id"], row["first_seen"]
            published = row["published"] or article.published
            if _same_text(db, row, digest):
                db.table("articles").update(article_id, {"last_seen": seen})
                outcome = DUPLICATE
            else:
                if mine is None:
                    mine = stories.shingles(article.text)  # it changed since the check: rare
                    bands = stories.band_keys(mine)
                # The text is read only here: a re-fetch of an unchanged page does not need it.
                (row["text"],) = db.execute(
                    "select text from articles where id = ?", [article_id]
                ).fetchone()
                _update(db, row, article, seen, digest, folded)
                _set_bands(db, article_id, bands, stories.band_keys(stories.shingles(row["text"])))
                outcome = UPDATED
            db.execute("update stories set last_seen = ? where id = ?", [seen, story_id])
        db.table("article_urls").insert_all(
            ({"url": url, "article_id": article_id, "key": key} for url, key in keys.items()),
            ignore=True,
        )
        alerts = 0
        if on_change is not None and outcome != DUPLICATE:
            change = Change(article_id, story_id, first_seen, outcome, published)
            alerts = on_change(db, change)
    return Stored(article_id, outcome, story_id, alerts)


def unchanged(db: Database, article: Article) -> bool:
    """True if ``article`` is stored under one of its URL keys with this text, or had it once:
    storing it again would only move ``last_seen``. A read, outside any write transaction."""
    row = _find(db, set(_url_keys(article).values()))
    return row is not None and _same_text(db, row, text_hash(article.text))


def _url_keys(article: Article) -> dict[str, str]:
    """The article's URLs (canonical and fetched), each with its URL key."""
    urls = {article.url, normalise_url(article.fetched_url)}
    return {url: url_key(url) for url in urls}


def _same_text(db: Database, row: dict, digest: str) -> bool:
    """The stored article's text, or one of its earlier versions, hashes to ``digest``."""
    return row["content_hash"] == digest or _is_old_version(db, row["id"], digest)


def _find(db: Database, keys: set[str]) -> dict | None:
    marks = ",".join("?" * len(keys))
    cursor = db.execute(
        "select a.id, a.story_id, a.title, a.author, a.published, a.sitename, a.content_hash, "
        "a.first_seen, a.updated "
        "from article_urls u join articles a on a.id = u.article_id "
        f"where u.key in ({marks}) order by a.id limit 1",
        list(keys),
    )
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def _is_old_version(db: Database, article_id: int, digest: str) -> bool:
    return (
        db.execute(
            "select 1 from article_versions where article_id = ? and content_hash = ?",
            [article_id, digest],
        ).fetchone()
        is not None
    )


def _text_story(db: Database, digest: str) -> int | None:
    """The story of the first stored article with this normalised text (under any URL)."""
    found = db.execute(
        "select story_id from articles where content_hash = ? order by id limit 1", [digest]
    ).fetchone()
    return found[0] if found else None


def _story_for(
    db: Database,
    exact: int | None,
    mine: set[str] | None,
    bands: list[int],
    article: Article,
    outlet: str,
    seen: str,
) -> tuple[int, str]:
    """The story a new article joins (creating one if none fits), and the outcome.

    ``exact`` is the story of a stored article with the same text, if there is one; only then
    may ``mine`` (the article's shingles) be None.
    """
    if exact is not None:
        story_id: int | None = exact
    else:
        assert mine is not None
        story_id = _near_story(db, mine, bands)
    if story_id is None:
        story_id = (
            db.table("stories")
            .insert(
                {
                    "title": article.title,
                    "first_seen": seen,
                    "last_seen": seen,
                    "articles": 1,
                    "outlets": json.dumps([outlet], ensure_ascii=False),
                }
            )
            .last_pk
        )
        assert story_id is not None
        return int(story_id), NEW
    (known,) = db.execute("select outlets from stories where id = ?", [story_id]).fetchone()
    outlets = json.loads(known)
    if outlet not in outlets:
        outlets.append(outlet)
    db.execute(
        "update stories set articles = articles + 1, last_seen = ?, outlets = ? where id = ?",
        [seen, json.dumps(outlets, ensure_ascii=False), story_id],
    )
    return int(story_id), NEAR_DUPLICATE


def _near_story(db: Database, mine: set[str], bands: list[int]) -> int | None:
    """The story of the most similar stored article among those sharing a band key."""
    marks = ",".join("?" * len(bands))
    candidates = db.execute(
        "select a.id, a.text from articles a join ("
        f"  select article_id, count(*) as shared from story_bands where key in ({marks})"
        "   group by article_id order by shared desc, article_id limit ?"
        ") c on c.article_id = a.id",
        [*bands, stories.MAX_CANDIDATES],
    ).fetchall()
    best = stories.best_match(mine, candidates)
    if best is None:
        return None
    (story_id,) = db.execute("select story_id from articles where id = ?", [best[0]]).fetchone()
    return int(story_id)


def _insert(
    db: Database,
    article: Article,
    outlet: str,
    seen: str,
    digest: str,
    story_id: int,
    folded: str | None,
) -> int:
    article_id = (
        db.table("articles")
        .insert(
            {
                "url": article.url,
                "outlet": outlet,
                "title": article.title,
                "author": article.author,
                "published": article.published,
                "first_seen": seen,
                "last_seen": seen,
                "language": article.language,
                "sitename": article.sitename,
                "text": article.text,
                "content_hash": digest,
                "story_id": story_id,
                "doubt": article.doubt,
                "folded": folded,
            }
        )
        .last_pk
    )
    assert article_id is not None
    return int(article_id)


def _update(
    db: Database, row: dict, article: Article, seen: str, digest: str, folded: str | None
) -> None:
    """Keep the current text as a version, then make ``article``'s text the current one."""
    db.table("article_versions").insert(
        {
            "article_id": row["id"],
            "fetched": row["updated"] or row["first_seen"],
            "content_hash": row["content_hash"],
            "title": row["title"],
            "text": row["text"],
        }
    )
    db.table("articles").update(
        row["id"],
        {
            "title": article.title or row["title"],
            "author": article.author or row["author"],
            "published": row["published"] or article.published,
            "last_seen": seen,
            "updated": seen,
            "language": article.language,
            "sitename": article.sitename or row["sitename"],
            "text": article.text,
            "content_hash": digest,
            "doubt": article.doubt,
            "folded": folded,
        },
    )


def _set_bands(db: Database, article_id: int, bands: list[int], old: Sequence[int] = ()) -> None:
    if old:
        db.conn.executemany(
            "delete from story_bands where key = ? and article_id = ?",
            [(key, article_id) for key in old],
        )
    db.conn.executemany(
        "insert or ignore into story_bands (key, article_id) values (?, ?)",
        [(key, article_id) for key in bands],
    )


#: The first re-check of a stored article comes this fraction of ``[crawl] recheck`` after it
#: was first seen; each later one waits as long again as the article had been known at the one
#: before (a quarter, a half of the window ...): a few fetches an article, however often its
#: outlet is polled.
FIRST_RECHECK = 1 / 8


@dataclass(frozen=True)
class Seen:
    """When a stored article was first seen, and last fetched (ISO 8601)."""

    first: str
    last: str


def seen(db: Database, url: str) -> Seen | None:
    """When the article ``url`` leads to was first seen and last fetched; None if no stored
    article has it.

    Raises:
        ValueError: ``url`` has no key (it cannot be an article's address).
    """
    row = db.execute(
        "select a.first_seen, a.last_seen from article_urls u "
        "join articles a on a.id = u.article_id where u.key = ? order by a.id limit 1",
        [url_key(url)],
    ).fetchone()
    return Seen(str(row[0]), str(row[1])) if row is not None else None


def recheck_due(known: Seen, recheck: float, now: datetime) -> bool | None:
    """Whether a stored article is to be fetched again now, for corrections: None once it is
    past the re-check window (``recheck`` seconds after it was first seen: never again), False
    while its next re-check is not due (see :data:`FIRST_RECHECK`)."""
    try:
        first, last = (datetime.fromisoformat(t) for t in (known.first, known.last))
    except ValueError:
        return None  # not a time: as good as old
    last = max(first, last)
    if (now - first).total_seconds() >= recheck:
        return None
    wait = max(recheck * FIRST_RECHECK, (last - first).total_seconds())
    return (now - last).total_seconds() >= wait


def should_fetch(db: Database, url: str, recheck: float, now: datetime | None = None) -> bool:
    """Whether a crawl fetches ``url``: a new article, or a stored one whose re-check is due
    (:func:`recheck_due`)."""
    try:
        known = seen(db, url)
    except ValueError:
        return False
    if known is None:
        return True
    return bool(recheck_due(known, recheck, now or datetime.now(UTC)))


def known_url_keys(
    db: Database,
    article_ids: Sequence[int] | None = None,
    since: str = "",
    page: int = 10_000,
) -> Iterator[tuple[str, str, str]]:
    """(URL key, first seen, last fetched) of the given articles, or of every one first seen
    ``since``, the oldest article first: what :func:`should_fetch` reads, for a copy kept
    elsewhere (a cluster's Redis)."""
    sql = (
        "select u.key, a.first_seen, a.last_seen from article_urls u "
        "join articles a on a.id = u.article_id where u.key is not null"
    )
    if article_ids is not None:
        if not article_ids:
            return
        marks = ",".join("?" * len(article_ids))
        yield from db.execute(f"{sql} and a.id in ({marks}) order by a.id", list(article_ids))
        return
    cursor = db.execute(f"{sql} and a.first_seen >= ? order by a.id", [since])
    while rows := cursor.fetchmany(page):
        yield from rows


def watch_candidates(db: Database, fts_match: str | None, page: int = 500) -> Iterator[dict]:
    """Stored articles newest first (published, else first seen): those the full-text
    expression ``fts_match`` finds, or all when it is None; read ``page`` rows at a time."""
    columns = (
        "a.id, a.story_id, a.url, a.outlet, a.title, a.published, a.first_seen, a.language, a.text"
    )
    order = "order by coalesce(a.published, a.first_seen) desc, a.id desc"
    if fts_match:
        sql = (
            f"select {columns} from articles_fts join articles a on a.id = articles_fts.rowid "
            f"where articles_fts match ? {order} limit ? offset ?"
        )
        params: list[Any] = [fts_match]
    else:
        sql, params = f"select {columns} from articles a {order} limit ? offset ?", []
    offset = 0
    while True:
        rows = list(db.query(sql, [*params, page, offset]))
        yield from rows
        if len(rows) < page:
            return
        offset += page


def count_candidates(db: Database, fts_match: str | None) -> int:
    """How many articles :func:`watch_candidates` yields."""
    if fts_match:
        sql, params = "select count(*) from articles_fts where articles_fts match ?", [fts_match]
    else:
        sql, params = "select count(*) from articles", []
    return int(db.execute(sql, params).fetchone()[0])


def story_of_article(db: Database, article_id: int) -> int | None:
    """The story an article belongs to; None if there is no such article."""
    row = db.execute("select story_id from articles where id = ?", [article_id]).fetchone()
    return int(row[0]) if row else None


def new_articles(db: Database, outlet: str, since: str) -> tuple[int, int]:
    """Articles of ``outlet`` first seen since ``since``, and how many of them carry a doubt."""
    new, doubtful = db.execute(
        "select count(*), count(doubt) from articles where outlet = ? and first_seen >= ?",
        [outlet, since],
    ).fetchone()
    return int(new), int(doubtful)


def recent_dates(db: Database, outlet: str, limit: int) -> list[tuple[str | None, str]]:
    """``(published, first_seen)`` of the outlet's ``limit`` articles seen last, newest first."""
    return [
        (row[0], row[1])
        for row in db.execute(
            "select published, first_seen from articles where outlet = ? "
            "order by first_seen desc limit ?",
            [outlet, limit],
        )
    ]


def articles_by_date(db: Database) -> list[dict]:
    """Every article (id, outlet, title, published, url, size, text), by published date."""
    return list(
        db.query(
            "select id, outlet, title, published, url, length(text) as size, text "
            "from articles order by published"
        )
    )


def unfolded(db: Database, page: int = 200) -> Iterator[list[dict]]:
    """Articles whose matching form in other scripts is not computed yet, ``page`` at a time."""
    last = 0
    while rows := list(
        db.query(
            "select id, title, text from articles where folded is null and id > ? "
            "order by id limit ?",
            [last, page],
        )
    ):
        yield rows
        last = rows[-1]["id"]


def count_unfolded(db: Database) -> int:
    return int(db.execute("select count(*) from articles where folded is null").fetchone()[0])


def set_folded(db: Database, forms: dict[int, str]) -> None:
    """Store computed matching forms (``folded``), in one transaction."""
    with write_transaction(db):
        db.conn.executemany(
            "update articles set folded = ? where id = ?", [(f, i) for i, f in forms.items()]
        )
