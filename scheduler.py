"""The monitor: crawl every configured outlet on its schedule, each crawl in its own process.

Jobs are built from the config at start and again on reload (no persisted job store):

* one per outlet, from its ``every`` or ``cron`` (else ``[schedule] every``), with
  ``[schedule] jitter``; never two runs of one outlet at once, missed runs coalesced into one,
  a misfire grace as long as the interval. At start, an outlet whose last run in
  ``crawl_runs`` is older than its interval is overdue and runs at once, the most overdue first;
  the others keep their cadence.
* ``notify`` every ``[schedule] notify`` (alert emails, retries, operator emails), and one job
  per digest watch at its ``at`` time or ``every``, so a digest leaves on time.

Each crawl is a ``wirewatch crawl OUTLET`` child process, at most ``[schedule] max_parallel`` at
once. One that outlives ``crawl_timeout`` is terminated (SIGTERM, then SIGKILL), one that
crashes is recorded as failed; either way it has its ``crawl_runs`` row, a log line, and a
health check (``alerts.health``), and the other outlets never notice.

SIGTERM or SIGINT: no new crawl starts, running ones get ``[schedule] grace`` to finish (then
are terminated), due alerts are delivered, and the process exits 0. SIGHUP, or a change to the
config file, reloads the schedule without a restart (an invalid file is logged and ignored).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import Field

from alerts.config import AlertSettings
from alerts.health import check_outlet
from alerts.mail import transport
from alerts.outbox import notify as deliver
from core.errors import WirewatchError
from core.fields import Count, Interval, Seconds, Section
from core.units import format_duration
from crawler.config import CrawlerConfig, OutletConfig
from extractors.dates import isoformat
from storage import monitor as heartbeat
from storage.db import open_db
from storage.runs import KILLED, TIMEOUT, close_abandoned, last_runs, run_problems, settle_run

logger = logging.getLogger("wirewatch.scheduler")

#: Seconds a terminated crawl gets to close its run before it is killed.
TERMINATE_WAIT = 10.0
#: Seconds between two heartbeats of a running monitor; ``status`` takes a monitor whose last
#: beat is older than three of these for gone.
HEARTBEAT = 5.0


class ScheduleConfig(Section):
    every: Interval = 15 * 60.0
    jitter: Seconds = 0.0
    crawl_timeout: Interval = 10 * 60.0
    max_parallel: Count = Field(default=2, ge=1, le=32)
    grace: Seconds = 30.0
    notify: Interval = 60.0


class MonitorConfig(CrawlerConfig, AlertSettings, Protocol):
    """What the monitor reads of the config (``wirewatch.config.Config`` is one): what the
    crawler and the alerts read, and the schedule, the Maildir and the SMTP URL."""

    @property
    def schedule(self) -> ScheduleConfig: ...

    def maildir_path(self) -> Path: ...

    @property
    def smtp_url(self) -> str: ...


#: Reads and validates the config file again (SIGHUP, a saved file); raises if it cannot.
Loader = Callable[[Path], MonitorConfig]


@dataclass(frozen=True)
class Plan:
    """One job as the config asks for it."""

    job_id: str
    trigger: BaseTrigger
    signature: tuple[Any, ...]  # what the job's schedule depends on: a change means rebuild
    interval: float
    outlet: str | None = None


def outlet_trigger(config: MonitorConfig, outlet: OutletConfig) -> tuple[BaseTrigger, float, str]:
    """The outlet's trigger, its nominal interval in seconds, and a description."""
    if outlet.cron:
        return CronTrigger.from_crontab(outlet.cron, timezone=UTC), 60.0, f"cron {outlet.cron}"
    every = outlet.every or config.schedule.every
    jitter = int(config.schedule.jitter) or None
    trigger = IntervalTrigger(seconds=every, jitter=jitter, timezone=UTC)
    return trigger, every, f"every {format_duration(every)}"


