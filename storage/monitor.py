"""The ``monitor`` table: the heartbeat of a running monitor, so ``status`` can tell whether one
runs. One row per monitor process (host and pid), refreshed every few seconds, removed when
the monitor stops. And the :class:`Claim` that makes it one monitor per database."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sqlite_utils import Database

from core.errors import DatabaseGone, MonitorRunning
from storage.db import write_transaction


class Claim:
    """A monitor's claim on its database: an exclusive lock (``flock``) on ``DB.monitor``
    beside it, held as long as the process lives (the kernel lets go of it when the process
    dies, however it dies), and the file's identity, to see it deleted or replaced.

    Raises:
        MonitorRunning: another process holds the claim; the message names its host and PID.
    """

    def __init__(self, path: Path, holder: str) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".monitor")
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = ""
            with contextlib.suppress(OSError):
                other = os.pread(fd, 500, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise MonitorRunning(
                f"another monitor runs on {self.path} ({other or 'its holder unknown'}): stop "
                "it first (SIGTERM), or give this one a database of its own (--db)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        self.fd = fd
        self.identity = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino)

    def check(self) -> None:
        """Raise :class:`DatabaseGone` if the database is no longer the file claimed."""
        now = self._identity()
        if now == self.identity:
            return
        what = "deleted" if now is None else "replaced by another file"
        raise DatabaseGone(
            f"{self.path} was {what} under the running monitor: it stops rather than start an "
            "empty archive and send every alert again; put the database back (or restore a "
            "backup) and start it again"
        )

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def beat(db: Database, host: str, pid: int, started: str, now: str, config: str) -> None:
    """Record that the monitor ``host``/``pid`` is alive at ``now``."""
    with write_transaction(db):
        db.execute(
            "insert into monitor (host, pid, started, beat, config) values (?, ?, ?, ?, ?) "
            "on conflict (host, pid) do update set beat = excluded.beat",
            [host, pid, started, now, config],
        )


def stopped(db: Database, host: str, pid: int) -> None:
    """The monitor ``host``/``pid`` has stopped."""
    with write_transaction(db):
        db.execute("delete from monitor where host = ? and pid = ?", [host, pid])


def latest(db: Database) -> dict | None:
    """The monitor that beat last (host, pid, started, beat, config), or None."""
    rows = list(db.query("select * from monitor order by beat desc limit 1"))
    return rows[0] if rows else None
