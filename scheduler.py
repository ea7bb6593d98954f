"""The monitor: crawl every configured outlet on its schedule, in long-lived crawl workers.

Jobs are built from the config at start and again on reload (no persisted job store):

* one per outlet, from its ``every`` or ``cron`` (else ``[schedule] every``), with
  ``[schedule] jitter``; never two runs of one outlet at once, missed runs coalesced into one,
  a misfire grace as long as the interval. At start, an outlet whose last run in
  ``crawl_runs`` is older than its interval is overdue and runs at once, the most overdue first;
  the others keep their cadence.
* ``notify`` every ``[schedule] notify`` (alert emails, retries, operator emails), and one job
  per digest watch at its ``at`` time or ``every``, so a digest leaves on time.

Each crawl runs in one of ``[schedule] workers`` long-lived worker processes (``WorkerPool``;
the worker's side is ``wirewatch/worker.py``), at most ``[schedule] max_parallel`` at once. A
run still going at ``crawl_timeout`` is closed by its worker; a worker that dies or goes silent
is replaced, its runs recorded as failed and run again, and an outlet whose runs keep killing
their worker is quarantined. With ``workers = 0`` each crawl is a ``wirewatch crawl OUTLET``
child process instead; one that outlives ``crawl_timeout`` is terminated (SIGTERM, then
SIGKILL). Either way each run has its ``crawl_runs`` row, a log line, and a health check
(``alerts.health``), and the other outlets never notice.

With ``[cluster] redis`` set, no worker runs here: each due run is opened in ``crawl_runs``
and sent to the cluster's workers through Redis (``cluster/``), and the run's job waits for its
outcome; the articles they send home are stored and matched here, by this process alone. A run
no worker answers in time is closed as failed, and one lost with Redis's data is sent again.

SIGTERM or SIGINT: no new crawl starts, running ones get ``[schedule] grace`` to finish (then
are terminated), due alerts are delivered, and the process exits 0. SIGHUP, or a change to the
config file, reloads the schedule without a restart (an invalid file is logged and ignored).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import itertools
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import urlsplit

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlite_utils import Database

from alerts.channels import transport
from alerts.config import AlertSettings
from alerts.health import Change as HealthChange
from alerts.health import check_outlet, quarantine
from alerts.outbox import notify as deliver
from cluster.bus import Bus, RedisError
from cluster.config import ClusterConfig
from cluster.crawl import ABANDONED, MAX_DELIVERIES
from cluster.home import Home
from core.errors import WirewatchError
from core.units import format_duration
from crawler.config import CrawlerConfig, OutletConfig
from extractors.dates import isoformat
from monitor.config import ScheduleConfig
from storage import monitor as heartbeat
from storage.db import open_db
from storage.runs import (
    FAILED,
    KILLED,
    TIMEOUT,
    close_abandoned,
    close_cluster_run,
    close_unheard,
    last_runs,
    run_problems,
    settle_run,
    start_run,
)

logger = logging.getLogger("wirewatch.scheduler")

#: Seconds a terminated crawl gets to close its run before it is killed.
TERMINATE_WAIT = 10.0
#: Seconds a crawl worker may go without a beat (it beats every second) before it is killed;
#: a page's extraction is bounded by [crawl] page_budget (10 s) far below this.
WORKER_SILENCE = 60.0
#: Seconds a new crawl worker may take to start; one that dies sooner is retried with backoff.
WORKER_START = 30.0
#: Runs a crawl worker serves before a fresh one takes its place.
WORKER_RECYCLE = 2000
#: Runs of one outlet in a row whose worker died under them before it is quarantined.
QUARANTINE_AFTER = 3
#: A run that starts more than this many seconds after it was due is late; the monitor warns
#: when more than 5 % of its last LAG_WINDOW runs were, at most every LAG_WARN_EVERY seconds.
LATE = 60.0
LAG_WINDOW = 500
LAG_WARN_EVERY = 600.0
#: Seconds between two checks of a cluster: runs no worker answered, workers not heard from.
CLUSTER_CHECK = 60.0
#: Seconds between two heartbeats of a running monitor; ``status`` takes a monitor whose last
#: beat is older than three of these for gone.
HEARTBEAT = 5.0


class MonitorConfig(CrawlerConfig, AlertSettings, Protocol):
    """What the monitor reads of the config (``wirewatch.config.Config`` is one): what the
    crawler and the alerts read, and the schedule, the Maildir and the SMTP URL."""

    @property
    def schedule(self) -> ScheduleConfig: ...

    def maildir_path(self) -> Path: ...

    @property
    def smtp_url(self) -> str: ...

    @property
    def environment(self) -> Mapping[str, str]: ...

    @property
    def cluster(self) -> ClusterConfig: ...

    @property
    def redis_url(self) -> str: ...


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


def known_window(config: MonitorConfig) -> float:
    """Seconds a cluster's Redis keeps a stored URL's key: ``[cluster] known_for``, and at
    least the longest ``max_age`` and the re-check window, and a day."""
    ages = [outlet.max_age for outlet in config.outlets]
    return max([config.cluster.known_for, config.crawl.recheck, 86400.0, *ages])


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
        workers = config.schedule.workers
        self.home: Home | None = None
        self.pool: WorkerPool | None = None
        if config.cluster.redis:
            self.home = Home(
                Bus(config.redis_url),
                self.open,
                config.watches,
                self._settle,
                known_window(config),
            )
        elif workers:
            self.pool = WorkerPool(self.command("worker-serve"), workers)
        self.due: dict[str, datetime] = {}  # job id: when its current run was due
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self.lag_warned = 0.0
        self.strikes: dict[str, int] = {}  # runs in a row whose worker died under them
        self.quarantined: dict[str, str] = {}  # outlet: why it is no longer run
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(config.schedule.max_parallel),
                # Alert delivery never waits behind crawls.
                "notify": ThreadPoolExecutor(1),
            },
            timezone=UTC,
        )
        self.scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)

    def _submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self.due[event.job_id] = event.scheduled_run_times[0]  # the earliest, if coalesced

    def lag_of(self, outlet: str, began: datetime) -> float | None:
        """Seconds the run of ``outlet`` that began at ``began`` started after it was due."""
        due = self.due.get(f"crawl:{outlet}")
        if due is None:
            return None
        lag = max(0.0, (began - due).total_seconds())
        self.lags.append(lag)
        return lag

    def warn_if_behind(self) -> None:
        """Say it, at most every LAG_WARN_EVERY seconds, when the recent runs start late: an
        outlet falling behind its schedule must not do so without a word."""
        lags = sorted(self.lags)
        if len(lags) < 20 or time.monotonic() - self.lag_warned < LAG_WARN_EVERY:
            return
        late = sum(lag > LATE for lag in lags)
        if late * 20 <= len(lags):  # 95 % on time
            return
        self.lag_warned = time.monotonic()
        logger.warning(
            "Falling behind: %(late)d of the last %(count)d runs started more than %(limit)s "
            "after they were due (p95 %(p95)s); raise [schedule] max_parallel or workers, or "
            "lengthen the outlets' intervals",
            {
                "late": late,
                "count": len(lags),
                "limit": format_duration(LATE),
                "p95": format_duration(round(lags[int(0.95 * (len(lags) - 1))])),
            },
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
                transport(
                    config.maildir_path(), config.email.sender, config.smtp_url, config.environment
                ),
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
        """Run one outlet's crawl, in a worker or as a child process of its own."""
        if self.stopping.is_set():
            return  # queued before the stop: no new work
        if outlet in self.quarantined:
            logger.warning(
                "crawl %(outlet)s skipped: quarantined (%(why)s); reload the config to retry",
                {"outlet": outlet, "why": self.quarantined[outlet]},
            )
            return
        if self.home is not None:
            self.crawl_in_cluster(outlet, self.home)
        elif self.pool is not None:
            self.crawl_in_worker(outlet, self.pool)
        else:
            self.crawl_in_process(outlet)

    def cluster_wait(self) -> float:
        """Seconds a cluster run may take from its sending to its outcome: waiting for a free
        worker (it expires unstarted after ``crawl_timeout``), its crawl, and a takeover after
        its worker died (``claim_after``, then the crawl again)."""
        config = self.config
        timeout = config.schedule.crawl_timeout
        hard = timeout + config.crawl.timeout + TERMINATE_WAIT
        return timeout + 2 * (hard + config.cluster.claim_after) + 30

    def crawl_in_cluster(self, outlet: str, home: Home) -> None:
        """Send one outlet's run to the cluster's workers and wait for its outcome. A run lost
        with Redis's data is sent again, once. A run abandoned by the workers (each that took it
        died holding it) quarantines its outlet until the config is reloaded."""
        config = self.config
        timeout = config.schedule.crawl_timeout
        wait = self.cluster_wait()
        first = True
        for _ in range(2):
            began = datetime.now(UTC)
            started = time.monotonic()
            db = self.open()
            try:
                run_id = start_run(db, outlet, began, cluster=True)
            finally:
                db.close()
            try:
                future = home.send(run_id, outlet, timeout, time.time() + timeout, patience=30)
                outcome = future.result(timeout=wait)
            except RedisError as exc:
                outcome = {"error": f"not sent: Redis unreachable ({exc})"}
            except FutureTimeout:
                home.forget(run_id)
                outcome = {"error": f"unheard: no worker answered within {format_duration(wait)}"}
            if "stopped" in outcome:
                return  # left open: its outcome waits in Redis for the next monitor
            # Read now, not at the start: APScheduler may say when a job was due only after
            # the job has begun.
            lag = self.lag_of(outlet, began) if first else None
            first = False
            db = self.open()
            try:
                run = outcome if "id" in outcome else None
                if run is None:
                    why = str(outcome.get("error") or outcome.get("lost"))
                    run = close_cluster_run(
                        db, run_id, FAILED, worker="", reason=why, stats={}, lag=lag
                    )
                elif lag is not None:
                    db.table("crawl_runs").update(run_id, {"lag": round(lag, 3)})
                if run is not None:
                    log_run(run, time.monotonic() - started)
                abandoned = run is not None and str(run["reason"]).startswith(ABANDONED)
                if abandoned:
                    why = f"its runs killed {MAX_DELIVERIES} crawl workers in a row"
                    change = self.quarantine(db, outlet, why)
                else:
                    change = check_outlet(db, config, outlet)
            finally:
                db.close()
            self.tell_operator(change)
            if "lost" not in outcome or self.stopping.is_set():
                return

    def quarantine(self, db: Database, outlet: str, why: str) -> HealthChange | None:
        """Run ``outlet`` no more until the config is reloaded; say so, and mark it unhealthy
        (the operator is told)."""
        self.quarantined[outlet] = why
        logger.error("Outlet %(outlet)s quarantined: %(why)s", {"outlet": outlet, "why": why})
        return quarantine(db, self.config, outlet, why)

    def _settle(self, run: dict[str, Any]) -> None:
        """A cluster run of an earlier monitor, closed now that its outcome came home."""
        log_run(run, 0.0)
        db = self.open()
        try:
            change = check_outlet(db, self.config, run["outlet"])
        finally:
            db.close()
        self.tell_operator(change)

    def warn_if_no_worker(self, home: Home) -> None:
        """Say it when runs wait in Redis and no worker has been heard from lately."""
        if not home.in_flight():
            return
        try:
            workers = home.bus.workers()
        except RedisError:
            return  # the results thread says so
        now = datetime.now(UTC)
        recent = [
            w
            for w in workers
            if not w.get("stopped")
            and (now - datetime.fromisoformat(w["beat"])).total_seconds() < CLUSTER_CHECK
        ]
        if not recent:
            logger.error(
                "No crawl worker heard from in the last %(span)s: %(count)d run(s) wait in Redis; "
                "start `wirewatch worker` on a machine that can reach it",
                {"span": format_duration(CLUSTER_CHECK), "count": home.in_flight()},
            )

    def sweep_unheard(self) -> None:
        """Close the cluster runs of an earlier monitor that no worker answered in time."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.cluster_wait() + 60)
        db = self.open()
        try:
            closed = close_unheard(
                db, cutoff, f"no worker answered within {format_duration(self.cluster_wait())}"
            )
            for run in closed:
                log_run(run, 0.0)
                self.tell_operator(check_outlet(db, self.config, run["outlet"]))
        finally:
            db.close()

    def crawl_in_worker(self, outlet: str, pool: WorkerPool) -> None:
        """Run one outlet's crawl in a long-lived worker. If the worker dies under it, the run
        is recorded as failed and run again; an outlet whose runs kill their worker
        ``QUARANTINE_AFTER`` times in a row is quarantined until the config is reloaded."""
        config = self.config
        timeout = config.schedule.crawl_timeout
        # Closing a run at its deadline waits for the downloads in flight (the page timeout).
        hard = timeout + config.crawl.timeout + TERMINATE_WAIT
        try:
            site = urlsplit(config.outlet(outlet).sources[0]).netloc.lower()
        except (KeyError, IndexError):
            site = ""
        first = True
        while not self.stopping.is_set():
            began = datetime.now(UTC)
            started = time.monotonic()
            outcome = pool.run(outlet, timeout, hard, site)
            duration = time.monotonic() - started
            died = outcome.reason is None
            if outcome.error:
                ended = KILLED if self.stopping.is_set() else None
            elif not died:
                ended = KILLED if outcome.reason == "shutdown" and self.stopping.is_set() else None
            else:
                ended = TIMEOUT if outcome.overdue else KILLED if self.stopping.is_set() else None
            db = self.open()
            try:
                run = settle_run(
                    db,
                    outlet,
                    outcome.pid,
                    began,
                    ended=ended,
                    exit_code=outcome.exit_code if died else 0,
                    error=outcome.error or ("its crawl worker died" if died and not ended else ""),
                    lag=self.lag_of(outlet, began) if first else None,
                )
                first = False
                log_run(run, duration)
                # The outlet's own run died with its worker: run it again (no worker: not its
                # fault, and the next turn comes soon enough).
                retry = died and ended is None and not outcome.error
                if retry:
                    self.strikes[outlet] = self.strikes.get(outlet, 0) + 1
                else:
                    self.strikes.pop(outlet, None)
                if self.strikes.get(outlet, 0) >= QUARANTINE_AFTER:
                    why = f"its runs killed their crawl worker {QUARANTINE_AFTER} times in a row"
                    self.strikes.pop(outlet, None)
                    change = self.quarantine(db, outlet, why)
                    retry = False
                else:
                    change = check_outlet(db, config, outlet)
            finally:
                db.close()
            self.tell_operator(change)
            if not retry:
                return

    def crawl_in_process(self, outlet: str) -> None:
        """Run one outlet's crawl as a child process, within the crawl time limit."""
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
                lag=self.lag_of(outlet, began),
            )
            log_run(run, duration)
            change = check_outlet(db, config, outlet)
        finally:
            db.close()
        self.tell_operator(change)

    def tell_operator(self, change: HealthChange | None) -> None:
        """An outlet's health changed: its operator email goes now, not at notify's turn."""
        if change is not None and self.config.email.operator:
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
        for key in ("max_parallel", "workers"):
            if getattr(config.schedule, key) != getattr(self.config.schedule, key):
                logger.warning("[schedule] %(key)s takes effect at the next restart", {"key": key})
        if config.cluster.redis != self.config.cluster.redis:
            logger.warning("[cluster] redis takes effect at the next restart")
        self.config = config
        if self.pool is not None:
            self.pool.replace(self.command("worker-serve"))
        if self.home is not None:
            self.home.set_watches(config.watches)
        if self.quarantined:
            logger.info(
                "Quarantine lifted: %(outlets)s", {"outlets": ", ".join(sorted(self.quarantined))}
            )
            self.quarantined.clear()
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
        if self.pool is not None:
            self.pool.start()
        if self.home is not None:
            self.home.start()
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
        last_sweep = time.monotonic()  # workers get a while to start before they are missed
        while not self.stopping.wait(1.0):
            if time.monotonic() - last_beat >= HEARTBEAT:
                self.beat(started)
                last_beat = time.monotonic()
            if self.pool is not None:
                self.pool.watch()
            if self.home is not None and time.monotonic() - last_sweep >= CLUSTER_CHECK:
                last_sweep = time.monotonic()
                self.sweep_unheard()
                self.warn_if_no_worker(self.home)
            self.warn_if_behind()
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
        if self.pool is not None:
            running += self.pool.busy()
        if self.home is not None:
            running += self.home.in_flight()
        if running:
            logger.info(
                "Waiting up to %(grace)s for %(count)d running crawl(s)",
                {"grace": format_duration(grace), "count": running},
            )
        while time.monotonic() < deadline:
            with self.lock:
                if (
                    not self.children
                    and (self.pool is None or not self.pool.busy())
                    and (self.home is None or not self.home.in_flight())
                ):
                    break
            time.sleep(0.1)
        if self.pool is not None:
            if self.pool.busy():
                logger.warning(
                    "Terminating crawl workers with %(count)d run(s) in hand",
                    {"count": self.pool.busy()},
                )
            self.pool.stop()
        if self.home is not None:
            if self.home.in_flight():
                logger.warning(
                    "Stopping with %(count)d cluster run(s) unanswered: their workers go on, and "
                    "the next monitor stores what they send",
                    {"count": self.home.in_flight()},
                )
            self.home.stop()
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


