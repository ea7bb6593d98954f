"""The reading view of ``wirewatch browse``: a Datasette plugin (loaded from
``browse_site/plugins``) with pages for people, beside Datasette's tables for queries.

- ``/-/wirewatch/alerts``: the latest alerts, each with its terms and highlighted snippets.
- ``/-/wirewatch/article/ID``: an article to read (title, outlet, dates, link, text), its
  story's other outlets and its earlier versions; ``ID`` is the id every listing shows.
- ``/-/wirewatch/search?q=``: the archive searched with a watch query, by the watch matcher
  (``wirewatch search`` on the command line).
- ``/-/wirewatch/stories``: the latest stories and who reported them.
- ``/-/wirewatch/feed/WATCH.atom``: a watch's Atom feed (``wirewatch feed``).

Every page reads through Datasette's read-only connection. Snippet and term cells of the
tables render as highlighted text, not JSON.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape
from sqlite_utils import Database

from alerts.mail import local_date

LIMIT = 100


def snippet_markup(snippet: list) -> Markup:
    """One snippet, its matched terms in ``<mark>``."""
    return Markup("").join(
        Markup("<mark>{}</mark>").format(text) if mark else escape(text) for text, mark in snippet
    )


def when(stamp: str | None) -> str:
    """A stored date for people: ``2025-10-17 14:54 UTC``."""
    return local_date(stamp, "UTC")


def terms_markup(terms: list) -> Markup:
    return Markup(", ").join(
        Markup("<strong>{}</strong> ({})").format(term, count) for term, count in terms
    )


@hookimpl
def render_cell(value: Any, column: str) -> Markup | None:
    """``snippets`` and ``terms`` cells as highlighted text."""
    if column not in {"snippets", "terms"} or not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    try:
        if column == "terms":
            return terms_markup(parsed)
        return Markup("").join(
            Markup('<p class="snippet">{}</p>').format(snippet_markup(s)) for s in parsed
        )
    except (TypeError, ValueError):
        return None  # not the shape wirewatch writes: shown as it is


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/wirewatch/alerts$", alerts_page),
        (r"^/-/wirewatch/article/(?P<article_id>\d+)$", article_page),
        (r"^/-/wirewatch/search$", search_page),
        (r"^/-/wirewatch/stories$", stories_page),
        (r"^/-/wirewatch/feed/(?P<watch>[^/]+)\.atom$", feed_page),
    ]


@hookimpl
def extra_template_vars(datasette: Any) -> dict[str, Any]:
    return {"wirewatch_db": _database(datasette).name}


def _database(datasette: Any) -> Any:
    return next(db for name, db in datasette.databases.items() if name != "_internal")


async def _read(datasette: Any, fn: Any) -> Any:
    """Run ``fn(db)`` on the archive's read-only connection, as a sqlite-utils Database."""
    return await _database(datasette).execute_fn(lambda conn: fn(Database(conn)))


async def _page(datasette: Any, request: Any, template: str, context: dict[str, Any]) -> Response:
    context = {
        **context,
        "snippet_markup": snippet_markup,
        "terms_markup": terms_markup,
        "when": when,
    }
    return Response.html(await datasette.render_template(template, context, request=request))


def _watches(db: Database) -> list[dict]:
    return list(db.query("select name, query from watches order by name"))


async def alerts_page(datasette: Any, request: Any) -> Response:
    watch = request.args.get("watch") or None

    def read(db: Database) -> dict[str, Any]:
        from storage.outbox import list_alerts

        rows = list_alerts(db, watch, None, LIMIT)
        for row in rows:
            row["also"] = _also(db, row["story_id"], row["outlet"])
        return {"alerts": rows, "watches": _watches(db)}

    context = await _read(datasette, read)
    return await _page(datasette, request, "wirewatch_alerts.html", {**context, "watch": watch})


def _also(db: Database, story_id: int | None, outlet: str) -> list[str]:
    if story_id is None:
        return []
    row = db.execute("select outlets from stories where id = ?", [story_id]).fetchone()
    return [o for o in json.loads(row[0] or "[]") if o != outlet] if row else []


#: The largest id SQLite stores: a longer one in a path is no article (not an OverflowError).
MAX_ID = 2**63 - 1


async def article_page(datasette: Any, request: Any) -> Response:
    article_id = int(request.url_vars["article_id"])
    if article_id > MAX_ID:
        raise NotFound(f"No article {article_id}")

    def read(db: Database) -> dict[str, Any] | None:
        from storage.articles import story_of_article
        from storage.stories import read_story

        story_id = story_of_article(db, article_id)
        story = read_story(db, story_id) if story_id is not None else None
        if story is None:
            return None
        article = next(a for a in story["articles"] if a["id"] == article_id)
        alerts = list(
            db.query(
                "select watch, created, status, terms, snippets from alerts "
                "where article_id = ? order by id",
                [article_id],
            )
        )
        for alert in alerts:
            alert["terms"] = json.loads(alert["terms"] or "[]")
            alert["snippets"] = json.loads(alert["snippets"] or "[]")
        others = [a for a in story["articles"] if a["id"] != article_id]
        queries = {row["name"]: row["query"] for row in _watches(db)}
        fired = [alert["watch"] for alert in alerts]
        paragraphs, jumps = highlighted(article, [(w, queries[w]) for w in fired if w in queries])
        return {
            "story": story,
            "article": article,
            "others": others,
            "alerts": alerts,
            "paragraphs": paragraphs,
            "jumps": jumps,
        }

    context = await _read(datasette, read)
    if context is None:
        raise NotFound(f"No article {article_id}")
    return await _page(datasette, request, "wirewatch_article.html", context)


