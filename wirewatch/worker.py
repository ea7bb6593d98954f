"""A long-lived crawl worker: one Scrapy process, one reactor, many outlet runs at once.

The monitor (``scheduler.WorkerPool``) starts a few of these (``wirewatch worker-serve``, one
per core by default) and sends them the runs that are due; starting Scrapy, trafilatura and the
config once per worker instead of once per run is what makes a quiet run cheap. Each run is its
own Scrapy ``Crawler``: its own stats, its own ``crawl_runs`` row (``crawler/runs.py``), its
own ``max_pages``, and its own deadline (``CLOSESPIDER_TIMEOUT``: the run is closed, not the
worker). Two runs whose outlets share a site (a source's host and port) never crawl at once in
a worker: the later one waits, so the site's delay and concurrency hold as for one run; the
monitor sends the runs of one site to one worker.

The protocol is JSON, one object a line. The monitor writes to the worker's stdin:

- ``{"op": "run", "id": TOKEN, "outlet": NAME, "deadline": SECONDS}``: start a run;
- ``{"op": "drain"}``: finish the runs in hand, take no more, exit.

The worker writes to its stdout:

- ``{"op": "ready", "pid": PID}`` once, when it takes runs;
- ``{"op": "done", "id": TOKEN, "reason": FINISH_REASON, "run": RUN_ID}`` when it ends;
- ``{"op": "beat", "active": N, "waiting": M}`` every second, so a stuck reactor is seen
  and killed.

The end of stdin (the monitor is gone) stops the worker: the runs in hand are closed as
``shutdown``. Logs go to stderr, as the monitor's own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor

from crawler.context import crawl_config
from wirewatch.crawl import crawl_settings

logger = logging.getLogger("wirewatch.worker")

#: Seconds between two beats.
BEAT = 1.0


class Worker:
    """Runs outlet crawls as the monitor asks, in one reactor."""

    def __init__(self, config_path: Path, db_path: Path | None) -> None:
        install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self.settings = crawl_settings(config_path, db_path, "WARNING")
        self.runner = CrawlerRunner(self.settings)
        self.config = crawl_config(self.settings)
        self.active: dict[str, Crawler] = {}
        #: Runs waiting for a site another run holds: (token, outlet, deadline, queued at).
        self.waiting: list[tuple[str, str, float, float]] = []
        #: site (host:port of a source) -> the token of the run that holds it.
        self.busy: dict[str, str] = {}
        #: outlet -> its sites.
        self.sites: dict[str, set[str]] = {}
        self.draining = False
        self.out = sys.stdout
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":"))
        with self.lock:
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):
                pass  # the monitor is gone; stdin's end stops this worker

    def serve(self) -> None:
        """Take runs until drained or stdin ends."""
        from twisted.internet.task import LoopingCall

        beats = LoopingCall(
            lambda: self.send(
                {"op": "beat", "active": len(self.active), "waiting": len(self.waiting)}
            )
        )
        self.reactor.callWhenRunning(beats.start, BEAT, now=False)
        self.reactor.callWhenRunning(self.send, {"op": "ready", "pid": os.getpid()})
        threading.Thread(target=self._read, name="stdin", daemon=True).start()
        self.reactor.run(installSignalHandlers=False)

    def _read(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.reactor.callFromThread(self.handle, line)
        self.reactor.callFromThread(self.stop)

    def handle(self, line: str) -> None:
        try:
            message = json.loads(line)
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            logger.error("worker: not a message: %(line)r", {"line": line[:200]})
            return
        if op == "run":
            # Even while draining: the monitor sends none after a drain, but one that came
            # would be run rather than dropped (the worker exits when its last run ends).
            self.start(str(message["id"]), str(message["outlet"]), float(message["deadline"]))
        elif op == "drain":
            self.draining = True
            self._maybe_exit()

    def start(self, token: str, outlet: str, deadline: float) -> None:
        """Start the run, or queue it while another run holds one of its sites."""
        self.waiting.append((token, outlet, deadline, time.monotonic()))
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Start every queued run whose sites are free, oldest first: two runs of one site
        never crawl at once here, so its delay and concurrency hold as for one run."""
        for entry in list(self.waiting):
            token, outlet, deadline, queued = entry
            sites = self._sites(outlet)
            if not self._hold_sites(token, sites):
                continue
            self.waiting.remove(entry)
            # The time spent waiting counts against the run's deadline.
            self._launch(token, outlet, max(1.0, deadline - (time.monotonic() - queued)))

    def _hold_sites(self, token: str, sites: set[str]) -> bool:
        """Take ``sites`` for the run ``token`` if no other run holds one of them."""
        if sites & self.busy.keys():
            return False
        self.busy.update(dict.fromkeys(sites, token))
        return True

    def _sites(self, name: str) -> set[str]:
        """The sites (host and port) of an outlet's sources (computed once per outlet: the
        config's lookup by name walks every outlet)."""
        if name not in self.sites:
            try:
                sources = self.config.outlet(name).sources
            except KeyError:
                sources = []  # the crawler says so when it starts
            self.sites[name] = {urlsplit(url).netloc.lower() for url in sources}
        return self.sites[name]

    def _run_settings(self, token: str, outlet: str, deadline: float) -> Settings:
        settings = self.settings.copy()
        settings.set("CLOSESPIDER_TIMEOUT", deadline, priority="cmdline")
        return settings

    def _launch(self, token: str, outlet: str, deadline: float) -> None:
        settings = self._run_settings(token, outlet, deadline)
        crawler = Crawler(_spider_class(), settings)
        self.active[token] = crawler
        try:
            finished = self.runner.crawl(crawler, name=outlet)
        except Exception as exc:  # a crawler that cannot start must not take the worker down
            self._done(token, crawler, f"failed to start: {exc}")
            return
        finished.addCallbacks(
            lambda _: self._done(token, crawler, None),
            lambda failure: self._done(token, crawler, f"crashed: {failure.getErrorMessage()}"),
        )

    def _done(self, token: str, crawler: Crawler, error: str | None) -> None:
        self.active.pop(token, None)
        for site in [site for site, holder in self.busy.items() if holder == token]:
            del self.busy[site]
        stats = crawler.stats.get_stats() if crawler.stats else {}
        reason = error or str(stats.get("finish_reason", "not started"))
        self._report(token, crawler, reason, stats)
        self._start_waiting()
        self._maybe_exit()

    def _report(self, token: str, crawler: Crawler, reason: str, stats: dict[str, Any]) -> None:
        """Tell the monitor how the run ended."""
        self.send({"op": "done", "id": token, "reason": reason, "run": _run_id(crawler)})

    def _drop(self, token: str) -> None:
        """A run that waited for its site is closed unstarted: the worker stops."""
        self.send({"op": "done", "id": token, "reason": "shutdown", "run": None})

    def _maybe_exit(self) -> None:
        from twisted.internet.error import ReactorNotRunning

        if self.draining and not self.active and not self.waiting:
            with contextlib.suppress(ReactorNotRunning):
                self.reactor.stop()

    def stop(self) -> None:
        """The monitor is gone: close every run in hand as ``shutdown``, then exit."""
        self.draining = True
        for token, *_ in self.waiting:
            self._drop(token)
        self.waiting.clear()
        if not self.active:
            self._maybe_exit()
            return
        for crawler in list(self.active.values()):
            if crawler.crawling:
                crawler.stop()


