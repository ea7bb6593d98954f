"""The offline tour (``wirewatch demo``, ``make demo``).

Serves the bundled fixture outlets (``wirewatch/demo_site``, package data: in a checkout a
link to ``tests/fixtures/site``, in an installed package a copy) on 127.0.0.1, writes a config
whose outlets point there, crawls them with the real spider in a child process (as the monitor
does), prints what was stored and the alerts that fired, and delivers them (to a Maildir, or
over ``$WIREWATCH_SMTP_URL``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

import click

from storage.alerts import alert_titles
from storage.articles import articles_by_date
from storage.db import open_db
from wirewatch import shell
from wirewatch.localsite import serve_folder

#: The fixture outlets, found the same way from a checkout and from an installed package.
FIXTURES = Path(str(files("wirewatch") / "demo_site"))

CONFIG = """\
# The bundled fixture outlets, served on 127.0.0.1 (written by `wirewatch demo`).
[storage]
database = "{database}"

[crawl]
user_agent = "wirewatch-demo/0.1 (+https://github.com/wirewatch/wirewatch)"
delay = "0s"
autothrottle = false
recheck = "0s"
{crawl_extra}

[[outlets]]
name = "almayadeen"
feeds = ["{base}/almayadeen/rss.xml"]
allow_domains = ["127.0.0.1"]
max_age = "4000d"

[[outlets]]
name = "tehrantimes"
feeds = ["{base}/tehrantimes/atom.xml"]
allow_domains = ["127.0.0.1"]
max_age = "4000d"

[[outlets]]
name = "presstv"
sitemaps = ["{base}/presstv/sitemap-news.xml"]
start_urls = ["{base}/presstv/Section/iran.html"]
follow = ["/presstv/Detail/"]
allow_domains = ["127.0.0.1"]
max_age = "4000d"

[[outlets]]
name = "ifpnews"
feeds = ["{base}/ifpnews/feed.json"]
allow_domains = ["127.0.0.1"]
max_age = "4000d"
"""


WATCHES = """
[email]
from = "wirewatch-demo@localhost"
maildir = "maildir"

[[watches]]
name = "S-400"
query = "S-400"
email = "analyst@example.org"
max_age = "4000d"

[[watches]]
name = "snapback"
query = "snapback OR (sanctions Iran -Venezuela)"
email = "analyst@example.org"
max_age = "4000d"

[[watches]]
name = "Pezeshkian"  # only in IFP's "Recent Posts" sidebar: page chrome, so it never fires
query = "Pezeshkian"
email = "analyst@example.org"
max_age = "4000d"
"""


def fixture_config(base: str, database: str | Path, crawl_extra: str = "") -> str:
    """A config whose outlets are the fixture outlets served at ``base``.

    Args:
        base: The address of :func:`wirewatch.localsite.serve_folder` serving ``FIXTURES``.
        database: The SQLite file.
        crawl_extra: More ``[crawl]`` lines (TOML).
    """
    return CONFIG.format(base=base, database=database, crawl_extra=crawl_extra)


#: What a demo writes in its folder, removed by the next run there so that it starts afresh.
DEMO_FILES = ("demo.db", "demo.db-wal", "demo.db-shm", "demo.db.monitor", "wirewatch.toml")


def run_demo(folder: Path | None = None) -> None:
    """Run the tour in ``folder`` (a temporary one by default). A folder that holds an earlier
    demo's files gets a fresh start: its database and emails are removed first, and it says so.
    """
    if not FIXTURES.is_dir():
        raise click.ClickException(
            f"the fixture pages are not at {FIXTURES}: run from the repository"
        )
    with tempfile.TemporaryDirectory(prefix="wirewatch-demo-") as scratch:
        # Absolute, so the config's database is the one listed whatever the working folder.
        work = (folder or Path(scratch)).absolute()
        work.mkdir(parents=True, exist_ok=True)
        _start_afresh(work)
        database = work / "demo.db"
        with serve_folder(FIXTURES) as base:
            config = work / "wirewatch.toml"
            config.write_text(fixture_config(base, database) + WATCHES, encoding="utf-8")
            click.secho(f"Serving the fixture outlets at {base}; config in {config}\n", bold=True)
            command = [sys.executable, "-m", "wirewatch", "--config", str(config), "crawl"]
            click.secho("$ wirewatch crawl", bold=True)
            subprocess.run(command, check=False)
        db = open_db(database)
        click.secho("\nStored articles:", bold=True)
        for row in articles_by_date(db):
            first = row["text"].split("\n", 1)[0]
            click.echo(f"#{row['id']} [{row['outlet']}] {row['title']}")
            click.echo(f"    {row['published']}  {row['url']}")
            click.echo(f"    {row['size']} characters: {first[:110]}…")
        click.secho("\nAlerts (watches S-400, snapback, Pezeshkian):", bold=True)
        for watch, title, outlet in alert_titles(db):
            click.echo(f"  [{watch}] {outlet}: {title}")
        db.close()
        click.secho("\n$ wirewatch notify", bold=True)
        notify = [sys.executable, "-m", "wirewatch", "--config", str(config), "notify"]
        subprocess.run(notify, check=False)
        if folder:
            wirewatch = shell.command()
            click.echo(f"\nThe demo's files are in {work}; look at them with:")
            click.echo(f"  {wirewatch} --config {config} status")
            click.echo(f"  {wirewatch} --config {config} search S-400")
            click.echo(f"  {wirewatch} --config {config} browse")
            click.echo(f"  ls {work / 'maildir' / 'new'}    # the alert emails")


def _start_afresh(work: Path) -> None:
    """Remove an earlier demo's database and emails from ``work``, saying so."""
    found = [work / name for name in DEMO_FILES if (work / name).exists()]
    maildir = work / "maildir"
    if not found and not maildir.exists():
        return
    for file in found:
        file.unlink()
    shutil.rmtree(maildir, ignore_errors=True)
    click.echo(f"Starting afresh: removed the previous demo's database and emails in {work}\n")
