"""The tests' fixtures; what they share besides is in tests/support/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from storage.db import open_db
from tests.support.servers import Handler, RedisServer, free_port
from tests.support.site import SITE
from wirewatch.localsite import serve_folder


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


# -- a real SMTP server on 127.0.0.1 ---------------------------------------------------------


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
