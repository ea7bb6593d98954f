"""Alert channels beside email (Apprise URLs), against a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import mailbox
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.site import SITE, wirewatch


class Receiver:
    """A webhook receiver: records each POST's path and JSON body; up or down on demand."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.posts: list[tuple[str, dict]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                posts.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(free_port())
    yield hook
    hook.stop()


def channel_config(tmp_path: Path, notify: str, email: str = "") -> Path:
    config = tmp_path / "w.toml"
    config.write_text(
        f"""
[storage]
database = "{tmp_path / "w.db"}"

[email]
from = "wirewatch@example.org"
maildir = "{tmp_path / "maildir"}"
operator = "ops@example.org"
retry = "0s"

[health]
failures = 2

[[watches]]
name = "S-400"
query = "S-400"
notify = ["{notify}"]
{email}
max_age = "10000d"
""",
        encoding="utf-8",
    )
    return config


def mails(tmp_path: Path) -> list[str]:
    folder = tmp_path / "maildir"
    if not folder.exists():
        return []
    return sorted(str(m["Subject"]) for m in mailbox.Maildir(folder, create=False))


def test_a_webhook_gets_each_alert_once_even_when_it_was_down(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Down: the alerts wait (the email beside it goes), and after [health] failures the
    operator is told; back up: each alert arrives once, and the operator hears it recovered.
    The secret in the URL comes from the environment and is written nowhere."""
    url = f"json://127.0.0.1:{receiver.port}/${{HOOK_SECRET}}"
    config = channel_config(tmp_path, url, 'email = "analyst@example.org"')
    secret = {"HOOK_SECRET": "hook-7f3a9c"}
    assert wirewatch("--config", str(config), "replay", str(SITE)).returncode == 0

    for _ in range(2):  # the receiver is down: one try a run, the other message waits
        down = wirewatch("--config", str(config), "notify", "--json", **secret)
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout)["retrying"] == 1
    assert "not delivered" in down.stderr and "connection" in down.stderr.lower()
    titles = [
        "[wirewatch] S-400: Russia voices commitment to military cooperation with Iran",
        "[wirewatch] S-400: Russia-Iran military cooperation observing international law: Diplomat",
    ]
    failing = f"[wirewatch] channel {url} is failing"
    assert mails(tmp_path) == sorted([*titles, failing])  # the email went, once
    pending = wirewatch("--config", str(config), "alerts", "--status", "pending")
    assert pending.stdout.count("alert ") == 2
    status = wirewatch("--config", str(config), "status")
    assert f"channel {url}: failing, 2 run(s) in a row since" in status.stdout, status.stdout

    receiver.start()
    up = wirewatch("--config", str(config), "notify", "--json", **secret)
    # The two alerts, and the operator's "delivers again".
    assert json.loads(up.stdout)["alerts_sent"] == 2, up.stderr
    assert sorted(post["title"] for _, post in receiver.posts) == sorted(titles)
    assert {path for path, _ in receiver.posts} == {"/hook-7f3a9c"}
    for _, post in receiver.posts:
        message = post["message"]
        assert "*S-400*" in message  # the snippet, its term marked
        assert "https://" in message and "Matched: S-400 (1)" in message
        assert any(outlet in message for outlet in ("tehrantimes", "almayadeen"))
    again = wirewatch("--config", str(config), "notify", "--json", **secret)
    assert json.loads(again.stdout)["emails_sent"] == 0
    assert len(receiver.posts) == 2  # once each
    assert "failing" not in wirewatch("--config", str(config), "status").stdout
    assert mails(tmp_path) == sorted(
        [*titles, failing, f"[wirewatch] channel {url} delivers again"]
    )

    # The secret is in no log line and nowhere in the database.
    for result in (down, up, again):
        assert secret["HOOK_SECRET"] not in result.stdout + result.stderr
    dump = "\n".join(sqlite3.connect(tmp_path / "w.db").iterdump())
    assert secret["HOOK_SECRET"] not in dump and "${HOOK_SECRET}" in dump


def test_a_channel_only_watch_and_an_unset_secret(tmp_path: Path, receiver: Receiver) -> None:
    """A watch may notify only a channel; while its secret is unset the message waits, with
    the reason, and goes once it is set."""
    receiver.start()
    config = channel_config(tmp_path, f"json://127.0.0.1:{receiver.port}/${{HOOK_SECRET}}")
    assert wirewatch("--config", str(config), "replay", str(SITE)).returncode == 0
    unset = wirewatch("--config", str(config), "notify", "--json")
    assert json.loads(unset.stdout)["retrying"] == 1
    assert "$HOOK_SECRET not set in the environment" in unset.stderr
    assert not receiver.posts
    sent = wirewatch("--config", str(config), "notify", "--json", HOOK_SECRET="x")
    assert json.loads(sent.stdout)["alerts_sent"] == 2 and len(receiver.posts) == 2


@pytest.mark.parametrize(
    ("notify", "said"),
    [
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F", "carries its token in the URL"),
        ("json://user:hunter2@127.0.0.1/hook", "holds a password"),
        ("not a url", "not an Apprise URL"),
    ],
)
def test_secrets_never_live_in_the_config(tmp_path: Path, notify: str, said: str) -> None:
    config = channel_config(tmp_path, notify)
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2 and said in result.stderr
    assert "hunter2" not in result.stderr and "TIiajkdnlazkcOXrIdevi7F" not in result.stderr


def test_a_watch_needs_someone_to_tell(tmp_path: Path) -> None:
    config = channel_config(tmp_path, "json://127.0.0.1/hook")
    config.write_text(config.read_text().replace('notify = ["json://127.0.0.1/hook"]', ""))
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2 and "give email (addresses) or notify" in result.stderr
