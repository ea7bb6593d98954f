"""``wirewatch browse``: the archive in Datasette, with the project's metadata and dashboard.

Datasette is an optional extra (``pip install 'wirewatch[browse]'``). It opens the SQLite file
read-only (``mode=ro``; WAL lets the crawler write meanwhile), and nothing here defines a
writable query. The metadata names and describes the public tables, hides the internal ones,
offers canned queries and a ``wirewatch`` dashboard (datasette-dashboards, whose chart
libraries ship with it: no CDN).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from core.errors import WirewatchError
from wirewatch.browse_guard import HOSTS, allowed_hosts

INSTALL_HINT = (
    "in a checkout, `make install-browse` installs it from requirements-browse.lock (the locked "
    "versions, hash-checked); elsewhere pip install 'wirewatch[browse]'"
)
SITE = Path(__file__).resolve().parent / "browse_site"

TABLES = {
    "articles": (
        "Articles",
        "One row per article (the latest text); search covers title and text.",
    ),
    "stories": (
        "Stories",
        "The same report across outlets: outlets lists the first reporter first.",
    ),
    "article_versions": ("Earlier versions", "Texts an article had before a correction."),
    "alerts": ("Alerts", "Watched terms found in an article, with their snippets and status."),
    "emails": ("Emails", "The outbox: alert, digest and operator emails and their delivery."),
    "watches": ("Watches", "The watches configured, since when."),
    "crawl_runs": ("Crawl runs", "One row per run of an outlet: counts, status, Scrapy stats."),
    "outlet_health": ("Outlet health", "Each outlet's health and since when."),
    "article_urls": ("Article URLs", "Every URL that led to an article."),
}
HIDDEN = ["story_bands", "_sqlite_migrations"]

QUERIES = {
    "latest_alerts": {
        "title": "Latest alerts",
        "description": "The 100 latest alerts with their article, outlet and matched passages.",
        "sql": (
            "select l.created, l.watch, l.status, a.outlet, a.title, a.url, "
            "(select group_concat(o.value, ', ') from json_each(s.outlets) o "
            "where o.value != a.outlet) as also_reported_by, l.terms, l.snippets, "
            "a.id as article_id "
            "from alerts l join articles a on a.id = l.article_id "
            "left join stories s on s.id = l.story_id "
            "order by l.id desc limit 100"
        ),
    },
    "widest_stories": {
        "title": "Stories reported by the most outlets",
        "description": "Stories of the last :days days (default 30) by how many outlets ran them.",
        "sql": (
            "select s.id, s.title, json_array_length(s.outlets) as outlet_count, s.outlets, "
            "s.articles, s.first_seen, s.last_seen from stories s "
            "where s.first_seen >= datetime('now', '-' || coalesce(nullif(:days, ''), 30) "
            "|| ' days') order by outlet_count desc, s.articles desc, s.first_seen desc limit 100"
        ),
    },
    "quiet_outlets": {
        "title": "Outlets with no new article in 24 hours",
        "description": "Outlets that have been crawled but brought nothing new in the last day.",
        "sql": (
            "select r.outlet, max(r.started) as last_run, "
            "(select max(first_seen) from articles a where a.outlet = r.outlet) as last_new, "
            "(select state from outlet_health h where h.outlet = r.outlet) as health "
            "from crawl_runs r group by r.outlet having coalesce(last_new, '') < "
            "strftime('%Y-%m-%dT%H:%M:%S', 'now', '-1 day') order by last_new"
        ),
    },
    "article_versions": {
        "title": "An article's versions",
        "description": "Every text the article :article_id has had, the current one first.",
        "sql": (
            "select 'current' as version, coalesce(updated, first_seen) as fetched, title, "
            "content_hash, length(text) as characters, text from articles where id = :article_id "
            "union all select 'earlier', fetched, title, content_hash, length(text), text "
            "from article_versions where article_id = :article_id order by fetched desc"
        ),
    },
}


def _between(column: str) -> str:
    """The dashboard's date filters on ``column``: each clause is dropped when its filter is
    empty (datasette-dashboards' ``[[ ]]``)."""
    return (
        f"[[ and date({column}) >= date(:date_start) ]] [[ and date({column}) <= date(:date_end) ]]"
    )


def _chart(title: str, db: str, sql: str, display: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "db": db, "query": sql, "library": "vega-lite", "display": display}


def metadata(db: str) -> dict[str, Any]:
    """Datasette metadata for the database named ``db`` (its file name without .db)."""

    def by(field: str) -> dict[str, Any]:
        """Bars per day, stacked by ``field``."""
        return {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {"field": "day", "type": "ordinal", "title": "day"},
                "y": {"field": "count", "type": "quantitative", "title": None, "stack": True},
                "color": {"field": field, "type": "nominal"},
            },
        }

    charts = {
        "articles-total": {
            "title": "Articles",
            "db": db,
            "query": f"select count(*) as count from articles where 1 {_between('first_seen')}",
            "library": "metric",
            "display": {"field": "count"},
        },
        "alerts-total": {
            "title": "Alerts",
            "db": db,
            "query": f"select count(*) as count from alerts where 1 {_between('created')}",
            "library": "metric",
            "display": {"field": "count"},
        },
        "articles-per-day": _chart(
            "Articles per outlet per day (first seen)",
            db,
            "select date(first_seen) as day, outlet, count(*) as count from articles "
            f"where 1 {_between('first_seen')} group by day, outlet order by day",
            by("outlet"),
        ),
        "alerts-per-day": _chart(
            "Alerts per watch per day",
            db,
            "select date(created) as day, watch, count(*) as count from alerts "
            f"where 1 {_between('created')} group by day, watch order by day",
            by("watch"),
        ),
        "crawl-errors": _chart(
            "Crawl errors per outlet",
            db,
            "select outlet, sum(errors) as errors, "
            "sum(status != 'finished' and status != 'running') as failed_runs "
            f"from crawl_runs where 1 {_between('started')} group by outlet order by outlet",
            {
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "x": {"field": "outlet", "type": "nominal"},
                    "y": {"field": "errors", "type": "quantitative"},
                },
            },
        ),
    }
    return {
        "title": "wirewatch archive",
        "description": "Articles, stories and alerts collected by wirewatch (read-only).",
        "databases": {
            db: {
                "tables": {
                    **{
                        name: {"title": title, "description": text}
                        for name, (title, text) in TABLES.items()
                    },
                    "articles": {
                        "title": TABLES["articles"][0],
                        "description": TABLES["articles"][1],
                        "sort_desc": "first_seen",
                        "fts_table": "articles_fts",
                        "fts_pk": "id",
                        "searchmode": "escaped",
                    },
                    **{name: {"hidden": True} for name in HIDDEN},
                },
                "queries": QUERIES,
            }
        },
        "plugins": {
            "datasette-dashboards": {
                "wirewatch": {
                    "title": "wirewatch",
                    "description": "What came in, what fired, what broke.",
                    "filters": {
                        "date_start": {"name": "From", "type": "date"},
                        "date_end": {"name": "To", "type": "date"},
                    },
                    "layout": [
                        ["articles-total", "alerts-total"],
                        ["articles-per-day", "articles-per-day"],
                        ["alerts-per-day", "crawl-errors"],
                    ],
                    "charts": charts,
                }
            }
        },
    }