@dataclass(frozen=True)
class Outcome:
    """How one run in a worker ended, as the monitor saw it."""

    pid: int
    #: Scrapy's finish reason, from the worker; None when the worker died holding the run.
    reason: str | None
    #: The worker's exit code (negative: the signal) when it died.
    exit_code: int | None = None
    #: The run outlived its hard deadline: the monitor killed its worker.
    overdue: bool = False
    #: Why no worker ran it at all, or "".
    error: str = ""


class WorkerProcess:
    """One ``wirewatch worker-serve`` child and the runs it holds (protocol:
    ``wirewatch/worker.py``)."""

    def __init__(self, command: list[str], on_exit: Callable[[WorkerProcess], None]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # a terminal's Ctrl-C reaches the monitor, not the workers
            preexec_fn=_end_with_parent,
        )
        self.pid = self.process.pid
        self.started = time.monotonic()
        self.pending: dict[str, tuple[Future[Outcome], str]] = {}
        self.lock = threading.Lock()
        self.runs = 0
        self.draining = False
        self.killed_for: str | None = None  # the token of the run that overran, if any
        self.last_beat = time.monotonic()
        self.on_exit = on_exit
        threading.Thread(target=self._read, name=f"worker-{self.pid}", daemon=True).start()

    def send(self, message: dict[str, Any]) -> bool:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False  # it is dying; its reader settles what it held

    def submit(self, token: str, outlet: str, deadline: float) -> Future[Outcome] | None:
        future: Future[Outcome] = Future()
        with self.lock:
            self.pending[token] = (future, outlet)
            self.runs += 1
        if not self.send({"op": "run", "id": token, "outlet": outlet, "deadline": deadline}):
            with self.lock:
                self.pending.pop(token, None)
            return None
        return future

    @property
    def load(self) -> int:
        return len(self.pending)

    def alive(self) -> bool:
        return self.process.poll() is None

    def drain(self) -> None:
        """Finish the runs in hand, take no more, exit."""
        self.draining = True
        self.send({"op": "drain"})

    def kill(self, why: str) -> None:
        logger.warning("Killing crawl worker %(pid)d: %(why)s", {"pid": self.pid, "why": why})
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self.last_beat = time.monotonic()
            if message.get("op") == "done":
                with self.lock:
                    entry = self.pending.pop(str(message.get("id")), None)
                if entry is not None:
                    entry[0].set_result(Outcome(self.pid, str(message.get("reason"))))
        code = self.process.wait()
        with self.lock:
            held, self.pending = dict(self.pending), {}
        for token, (future, _) in held.items():
            future.set_result(Outcome(self.pid, None, code, overdue=token == self.killed_for))
        self.on_exit(self)