def next_due(config: MonitorConfig, outlet: OutletConfig, last: datetime | None) -> datetime | None:
    """When ``outlet`` is next due after a run started at ``last``; None if it never ran."""
    if last is None:
        return None
    if outlet.cron:
        trigger = CronTrigger.from_crontab(outlet.cron, timezone=UTC)
        return trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    return last + timedelta(seconds=outlet.every or config.schedule.every)


class Monitor:
    """Schedules and runs the crawls of one config."""

    def __init__(
        self, config: MonitorConfig, config_file: Path, load: Loader, db: str | None = None
    ) -> None:
        self.config = config
        self.load = load
        self.config_file = Path(config_file).resolve()
        self.db = db
        self.children: dict[int, subprocess.Popen[str]] = {}
        self.terminated: dict[int, bool] = {}  # pids the shutdown terminated
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.signatures: dict[str, tuple[Any, ...]] = {}
        self.config_stamp = self._stamp()
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(config.schedule.max_parallel),
                # Alert delivery never waits behind crawls.
                "notify": ThreadPoolExecutor(1),
            },
            timezone=UTC,
        )

    # -- commands ------------------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """A ``wirewatch`` command line on this monitor's config and database."""
        command = [sys.executable, "-m", "wirewatch", "--config", str(self.config_file)]
        if self.db:
            command += ["--db", self.db]
        return [*command, *args]

    def crawl_command(self, outlet: str) -> list[str]:
        return self.command("crawl", outlet)

    def open(self) -> Any:
        return open_db(self.config.database_path(self.db), self.config.storage.busy_timeout)

    # -- jobs ----------------------------------------------------------------------------------

    def notify(self) -> None:
        """Deliver due alerts and operator emails (what ``wirewatch notify`` does)."""
        config = self.config
        db = self.open()
        try:
            report = deliver(
                db,
                config,
                transport(config.maildir_path(), config.email.sender, config.smtp_url),
                config.database_path(self.db),
            )
        except (OSError, sqlite3.Error, WirewatchError) as exc:
            logger.error("notify failed: %(error)s", {"error": exc})
            return
        finally:
            db.close()
        if report.emails_sent or report.failed or report.retrying:
            logger.info("notify: %(summary)s", {"summary": report.summary()})

    def crawl(self, outlet: str) -> None:
        """Run one outlet's crawl as a child process, within the crawl time limit."""
        if self.stopping.is_set():
            return  # queued before the stop: no new work
        config = self.config
        began = datetime.now(UTC)
        started = time.monotonic()
        timeout = config.schedule.crawl_timeout
        process = subprocess.Popen(
            self.crawl_command(outlet),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a terminal's Ctrl-C reaches the monitor, not the crawls
            preexec_fn=_end_with_parent,
        )
        with self.lock:
            self.children[process.pid] = process
        ended = None
        try:
            try:
                _, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                ended = TIMEOUT
                terminate(process)
                _, stderr = process.communicate()
        finally:
            with self.lock:
                self.children.pop(process.pid, None)
                if self.terminated.pop(process.pid, False):
                    ended = KILLED
        duration = time.monotonic() - started
        db = self.open()
        try:
            run = settle_run(
                db,
                outlet,
                process.pid,
                began,
                ended=ended,
                exit_code=process.returncode,
                error=_last_error(stderr) if process.returncode else "",
            )
            log_run(run, duration)
            change = check_outlet(db, config, outlet)
        finally:
            db.close()
        if change is not None and config.email.operator:
            self.notify_soon()

    def notify_soon(self) -> None:
        """Run the notify job now rather than at its next turn."""
        if self.scheduler.get_job("notify") is not None:
            self.scheduler.modify_job("notify", next_run_time=datetime.now(UTC))

    # -- the schedule --------------------------------------------------------------------------

    def plans(self, config: MonitorConfig) -> list[Plan]:
        plans = []
        for outlet in config.outlets:
            trigger, interval, _ = outlet_trigger(config, outlet)
            signature: tuple[Any, ...] = (
                outlet.every,
                outlet.cron,
                config.schedule.every,
                config.schedule.jitter,
            )
            plans.append(Plan(f"crawl:{outlet.name}", trigger, signature, interval, outlet.name))
        if config.watches or config.email.operator:
            every = config.schedule.notify
            trigger = IntervalTrigger(seconds=every, timezone=UTC)
            plans.append(Plan("notify", trigger, (every,), every))
        for watch in config.watches:
            if watch.mode != "digest":
                continue
            if watch.at is not None:
                hour, minute = watch.at.split(":")
                trigger = CronTrigger(hour=hour, minute=minute, timezone=watch.timezone)
                interval = 86400.0
            else:
                assert watch.every is not None
                trigger, interval = IntervalTrigger(seconds=watch.every, timezone=UTC), watch.every
            signature = (watch.at, watch.timezone, watch.every)
            plans.append(Plan(f"digest:{watch.name}", trigger, signature, interval))
        return plans

    def sync_jobs(self, config: MonitorConfig, now: datetime | None = None) -> None:
        """Make the scheduler's jobs those of ``config``: add, reschedule, remove."""
        now = now or datetime.now(UTC)
        plans = self.plans(config)
        wanted = {plan.job_id for plan in plans}
        for job_id in list(self.signatures):
            if job_id not in wanted:
                self.scheduler.remove_job(job_id)
                del self.signatures[job_id]
                logger.info("Removed job %(job)s", {"job": job_id})
        starts = self.first_runs(config, now)
        for plan in plans:
            if self.signatures.get(plan.job_id) == plan.signature:
                continue
            func: Callable[..., None]
            if plan.outlet is not None:
                func, args, executor = self.crawl, [plan.outlet], "default"
                first = starts[plan.outlet]
            else:
                func, args, executor = self.notify, [], "notify"
                first = now if plan.job_id == "notify" else None
            options: dict[str, Any] = {}
            if first is not None:
                options["next_run_time"] = first
            self.scheduler.add_job(
                func,
                plan.trigger,
                args=args,
                id=plan.job_id,
                name=plan.job_id,
                executor=executor,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(plan.interval)),
                replace_existing=True,
                **options,
            )
            self.signatures[plan.job_id] = plan.signature

    def first_runs(self, config: MonitorConfig, now: datetime) -> dict[str, datetime | None]:
        """Each outlet's first run: overdue ones now, most overdue first; None = the trigger's."""
        db = self.open()
        try:
            last = {
                outlet: datetime.fromisoformat(started) for outlet, started in last_runs(db).items()
            }
        finally:
            db.close()
        overdue: list[tuple[timedelta, str]] = []
        starts: dict[str, datetime | None] = {}
        for outlet in config.outlets:
            due = next_due(config, outlet, last.get(outlet.name))
            if due is None or due <= now:
                late = now - due if due is not None else timedelta.max
                overdue.append((late, outlet.name))
            else:
                starts[outlet.name] = due
        # Jobs due at the same moment run in the order of their run times: space them a little.
        for rank, (_, name) in enumerate(sorted(overdue, reverse=True)):
            starts[name] = now + timedelta(milliseconds=50 * rank)
        return starts

    def reload(self) -> None:
        """Read the config file again and rebuild the schedule from it; keep it if invalid."""
        self.config_stamp = self._stamp()
        try:
            config = self.load(self.config_file)
        except Exception as exc:
            logger.error(
                "Config not reloaded, the schedule is unchanged: %(error)s", {"error": exc}
            )
            return
        if config.schedule.max_parallel != self.config.schedule.max_parallel:
            logger.warning("[schedule] max_parallel takes effect at the next restart")
        self.config = config
        self.sync_jobs(config)
        logger.info(
            "Config reloaded: %(count)d outlet(s) scheduled", {"count": len(config.outlets)}
        )

    def _stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.config_file.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        """Schedule every outlet and run until SIGINT or SIGTERM; SIGHUP reloads."""
        db = self.open()
        abandoned = close_abandoned(db)
        db.close()
        if abandoned:
            logger.warning(
                "%(count)d crawl run(s) left open by a dead process marked killed",
                {"count": abandoned},
            )
        self.sync_jobs(self.config)

        def stop(signum: int, frame: FrameType | None) -> None:
            logger.info("Stopping on signal %(signal)d", {"signal": signum})
            self.stopping.set()

        def hangup(signum: int, frame: FrameType | None) -> None:
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hangup)
        self.scheduler.start()
        logger.info(
            "Monitoring %(count)d outlet(s) from %(config)s",
            {"count": len(self.config.outlets), "config": self.config_file},
        )
        started = isoformat(datetime.now(UTC))
        last_beat = 0.0
        while not self.stopping.wait(1.0):
            if time.monotonic() - last_beat >= HEARTBEAT:
                self.beat(started)
                last_beat = time.monotonic()
            if self.reload_requested.is_set() or self._stamp() != self.config_stamp:
                self.reload_requested.clear()
                self.reload()
        self.shutdown()

    def shutdown(self) -> None:
        """Stop taking work, give running crawls the grace period, deliver what is due."""
        self.scheduler.pause()
        grace = self.config.schedule.grace
        deadline = time.monotonic() + grace
        with self.lock:
            running = len(self.children)
        if running:
            logger.info(
                "Waiting up to %(grace)s for %(count)d running crawl(s)",
                {"grace": format_duration(grace), "count": running},
            )
        while time.monotonic() < deadline:
            with self.lock:
                if not self.children:
                    break
            time.sleep(0.1)
        with self.lock:
            late = list(self.children.values())
            self.terminated.update((process.pid, True) for process in late)
        for process in late:
            logger.warning("Terminating crawl process %(pid)d", {"pid": process.pid})
        threads = [threading.Thread(target=terminate, args=(p,)) for p in late]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.scheduler.shutdown(wait=True)
        if self.config.watches or self.config.email.operator:
            self.notify()
        try:
            db = self.open()
            try:
                heartbeat.stopped(db, socket.gethostname(), os.getpid())
            finally:
                db.close()
        except sqlite3.Error as exc:
            logger.warning("Heartbeat not cleared: %(error)s", {"error": exc})
        logger.info("Stopped")

    def beat(self, started: str) -> None:
        """Tell ``status`` that this monitor is alive (storage.monitor)."""
        db = self.open()
        try:
            heartbeat.beat(
                db,
                socket.gethostname(),
                os.getpid(),
                started,
                isoformat(datetime.now(UTC)),
                str(self.config_file),
            )
        except sqlite3.Error as exc:
            logger.warning("Heartbeat not written: %(error)s", {"error": exc})
        finally:
            db.close()


