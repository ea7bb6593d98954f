"""Sources that answer but cannot be read (#31): an HTTP error, a redirect loop, a body past
max_size, a JSON Feed of the wrong shape. Each is a failure of the source, said in words, like
a refused connection: ``crawl`` exits 1 when none of an outlet's sources could be read, and
under ``run`` the outlet turns unhealthy with one operator email. Real server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import Daemon, wait_for
from tests.support.servers import Answering, serving
from tests.support.site import wirewatch

BOMB = gzip.compress(b"<rss>" + b" " * 8_000_000 + b"</rss>")


class Source(Answering):
    def do_GET(self) -> None:
        path = self.path
        if path == "/robots.txt":
            self.answer(404, b"")
        elif path.startswith("/status/"):
            self.answer(int(path.rsplit("/", 1)[1]), b"<html><body>no</body></html>")
        elif path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop-again" if path == "/loop" else "/loop")
            self.end_headers()
        elif path == "/bomb.xml":
            self.answer(200, BOMB, {"Content-Encoding": "gzip", "Content-Type": "text/xml"})
        elif path == "/feed.json":
            body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": {"a": 1}})
            self.answer(200, body.encode(), {"Content-Type": "application/feed+json"})
        else:
            self.answer(404, b"")


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    with serving(Source) as base:
        yield base


CASES = {
    "moved": ("/status/404", "404 Not Found: the source moved or was removed"),
    "banned": ("/status/403", "403 Forbidden: the site refuses this crawler"),
    "removed": ("/status/410", "410 Gone: the source was removed for good"),
    "failing": ("/status/503", "503 Service Unavailable: the site's server is failing"),
    "looping": ("/loop", "redirects in a loop or too often"),
    "bomb": ("/bomb.xml", "is larger than [crawl] max_size allows"),
    "shapeless": ("/feed.json", "not a JSON Feed: its items are dict, not a list"),
}


def config_of(tmp_path: Path, base: str, names: list[str], extra: str = "") -> Path:
    blocks = "".join(
        f'\n[[outlets]]\nname = "{name}"\nfeeds = ["{base}{CASES[name][0]}"]\n' for name in names
    )
    path = tmp_path / "wirewatch.toml"
    path.write_text(
        f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n'
        '[crawl]\ndelay = "0s"\nmax_size = "1MB"\n' + extra + blocks
    )
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_source_that_answers_but_cannot_be_read_fails_the_crawl_in_words(tmp_path, source, name):
    result = wirewatch("--config", str(config_of(tmp_path, source, [name])), "crawl")
    assert result.returncode == 1, result.stdout + result.stderr
    assert CASES[name][1] in result.stderr, result.stderr
    assert f"{name}: none of its sources could be read" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_outlet_whose_feed_answers_404_turns_unhealthy_with_one_email(tmp_path, source, smtp):
    handler, port = smtp
    config = config_of(
        tmp_path,
        source,
        ["moved", "failing"],
        '[schedule]\nevery = "2s"\nnotify = "1s"\n[health]\nfeed_errors = 2\n'
        '[email]\noperator = "ops@example.org"\nfrom = "wirewatch@example.org"\n',
    )
    daemon = Daemon(config, env={"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        wait_for(lambda: len(handler.messages) >= 2, 90, "an unhealthy email per outlet")
        status = wait_for(
            lambda: json.loads(wirewatch("--config", str(config), "status", "--json").stdout),
            30,
            "status",
        )
    finally:
        daemon.stop()
    subjects = sorted(str(m["Subject"]) for m in handler.messages)
    assert subjects == [
        "[wirewatch] outlet failing is unhealthy",
        "[wirewatch] outlet moved is unhealthy",
    ]
    body = handler.messages[[str(m["Subject"]) for m in handler.messages].index(subjects[1])]
    assert (
        "404 Not Found: the source moved or was removed" in body.get_body(("plain",)).get_content()
    )
    assert all(row["health"] == "unhealthy" for row in status["outlets"])  # type: ignore[index]
