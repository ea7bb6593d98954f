"""The ``wirewatch`` command: a thin edge over the library (no business logic here)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from core.errors import UnknownOutletError, WirewatchError
from wirewatch import shell
from wirewatch.config import Config, config_path, load_config
from wirewatch.logs import setup_logging

logger = logging.getLogger("wirewatch")


class _Context:
    def __init__(
        self, config_file: str | None, db: str | None, verbose: int, log_format: str = "text"
    ) -> None:
        self.config_file = config_path(config_file)
        self.db_override = db
        self.verbose = verbose
        self.log_format = log_format
        self._config: Config | None = None

    def log(self) -> None:
        """Set up logging for ``verbose`` and ``log_format``."""
        level = (
            logging.DEBUG if self.verbose > 1 else logging.INFO if self.verbose else logging.WARNING
        )
        setup_logging(level, self.log_format, self.verbose)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_file)
        return self._config

    @property
    def db_path(self) -> Path:
        return self.config.database_path(self.db_override)

    def open_db(self) -> Any:
        from storage.db import open_db

        db = open_db(self.db_path, self.config.storage.busy_timeout)
        _fold_archive(db)
        return db


def _unwritable(ctx: _Context) -> str | None:
    """Why the database cannot take a write now (a full disk, a read-only file, a lock held
    past busy_timeout), in words; None if it can."""
    import sqlite3

    from storage.db import trouble, write_transaction

    try:
        db = ctx.open_db()
        try:
            with write_transaction(db):  # BEGIN IMMEDIATE: the write lock, or why not
                pass
        finally:
            db.close()
    except sqlite3.Error as exc:
        return trouble(exc) or f"the database cannot be written ({exc})"
    return None


def _close_abandoned(ctx: _Context) -> None:
    """Close the runs a dead process left ``running`` (a crawl killed with SIGKILL), as the
    monitor does at its start, so that no run row stays open without a monitor."""
    from storage.runs import close_abandoned

    db = ctx.open_db()
    try:
        closed = close_abandoned(db)
    finally:
        db.close()
    if closed:
        logger.warning(
            "%(count)d crawl run(s) left open by a dead process marked killed", {"count": closed}
        )


def _fold_archive(db: Any) -> None:
    """Once, for an archive of an earlier version: the matching form of its articles in other
    scripts, which the full-text index of search and backfill reads (#29)."""
    from alerts.backfill import fold_archive
    from wirewatch.progress import Progress

    # Says nothing when there is nothing to index (fold_archive then only counts).
    with Progress(None, "Indexing stored articles for matching across scripts", "article") as bar:
        fold_archive(db, bar)


pass_context = click.make_pass_decorator(_Context)

#: What a crawl's notes (``wirewatch/note/...``: stored pages, not skips) say.
NOTES = {
    "listing_date_kept": "article(s) stored with the date their feed or sitemap gave (their page "
    "gave an older one)",
}


def _late_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option written after the command (``wirewatch search Q --db F``): it sets
    what it would have set before the command."""
    state = ctx.find_object(_Context)
    if state is None or value is None or value == 0:
        return
    if param.name == "late_config":
        state.config_file = config_path(value)
        state._config = None
    elif param.name == "late_db":
        state.db_override = value
    elif param.name == "late_verbose":
        state.verbose += value
        state.log()
    elif param.name == "late_log_format":
        state.log_format = value
        state.log()


def _late_options() -> list[click.Option]:
    """The global options, also taken after a command's name (hidden in its --help: the main
    --help lists them)."""

    def late(decls: list[str], **kwargs: Any) -> click.Option:
        kwargs.update(expose_value=False, callback=_late_option, hidden=True)
        return click.Option(decls, help="As before the command: see wirewatch --help.", **kwargs)

    return [
        late(["--config", "late_config"], type=click.Path(dir_okay=False)),
        late(["--db", "late_db"], type=click.Path(dir_okay=False)),
        late(["-v", "--verbose", "late_verbose"], count=True),
        late(["--log-format", "late_log_format"], type=click.Choice(["text", "json"])),
    ]


class _Group(click.Group):
    """A command group whose commands take the global options after their name as well."""

    group_class = type  # its subgroups (``outlets``, ``watch``) are _Groups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            cmd.params.extend(_late_options())
        super().add_command(cmd, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Config file [default: $WIREWATCH_CONFIG or ./wirewatch.toml].",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="SQLite file [default: $WIREWATCH_DB or [storage] database of the config].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="WIREWATCH_LOG_FORMAT",
    show_default=True,
    help="Log lines as text, or as one JSON object per line (for log shippers).",
)
@click.version_option(package_name="wirewatch")
@click.pass_context
def cli(
    ctx: click.Context, config_file: str | None, db: str | None, verbose: int, log_format: str
) -> None:
    """wirewatch: crawl news outlets, keep the clean articles, alert on watched terms.

    The options above may also follow the command: wirewatch search S-400 --db archive.db
    """
    ctx.obj = _Context(config_file, db, verbose, log_format)
    ctx.obj.log()


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
def init(folder: str) -> None:
    """Start in FOLDER (default: here): a commented wirewatch.toml and its database.

    An existing wirewatch.toml is never overwritten.
    """
    from importlib.resources import files

    from storage.db import open_db

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    config_file = target / "wirewatch.toml"
    if config_file.exists():
        raise WirewatchError(f"{config_file} exists already; nothing was changed")
    config_file.write_text(
        (files("wirewatch") / "starter.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    config = load_config(config_file)
    open_db(config.database_path(), config.storage.busy_timeout).close()
    click.echo(f"wrote {config_file} and {config.database_path()}")
    click.echo("next:")
    click.echo(f"  edit {config_file}: your contact in [crawl] user_agent, your outlets, watches")
    wirewatch = shell.with_config(config_file)
    click.echo(f"  {wirewatch} check")
    click.echo(f"  {wirewatch} crawl      # once, now")
    click.echo(f"  {wirewatch} run        # on the schedule, until stopped")


@cli.command()
@pass_context
def check(ctx: _Context) -> None:
    """Validate the config file and say what it configures (and $WIREWATCH_SMTP_URL, if set)."""
    from alerts.mail import SmtpSettings

    config = ctx.config
    smtp = SmtpSettings.from_url(config.smtp_url) if config.smtp_url.strip() else None
    click.echo(
        f"{ctx.config_file}: OK, {len(config.outlets)} outlet(s), {len(config.watches)} watch(es), "
        f"database {ctx.db_path}"
        + (f", email over {smtp.describe()}" if smtp else "")
        + (
            f", WebSub callbacks at {config.websub.callback} (listening on {config.websub.listen})"
            if config.websub.callback
            else ""
        )
    )


@cli.command()
@click.argument("url")
@click.option(
    "--name", help="The outlet's name [default: from its feed's title, else the site's domain]."
)
@click.option("--dry-run", is_flag=True, help="Show what would be added; change nothing.")
@pass_context
def add(ctx: _Context, url: str, name: str | None, dry_run: bool) -> None:
    """Add the outlet whose home or section page is URL to the config.

    Finds the site's feeds (the page's <link rel="alternate">, the usual paths) and news
    sitemaps (robots.txt's Sitemap: lines), tries each once, extracts the newest item as a
    crawl would, and writes the outlet into the config, keeping its comments.
    """
    from wirewatch.outlets import describe, plan_outlet, write_outlets

    config = ctx.config
    plan = plan_outlet(config, url, name, _fetcher(config, url))
    for line in describe(plan):
        click.echo(line)
    if dry_run:
        click.echo("dry run: the config is unchanged")
        return
    write_outlets(ctx.config_file, [plan.table])
    click.echo(f"added outlet {plan.name!r} to {ctx.config_file}")
    if name is None:
        click.echo(
            f"  (to name it otherwise, change its name = {plan.name!r} there, or add it with "
            "--name NAME)"
        )
    click.echo(f"next: {shell.with_config(ctx.config_file)} crawl {plan.name}")


def _fetcher(config: Config, *named: str) -> Any:
    """Operator fetches with the configured user agent and timeout (one deadline per fetch),
    trusting at private addresses only the origins of the URLs the operator ``named``."""
    from functools import partial

    from crawler.fetch import fetch_url
    from extractors.urls import origin

    return partial(
        fetch_url,
        user_agent=config.crawl.user_agent,
        timeout=config.crawl.timeout,
        trusted=frozenset(found for url in named if (found := origin(url))),
    )


@cli.group()
def outlets() -> None:
    """Import and export outlets as OPML, the list format of feed readers."""


@outlets.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--no-check", is_flag=True, help="Add every feed without trying it first.")
@click.option("--dry-run", is_flag=True, help="Show what would be added; change nothing.")
@pass_context
def outlets_import(ctx: _Context, file: str, no_check: bool, dry_run: bool) -> None:
    """Add the feeds of an OPML FILE as outlets (outlines of one title become one outlet).

    Each feed is tried once first; one that cannot be read is left out and listed, and the
    command then exits 1. Feeds configured already are skipped.
    """
    from concurrent.futures import ThreadPoolExecutor

    from crawler.finder import Source, try_source
    from wirewatch.outlets import group_feeds, read_opml, write_outlets

    config = ctx.config
    tables, skipped = group_feeds(read_opml(Path(file).read_bytes(), file), config)
    for line in skipped:
        click.echo(f"skipped {line}")
    failed = []
    if not no_check:
        urls = [url for table in tables for url in table["feeds"]]
        with ThreadPoolExecutor(8) as pool:
            # Each feed the file names is fetched trusting its own origin only.
            tried = pool.map(lambda u: try_source(u, _fetcher(config, u)), urls)
            results = dict(zip(urls, tried, strict=True))
        for table in tables:
            for url in list(table["feeds"]):
                result = results[url]
                if isinstance(result, Source):
                    click.echo(f"  {table['name']}: {url}: {len(result.entries)} items")
                else:
                    failed.append(f"{table['name']}: {url}: {result}")
                    table["feeds"].remove(url)
        tables = [table for table in tables if table["feeds"]]
    for line in failed:
        click.echo(f"not added {line}", err=True)
    count = sum(len(table["feeds"]) for table in tables)
    if dry_run:
        click.echo(f"dry run: would add {len(tables)} outlet(s), {count} feed(s)")
    elif tables:
        write_outlets(ctx.config_file, tables)
        click.echo(f"added {len(tables)} outlet(s), {count} feed(s) to {ctx.config_file}")
    else:
        click.echo("nothing to add")
    if failed:
        sys.exit(1)


@outlets.command("export")
@pass_context
def outlets_export(ctx: _Context) -> None:
    """Print the configured outlets' feeds as OPML, for a feed reader or another wirewatch."""
    from wirewatch.outlets import write_opml

    config = ctx.config
    click.echo(write_opml(config.outlets), nl=False)
    for outlet in config.outlets:
        if not outlet.feeds:
            click.echo(f"not exported: {outlet.name} (no feeds; OPML lists feeds)", err=True)


@cli.command()
@click.argument("outlets", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--notify",
    "deliver",
    is_flag=True,
    help="Then deliver the alerts that are due, as `wirewatch notify` does.",
)
@pass_context
def crawl(ctx: _Context, outlets: tuple[str, ...], as_json: bool, deliver: bool) -> None:
    """Crawl the named OUTLETS (all by default) once, now, and print a summary.

    The alerts it raises wait in the outbox: `wirewatch notify` (or --notify here) delivers
    them, and `wirewatch run` does so on its own. What kept an outlet from being read (an
    unreachable feed, a sitemap that is not one) is one line each on stderr; the exit status is
    1 if a crawl did not finish or none of an outlet's sources could be read.
    """
    from wirewatch.crawl import run_crawls

    config = ctx.config
    names = list(outlets) or [o.name for o in config.outlets]
    known = {o.name for o in config.outlets}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownOutletError(
            f"no outlet {', '.join(map(repr, unknown))} in {ctx.config_file} "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )
    if not names:
        raise click.ClickException(f"{ctx.config_file} configures no outlets")
    level = "DEBUG" if ctx.verbose > 1 else "INFO" if ctx.verbose else "WARNING"
    unwritable = _unwritable(ctx)
    if unwritable:
        click.echo(f"error: storage failed: {unwritable}; no outlet was crawled", err=True)
        sys.exit(1)
    _close_abandoned(ctx)
    summaries = run_crawls(names, config, ctx.config_file, ctx.db_path, level)
    rows: list[dict[str, Any]] = [
        {
            "outlet": s.outlet,
            "finish_reason": s.reason,
            "fetched": s.count("fetched"),
            "new": s.count("new"),
            "near_duplicates": s.count("near_duplicates"),
            "updated": s.count("updated"),
            "duplicates": s.count("duplicates"),
            "skipped": s.skipped,
            "notes": s.notes,
            "errors": s.errors,
            "alerts": s.count("alerts"),
            "problems": s.problems,
            "unreadable": s.unreadable,
        }
        for s in summaries
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        header = ("outlet", "fetched", "new", "copies", "updated", "dups", "errors", "alerts")
        click.echo("{:<20} {:>7} {:>5} {:>6} {:>7} {:>5} {:>6} {:>6}  skipped".format(*header))
        for row in rows:
            skipped = ", ".join(f"{k} {v}" for k, v in sorted(row["skipped"].items())) or "-"
            click.echo(
                f"{row['outlet']:<20} {row['fetched']:>7} {row['new']:>5} "
                f"{row['near_duplicates']:>6} {row['updated']:>7} "
                f"{row['duplicates']:>5} {row['errors']:>6} {row['alerts']:>6}  {skipped}"
            )
        for row in rows:
            for note, count in sorted(row["notes"].items()):
                click.echo(f"{row['outlet']}: {count} {NOTES.get(note, note)}")
    for row in rows:
        for problem in row["problems"]:
            click.echo(f"{row['outlet']}: {problem}", err=True)
        if row["unreadable"]:
            click.echo(f"{row['outlet']}: none of its sources could be read", err=True)
    raised = sum(row["alerts"] for row in rows)
    if deliver:
        report = _deliver(ctx)
        if not as_json:
            busy = "another notify is running on this database; it delivers them"
            click.echo(busy if report.busy else report.summary())
    elif raised and not as_json:
        wirewatch = shell.with_config(ctx.config_file)
        click.echo(
            f"{raised} alert(s) raised, waiting to be sent: `{wirewatch} notify` delivers the "
            f"due ones now (or crawl with --notify); `{wirewatch} run` does it on its own"
        )
    if any(s.reason != "finished" or s.unreadable for s in summaries):
        sys.exit(1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--url", help="The URL the page(s) came from (default: their canonical link).")
@pass_context
def extract(ctx: _Context, files: tuple[str, ...], url: str | None) -> None:
    """Print the article extracted from each FILE as one JSON object per line.

    A page's URL is --url, else its canonical link or og:url, else the file's own file: URL;
    "url_from" says which. A page that is not an article gets an "error" line with the reason;
    the exit status is 1 if any FILE could not be read or its extraction failed (a bug), after
    every other FILE is printed.
    """
    from extractors.article import FAILED, NO_URL, extract_article

    min_text = _min_text(ctx)
    failed = 0
    for file in files:
        try:
            body = Path(file).read_bytes()
        except OSError as exc:
            click.echo(json.dumps({"file": file, "error": f"unreadable: {exc.strerror or exc}"}))
            failed += 1
            continue
        result = extract_article(body, url, min_text=min_text)
        url_from = "--url" if url else "canonical"
        if result.reason == NO_URL:
            # A saved page that names no URL of its own: the file's stands in.
            result = extract_article(body, Path(file).resolve().as_uri(), min_text=min_text)
            url_from = "file"
        if result.reason == FAILED:
            failed += 1
        if result.article is None:
            line: dict[str, Any] = {"file": file, "error": f"{result.reason}: {result.detail}"}
        else:
            article = result.article
            line = {
                "file": file,
                "url": url or article.url,
                "url_from": url_from,
                "canonical_url": article.url,
                "title": article.title,
                "author": article.author,
                "published": article.published,
                "language": article.language,
                "sitename": article.sitename,
                "doubt": article.doubt,
                "text": article.text,
            }
        click.echo(json.dumps(line, ensure_ascii=False))
    if failed:
        click.echo(
            f"{failed} of {len(files)} page(s) could not be read or extracted: see their "
            '"error"; an extraction failure is a bug, please report it with the page',
            err=True,
        )
        sys.exit(1)


def _min_text(ctx: _Context) -> int:
    """``[crawl] min_text`` when a config exists; extract also works without one."""
    if ctx.config_file.exists():
        return ctx.config.crawl.min_text
    from wirewatch.config import CrawlConfig

    return CrawlConfig().min_text


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes extracting pages at once (default: one per CPU core, up to 6); storing "
    "stays in one.",
)
@pass_context
def replay(ctx: _Context, paths: tuple[str, ...], as_json: bool, jobs: int | None) -> None:
    """Store saved pages (HTML files, folders of them, WARC files) as a crawl would.

    Shows a progress bar on a terminal, a progress line every 10 s otherwise, none with --json.
    """
    from wirewatch.progress import Progress
    from wirewatch.replay import default_jobs, input_files, iter_pages, tracked
    from wirewatch.replay import replay as run_replay

    db = ctx.open_db()
    total = sum(1 for _ in input_files(paths))
    with Progress(total, "replay", "files", enabled=not as_json) as progress:
        pages = tracked(iter_pages(paths), progress)
        report = run_replay(db, ctx.config, pages, jobs=jobs or default_jobs())
    for source, problem in report.problems:
        click.echo(f"error: {source}: {problem}", err=True)
    counts = report.as_dict()
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@cli.command()
@click.argument("query")
@click.option(
    "--outlet", "outlets", multiple=True, help="Only this outlet's articles (repeatable)."
)
@click.option("--limit", default=20, show_default=True, help="Most results to show.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON lines.")
@pass_context
def search(ctx: _Context, query: str, outlets: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Search stored articles with a watch query, newest first.

    QUERY is written as a watch's query (S-400 Iran, "arms deal", S-400 OR S-300, -rumour,
    sanction*, outlet:NAME, site:DOMAIN, lang:CODE) and finds exactly the articles such a
    watch would have alerted on. Each result shows its article id, which `story ID --article`
    and the browser's /-/wirewatch/article/ID page take.
    """
    from alerts.backfill import find_articles
    from alerts.query import QueryError, parse_query, shown
    from wirewatch.progress import Progress

    try:
        node = parse_query(query)
    except QueryError as exc:
        raise WirewatchError(f"bad query {shown(query)}: {exc}") from None
    with Progress(None, "search", "articles", enabled=not as_json) as progress:
        rows = find_articles(ctx.open_db(), node, frozenset(outlets), limit, progress)
    _print_found(rows, as_json)
    if not rows and not as_json:
        click.echo("no match", err=True)


def _print_found(rows: list[dict], as_json: bool) -> None:
    """Articles found by ``search`` or ``backfill``: date, outlet, title; ids and link; the
    terms matched; the snippets."""
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        click.echo(f"{row['published'] or row['first_seen']}  {row['outlet']}  {row['title']}")
        _print_why(row, row["id"])


def _print_why(row: dict, article_id: int) -> None:
    """An article's ids and link, the terms it matched (how often), its snippets."""
    from alerts.watches import snippet_text

    click.echo(f"    article {article_id} · story {row['story_id']} · {row['url']}")
    if row["terms"]:
        terms = ", ".join(f"{term} ({count})" for term, count in row["terms"])
        click.echo(f"    matched: {terms}")
    for snippet in row["snippets"]:
        click.echo(f"    {snippet_text([tuple(piece) for piece in snippet])}")


@cli.command()
@click.argument("ident", metavar="ID", type=int)
@click.option("--article", is_flag=True, help="ID is an article's id: show its story.")
@click.option("--json", "as_json", is_flag=True, help="Print the story as JSON.")
@pass_context
def story(ctx: _Context, ident: int, article: bool, as_json: bool) -> None:
    """Show story ID: every outlet's article of it, and each article's earlier versions."""
    from storage.articles import story_of_article
    from storage.stories import read_story

    db = ctx.open_db()
    story_id = ident
    if article:
        found_story = story_of_article(db, ident)
        if found_story is None:
            raise WirewatchError(f"no article {ident} in {ctx.db_path}")
        story_id = found_story
    found = read_story(db, story_id)
    if found is None:
        raise WirewatchError(f"no story {story_id} in {ctx.db_path}")
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    outlets = found["outlets"]
    click.echo(f"story {found['id']}: {found['title']}")
    click.echo(f"first seen {found['first_seen']}, last seen {found['last_seen']}")
    click.echo(f"reported by {outlets[0]}" if outlets else "reported by nobody stored")
    if len(outlets) > 1:
        click.echo(f"also reported by {', '.join(outlets[1:])}")
    for item in found["articles"]:
        click.echo(f"\n#{item['id']} {item['outlet']}: {item['title']}")
        click.echo(f"    {item['url']}")
        click.echo(
            f"    published {item['published'] or '?'}, first seen {item['first_seen']}, "
            f"{len(item['text'])} characters"
        )
        if item.get("doubt"):
            click.echo(f"    the text may be incomplete: {item['doubt']}")
        for version in item["versions"]:
            click.echo(
                f"    earlier version fetched {version['fetched']}: "
                f"{len(version['text'])} characters, replaced {version['replaced']}"
            )


def _deliver(ctx: _Context) -> Any:
    """``notify``'s work: the due alerts delivered; its report."""
    from alerts.channels import transport
    from alerts.outbox import notify as run_notify

    config = ctx.config
    db = ctx.open_db()
    return run_notify(
        db,
        config,
        transport(config.maildir_path(), config.email.sender, config.smtp_url, config.environment),
        ctx.db_path,
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def notify(ctx: _Context, as_json: bool) -> None:
    """Deliver the alert emails that are due (immediate alerts, digests, retries).

    Sends over $WIREWATCH_SMTP_URL (smtp://user:pass@host:port or smtps://...), else writes the
    messages into the [email] maildir folder. Safe to run at any time and more than once.
    """
    report = _deliver(ctx)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    if report.busy:
        click.echo("another notify is running on this database; nothing done")
        return
    click.echo(report.summary())


@cli.command()
@click.option("--watch", "watch_name", help="Only this watch's alerts.")
@click.option(
    "--status", type=click.Choice(["pending", "sent", "failed"]), help="Only alerts in this state."
)
@click.option("--limit", default=50, show_default=True, help="Most alerts to show.")
@click.option("--json", "as_json", is_flag=True, help="Print alerts as JSON lines.")
@pass_context
def alerts(
    ctx: _Context, watch_name: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """List alerts, newest first, with their delivery status."""
    from alerts.outbox import list_alerts

    rows = list_alerts(ctx.open_db(), watch_name, status, limit)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        state = row["status"]
        if row["status"] == "pending" and row["next_attempt"]:
            state += f" (attempt {row['attempts']}, next {row['next_attempt']})"
        elif row["status"] == "sent":
            state += f" {row['sent_at']}"
        click.echo(f"alert {row['id']} {row['created']}  [{row['watch']}]  {state}")
        click.echo(f"    {row['outlet']}: {row['title']}")
        _print_why(row, row["article_id"])
        if row["last_error"]:
            click.echo(f"    last error: {row['last_error']}")
    if not rows and not as_json:
        click.echo("no alerts", err=True)


@cli.group()
def watch() -> None:
    """Work with watch queries: try one on a page before putting it in the config."""


@watch.command("test")
@click.argument("query")
@click.argument("source")
@click.option("--outlet", default="", help="Outlet name for outlet: filters.")
@pass_context
def watch_test(ctx: _Context, query: str, source: str, outlet: str) -> None:
    """Show whether and where QUERY matches the article in SOURCE (a file or an http(s) URL).

    Exits 0 on a match, 1 on none, 2 on a bad query or an unusable page.
    """
    from alerts.query import QueryError, display_text, parse_query, shown
    from alerts.watches import Watch, WatchSet, document, snippet_text, snippets
    from crawler.fetch import read_source
    from extractors.article import extract_article

    try:
        node = parse_query(query)
    except QueryError as exc:
        raise WirewatchError(f"bad query {shown(query)}: {exc}") from None
    crawl = _crawl_config(ctx)
    body, url, headers = read_source(source, crawl.user_agent, crawl.timeout)
    result = extract_article(body, url, headers, min_text=0)
    if result.article is None:
        raise WirewatchError(f"{source}: no article: {result.reason}: {result.detail}")
    article = result.article
    doc = document(article, outlet)
    matched = bool(WatchSet([Watch("test", node)]).match_document(doc))
    click.echo(f"{article.title or '(no title)'}\n{article.url}  [{article.language or '?'}]")
    for term in node.terms():
        count = sum(1 for _ in term.find(doc))
        click.echo(f"  {term.source!r}: {count} time(s)")
    if matched:
        click.echo("match: yes")
        for snippet in snippets(node, doc, display_text(article.title, article.text)):
            click.echo(f"  {snippet_text(snippet)}")
    else:
        click.echo("match: no")
        sys.exit(1)


def _crawl_config(ctx: _Context) -> Any:
    """``[crawl]`` of the config, or its defaults where there is no config file."""
    if ctx.config_file.exists():
        return ctx.config.crawl
    from wirewatch.config import CrawlConfig

    return CrawlConfig()


def _watch(ctx: _Context, name: str) -> Any:
    """The configured watch called ``name``; exit 2 naming the known ones if there is none."""
    try:
        return ctx.config.watch(name)
    except KeyError:
        known = ", ".join(repr(w.name) for w in ctx.config.watches) or "none"
        raise WirewatchError(f"no watch {name!r} in {ctx.config_file} (known: {known})") from None


@cli.command()
@click.argument("watch_name", metavar="WATCH")
@click.option("--limit", default=50, show_default=True, help="Most alerts in the feed.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it here."
)
@pass_context
def feed(ctx: _Context, watch_name: str, limit: int, output: Path | None) -> None:
    """Print WATCH's latest alerts as an Atom feed, for a feed reader to follow the watch.

    `wirewatch browse` serves the same feed at /-/wirewatch/feed/WATCH.atom.
    """
    from alerts.feed import atom
    from core.files import replace_file

    watch_config = _watch(ctx, watch_name)
    document = atom(ctx.open_db(), watch_config.name, watch_config.query, limit)
    if output is None:
        click.echo(document.decode("utf-8"))
        return
    replace_file(output, document)  # a reader polling the file never sees half of it


@cli.command()
@click.argument("watch_name", metavar="WATCH")
@click.option("--limit", default=50, show_default=True, help="Most articles to list.")
@click.option("--json", "as_json", is_flag=True, help="Print articles as JSON lines.")
@pass_context
def backfill(ctx: _Context, watch_name: str, limit: int, as_json: bool) -> None:
    """List the stored articles WATCH matches, newest first (no alerts are raised)."""
    from alerts.backfill import backfill as run_backfill
    from wirewatch.progress import Progress

    watch_config = _watch(ctx, watch_name)
    with Progress(None, "backfill", "articles", enabled=not as_json) as progress:
        rows = run_backfill(ctx.open_db(), watch_config, limit, progress)
    _print_found(rows, as_json)
    if not rows and not as_json:
        click.echo("no stored article matches", err=True)


@cli.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@pass_context
def backup(ctx: _Context, target: Path, force: bool) -> None:
    """Copy the archive to TARGET, consistent even while `wirewatch run` writes to it.

    SQLite's online backup, a few pages at a time: the monitor and the crawls go on. Restore by
    stopping the monitor and putting the copy in the database's place (docs/operations.md).
    """
    import sqlite3

    from storage.db import backup as copy

    source = ctx.db_path
    if not source.exists():
        raise WirewatchError(f"no database at {source}: nothing to back up")
    if target.resolve() == source.resolve():
        raise WirewatchError(f"{target} is the database itself: give another file")
    if target.exists() and not force:
        raise WirewatchError(f"{target} exists already (--force replaces it)")
    started = time.monotonic()
    try:
        copy(source, target)
    except (OSError, sqlite3.Error) as exc:
        raise WirewatchError(f"backup to {target} failed: {exc}; {source} is unchanged") from None
    size = target.stat().st_size
    click.echo(
        f"{source} copied to {target} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s"
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_context
def status(ctx: _Context, as_json: bool) -> None:
    """Show each outlet's schedule, last and next run, health and new articles in 24 h."""
    from wirewatch.status import outlet_status

    if not ctx.db_path.exists():
        # Looking must not create the database as a side effect.
        click.echo(f"no database at {ctx.db_path} yet: nothing has been crawled")
        return
    report = outlet_status(ctx.open_db(), ctx.config)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    monitor = report["monitor"]
    if monitor["running"]:
        click.echo(
            f"monitor: running since {_when(monitor['started'])} (pid {monitor['pid']} on "
            f"{monitor['host']}, last heartbeat {_when(monitor['beat'])})"
        )
    elif monitor.get("beat"):
        click.echo(f"monitor: not running (last heard from {_when(monitor['beat'])})")
    else:
        click.echo("monitor: not running (wirewatch run starts it); no next runs are due")
    header = ("outlet", "health", "schedule", "last run", "result", "next run", "new 24h")
    rows = []
    for row in report["outlets"]:
        last = row["last_run"]
        result = f"{last['status']}, {last['articles_new'] or 0} new" if last else "-"
        rows.append(
            (
                row["outlet"],
                row["health"],
                row["schedule"],
                _when(last["started"]) if last else "never",
                result,
                _when(row["next_run"]),
                str(row["new_24h"]),
            )
        )
    # Each column as wide as its widest cell: a cron schedule or a long name never overflows.
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row, cells in zip(report["outlets"], rows, strict=True):
        shown = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
        shown[1] = _coloured(cells[1], widths[1])
        click.echo("  ".join(shown).rstrip())
        if row.get("pace") and row["pace"].startswith(("adaptive", "burst")):
            click.echo(f"  {row['schedule']}: {row['pace']}")
        if row["health"] == "unhealthy":
            click.echo(f"  {row['health_reason']} (since {_when(row['health_since'])})")
        elif row["problems"]:
            click.echo(f"  last run: {'; '.join(row['problems'])}")
        if row["backlog"]:
            click.echo(
                f"  backlog: {row['backlog']} new item(s) listed past [crawl] max_pages; the "
                "next runs fetch them"
            )
        for sub in row["websub"]:
            click.echo(f"  {_websub_line(sub, bool(ctx.config.websub.callback))}")
        if row["doubtful_24h"]:
            click.echo(
                f"  {row['doubtful_24h']} of the new articles kept though their text may be "
                "incomplete (wirewatch story ID --article shows why)"
            )
    if any(row["health"] == "unknown" for row in report["outlets"]):
        click.echo(
            "\nhealth unknown: not judged yet; the monitor judges an outlet after each of its "
            "runs (wirewatch crawl does not)"
        )
    alerts, emails = report["alerts"], report["emails"]
    click.echo(
        f"\nalerts: {alerts['pending']} pending, {alerts['sent']} sent, {alerts['failed']} failed;"
        f" emails: {emails['pending']} pending, {emails['failed']} failed"
    )
    for channel in report["failing_channels"]:
        click.echo(
            f"channel {channel['url']}: failing, {channel['failures']} run(s) in a row since "
            f"{_when(channel['since'])}: {channel['last_error']}"
        )
    if "cluster" in report:
        _echo_cluster(report["cluster"])


def _echo_cluster(cluster: dict[str, Any]) -> None:
    click.echo(f"\ncluster: Redis at {cluster['redis']}", nl=False)
    if "error" in cluster:
        click.echo(f": unreachable ({cluster['error']})")
        return
    backlog = cluster["backlog"]
    click.echo(
        f", {backlog['runs']} run(s) waiting for a worker, {backlog['results']} result(s) "
        "waiting for the monitor"
    )
    if not cluster["workers"]:
        click.echo("  no worker heard from (start one: wirewatch worker)")
        return
    header = ("worker", "state", "runs in hand", "served", "last heartbeat")
    rows = [
        (
            w["id"],
            w["state"],
            w.get("runs", "0"),
            w.get("served", "0"),
            f"{_when(w.get('beat'))} ({w['age']:.0f}s ago)",
        )
        for w in cluster["workers"]
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    for cells in (header, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        click.echo(f"  {line}".rstrip())


HEALTH_COLOURS = {"healthy": "green", "unhealthy": "red", "unknown": "yellow"}


def _coloured(health: str, width: int) -> str:
    """The health word padded to ``width``, in colour (click drops colour when not a TTY)."""
    return click.style(health.ljust(width), fg=HEALTH_COLOURS.get(health))


def _websub_line(sub: dict[str, Any], on: bool) -> str:
    """A feed's WebSub subscription in words, for ``status``."""
    hub = sub["hub"]
    if not on:
        return f"its feed names a WebSub hub ({hub}): set [websub] callback to have it pushed"
    state = sub["state"]
    if state == "verified":
        return (
            f"pushed by {hub} (lease to {_when(sub['lease_until'])}, "
            f"{sub['pushes']} push(es) so far)"
        )
    if state in ("failed", "denied"):
        return f"WebSub at {hub} {state}: {sub['error']}; polled only, asked again hourly"
    if state == "requested":
        return f"WebSub: subscription asked at {hub}, its verification awaited"
    return f"WebSub: {hub} to be subscribed"


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ")[:19] if stamp else "-"


@cli.command()
@pass_context
def run(ctx: _Context) -> None:
    """Run the monitor: crawl every outlet on its schedule until SIGTERM or Ctrl-C.

    SIGHUP, or saving the config file, reloads the schedule. Logs one line per crawl run
    (--log-format json for log shippers).
    """
    from scheduler import Monitor

    if not ctx.verbose:
        for handler in logging.root.handlers:
            handler.setLevel(logging.INFO)  # one line per run is what an operator wants to see
        logging.root.setLevel(logging.INFO)
    sys.exit(Monitor(ctx.config, ctx.config_file, load_config, ctx.db_override).run())


@cli.command("worker-serve", hidden=True)
@click.option("--cluster", is_flag=True, help="Take runs from the [cluster] Redis.")
@pass_context
def worker_serve(ctx: _Context, cluster: bool) -> None:
    """Serve the monitor's crawl runs on stdin/stdout (started by `wirewatch run`), or a
    cluster's from Redis (started by `wirewatch worker`)."""
    config = ctx.config  # a bad config stops here, with its message
    if cluster:
        from workers.cluster import serve_cluster

        serve_cluster(config, ctx.config_file)
        return
    from workers.serve import serve

    serve(config, ctx.config_file, Path(ctx.db_override) if ctx.db_override else None)


@cli.command()
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes on this machine [default: one per core].",
)
@pass_context
def worker(ctx: _Context, processes: int | None) -> None:
    """Crawl for a cluster's monitor: take due runs from the [cluster] Redis, send the articles
    home there, until SIGTERM or Ctrl-C.

    Runs on each crawling machine with the monitor's config file (its outlets and [crawl]);
    no SQLite file is needed here. The URL with its password comes from $WIREWATCH_REDIS_URL.
    SIGHUP, or saving the config file, starts fresh worker processes on it.
    """
    from cluster.bus import Bus, RedisError
    from workers.supervise import supervise, worker_command

    config = ctx.config
    if not config.cluster.redis:
        raise click.ClickException(
            f"{ctx.config_file}: no [cluster] redis: a worker takes its runs from Redis "
            '(add [cluster] redis = "redis://HOST:6379/0"; on one machine `wirewatch run` '
            "starts its own workers)"
        )
    bus = Bus(config.redis_url)
    try:
        bus.ping()
    except RedisError as exc:
        # Not fatal: Redis may be restarting; the workers wait for it, and say so.
        logger.warning("Redis at %(where)s: %(error)s", {"where": bus.where(), "error": exc})
    if not ctx.verbose:
        for handler in logging.root.handlers:
            handler.setLevel(logging.INFO)
        logging.root.setLevel(logging.INFO)
    count = processes or os.cpu_count() or 1
    sys.exit(
        supervise(config, ctx.config_file, load_config, count, worker_command(ctx.config_file))
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, help="Port to listen on.")
@click.option("--no-open", is_flag=True, help="Do not open a web browser.")
@click.option(
    "--public",
    is_flag=True,
    help="Serve beyond this machine (a --host that is not loopback): every request then needs "
    "the password whose hash is in $WIREWATCH_BROWSE_PASSWORD_HASH (user wirewatch).",
)
@click.option(
    "--public-name",
    "public_names",
    multiple=True,
    help="With --public: a host name the server answers to (repeatable; default: any). On a "
    "loopback address it answers to loopback names only.",
)
@pass_context
def browse(
    ctx: _Context, host: str, port: int, no_open: bool, public: bool, public_names: tuple[str, ...]
) -> None:
    """Open the archive in Datasette, read-only: tables, search, canned queries, a dashboard.

    Needs the browse extra: `make install-browse` in a checkout (`make browse` also starts it),
    else pip install 'wirewatch[browse]'. The crawler may keep writing meanwhile. Stop with
    Ctrl-C. Only this machine can reach it unless --public is given; a request naming another
    host (DNS rebinding) is refused, and the SQL box may call read-only functions only.
    """
    from wirewatch.browse import browse as run_browse
    from wirewatch.browse import check_ready

    secret = ctx.config.browse_password_hash
    check_ready(ctx.db_path, host, public, secret)  # before anything is announced
    click.echo(f"wirewatch archive at http://{host}:{port}/ (dashboard: /-/dashboards/wirewatch)")
    sys.exit(run_browse(ctx.db_path, host, port, not no_open, public, secret, public_names))


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Keep the demo's files here.")
def demo(keep: str | None) -> None:
    """Offline tour: serve the bundled fixture pages on 127.0.0.1, crawl them, show the result."""
    from wirewatch.demo import run_demo

    run_demo(Path(keep) if keep else None)


def main() -> None:
    # Whatever wirewatch writes (the database, the Maildir, lock files) is its owner's alone.
    os.umask(0o077)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except WirewatchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