def _spider_class() -> Any:
    from crawler.spiders.outlet import OutletSpider

    return OutletSpider


def _run_id(crawler: Crawler) -> int | None:
    value = crawler.stats.get_value("wirewatch/run_id") if crawler.stats else None
    return int(value) if value is not None else None


class _CloseRace(logging.Filter):
    """Drops one line of Twisted's that is no fault: closing a crawler, Scrapy's HTTP handler
    arms a timer to fire a Deferred that the closing connections may fire first, and when the
    reactor is busy both come due in one turn ("while handling timed call ...
    AlreadyCalledError"; ``HTTP11DownloadHandler.close``: "which the tests cannot force"). The
    crawler is closed either way; a long-lived worker closes one a run."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # The traceback is in the message (Twisted's text) or in exc_info (STDLibLogObserver).
        error = record.exc_info[0] if record.exc_info else None
        called = "AlreadyCalledError" in message or (
            error is not None and error.__name__ == "AlreadyCalledError"
        )
        return not ("timed call" in message and called)


def route_twisted_logs() -> None:
    """Twisted's own errors as log lines of ours (else bare tracebacks on stderr), but for the
    race of :class:`_CloseRace`."""
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver("twisted")], redirectStandardIO=False)  # type: ignore[list-item]
    logging.getLogger("twisted").addFilter(_CloseRace())


def serve(config_path: Path, db_path: Path | None) -> None:
    """``wirewatch worker-serve``: serve runs on stdin/stdout until drained or stdin ends."""
    route_twisted_logs()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the monitor's
    # SIGTERM: close the runs in hand (as shutdown) and exit, as Scrapy does on its own.
    worker = Worker(config_path, db_path)
    signal.signal(signal.SIGTERM, lambda *_: worker.reactor.callFromThread(worker.stop))
    worker.serve()
