"""The runtime's daemons as child processes (``wirewatch run``), waits, and what they left in
the database."""

from __future__ import annotations

import mailbox
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from storage.db import open_db
from tests.support.site import ROOT


class Daemon:
    """``wirewatch run`` as a child process, with its log collected as it comes."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wirewatch", "--config", str(config), *args, "run"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "WIREWATCH_CONFIG": "", **(env or {})},
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 60) -> float:
        """SIGTERM, wait for the exit; returns how long the exit took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=5)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return time.monotonic() - started


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def runs(db_path: Path, outlet: str | None = None) -> list[dict]:
    if not db_path.exists():
        return []
    db = open_db(db_path)
    try:
        where, params = ("where outlet = ?", [outlet]) if outlet else ("", [])
        cursor = db.execute(f"select * from crawl_runs {where} order by id", params)
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        db.close()


def schedule(every: str = "2s", **extra: str) -> str:
    lines = [f'every = "{every}"'] + [f"{k} = {v}" for k, v in extra.items()]
    return "\n[schedule]\n" + "\n".join(lines) + "\n"


def only(config_text: str, *outlets: str) -> str:
    """The fixture config with only the named outlets' blocks."""
    head, *blocks = config_text.split("[[outlets]]")
    kept = [b for b in blocks if any(f'name = "{o}"' in b for o in outlets)]
    return head + "".join("[[outlets]]" + b for b in kept)


def assert_quarantine_reported(db_path: Path, maildir: Path, outlet: str = "presstv") -> None:
    """The quarantined outlet is unhealthy, and the operator was told."""
    with sqlite3.connect(db_path) as db:
        state, reason = db.execute(
            "select state, reason from outlet_health where outlet = ?", [outlet]
        ).fetchone()
    assert state == "unhealthy" and reason.startswith("quarantined:")
    subjects = [m["Subject"] for m in mailbox.Maildir(maildir)]
    assert f"[wirewatch] outlet {outlet} is unhealthy" in subjects


def stored(db_path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    with sqlite3.connect(db_path) as db:
        urls = [row[0] for row in db.execute("select url from articles order by url")]
        alerts = list(db.execute("select watch, story_id from alerts order by story_id"))
    return urls, alerts
