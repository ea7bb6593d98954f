"""A job that may be asked for again while it runs (``Again``): the monitor's delivery, which
each stored alert and each run's end ask for from their own threads."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Again:
    """Runs ``work`` when asked (:meth:`soon`, from any thread, which calls ``start`` to have
    it run now); a request that comes while it runs makes it run once more, so none is lost
    and none is skipped as a second instance."""

    def __init__(self, work: Callable[[], None], start: Callable[[], None]) -> None:
        self.work = work
        self.start = start
        self.lock = threading.Lock()
        self.running = False
        self.wanted = False

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Do the work, again while it was asked for meanwhile (and ``stop`` is not true)."""
        with self.lock:
            self.running = True
        try:
            while True:
                with self.lock:
                    self.wanted = False
                self.work()
                with self.lock:
                    if not self.wanted or stop():
                        self.running = False  # decided under the lock: no request is lost
                        return
        finally:
            with self.lock:
                self.running = False

    def soon(self) -> None:
        with self.lock:
            self.wanted = True
            if self.running:
                return
        self.start()
