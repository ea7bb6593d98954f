"""A long-lived crawl worker: one Scrapy process, one reactor, many outlet runs at once.

The monitor's pool (``workers.pool``) starts a few of these (``wirewatch worker-serve``, one per
core by default) and sends them the runs that are due (``workers.protocol``); starting Scrapy,
trafilatura and the config once per worker instead of once per run is what makes a quiet run
cheap. Each run is its own Scrapy ``Crawler``: its own stats, its own ``crawl_runs`` row
(``crawler/runs.py``), its own ``max_pages``, and its own deadline (``CLOSESPIDER_TIMEOUT``: the
run is closed, not the worker). Two runs whose outlets share a site never crawl at once in a
worker (``workers.slots``): the later one waits, so the site's delay and concurrency hold as
for one run; the pool sends the runs of one site to one worker.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor

from crawler.config import CrawlerConfig
from crawler.context import crawl_settings
from workers.protocol import (
    Alerted,
    Beat,
    Done,
    Drain,
    Message,
    ProtocolError,
    Run,
    decode,
    encode,
)
from workers.slots import Slots, sites_of

logger = logging.getLogger("wirewatch.worker")

#: Seconds between two beats.
BEAT = 1.0


class Worker:
    """Runs outlet crawls as the monitor asks, in one reactor."""

    def __init__(self, config: CrawlerConfig, config_path: Path, db_path: Path | None) -> None:
        install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self.config = config
        self.settings = crawl_settings(config, config_path, db_path, "WARNING")
        self.runner = CrawlerRunner(self.settings)
        self.active: dict[str, Crawler] = {}
        #: Runs waiting for a site another run holds: (token, outlet, deadline, queued at).
        self.waiting: list[tuple[str, str, float, float]] = []
        self.slots = self._slots()
        #: outlet -> its sites.
        self.sites: dict[str, frozenset[str]] = {}
        self.draining = False
        self.out = sys.stdout
        self.lock = threading.Lock()

    def _slots(self) -> Slots:
        return Slots()

    def send(self, message: Message) -> None:
        with self.lock:
            try:
                self.out.write(encode(message) + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):
                pass  # the monitor is gone; stdin's end stops this worker

    def serve(self) -> None:
        """Take runs until drained or stdin ends."""
        from twisted.internet.task import LoopingCall

        beats = LoopingCall(lambda: self.send(Beat(len(self.active), len(self.waiting))))
        self.reactor.callWhenRunning(beats.start, BEAT, now=False)
        threading.Thread(target=self._read, name="stdin", daemon=True).start()
        self.reactor.run(installSignalHandlers=False)

    def _read(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.reactor.callFromThread(self.handle, line)
        self.reactor.callFromThread(self.stop)

    def handle(self, line: str) -> None:
        try:
            message = decode(line)
        except ProtocolError as exc:
            logger.error("worker: %(error)s", {"error": exc})
            return
        if isinstance(message, Run):
            # Even while draining: the monitor sends none after a drain, but one that came
            # would be run rather than dropped (the worker exits when its last run ends).
            self.start(message.id, message.outlet, message.deadline)
        elif isinstance(message, Drain):
            self.draining = True
            self._maybe_exit()

    def start(self, token: str, outlet: str, deadline: float) -> None:
        """Start the run, or queue it while another run holds one of its sites."""
        self.waiting.append((token, outlet, deadline, time.monotonic()))
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Start every queued run whose sites are free, oldest first."""
        for entry in list(self.waiting):
            token, outlet, deadline, queued = entry
            if not self.slots.take(token, self._sites(outlet)):
                continue
            self.waiting.remove(entry)
            # The time spent waiting counts against the run's deadline.
            self._launch(token, outlet, max(1.0, deadline - (time.monotonic() - queued)))

    def _sites(self, name: str) -> frozenset[str]:
        """The sites of an outlet's sources (computed once per outlet: the config's lookup by
        name walks every outlet)."""
        if name not in self.sites:
            try:
                sources = self.config.outlet(name).sources
            except KeyError:
                sources = []  # the crawler says so when it starts
            self.sites[name] = sites_of(sources)
        return self.sites[name]

    def _run_settings(self, token: str, outlet: str, deadline: float) -> Settings:
        settings = self.settings.copy()
        settings.set("CLOSESPIDER_TIMEOUT", deadline, priority="cmdline")
        return settings

    def _launch(self, token: str, outlet: str, deadline: float) -> None:
        settings = self._run_settings(token, outlet, deadline)
        crawler = Crawler(_spider_class(), settings)
        crawler.signals.connect(
            lambda count, **_: self.send(Alerted(token, int(count))),
            signal=_alerts_stored(),
            weak=False,
        )
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
        self.slots.release(token)
        stats = crawler.stats.get_stats() if crawler.stats else {}
        reason = error or str(stats.get("finish_reason", "not started"))
        self._report(token, crawler, reason, stats)
        self._start_waiting()
        self._maybe_exit()

    def _report(self, token: str, crawler: Crawler, reason: str, stats: dict[str, Any]) -> None:
        """Tell the monitor how the run ended."""
        self.send(Done(token, reason))

    def _drop(self, token: str) -> None:
        """A run that waited for its site is closed unstarted: the worker stops."""
        self.send(Done(token, "shutdown"))

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


def _alerts_stored() -> object:
    from crawler.pipelines import alerts_stored

    return alerts_stored


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


def serve(config: CrawlerConfig, config_path: Path, db_path: Path | None) -> None:
    """``wirewatch worker-serve``: serve runs on stdin/stdout until drained or stdin ends."""
    route_twisted_logs()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the monitor's
    # SIGTERM: close the runs in hand (as shutdown) and exit, as Scrapy does on its own.
    worker = Worker(config, config_path, db_path)
    signal.signal(signal.SIGTERM, lambda *_: worker.reactor.callFromThread(worker.stop))
    worker.serve()
