"""Store articles once: by URL identity, with every URL that led to them remembered.

An article is identified by its canonical URL (see ``extractors.urls``); the fetched URLs that
led to it are kept in ``article_urls`` so that the crawler need not download them again.
Storing an article that is already there with the same text only moves ``last_seen``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from extractors.article import Article
from extractors.dates import isoformat
from extractors.urls import normalise_url
from storage.db import write_transaction

NEW = "new"
UPDATED = "updated"
DUPLICATE = "duplicate"

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Stored:
    """What storing one article did."""

    article_id: int
    outcome: str  # new, updated or duplicate
    alerts: int = 0  # alerts created by the on_change hook


def text_hash(text: str) -> str:
    """Hash of the text after NFKC, case folding and whitespace collapsing.

    Two texts that differ only in spacing, case or Unicode presentation hash the same.
    """
    normal = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


#: Called inside the storing transaction for a new or changed article, with the database, the
#: article's id and its first_seen; returns the number of alerts it created.
OnChange = Callable[[Database, int, str], int]


def store_article(
    db: Database,
    article: Article,
    outlet: str,
    now: datetime | None = None,
    on_change: OnChange | None = None,
) -> Stored:
    """Insert or refresh one article, in one transaction.

    Args:
        on_change: Runs in the same transaction when the article is new or its text changed,
            so what it writes (alerts) is committed with the article or not at all.

    Returns:
        ``new`` for an unknown URL, ``updated`` when the text changed, ``duplicate`` when the
        same text was stored before (only ``last_seen`` moves).
    """
    seen = isoformat(now or datetime.now(UTC))
    digest = text_hash(article.text)
    urls = {article.url, normalise_url(article.fetched_url)}
    with write_transaction(db):
        row = _find(db, urls)
        if row is None:
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
                    }
                )
                .last_pk
            )
            outcome = NEW
            first_seen = seen
        elif row["content_hash"] == digest:
            article_id = row["id"]
            db.table("articles").update(article_id, {"last_seen": seen})
            outcome = DUPLICATE
        else:
            article_id = row["id"]
            db.table("articles").update(
                article_id,
                {
                    "title": article.title or row["title"],
                    "author": article.author or row["author"],
                    "published": row["published"] or article.published,
                    "last_seen": seen,
                    "language": article.language,
                    "sitename": article.sitename or row["sitename"],
                    "text": article.text,
                    "content_hash": digest,
                },
            )
            outcome = UPDATED
            first_seen = row["first_seen"]
        db.table("article_urls").insert_all(
            ({"url": url, "article_id": article_id} for url in urls), ignore=True
        )
        assert article_id is not None
        alerts = 0
        if on_change is not None and outcome != DUPLICATE:
            alerts = on_change(db, int(article_id), first_seen)
    return Stored(int(article_id), outcome, alerts)


def _find(db: Database, urls: set[str]) -> dict | None:
    marks = ",".join("?" * len(urls))
    rows = db.execute(
        "select a.id, a.title, a.author, a.published, a.sitename, a.content_hash, a.first_seen "
        "from article_urls u join articles a on a.id = u.article_id "
        f"where u.url in ({marks}) limit 1",
        list(urls),
    ).fetchall()
    if not rows:
        return None
    keys = ("id", "title", "author", "published", "sitename", "content_hash", "first_seen")
    return dict(zip(keys, rows[0], strict=True))


def should_fetch(db: Database, url: str, recheck: float, now: datetime | None = None) -> bool:
    """False if ``url`` led to a stored article first seen longer than ``recheck`` seconds ago.

    An article younger than the re-check window is fetched again, so corrections are caught.
    """
    try:
        key = normalise_url(url)
    except ValueError:
        return False
    row = db.execute(
        "select a.first_seen from article_urls u join articles a on a.id = u.article_id "
        "where u.url = ?",
        [key],
    ).fetchone()
    if row is None:
        return True
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=recheck)
    return row[0] > isoformat(cutoff)


def search_articles(db: Database, query: str, limit: int = 20) -> list[dict]:
    """Full-text search over title and text; every word of ``query`` must appear."""
    words = [w for w in re.findall(r"[\w][\w'-]*", query) if w]
    if not words:
        return []
    match = " ".join('"{}"'.format(w.replace('"', "")) for w in words)
    sql = (
        "select a.id, a.url, a.outlet, a.title, a.published, a.first_seen, "
        "snippet(articles_fts, 1, '[', ']', '…', 12) as snippet "
        "from articles_fts join articles a on a.id = articles_fts.rowid "
        "where articles_fts match ? order by rank limit ?"
    )
    cursor = db.execute(sql, [match, limit])
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
