"""What ``wirewatch browse`` lets a request do (a Datasette plugin, loaded from
``browse_site/plugins`` beside the reading view):

- **Host**: a request whose ``Host`` header is not one of the names the server answers to
  (``$WIREWATCH_BROWSE_HOSTS``, set by ``wirewatch browse``: on a loopback address, its loopback
  names with the port; with ``--public``, any, or the ``--public-name`` names) is refused with
  421. A page the analyst visits cannot then reach the archive through DNS rebinding: the
  browser sends the attacker's name.
- **Paths**: a path with ``.`` or ``..`` segments (``/-/wirewatch/article/../../etc/passwd``) is
  404, before Datasette (whose error page raised on it).
- **SQL**: every connection gets an SQLite authorizer: the SQL box may call the functions of
  ``FUNCTIONS`` (SQLite's core, date, math, JSON, window and full-text functions) and no
  other: ``fts3_tokenizer`` (which leaks and replaces a tokenizer's pointer),
  ``load_extension``, ``readfile`` and their like are denied; so is ``ATTACH``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

#: The names the server answers to, comma-separated (``host:port``), or "*" for any.
HOSTS = "WIREWATCH_BROWSE_HOSTS"

_ALLOWED = """
    abs changes char coalesce concat concat_ws format glob hex ifnull iif instr
    last_insert_rowid length like likelihood likely lower ltrim max min nullif octet_length
    printf quote random randomblob replace round rtrim sign soundex sqlite_offset
    sqlite_source_id sqlite_version substr substring total_changes trim typeof unhex unicode
    unlikely upper zeroblob
    avg count group_concat string_agg sum total
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    date time datetime julianday unixepoch strftime timediff current_date current_time
    current_timestamp
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log
    log10 log2 mod pi pow power radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_error_position json_extract json_insert
    json_object json_patch json_pretty json_remove json_replace json_set json_type
    json_valid json_quote json_group_array json_group_object jsonb jsonb_array
    jsonb_extract jsonb_insert jsonb_object jsonb_patch jsonb_remove jsonb_replace jsonb_set
    jsonb_group_array jsonb_group_object
    match snippet offsets matchinfo highlight bm25 fts5_source_id
    regexp escape_fts
"""
FUNCTIONS = frozenset(_ALLOWED.split())


def authorize(action: int, first: str | None, second: str | None, *_: Any) -> int:
    """The SQLite authorizer: deny functions outside ``FUNCTIONS``, and ATTACH."""
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() not in FUNCTIONS:
        logger.warning("browse: the SQL function %(name)s is not allowed", {"name": second})
        return sqlite3.SQLITE_DENY
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def prepare_connection(conn: sqlite3.Connection) -> None:
    conn.set_authorizer(authorize)


Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Any, Send], Awaitable[None]]


def _allowed_hosts() -> frozenset[str] | None:
    given = os.environ.get(HOSTS, "").strip()
    if not given or given == "*":
        return None
    return frozenset(name.strip().lower() for name in given.split(",") if name.strip())


def asgi_wrapper(datasette: Any) -> Callable[[App], App]:
    allowed = _allowed_hosts()

    def wrap(app: App) -> App:
        async def guarded(scope: dict[str, Any], receive: Any, send: Send) -> None:
            if scope.get("type") == "http":
                headers = dict(scope.get("headers") or [])
                host = headers.get(b"host", b"").decode("latin-1").strip().lower()
                if allowed is not None and host not in allowed:
                    await _answer(send, 421, "This server does not answer to that host name.")
                    return
                raw = scope.get("raw_path") or scope.get("path", "").encode()
                path = raw.split(b"?", 1)[0].decode("latin-1")
                if any(part in (".", "..") for part in path.split("/")):
                    await _answer(send, 404, "Not found.")
                    return
            await app(scope, receive, send)

        return guarded

    return wrap


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def allowed_hosts(host: str, port: int, public: bool, names: tuple[str, ...] = ()) -> str:
    """``$WIREWATCH_BROWSE_HOSTS`` for a server on ``host``:``port``: on a loopback address,
    the loopback names; with ``--public``, ``names`` if given, else any ("*")."""
    if public:
        if not names:
            return "*"
        return ",".join(sorted({f"{n.lower()}:{port}" for n in names} | {n.lower() for n in names}))
    loopbacks = {"localhost", "127.0.0.1", "[::1]", host.lower()}
    named = {f"{name}:{port}" for name in loopbacks}
    return ",".join(sorted(named | (loopbacks if port == 80 else set())))
