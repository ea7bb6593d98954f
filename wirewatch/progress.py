"""Progress of long work: a bar with rate and ETA on a terminal, plain log lines elsewhere.

Work done within ``LONG`` seconds says nothing. On a terminal (stdout and stderr both), a tqdm
bar on stderr, drawn once the work has lasted ``LONG``. Otherwise (a pipe, a log file, cron),
an INFO log line (shown with ``-v``) at most every ``every`` seconds and one at the end.
``enabled=False`` (``--json``) says nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

logger = logging.getLogger("wirewatch.progress")
#: Seconds of work before any progress is shown.
LONG = 1.0


class Progress:
    def __init__(
        self,
        total: int | None,
        label: str,
        unit: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: float = 10.0,
    ) -> None:
        self.total, self.label, self.unit = total, label, unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        # A bar only when a person is watching: both the output and the log are a terminal.
        self.tty = enabled and self.stream.isatty() and sys.stdout.isatty()
        self.every = every
        self.done = 0
        self.started = self.last = time.monotonic()
        self.bar: tqdm | None = None

    def start(self, total: int | None) -> None:
        """Set the total once it is known (before the first update)."""
        self.total = total

    def update(self, count: int = 1) -> None:
        self.done += count
        if self.tty and self.bar is None:
            self.bar = tqdm(
                total=self.total,
                desc=self.label,
                unit=f" {self.unit}",
                file=self.stream,
                delay=max(0.0, LONG - (time.monotonic() - self.started)),
            )
            self.bar.update(self.done - count)
        if self.bar is not None:
            self.bar.update(count)
        elif self.enabled and time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self._log()

    def _log(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        of = f"/{self.total}" if self.total else ""
        eta = ""
        if self.total and rate > 0 and self.done < self.total:
            eta = f", about {(self.total - self.done) / rate:.0f}s left"
        logger.info(
            "%(label)s: %(done)d%(of)s %(unit)s, %(rate).1f %(unit)s/s%(eta)s",
            {
                "label": self.label,
                "done": self.done,
                "of": of,
                "unit": self.unit,
                "rate": rate,
                "eta": eta,
            },
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.done and time.monotonic() - self.started >= LONG:
            self._log()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
