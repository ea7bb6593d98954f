"""One monitor per database (#31): a second ``wirewatch run`` on it is refused with the first's
host and PID, and a database deleted or replaced under a running monitor stops it loudly
rather than start an empty archive and send every alert again. Real processes, real files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from storage.runs import FINISHED
from tests.support.daemons import Daemon, runs, schedule, wait_for
from tests.support.site import ROOT, SITE, outlets_config
from wirewatch.localsite import serve_folder


def started(tmp_path: Path, base: str) -> tuple[Path, Daemon]:
    config = tmp_path / "wirewatch.toml"
    config.write_text(outlets_config(base, tmp_path / "w.db", schedule("1h", workers="1")))
    daemon = Daemon(config)
    wait_for(
        lambda: len({r["outlet"] for r in runs(tmp_path / "w.db") if r["status"] == FINISHED}) == 4,
        90,
        "every outlet's first run",
    )
    return config, daemon


def test_a_second_monitor_on_one_database_is_refused_with_the_first_ones_host_and_pid(tmp_path):
    with serve_folder(SITE) as base:
        config, first = started(tmp_path, base)
        try:
            second = subprocess.run(
                [sys.executable, "-m", "wirewatch", "--config", str(config), "run"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "WIREWATCH_CONFIG": ""},
            )
        finally:
            first.stop()
    assert second.returncode == 2, second.stderr  # as for any error the CLI names
    assert f"another monitor runs on {tmp_path / 'w.db'}" in second.stderr
    assert f"host {socket.gethostname()}, pid {first.process.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.process.returncode == 0, first.log
    # Once the first has stopped, the claim is free again.
    with serve_folder(SITE) as base:
        config.write_text(outlets_config(base, tmp_path / "w.db", schedule("1h", workers="1")))
        again = Daemon(config)
        wait_for(lambda: "Monitoring 4 outlet(s)" in again.log, 60, "the next monitor")
        again.stop()
    assert again.process.returncode == 0, again.log


def test_a_database_deleted_under_a_running_monitor_stops_it_loudly(tmp_path):
    db = tmp_path / "w.db"
    with serve_folder(SITE) as base:
        _, daemon = started(tmp_path, base)
        try:
            for path in tmp_path.glob("w.db*"):
                if not path.name.endswith(".monitor"):
                    path.unlink()
            daemon.process.wait(timeout=60)
        finally:
            daemon.stop()
    assert daemon.process.returncode == 1, daemon.log
    assert (
        f"CRITICAL wirewatch.scheduler: Stopping: {db} was deleted under the running" in daemon.log
    )
    assert not db.exists()  # no empty archive in its place
    assert "Traceback" not in daemon.log


def test_a_database_replaced_under_a_running_monitor_stops_it_loudly(tmp_path):
    db = tmp_path / "w.db"
    with serve_folder(SITE) as base:
        _, daemon = started(tmp_path, base)
        try:
            shutil.copy(db, tmp_path / "copy.db")
            os.replace(tmp_path / "copy.db", db)
            daemon.process.wait(timeout=60)
        finally:
            daemon.stop()
    assert daemon.process.returncode == 1, daemon.log
    assert f"{db} was replaced by another file under the running monitor" in daemon.log
    assert "Traceback" not in daemon.log
