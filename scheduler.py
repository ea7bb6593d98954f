"""The monitor: crawl every configured outlet on its schedule, in long-lived crawl workers.

Jobs are built from the config at start and again on reload (no persisted job store):

* one per outlet, from its ``every`` or ``cron`` (else ``[schedule] every``), with
  ``[schedule] jitter``; never two runs of one outlet at once, missed runs coalesced into one,
  a misfire grace as long as the interval. At start, an outlet whose last run in
  ``crawl_runs`` is older than its interval is overdue and runs at once, the most overdue first;
  the others keep their cadence.
* ``notify`` every ``[schedule] notify`` (alert emails, retries, operator emails), and one job
  per digest watch at its ``at`` time or ``every``, so a digest leaves on time.

Each crawl runs in one of ``[schedule] workers`` long-lived worker processes
(``monitor.backends.LocalPool``; the worker's side is ``workers/serve.py``), at most
``[schedule] max_parallel`` at once. A
run still going at ``crawl_timeout`` is closed by its worker; a worker that dies or goes silent
is replaced, its runs recorded as failed and run again, and an outlet whose runs keep killing
their worker is quarantined. With ``workers = 0`` each crawl is a ``wirewatch crawl OUTLET``
child process instead; one that outlives ``crawl_timeout`` is terminated (SIGTERM, then
SIGKILL). Either way each run has its ``crawl_runs`` row, a log line, and a health check
(``alerts.health``), all by one settle path (``monitor.outcomes``), and the other outlets never
notice.

With ``[cluster] redis`` set, no worker runs here: each due run is opened in ``crawl_runs``
and sent to the cluster's workers through Redis (``cluster/``), and the run's job waits for its
outcome; the articles they send home are stored and matched here, by this process alone. A run
no worker answers in time is closed as failed, and one lost with Redis's data is sent again.

SIGTERM or SIGINT: no new crawl starts, running ones get ``[schedule] grace`` to finish (then
are terminated), due alerts are delivered, and the process exits 0. SIGHUP, or a change to the
config file, reloads the schedule without a restart (an invalid file is logged and ignored).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from alerts.channels import transport
from alerts.health import Change as HealthChange
from alerts.outbox import notify as deliver
from core.errors import DatabaseGone, WirewatchError
from core.units import format_duration
from extractors.dates import isoformat
from monitor.again import Again, Turns
from monitor.backends import Backend, ChildProcesses, Cluster, LocalPool
from monitor.config import Loader, MonitorConfig
from monitor.outcomes import Outcomes
from monitor.planning import HEARTBEAT, Lags, first_runs, plans
from monitor.rhythm import Pacer
from monitor.websub import WebSub
from storage import monitor as heartbeat
from storage.db import open_db, trouble
from storage.monitor import Claim
from storage.runs import close_abandoned, last_run, last_runs, prune_runs
from workers.processes import file_stamp

logger = logging.getLogger("wirewatch.scheduler")


class Monitor:
    """Schedules and runs the crawls of one config."""

    def __init__(
        self, config: MonitorConfig, config_file: Path, load: Loader, db: str | None = None
    ) -> None:
        self.config = config
        self.load = load
        self.config_file = Path(config_file).resolve()
        self.db = db
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.signatures: dict[str, tuple[Any, ...]] = {}
        self.config_stamp = file_stamp(self.config_file)
        self.claim: Claim | None = None  # taken by run(): one monitor per database
        self.failed = False  # stopped by a failure, not a signal: exit 1
        self.lags = Lags()
        self.outcomes = Outcomes(config, self.open, self.tell_operator, self.notify_soon)
        self.websub = WebSub(config, self.open, self.pushed)
        self.turns = Turns()  # one run of an outlet at a time; asked meanwhile, once more
        self.pacer = Pacer()
        self.jobs_lock = threading.Lock()  # the schedule is rebuilt from two threads
        self.backend: Backend
        # Delivery is asked for the moment a run's alerts are committed, and again as the run
        # ends (its settle); a request while delivery runs makes it run once more.
        self.delivery = Again(self._notify, self._notify_now)
        if config.cluster.redis:
            self.backend = Cluster(config, self.open, self.outcomes.settled, self.notify_soon)
        elif config.schedule.workers:
            self.backend = LocalPool(config, self.command, self.notify_soon)
        else:
            self.backend = ChildProcesses(self.command)
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
            # The earliest, if runs were coalesced.
            self.lags.submitted(event.job_id, event.scheduled_run_times[0])

    def command(self, *args: str) -> list[str]:
        """A ``wirewatch`` command line on this monitor's config and database."""
        command = [sys.executable, "-m", "wirewatch", "--config", str(self.config_file)]
        if self.db:
            command += ["--db", self.db]
        return [*command, *args]

    def open(self) -> Any:
        """The database; raises DatabaseGone once it is no longer the file this monitor
        claimed (never a new empty one in its place)."""
        if self.claim is not None:
            self.claim.check()
        return open_db(self.config.database_path(self.db), self.config.storage.busy_timeout)

    # -- jobs ----------------------------------------------------------------------------------

    def notify(self) -> None:
        """Deliver due alerts and operator emails (what ``wirewatch notify`` does); again
        while :meth:`notify_soon` asked for it during a delivery."""
        self.delivery.run(self.stopping.is_set)

    def _notify(self) -> None:
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

    def prune(self) -> None:
        """Keep ``crawl_runs`` to ``[storage] keep_runs``, with daily counts beyond it."""
        before = datetime.now(UTC) - timedelta(seconds=self.config.storage.keep_runs)
        try:
            db = self.open()
            try:
                pruned = prune_runs(db, before)
            finally:
                db.close()
        except (sqlite3.Error, WirewatchError) as exc:
            logger.error("Pruning crawl_runs failed: %(error)s", {"error": exc})
            return
        if pruned:
            logger.info(
                "Pruned %(count)d crawl run(s) older than %(keep)s (daily counts kept)",
                {"count": pruned, "keep": format_duration(self.config.storage.keep_runs)},
            )

    def crawl(self, outlet: str, scheduled: bool = True) -> None:
        """Run one outlet's crawl on the backend, and settle it; again while the outcome says
        so (its worker died under it, Redis lost it), or while a push (or its schedule) asked
        for it during the run: one outlet's runs never overlap, and none asked for is lost.
        ``scheduled``: its job's turn (else a push), for the lag."""
        if not self.turns.take(outlet):
            return
        try:
            while True:
                try:
                    self._crawl(outlet, scheduled)
                except DatabaseGone as exc:
                    logger.error(
                        "crawl %(outlet)s not recorded: %(error)s", {"outlet": outlet, "error": exc}
                    )
                except sqlite3.Error as exc:
                    logger.error(
                        "crawl %(outlet)s not recorded: %(error)s",
                        {"outlet": outlet, "error": trouble(exc) or exc},
                    )
                if not self.turns.again(outlet) or self.stopping.is_set():
                    return
                scheduled = False
        finally:
            self.turns.release(outlet)

    def _crawl(self, outlet: str, scheduled: bool = True) -> None:
        if self.stopping.is_set():
            return  # queued before the stop: no new work
        why = self.outcomes.quarantined.get(outlet)
        if why is not None:
            logger.warning(
                "crawl %(outlet)s skipped: quarantined (%(why)s); reload the config to retry",
                {"outlet": outlet, "why": why},
            )
            return
        for attempt in itertools.count():
            began = datetime.now(UTC)
            started = time.monotonic()
            outcome = self.backend.run(outlet, self.config.schedule.crawl_timeout)
            if outcome.left_open:
                return  # its outcome waits in Redis for the next monitor
            # Read now, not at the start: APScheduler may say when a job was due only after
            # the job has begun.
            lag = self.lags.lag_of(outlet, began) if attempt == 0 and scheduled else None
            again = self.outcomes.settle(
                outlet,
                outcome,
                began,
                time.monotonic() - started,
                lag=lag,
                stopping=self.stopping.is_set(),
                attempt=attempt,
            )
            if not again or self.stopping.is_set():
                self.after_run(outlet)
                return

    def after_run(self, outlet: str) -> None:
        """Breaking news: an outlet whose run brought a burst of articles is polled at
        ``min_every`` for a while (``monitor.rhythm``)."""
        db = self.open()
        try:
            last = last_run(db, outlet)
            new = int(last["articles_new"] or 0) if last else 0
            pace = self.pacer.after_run(db, self.config, outlet, new, datetime.now(UTC))
        finally:
            db.close()
        self.websub.wake()  # the run may have found a feed's hub
        if pace is not None:
            logger.info(
                "Outlet %(outlet)s polled every %(every)s for an hour: %(why)s",
                {"outlet": outlet, "every": format_duration(round(pace.seconds)), "why": pace.why},
            )
            self.sync_jobs(self.config)

    def tell_operator(self, change: HealthChange | None) -> None:
        """An outlet's health changed: its operator email goes now, not at notify's turn."""
        if change is not None and self.config.email.operator:
            self.notify_soon()

    def notify_soon(self) -> None:
        """Run the notify job now rather than at its next turn (from any thread); if it is
        running, it runs once more when done."""
        self.delivery.soon()

    def _notify_now(self) -> None:
        if self.scheduler.get_job("notify") is not None:
            self.scheduler.modify_job("notify", next_run_time=datetime.now(UTC))

    # -- the schedule --------------------------------------------------------------------------

    def sync_jobs(self, config: MonitorConfig, now: datetime | None = None) -> None:
        """Make the scheduler's jobs those of ``config`` at the outlets' current paces: add,
        reschedule, remove."""
        with self.jobs_lock:
            self._sync_jobs(config, now or datetime.now(UTC))

    def _sync_jobs(self, config: MonitorConfig, now: datetime) -> None:
        db = self.open()
        try:
            last = {name: datetime.fromisoformat(at) for name, at in last_runs(db).items()}
            paces = self.pacer.update(db, config, now)
        finally:
            db.close()
        wanted_plans = plans(config, paces)
        wanted = {plan.job_id for plan in wanted_plans}
        for job_id in list(self.signatures):
            if job_id not in wanted:
                self.scheduler.remove_job(job_id)
                del self.signatures[job_id]
                logger.info("Removed job %(job)s", {"job": job_id})
        starts = first_runs(config, last, now, paces)
        for plan in wanted_plans:
            if self.signatures.get(plan.job_id) == plan.signature:
                continue
            func: Any
            if plan.outlet is not None:
                func, args, executor = self.crawl, [plan.outlet], "default"
                first = starts[plan.outlet]
            elif plan.job_id == "prune":
                func, args, executor, first = self.prune, [], "default", now
            elif plan.job_id == "pace":
                func, args, executor, first = self.repace, [], "default", None
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

    def repace(self) -> None:
        """The outlets' paces again, from the archive as it is now."""
        try:
            self.sync_jobs(self.config)
        except sqlite3.Error as exc:
            logger.error("paces not updated: %(error)s", {"error": trouble(exc) or exc})

    def pushed(self, outlet: str) -> None:
        """A hub pushed an update of the outlet's feed: its run starts now, in a thread of its
        own (no scheduler turn to wait for), or again as soon as the one going ends."""
        if self.turns.defer(outlet) or self.stopping.is_set():
            return
        name = f"push:{outlet}"
        threading.Thread(target=self.crawl, args=[outlet, False], name=name, daemon=True).start()

    def reload(self) -> None:
        """Read the config file again and rebuild the schedule from it; keep it if invalid."""
        self.config_stamp = file_stamp(self.config_file)
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
        self.backend.reload(config)
        self.websub.reload(config)
        self.outcomes.lift(config)
        self.sync_jobs(config)
        logger.info(
            "Config reloaded: %(count)d outlet(s) scheduled", {"count": len(config.outlets)}
        )

    # -- running -------------------------------------------------------------------------------

    def run(self) -> int:
        """Schedule every outlet and run until SIGINT or SIGTERM (exit status 0), or until the
        database is deleted or replaced (1); SIGHUP reloads.

        Raises:
            MonitorRunning: another monitor runs on this database.
        """
        db = self.open()
        try:
            since = isoformat(datetime.now(UTC))
            self.claim = Claim(
                self.config.database_path(self.db),
                f"host {socket.gethostname()}, pid {os.getpid()}, since {since}",
            )
            abandoned = close_abandoned(db)
        finally:
            db.close()
        if abandoned:
            logger.warning(
                "%(count)d crawl run(s) left open by a dead process marked killed",
                {"count": abandoned},
            )
        self.backend.start()
        try:
            self.websub.start()
        except OSError as exc:
            logger.error("WebSub off, polling only: %(error)s", {"error": exc})
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
        claim = self.claim
        assert claim is not None
        while not self.stopping.wait(1.0):
            try:
                claim.check()
            except DatabaseGone as exc:
                logger.critical("Stopping: %(error)s", {"error": exc})
                self.failed = True
                break
            if time.monotonic() - last_beat >= HEARTBEAT:
                self.beat(started)
                last_beat = time.monotonic()
            self.backend.watch()
            self.lags.warn_if_behind()
            if self.reload_requested.is_set() or file_stamp(self.config_file) != self.config_stamp:
                self.reload_requested.clear()
                self.reload()
        self.shutdown()
        return 1 if self.failed else 0

    def shutdown(self) -> None:
        """Stop taking work, give running crawls the grace period, deliver what is due."""
        self.scheduler.pause()
        grace = self.config.schedule.grace
        deadline = time.monotonic() + grace
        running = self.backend.in_flight()
        if running:
            logger.info(
                "Waiting up to %(grace)s for %(count)d running crawl(s)",
                {"grace": format_duration(grace), "count": running},
            )
        while time.monotonic() < deadline and self.backend.in_flight():
            time.sleep(0.1)
        self.backend.stop()
        self.scheduler.shutdown(wait=True)
        self.websub.stop()
        if self.config.watches or self.config.email.operator:
            self.notify()
        try:
            db = self.open()
            try:
                heartbeat.stopped(db, socket.gethostname(), os.getpid())
            finally:
                db.close()
        except (sqlite3.Error, DatabaseGone) as exc:
            logger.warning("Heartbeat not cleared: %(error)s", {"error": exc})
        if self.claim is not None:
            self.claim.release()
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