def terminate(process: subprocess.Popen[str], wait: float = TERMINATE_WAIT) -> None:
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


def log_run(run: dict[str, Any], duration: float) -> None:
    """The one line per run: outlet, status, duration, pages, new articles, errors, and what
    kept it from reading the outlet, in words (then at WARNING)."""
    problems = run_problems(run)
    fields = {
        "event": "crawl",
        "outlet": run["outlet"],
        "status": run["status"],
        "duration": round(duration, 1),
        "pages": run["pages_fetched"] or 0,
        "new": run["articles_new"] or 0,
        "updated": run["articles_updated"] or 0,
        "errors": run["errors"] or 0,
        "reason": run["reason"] or "",
        "problems": problems,
        "why": "; ".join(problems),
    }
    message = (
        "crawl %(outlet)s %(status)s in %(duration).1fs: %(pages)d pages, %(new)d new, "
        "%(updated)d updated, %(errors)d errors"
    )
    if run["status"] != "finished":
        message += " (%(reason)s)"
        level = logging.ERROR
    elif problems:
        message += " (%(why)s)"
        level = logging.WARNING
    else:
        level = logging.INFO
    logger.log(level, message, fields, extra={"fields": fields})


_PR_SET_PDEATHSIG = 1


def _end_with_parent() -> None:
    """In the crawl process (Linux): SIGKILL it when the monitor dies, however it dies, so that
    no orphaned crawl runs on beside the next monitor's. What it stored is committed article by
    article; the next monitor marks its open run ``killed``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the next monitor marks the orphan's run when it finds it dead


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][-300:] if lines else ""
