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


class Turns:
    """Each key's work (an outlet's run) one at a time: asked for while it runs, it runs once
    more when done, however many times it was asked meanwhile."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.wanted: set[str] = set()

    def take(self, key: str) -> bool:
        """True: the caller runs it now (and must :meth:`release` it); False: it is running,
        and it runs once more when done."""
        with self.lock:
            if key in self.running:
                self.wanted.add(key)
                return False
            self.running.add(key)
            return True

    def defer(self, key: str) -> bool:
        """Whether it runs now; if so, it runs once more when done."""
        with self.lock:
            if key in self.running:
                self.wanted.add(key)
            return key in self.running

    def again(self, key: str) -> bool:
        """Called by the runner when a turn ends: True if it was asked for meanwhile."""
        with self.lock:
            if key in self.wanted:
                self.wanted.discard(key)
                return True
            return False

    def release(self, key: str) -> None:
        with self.lock:
            self.running.discard(key)
            self.wanted.discard(key)
