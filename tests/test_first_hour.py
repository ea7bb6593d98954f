"""The first hour of a new user (#32): the demo from the README, then init -> add -> crawl ->
notify with a real SMTP server, and the messages met on the way."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from tests.support.site import wirewatch
from wirewatch.localsite import serve_folder

TEXT = (
    "Russia has begun delivering a second regiment of S-400 air defence systems to the Gulf, "
    "officials said on Monday, in a deal worth several billion dollars that was signed last year "
    "after months of talks between the two defence ministries. The first batteries arrived by "
    "sea and are to be operational by the spring, according to a statement from the ministry."
)


def gulf_wire(folder: Path) -> None:
    """A small outlet: a home page that names its feed, the feed (titled "Gulf Wire") and one
    fresh article that mentions S-400."""
    folder.mkdir()
    now = datetime.now(UTC)
    (folder / "index.html").write_text(
        '<!doctype html><html><head><title>Gulf Wire: news of the Gulf</title><link rel="alternate"'
        ' type="application/rss+xml" href="/rss.xml"></head><body><h1>Gulf Wire</h1>'
        '<a href="/news/russia-delivers-second-s400-regiment.html">S-400</a></body></html>',
        encoding="utf-8",
    )
    (folder / "rss.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Gulf Wire</title>'
        "<item><title>Russia delivers a second S-400 regiment</title>"
        "<link>{{base}}/news/russia-delivers-second-s400-regiment.html</link>"
        f"<pubDate>{format_datetime(now)}</pubDate></item></channel></rss>",
        encoding="utf-8",
    )
    (folder / "news").mkdir()
    (folder / "news" / "russia-delivers-second-s400-regiment.html").write_text(
        "<!doctype html><html lang='en'><head><title>Russia delivers a second S-400 regiment"
        "</title><meta property='og:title' content='Russia delivers a second S-400 regiment'>"
        f"<meta property='article:published_time' content='{now.isoformat()}'></head><body>"
        "<nav><a href='/'>Home</a></nav><article><h1>Russia delivers a second S-400 regiment"
        f"</h1><p>{TEXT}</p><p>{TEXT.replace('Monday', 'Tuesday')}</p></article></body></html>",
        encoding="utf-8",
    )


def test_init_add_crawl_notify_reaches_a_real_smtp_server(tmp_path, smtp):
    handler, port = smtp
    gulf_wire(tmp_path / "site")
    done = wirewatch("init", "desk", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "desk" / "wirewatch.toml"
    # Each hint names a command that works from a fresh shell: here, a path to the script.
    hint = next(line for line in done.stdout.splitlines() if line.strip().endswith("check"))
    shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    checked = subprocess.run(
        hint.strip(), shell=True, cwd=tmp_path, env=shell_env, capture_output=True, text=True
    )
    assert checked.returncode == 0, (hint, checked.stderr)
    with serve_folder(tmp_path / "site") as base:
        added = wirewatch("--config", str(config), "add", base + "/", cwd=tmp_path)
        assert added.returncode == 0, added.stderr
        # Named after what the outlet calls itself, not its host, and how to rename it said.
        assert "added outlet 'gulf-wire'" in added.stdout
        assert "--name NAME" in added.stdout
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('delay = "2s"', 'delay = "0s"'), encoding="utf-8")
        crawled = wirewatch("--config", str(config), "crawl", cwd=tmp_path)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert re.search(r"^gulf-wire\s+\d+\s+1\s", crawled.stdout, re.M), crawled.stdout
    # The crawl says where its alert goes, and how to send it.
    assert "1 alert(s) raised, waiting to be sent" in crawled.stdout
    assert "notify` delivers" in crawled.stdout and "--notify" in crawled.stdout
    assert handler.messages == []
    sent = wirewatch(
        "--config", str(config), "notify", cwd=tmp_path,
        WIREWATCH_SMTP_URL=f"smtp://127.0.0.1:{port}",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "1 email(s) sent" in sent.stdout
    (message,) = handler.messages
    assert message["X-Envelope-To"] == "analyst@example.org"
    assert "S-400" in message["Subject"]


def test_crawl_with_notify_sends_at_once(tmp_path, smtp):
    handler, port = smtp
    gulf_wire(tmp_path / "site")
    assert wirewatch("init", "desk", cwd=tmp_path).returncode == 0
    config = tmp_path / "desk" / "wirewatch.toml"
    with serve_folder(tmp_path / "site") as base:
        assert wirewatch("--config", str(config), "add", base + "/rss.xml").returncode == 0
        crawled = wirewatch(
            "crawl", "--notify", "--config", str(config), cwd=tmp_path,
            WIREWATCH_SMTP_URL=f"smtp://127.0.0.1:{port}",
        )  # fmt: skip
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert "1 email(s) sent" in crawled.stdout
    assert "waiting to be sent" not in crawled.stdout
    assert len(handler.messages) == 1


def test_the_demo_twice_from_a_relative_folder_lists_what_it_stored_both_times(tmp_path):
    # What `make demo` runs, from the checkout's folder: a relative --keep.
    runs = [wirewatch("demo", "--keep", "demo-out", cwd=tmp_path, timeout=180) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        listed = run.stdout.split("Stored articles:")[1].split("Alerts (")[0]
        assert listed.count("\n#") == 5, run.stdout
        alerts = run.stdout.split("Alerts (")[1].split("$ wirewatch notify")[0]
        assert alerts.count("  [S-400] ") == 2, run.stdout
        assert "6 email(s) sent" in run.stdout
    assert (tmp_path / "demo-out" / "demo.db").exists()
    assert not (tmp_path / "demo-out" / "demo-out").exists()
    assert "Starting afresh" not in runs[0].stdout
    assert "Starting afresh: removed the previous demo's database and emails" in runs[1].stdout
    assert len(list((tmp_path / "demo-out" / "maildir" / "new").iterdir())) == 6
    # Its hints work as printed in a fresh shell (no venv on PATH).
    hint = next(line for line in runs[1].stdout.splitlines() if line.strip().endswith("status"))
    done = subprocess.run(
        hint.strip(),
        shell=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (hint, done.stderr)
    assert "tehrantimes" in done.stdout


def test_global_options_may_follow_the_command(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n', encoding="utf-8")
    other = tmp_path / "other.db"
    before = wirewatch("--config", str(config), "--db", str(other), "search", "S-400")
    after = wirewatch("search", "S-400", "--db", str(other), "--config", str(config), "-v")
    assert before.returncode == after.returncode == 0, after.stderr
    assert other.exists() and not (tmp_path / "w.db").exists()
    checked = wirewatch("check", "--config", str(config))
    assert checked.returncode == 0 and str(config) in checked.stdout
    nested = wirewatch("outlets", "export", "--config", str(tmp_path / "x.toml"))
    assert nested.returncode == 2 and "x.toml: no such config file" in nested.stderr


def test_a_config_with_a_bom_is_read_and_one_in_latin_1_is_refused_with_its_line(tmp_path):
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbf[storage]\ndatabase = "w.db"\n')
    assert wirewatch("--config", str(bom), "check").returncode == 0
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[[outlets]]\nname = "caf\xe9"\nfeeds = ["https://a.example/rss"]\n')
    done = wirewatch("--config", str(latin), "check")
    assert done.returncode == 2
    assert f"{latin}:2: not UTF-8 (byte 0xE9 at column 12): save the file as UTF-8" in done.stderr


def test_every_config_mistake_is_shown_with_its_line(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(
        '[crawl]\nuser_agnt = "x"\n\n[[watches]]\nname = "a"\nemail = "a@example.org"\n'
        'max_age = "3x"\n',
        encoding="utf-8",
    )
    done = wirewatch("--config", str(config), "check")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        lines[0] == f"error: {config}:2: crawl.user_agnt: unknown key (did you mean 'user_agent'?)"
    )
    assert f"{config}:4: watches.0.query: missing, and it is required here" in lines
    assert any(line.startswith(f"{config}:7: watches.0.max_age: not a duration") for line in lines)
    assert "more error" not in done.stderr
    assert os.linesep not in lines[0]