#: One paragraph of an article as pieces: text, and the id of its mark (None: not marked).
Piece = tuple[str, str | None]


def highlighted(
    article: dict[str, Any], watches: list[tuple[str, str]]
) -> tuple[list[list[Piece]], list[dict[str, Any]]]:
    """The article's text as paragraphs with every term of the ``watches`` (name, query) that
    fired on it marked, and for each watch its terms with the ids of their marks, in text
    order, for the jumps above the text. A watch whose query no longer parses marks nothing."""
    from alerts.query import Document, QueryError, display_text, offsets, parse_query
    from alerts.watches import marks
    from extractors.urls import host_of

    display = display_text(None, article["text"] or "")
    doc = Document.of(
        None, article["text"] or "", article["outlet"] or "", host_of(article["url"] or ""),
        article["language"] or "",
    )  # fmt: skip
    where = offsets(display)
    found: list[tuple[int, int, str]] = []
    jumps: list[dict[str, Any]] = []
    for name, query in dict.fromkeys(watches):
        try:
            node = parse_query(query)
        except QueryError:
            continue
        terms: dict[str, list[tuple[int, int]]] = {}
        for start, end, term in marks(node, doc, display, where):
            terms.setdefault(term, []).append((start, end))
        if terms:
            jumps.append({"watch": name, "terms": terms})
            found += [(start, end, name) for spans in terms.values() for start, end in spans]
    ids: dict[tuple[int, int], str] = {}
    cursor = -1
    for start, end, _ in sorted(found):
        if start >= cursor:  # two watches' marks overlapping: one mark
            ids[(start, end)] = f"hit-{len(ids) + 1}"
            cursor = end
    for jump in jumps:
        jump["terms"] = [
            (term, [ids[span] for span in spans if span in ids])
            for term, spans in jump["terms"].items()
        ]
    return _paragraphs(display, ids), jumps


def _paragraphs(display: str, ids: dict[tuple[int, int], str]) -> list[list[Piece]]:
    """``display`` cut into its non-blank lines, each as pieces, the marks in ``ids``."""
    paragraphs: list[list[Piece]] = []
    spans = sorted(ids)
    at = 0
    position = 0
    for line in display.split("\n"):
        end = position + len(line)
        pieces: list[Piece] = []
        cursor = position
        while at < len(spans) and spans[at][0] < end:
            start, stop = spans[at]
            stop = min(stop, end)  # a mark never crosses a line
            if start > cursor:
                pieces.append((display[cursor:start], None))
            pieces.append((display[max(start, cursor) : stop], ids[spans[at]]))
            cursor = stop
            at += 1
        if cursor < end:
            pieces.append((display[cursor:end], None))
        if line.strip():
            paragraphs.append(pieces)
        position = end + 1
    return paragraphs


async def search_page(datasette: Any, request: Any) -> Response:
    query = (request.args.get("q") or "").strip()

    def read(db: Database) -> dict[str, Any]:
        from alerts.backfill import find_articles
        from alerts.query import QueryError, parse_query

        found: dict[str, Any] = {"results": [], "error": None, "watches": _watches(db)}
        if query:
            try:
                node = parse_query(query)
            except QueryError as exc:
                found["error"] = str(exc)
            else:
                found["results"] = find_articles(db, node, limit=LIMIT)
        return found

    context = await _read(datasette, read)
    return await _page(datasette, request, "wirewatch_search.html", {**context, "q": query})


async def stories_page(datasette: Any, request: Any) -> Response:
    def read(db: Database) -> dict[str, Any]:
        rows = list(
            db.query(
                "select s.id, s.title, s.outlets, s.articles, s.first_seen, s.last_seen, "
                "(select min(a.id) from articles a where a.story_id = s.id) as article_id "
                "from stories s order by s.last_seen desc limit ?",
                [LIMIT],
            )
        )
        for row in rows:
            row["outlets"] = json.loads(row["outlets"] or "[]")
        return {"stories": rows}

    context = await _read(datasette, read)
    return await _page(datasette, request, "wirewatch_stories.html", context)


async def feed_page(datasette: Any, request: Any) -> Response:
    watch = unquote(request.url_vars["watch"])

    def read(db: Database) -> bytes | None:
        from alerts.feed import atom

        row = db.execute("select query from watches where name = ?", [watch]).fetchone()
        if row is None:
            return None
        return atom(db, watch, row[0], link=request.url)

    document = await _read(datasette, read)
    if document is None:
        raise NotFound(f"No watch {watch}")
    return Response(document, content_type="application/atom+xml; charset=utf-8")
