"""Secrets stay secret (#20): a recognisable fake secret planted in every credential is found
nowhere but where it belongs, and what wirewatch writes is its owner's alone."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from storage.db import open_db
from tests.support.site import ROOT, outlets_config, wirewatch

SECRET = "Fake-Secret-7f3a9q"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_planted_smtp_password_appears_in_no_log_status_message_or_table(tmp_path, site, smtp):
    _, port = smtp  # a real SMTP server that offers no AUTH: the login fails, as a bad one would
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "w.db")
        + '\n[[watches]]\nname = "S-400"\nquery = "S-400"\nemail = "a@example.org"\n'
        'max_age = "100000d"\n[email]\noperator = "ops@example.org"\n'
    )
    env = {"WIREWATCH_SMTP_URL": f"smtp://analyst:{SECRET}@127.0.0.1:{port}"}
    outputs = []
    for args in (
        ("-vv", "crawl"),
        ("-vv", "notify"),
        ("-vv", "notify", "--json"),
        ("status",),
        ("status", "--json"),
        ("check",),
        ("alerts", "--json"),
    ):
        result = wirewatch("--config", str(config), *args, **env)
        outputs.append(result.stdout + result.stderr)
    bad = wirewatch("--config", str(config), "notify", WIREWATCH_SMTP_URL=f"smtpx://u:{SECRET}@h")
    outputs.append(bad.stdout + bad.stderr)
    assert bad.returncode == 2 and "WIREWATCH_SMTP_URL" in bad.stderr
    joined = "\n".join(outputs)
    assert "S-400" in joined and "analyst" in joined  # the commands ran and said who they are
    assert SECRET not in joined
    # Every table the browser shows, crawl_runs.stats and the emails' errors included.
    db = open_db(tmp_path / "w.db")
    try:
        assert db.execute("select count(*) from alerts").fetchone()[0] >= 1
        assert db.execute("select count(*) from emails where last_error is not null").fetchone()[0]
        for table in db.table_names():
            for row in db.execute(f"select * from [{table}]").fetchall():
                assert SECRET not in repr(row), table
    finally:
        db.close()
    assert SECRET not in (tmp_path / "w.db").read_bytes().decode("latin-1")


def test_the_database_maildir_and_lock_are_their_owners_alone(tmp_path, site):
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "w.db")
        + '\n[[watches]]\nname = "S-400"\nquery = "S-400"\nemail = "a@example.org"\n'
        'max_age = "100000d"\n[email]\nmaildir = "mail"\n'
    )
    assert wirewatch("--config", str(config), "crawl").returncode == 0
    assert wirewatch("--config", str(config), "notify").returncode == 0
    for path in (tmp_path / "w.db", tmp_path / "w.db.notify.lock"):
        assert mode(path) == 0o600, (path, oct(mode(path)))
    db = open_db(tmp_path / "w.db")  # while a connection is open, its WAL exists
    try:
        assert mode(tmp_path / "w.db-wal") == 0o600
    finally:
        db.close()
    mail = tmp_path / "mail"
    messages = [p for p in mail.rglob("*") if p.is_file()]
    assert messages
    assert mode(mail) == 0o700
    for path in messages:
        assert mode(path) & 0o077 == 0, (path, oct(mode(path)))


def test_the_library_creates_its_database_for_its_owner_only(tmp_path):
    # Without the CLI's umask: a program that uses storage directly.
    code = "from storage.db import open_db; open_db(__import__('sys').argv[1]).close()"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib.db")], check=True, cwd=ROOT)
    assert mode(tmp_path / "lib.db") == 0o600
