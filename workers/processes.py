"""Child processes of the runtime: stopping a process group, dying with the parent, and the
stamp that tells a saved config file."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: Seconds a terminated crawl gets to close its run before it is killed.
TERMINATE_WAIT = 10.0

_PR_SET_PDEATHSIG = 1


def terminate(
    process: subprocess.Popen[str] | subprocess.Popen[bytes], wait: float = TERMINATE_WAIT
) -> None:
    """Stop a crawl process group: SIGTERM (Scrapy closes its spider and its run, but waits for
    downloads in flight), SIGTERM again (Scrapy stops at once), then SIGKILL."""
    for sig, patience in (
        (signal.SIGTERM, wait / 2),
        (signal.SIGTERM, wait / 2),
        (signal.SIGKILL, None),
    ):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            continue
        return


def end_with_parent() -> None:
    """In a child process (Linux), as ``preexec_fn``: SIGKILL it when its parent dies, however it
    dies, so that no orphaned crawl runs on beside the next monitor's. What it stored is
    committed article by article; the next monitor marks its open run ``killed``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the next monitor marks the orphan's run when it finds it dead


def how_it_ended(code: int) -> str:
    """A process's return code in words."""
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def last_error(stderr: str) -> str:
    """The last line a crashed process wrote to stderr (at most 300 characters)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][-300:] if lines else ""


def file_stamp(path: Path) -> tuple[float, int] | None:
    """What changes when the file is saved (its mtime and size); None if it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


@dataclass
class Backoff:
    """When to start the next worker after some died soon after their start: the first goes at
    once, then 2, 4, ... seconds, at most ``longest``; one that lived ``settled`` resets it."""

    settled: float
    longest: float = 60.0
    #: Workers in a row that died within ``settled`` seconds of their start.
    quick_deaths: int = 0
    next_start: float = 0.0

    def died(self, lived: float, *, free: int = 1) -> float:
        """A worker died after ``lived`` seconds; return the wait before the next start. The
        first ``free`` quick deaths in a row cost no wait."""
        self.quick_deaths = self.quick_deaths + 1 if lived < self.settled else 0
        wait = min(self.longest, 2.0**self.quick_deaths) if self.quick_deaths >= free else 0.0
        self.next_start = time.monotonic() + wait
        return wait

    def ready(self) -> bool:
        return time.monotonic() >= self.next_start
