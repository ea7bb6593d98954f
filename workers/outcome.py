"""How one run ended, as the runtime's backends report it to the monitor
(``monitor.outcomes`` settles it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    #: The process that ran it (a worker, a ``wirewatch crawl`` child); 0 if none did.
    pid: int = 0
    #: Scrapy's finish reason as its worker told it; ``shutdown`` for a crawl the monitor's
    #: stop ended; None when none was told.
    reason: str | None = None
    #: The worker process died holding the run (it never answered).
    died: bool = False
    #: The process's exit code (negative: the signal), when it ended.
    exit_code: int | None = None
    #: The run outlived its deadline, and the monitor stopped it.
    overdue: bool = False
    #: Why no worker ran it, or the last line a crashed crawl wrote; "" if none.
    error: str = ""
    #: The run's ``crawl_runs`` row, closed already (a cluster's run, closed as it came home).
    run: dict[str, Any] | None = None
    #: The row the monitor opened for it (a cluster's run), closed as failed if ``run`` is None.
    run_id: int | None = None
    #: Lost with Redis's data: send it again.
    lost: bool = False
    #: Left open as the monitor stops: its outcome waits in Redis for the next monitor.
    left_open: bool = False