class WorkerPool:
    """Long-lived crawl workers: each run goes to the least loaded one. A worker that dies is
    replaced; one that stops beating is killed (its runs then end as failed, for the monitor to
    run again); one that has served ``recycle`` runs is drained and replaced, so no slow leak
    grows for months.

    Workers are started only by the thread that calls :meth:`start` and :meth:`watch` (the
    monitor's main thread): a worker dies with the thread that started it (``PR_SET_PDEATHSIG``
    is per thread), and the main thread lives as long as the monitor.
    """

    def __init__(self, command: list[str], size: int, recycle: int = WORKER_RECYCLE) -> None:
        self.command = command
        self.size = size
        self.recycle = recycle
        self.workers: list[WorkerProcess] = []
        self.lock = threading.Lock()
        self.ready = threading.Condition(self.lock)
        self.stopping = False
        self.tokens = itertools.count(1)
        self.early_deaths = 0  # workers in a row that died within WORKER_START of their start
        self.next_spawn = 0.0

    def start(self) -> None:
        """Start workers until the pool is full (from the monitor's main thread)."""
        with self.lock:
            if self.stopping or time.monotonic() < self.next_spawn:
                return
            while len(self._serving()) < self.size:
                self.workers.append(WorkerProcess(self.command, self._exited))
            self.ready.notify_all()

    def _serving(self) -> list[WorkerProcess]:
        return [w for w in self.workers if not w.draining and w.alive()]

    def _exited(self, worker: WorkerProcess) -> None:
        with self.lock:
            if worker in self.workers:
                self.workers.remove(worker)
            if worker.draining or self.stopping:
                return
            code = worker.process.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            if time.monotonic() - worker.started < WORKER_START and not worker.runs:
                self.early_deaths += 1
                wait = min(60.0, 2.0**self.early_deaths)
                self.next_spawn = time.monotonic() + wait
                logger.error(
                    "Crawl worker %(pid)d could not start (%(how)s); next try in %(wait)s",
                    {"pid": worker.pid, "how": how, "wait": format_duration(wait)},
                )
                return
            self.early_deaths = 0
            logger.error(
                "Crawl worker %(pid)d died (%(how)s); a new one replaces it",
                {"pid": worker.pid, "how": how},
            )

    def run(self, outlet: str, deadline: float, hard_deadline: float, site: str = "") -> Outcome:
        """Run ``outlet`` in a worker and wait for its end. A run not over by ``hard_deadline``
        seconds has stuck its worker: the worker is killed (its other runs are retried). The
        runs of one ``site`` go to one worker, which runs them one at a time; others go to the
        least loaded worker."""
        token = str(next(self.tokens))
        with self.ready:
            self.ready.wait_for(lambda: self._serving() or self.stopping, timeout=WORKER_START)
            serving = self._serving()
            if not serving:
                return Outcome(0, None, error="no crawl worker is running")
            if site:
                serving.sort(key=lambda w: w.pid)
                worker = serving[zlib.crc32(site.encode()) % len(serving)]
            else:
                worker = min(serving, key=lambda w: w.load)
            # Chosen and sent under the lock: no run reaches a worker after its drain (another
            # thread's run might otherwise be told to a worker already draining, which exits
            # without it).
            recycle = worker.runs + 1 >= self.recycle
            if recycle:
                worker.draining = True  # after this run; the main thread starts a fresh one
                logger.info(
                    "Crawl worker %(pid)d has served %(runs)d runs: a fresh one takes its place",
                    {"pid": worker.pid, "runs": worker.runs + 1},
                )
            future = worker.submit(token, outlet, deadline)
            if recycle:
                worker.drain()
        if future is None:
            return Outcome(worker.pid, None, error="its crawl worker did not take the run")
        try:
            return future.result(timeout=hard_deadline)
        except FutureTimeout:
            worker.killed_for = token
            worker.kill(f"a run of {outlet} is {format_duration(hard_deadline)} old")
            return future.result()

    def watch(self, silence: float = WORKER_SILENCE) -> None:
        """Kill workers that stopped beating (a stuck reactor); keep the pool full."""
        now = time.monotonic()
        with self.lock:
            workers = list(self.workers)
        for worker in workers:
            if worker.alive() and now - worker.last_beat > silence:
                worker.kill(f"silent for {format_duration(now - worker.last_beat)}")
        self.start()

    def busy(self) -> int:
        with self.lock:
            return sum(worker.load for worker in self.workers)

    def replace(self, command: list[str]) -> None:
        """New workers for new runs (a reloaded config); the old ones finish theirs and exit."""
        with self.lock:
            self.command = command
            old = [w for w in self.workers if not w.draining]
            for worker in old:
                worker.draining = True
        for worker in old:
            worker.drain()
        self.start()

    def stop(self, wait: float = TERMINATE_WAIT) -> None:
        """Stop every worker: drain, then SIGTERM (runs closed as shutdown), then SIGKILL."""
        with self.ready:
            self.stopping = True
            workers = list(self.workers)
            self.ready.notify_all()
        for worker in workers:
            worker.drain()
        threads = [threading.Thread(target=terminate, args=(w.process, wait)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


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
