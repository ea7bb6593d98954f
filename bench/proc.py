"""Run a command and measure it: wall time, stdout, and its own peak resident memory.

The peak is the process's ``VmHWM`` from ``/proc/PID/status``, read every few milliseconds while
it runs (the high-water mark only grows, so the last reading is the peak up to that moment).
``ru_maxrss`` from ``wait4`` or ``RUSAGE_CHILDREN`` is not used: Linux carries the parent's
resident set at fork into the child's maximum, so a benchmark holding its corpus in memory
would see that memory charged to the process it measures.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    seconds: float
    stdout: str
    peak_mb: float
    #: user + system CPU seconds of the process and the children it waited for (its workers):
    #: less sensitive than wall time to other work on a shared machine.
    cpu_seconds: float = 0.0


def high_water_kb(pid: int) -> int | None:
    """The process's resident-set high-water mark in kB, or None once it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_measured(command: list[str], cwd: Path, interval: float = 0.02) -> Measured:
    """Run ``command`` to its end; raise CalledProcessError if it fails."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out)
        peak = 0
        while True:
            peak = max(peak, high_water_kb(process.pid) or 0)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(interval)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
        out.seek(0)
        return Measured(seconds, out.read(), peak / 1024, usage.ru_utime + usage.ru_stime)
