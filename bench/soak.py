"""Soak: hundreds of scheduled crawl runs through the real monitor; does its memory stay flat?

Serves the fixture outlets on 127.0.0.1, starts ``wirewatch run`` on them with every
outlet due each second, and samples the monitor process (not its crawl children) every 25
finished runs: resident memory, threads and open files. The first sample is taken after 25
runs, once imports and caches have settled.

Usage: ``python bench/soak.py [--runs 300]``; the table goes to stdout and ``bench/soak.txt``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wirewatch.demo import FIXTURES, fixture_config  # noqa: E402
from wirewatch.localsite import serve_folder  # noqa: E402

STEP = 25


def process_sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def finished_runs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return conn.execute(
                "select count(*) from crawl_runs where finished is not null"
            ).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, serve_folder(FIXTURES) as base:
        db = Path(tmp) / "soak.db"
        config = Path(tmp) / "soak.toml"
        config.write_text(
            fixture_config(base, db).replace('recheck = "0s"', 'recheck = "1000d"')
            + '\n[schedule]\nevery = "1s"\nmax_parallel = 2\ncrawl_timeout = "60s"\n',
            encoding="utf-8",
        )
        log = open(Path(tmp) / "soak.log", "w")  # noqa: SIM115
        monitor = subprocess.Popen(
            [sys.executable, "-m", "wirewatch", "--config", str(config), "run"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "WIREWATCH_CONFIG": ""},
        )
        started = time.monotonic()
        samples: list[tuple[int, float, dict[str, float]]] = []
        target = STEP
        try:
            while target <= args.runs:
                done = finished_runs(db)
                if monitor.poll() is not None:
                    raise SystemExit(f"the monitor exited with {monitor.returncode}")
                if done >= target:
                    sample = process_sample(monitor.pid)
                    samples.append((done, time.monotonic() - started, sample))
                    print(
                        f"{done:5d} runs  {sample['rss_mb']:6.1f} MB  "
                        f"{sample['threads']:3.0f} threads  {sample['fds']:3.0f} fds",
                        file=sys.stderr,
                        flush=True,
                    )
                    target += STEP
                time.sleep(0.5)
        finally:
            monitor.send_signal(signal.SIGTERM)
            monitor.wait(timeout=120)
            log.close()
        with sqlite3.connect(db) as conn:
            statuses = dict(
                conn.execute("select status, count(*) from crawl_runs group by status").fetchall()
            )
            pages, errors = conn.execute(
                "select sum(pages_fetched), sum(errors) from crawl_runs"
            ).fetchone()
            (articles,) = conn.execute("select count(*) from articles").fetchone()
    first, last = samples[0][2], samples[-1][2]
    lines = [
        f"Monitor soak: {samples[-1][0]} crawl runs of 4 fixture outlets every second, "
        f"max_parallel 2, in {samples[-1][1]:.0f} s; run statuses {statuses}; {pages} pages "
        f"fetched, {errors} errors, {articles} articles stored (every run fetches them again: "
        "recheck 1000d)",
        f"{'runs':>5} {'seconds':>8} {'RSS MB':>7} {'threads':>7} {'fds':>4}",
    ]
    for done, seconds, sample in samples:
        lines.append(
            f"{done:5d} {seconds:8.0f} {sample['rss_mb']:7.1f} {sample['threads']:7.0f} "
            f"{sample['fds']:4.0f}"
        )
    growth = (last["rss_mb"] - first["rss_mb"]) / max(1, samples[-1][0] - samples[0][0]) * 100
    lines.append(
        f"RSS {first['rss_mb']:.1f} MB after {samples[0][0]} runs, {last['rss_mb']:.1f} MB after "
        f"{samples[-1][0]}: {growth:+.2f} MB per 100 runs; exit code {monitor.returncode}"
    )
    report = "\n".join(lines)
    print(report)
    if args.runs == parser.get_default("runs"):
        (ROOT / "bench" / "soak.txt").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