def datasette_command(
    database: Path, metadata_file: Path, host: str, port: int, open_browser: bool
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(database),
        "--metadata",
        str(metadata_file),
        "--host",
        host,
        "--port",
        str(port),
        "--setting",
        "sql_time_limit_ms",
        "5000",
        # The reading view (wirewatch/reading.py): its pages and templates.
        "--plugins-dir",
        str(SITE / "plugins"),
        "--template-dir",
        str(SITE / "templates"),
    ]
    return [*command, "--open"] if open_browser else command


def loopback(host: str) -> bool:
    """Whether ``host`` (an address to listen on) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, public: bool, password_hash: str) -> None:
    """Refuse to open the archive to the network by accident.

    Raises:
        WirewatchError: ``host`` is not loopback and ``public`` was not chosen, or ``public``
            was chosen without a password hash.
    """
    if not loopback(host) and not public:
        raise WirewatchError(
            f"browse --host {host} would open the archive (alerts, watches, recipients' "
            "addresses) to the network: add --public, and set $WIREWATCH_BROWSE_PASSWORD_HASH "
            "(datasette hash-password)"
        )
    if public and not password_hash:
        raise WirewatchError(
            "browse --public needs a password: set $WIREWATCH_BROWSE_PASSWORD_HASH to the "
            "output of `datasette hash-password`"
        )


def check_ready(database: Path, host: str, public: bool, password_hash: str) -> None:
    """That browse can start: the exposure is allowed, the browse extra is installed and the
    database exists.

    Raises:
        WirewatchError: what is missing, and how to get it.
    """
    check_exposure(host, public, password_hash)
    try:
        import datasette  # noqa: F401
        import datasette_dashboards  # noqa: F401

        if public:
            import datasette_auth_passwords  # noqa: F401
    except ImportError as exc:
        raise WirewatchError(f"browse needs {exc.name}: {INSTALL_HINT}") from None
    if not database.exists():
        raise WirewatchError(f"no database at {database}: crawl or replay something first")


def browse(
    database: Path,
    host: str,
    port: int,
    open_browser: bool,
    public: bool = False,
    password_hash: str = "",
    public_names: tuple[str, ...] = (),
) -> int:
    """Serve ``database`` with Datasette until interrupted; returns Datasette's exit code.

    Args:
        public: The operator chose to serve beyond this machine (``--public``): then every
            request needs the password whose hash is ``password_hash`` (HTTP basic auth, user
            ``wirewatch``), and a host that is not loopback is refused without both.
        public_names: With ``public``, the names the server answers to (any if none); on a
            loopback address it answers to loopback names only (``wirewatch.browse_guard``).

    Raises:
        WirewatchError: Datasette is not installed, there is no database, or the archive would
            be open to the network without the explicit choice and a password.
    """
    check_ready(database, host, public, password_hash)
    with tempfile.TemporaryDirectory() as tmp:
        metadata_file = Path(tmp) / "metadata.json"
        served = metadata(database.stem)
        if public:
            # The hash stays in the environment: Datasette reads it there ($env), and the
            # metadata file on disk never holds it.
            served["plugins"]["datasette-auth-passwords"] = {
                "http_basic_auth": True,
                "wirewatch_password_hash": {"$env": "WIREWATCH_BROWSE_PASSWORD_HASH"},
            }
        metadata_file.write_text(json.dumps(served), encoding="utf-8")
        command = datasette_command(database, metadata_file, host, port, open_browser)
        # Its own session: a terminal's Ctrl-C reaches only us, and Datasette gets one SIGTERM,
        # which uvicorn takes as a clean stop (two SIGINTs, the terminal's and ours, made it
        # abort its lifespan with "ERROR: Exception in 'lifespan' protocol" and a traceback).
        hosts = allowed_hosts(host, port, public, public_names)
        process = subprocess.Popen(
            command, start_new_session=True, env={**os.environ, HOSTS: hosts}
        )

        def forward(signum: int, frame: FrameType | None) -> None:
            process.send_signal(signal.SIGTERM)  # Datasette stops; so do we once it has

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        code = process.wait()
        return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
