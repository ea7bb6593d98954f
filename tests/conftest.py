from __future__ import annotations

import email
import os
import socket
import subprocess
import sys
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
