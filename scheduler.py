"""The monitor: crawl every configured outlet on its schedule, each crawl in its own process.

Reads ``[schedule]`` (``every``, ``jitter``, ``crawl_timeout``, ``max_parallel``) and each
outlet's ``every`` or ``cron``. Jobs are built from the config at start (no persisted job store):
one per outlet, never two runs of one outlet at once, missed runs coalesced into one. A crawl
that outlives ``crawl_timeout`` is terminated, and one that crashes is logged; neither stops the
monitor. Run it as ``wirewatch run`` or ``python scheduler.py [--config FILE]``.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from storage.db import open_db
from storage.runs import close_abandoned
from wirewatch.config import Config, OutletConfig

logger = logging.getLogger("wirewatch.scheduler")


class Monitor:
    """Schedules and runs the crawls of one config."""

    def __init__(self, config: Config, config_file: Path, db: str | None = None) -> None:
        self.config = config
        self.config_file = Path(config_file).resolve()
        self.db = db
        self.scheduler = BlockingScheduler(
            executors={
                "default": ThreadPoolExecutor(config.schedule.max_parallel),
                # Alert delivery never waits behind crawls.
                "notify": ThreadPoolExecutor(1),
            },
            timezone=UTC,
        )

    def trigger_for(self, outlet: OutletConfig) -> tuple[BaseTrigger, float]:
        """The outlet's trigger and its nominal interval in seconds (for the misfire grace)."""
        jitter = int(self.config.schedule.jitter) or None
        if outlet.cron:
            trigger = CronTrigger.from_crontab(outlet.cron, timezone=UTC)
            return trigger, 60.0
        every = outlet.every or self.config.schedule.every
        return IntervalTrigger(seconds=every, jitter=jitter, timezone=UTC), every

    def command(self, *args: str) -> list[str]:
        """A ``wirewatch`` command line on this monitor's config and database."""
        command = [sys.executable, "-m", "wirewatch", "--config", str(self.config_file)]
        if self.db:
            command += ["--db", self.db]
        return [*command, *args]

    def crawl_command(self, outlet: str) -> list[str]:
        return self.command("crawl", outlet)

    def notify(self) -> None:
        """Deliver due alerts (``wirewatch notify``) in a child process."""
        timeout = max(60.0, self.config.schedule.notify * 10)
        try:
            result = subprocess.run(
                self.command("notify"), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            logger.error("notify timed out after %(timeout).0fs", {"timeout": timeout})
            return
        if result.returncode:
            logger.error(
                "notify failed (exit %(code)d): %(error)s",
                {"code": result.returncode, "error": result.stderr.strip()[-500:]},
            )
        elif not result.stdout.startswith("0 email(s) sent"):
            logger.info("notify: %(summary)s", {"summary": result.stdout.strip()})

    def crawl(self, outlet: str) -> None:
        """Run one outlet's crawl as a child process, within the crawl time limit."""
        started = time.monotonic()
        timeout = self.config.schedule.crawl_timeout
        try:
            result = subprocess.run(
                self.crawl_command(outlet), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            logger.error(
                "Crawl of %(outlet)s timed out after %(timeout).0fs and was terminated",
                {"outlet": outlet, "timeout": timeout},
            )
            return
        duration = time.monotonic() - started
        summary = result.stdout.strip().splitlines()[-1:] or [""]
        if result.returncode:
            logger.error(
                "Crawl of %(outlet)s failed (exit %(code)d) after %(duration).1fs: %(error)s",
                {
                    "outlet": outlet,
                    "code": result.returncode,
                    "duration": duration,
                    "error": result.stderr.strip()[-500:],
                },
            )
        else:
            logger.info(
                "Crawled %(outlet)s in %(duration).1fs: %(summary)s",
                {"outlet": outlet, "duration": duration, "summary": summary[0]},
            )

    def schedule(self) -> None:
        now = datetime.now(UTC)
        for outlet in self.config.outlets:
            trigger, interval = self.trigger_for(outlet)
            self.scheduler.add_job(
                self.crawl,
                trigger,
                args=[outlet.name],
                id=f"crawl:{outlet.name}",
                name=f"crawl {outlet.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                next_run_time=now,
            )
        if self.config.watches:
            every = self.config.schedule.notify
            self.scheduler.add_job(
                self.notify,
                IntervalTrigger(seconds=every, timezone=UTC),
                id="notify",
                name="notify",
                executor="notify",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(every)),
                next_run_time=now,
            )

    def run(self) -> None:
        """Schedule every outlet and block until SIGINT or SIGTERM."""
        db = open_db(self.config.database_path(self.db), self.config.storage.busy_timeout)
        abandoned = close_abandoned(db)
        db.close()
        if abandoned:
            logger.warning(
                "%(count)d crawl run(s) left open by a dead process marked killed",
                {"count": abandoned},
            )
        self.schedule()

        def stop(signum: int, frame: FrameType | None) -> None:
            logger.info("Stopping on signal %(signal)d", {"signal": signum})
            self.scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info(
            "Monitoring %(count)d outlet(s) from %(config)s",
            {"count": len(self.config.outlets), "config": self.config_file},
        )
        self.scheduler.start()


if __name__ == "__main__":
    from wirewatch.cli import main

    sys.argv.append("run")
    main()
