"""The one write path: store an article and raise the alerts it matches, in one transaction.

``Ingest.store`` is what a crawl and a replay call for every extracted article. Storing
(``storage.articles.store_article``) calls back into this module inside its transaction, so the
article and its alerts are committed together or not at all.

An alert is created for a watch and a story at most once (a unique index): a copy of an alerted
story on another site, or an update of its article, does not alert again (the story records
who else reported it). Alerts come only when the article is new or its text changed, and only
when the article is recent enough for the watch (``max_age``, on its published date, else when
it was first seen) and was first seen after the watch was created: adding a watch does not raise
alerts on what the archive already holds (``wirewatch backfill`` lists that instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from alerts.config import WatchConfig
from alerts.query import index_form
from alerts.watches import Match, WatchSet, document
from extractors.article import Article
from extractors.dates import isoformat
from storage import alerts as alerts_table
from storage.articles import Change, Stored, store_article, unchanged


def sync_watches(db: Database, watches: Iterable[WatchConfig], now: datetime | None = None) -> None:
    """Record each configured watch, with the time it was first seen, and its current query."""
    stamp = isoformat(now or datetime.now(UTC))
    alerts_table.sync_watches(db, ((w.name, w.query) for w in watches), stamp)


def watch_set(watches: Iterable[WatchConfig]) -> WatchSet:
    """The watches, parsed and indexed (the config has validated every query)."""
    return WatchSet.parse((w.name, w.query, w.outlets) for w in watches)


class Ingest:
    """Store articles and raise the alerts they match, each article in one transaction."""

    def __init__(self, db: Database, watches: Sequence[WatchConfig]) -> None:
        self.db = db
        self.watches = {watch.name: watch for watch in watches}
        self.matcher = watch_set(watches)
        sync_watches(db, watches)
        self.created = alerts_table.watches_created(db)

    def store(self, article: Article, outlet: str, now: datetime | None = None) -> Stored:
        """Store ``article``; alerts for the watches it matches are committed with it."""
        now = now or datetime.now(UTC)
        if unchanged(self.db, article):
            # Alerts come only with new or changed text: no need to match a re-fetch.
            return store_article(self.db, article, outlet, now, is_unchanged=True)
        # Prepared once for the watches and the full-text index's other readings; neither
        # needs it for an ASCII text when there is no watch.
        ascii_only = article.text.isascii() and (article.title or "").isascii()
        doc = document(article, outlet) if self.matcher or not ascii_only else None
        folded = index_form(doc) if doc is not None else ""
        matches = self.matcher.match(article, outlet, doc)
        if not matches:
            return store_article(self.db, article, outlet, now, is_unchanged=False, folded=folded)

        def on_change(db: Database, change: Change) -> int:
            return self._record(db, matches, change, now)

        return store_article(
            self.db, article, outlet, now, on_change=on_change, is_unchanged=False, folded=folded
        )

    def _record(
        self,
        db: Database,
        matches: list[Match],
        change: Change,
        now: datetime,
    ) -> int:
        stamp = isoformat(now)
        reference = change.published or change.first_seen
        created = 0
        for match in matches:
            watch = self.watches[match.watch]
            if change.first_seen < self.created.get(watch.name, stamp):
                continue
            if reference < isoformat(now - timedelta(seconds=watch.max_age)):
                continue
            created += alerts_table.add_alert(
                db,
                match.watch,
                change.article_id,
                change.story_id,
                stamp,
                match.snippets,
                match.terms,
            )
        return created
