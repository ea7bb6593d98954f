from __future__ import annotations

import email
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from storage.db import open_db
from wirewatch.demo import fixture_config
from wirewatch.localsite import serve_folder

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SITE = FIXTURES / "site"

# The five seed stories: fixture page -> expected clean text, with lines of their chrome that
# must never reach the stored text.
PAGES = {
    "almayadeen-ryabkov-2023": (
        "almayadeen/news/politics/russia-iran-military-cooperation-observing-international-law.html",
        [
            "Read more",
            "Direct clash between Russia, NATO possible",
            "Share",
            "Most Read",
            "cookies",
            "All rights reserved",
            "Russia-Iran trade hits record high",
        ],
    ),
    "tehrantimes-lavrov-2025": (
        "tehrantimes/news/517845-russia-voices-commitment.html",
        ["Date archive", "Search", "Related News", "Creative Commons", "Newsletter"],
    ),
    "presstv-lavrov-2020": (
        "presstv/Detail/2020/11/10/638304-russia-iran-military-cooperation-lavrov.html",
        ["Latest News", "alternate addresses", "Venezuela boosts", "Share", "Telegram"],
    ),
    "presstv-ryabkov-2020": (
        "presstv/Detail/2020/10/18/636839-russia-iran-cooperation-embargo-ends.html",
        ["Latest News", "alternate addresses", "Ma'rib", "Share"],
    ),
    "ifpnews-mikheev-2021": (
        "ifpnews/russian-exporter-continue-military-cooperation-iran.html",
        [
            "Recent Posts",
            "Published by",
            "Share",
            "Media Wire section",
            "14 minutes ago",
            "Iran FM warns of Israel plot",
            "Zero enrichment",
        ],
    ),
}


def expected_text(name: str) -> str:
    return (FIXTURES / "expected" / f"{name}.txt").read_text(encoding="utf-8")


def normal(text: str) -> str:
    """Whitespace-insensitive form for comparing texts."""
    return " ".join(text.split())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.db"


@pytest.fixture
def fresh_db(db_path: Path) -> Iterator:
    db = open_db(db_path)
    yield db
    db.close()


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """The fixture outlets served on 127.0.0.1; yields the base URL."""
    with serve_folder(SITE) as base:
        yield base


def outlets_config(base: str, database: Path, extra: str = "") -> str:
    """A config whose outlets are the fixture outlets served at ``base`` (the demo's)."""
    return fixture_config(base, database, extra)


def wirewatch(*args: str, cwd: Path | None = None, timeout: float = 120, **env: str):
    """Run the real ``wirewatch`` command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "wirewatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, **env},
    )


# -- a real SMTP server on 127.0.0.1 ---------------------------------------------------------


@dataclass
class Handler:
    """Accepts everything except recipients in ``refuse`` (address -> SMTP reply)."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        # Python folds a subject of 70-78 characters as "Subject:<CRLF> <value>", and its own
        # parser keeps the folding space; mail clients drop it, so do we.
        subject = str(message["Subject"]).strip()
        del message["Subject"]
        message["Subject"] = subject
        self.messages.append(message)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, int]]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


# -- a real Redis server on 127.0.0.1 ----------------------------------------------------------


class RedisServer:
    """Debian's ``redis-server`` on a free port of 127.0.0.1, its AOF on, its files in
    ``folder``; :meth:`restart` stops it (SIGTERM: it writes its AOF) and starts it again."""

    def __init__(self, folder: Path, password: str = "") -> None:
        self.folder = folder
        self.port = free_port()
        self.password = password
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    # A server with a password answers NOAUTH: it is up all the same.
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server for the cluster tests (indirect parametrization: its password); they skip,
    saying why, where none is installed."""
    if shutil.which("redis-server") is None:
        pytest.skip(
            "redis-server is not installed (`make test` installs it through apt as root on Debian)"
        )
    server = RedisServer(tmp_path / "redis", getattr(request, "param", ""))
    try:
        yield server
    finally:
        server.stop()
