"""Scale: N outlets through the real monitor, with long-lived crawl workers or a process a run.

One fast server (its own process) serves N outlets, each on its own loopback address
(127.1.x.y: a site of its own): each a small RSS feed whose
outlet publishes a new article every 20 to 60 minutes (items older than the outlets' max_age
are listed too, as real feeds do), and the articles themselves. ``wirewatch run`` crawls them
for ``--intervals`` intervals; then the benchmark reads ``crawl_runs`` and /proc:

- runs started, and their lag behind their due time (``crawl_runs.lag``): p50, p95, and the
  share that started within 60 s;
- CPU per run: the monitor's and its workers' user+system CPU over the whole time, divided by
  the runs (nearly all quiet: nothing new);
- peak resident memory of the monitor and of each worker (VmHWM), and the monitor's RSS at the
  end of the first and of the last interval (does it stay flat?);
- articles stored, and whether every article published from the start to an interval before
  the end was mailed: by the end, and after the monitor ran on (``--settle``, one interval by
  default) until it was; an article still missing then is traced (not stored, stored without
  an alert, or an alert unsent) with its outlet's last run. ``--keep DIR`` keeps the database
  and the log.

Usage: ``python bench/scale.py --outlets 1000 --every 90 --intervals 4 [--workers 0]``;
``--workers 0`` is the process-per-run design. ``--cluster N`` runs the workers as a cluster's
instead (#16): a redis-server of its own (AOF on), ``wirewatch worker --processes N`` beside the
monitor, whose CPU and memory are counted with the workers'. A line per case goes to stdout and
is appended to ``bench/scale.txt``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import multiprocessing
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    "minister",
    "talks",
    "sanctions",
    "embargo",
    "cooperation",
    "defence",
    "energy",
    "corridor",
    "grain",
    "oil",
    "banking",
    "drones",
    "missiles",
    "council",
    "vote",
    "summit",
    "envoy",
    "treaty",
    "pipeline",
    "port",
    "tariffs",
    "election",
    "protest",
]


def item_times(outlet: int, now: float, count: int = 6) -> list[tuple[int, float]]:
    """The ``count`` newest items of ``outlet`` at ``now``: (number, publication time)."""
    period = 1200 + (outlet * 7919) % 2400  # a new article every 20 to 60 minutes
    offset = (outlet * 104729) % period
    newest = int((now - offset) // period)
    return [(k, offset + k * period) for k in range(newest, newest - count, -1)]


def article(outlet: int, number: int) -> bytes:
    """An article of its own: no two share enough text to be taken for copies of a story."""
    seed = outlet * 1000003 + number
    pick = random.Random(seed)
    words = [pick.choice(WORDS) + pick.choice(("", "s", "ed", "ing")) for _ in range(240)]
    paragraphs = "".join(
        f"<p>{' '.join(words[i : i + 40]).capitalize()}, said an official ({seed}-{i}).</p>"
        for i in range(0, 240, 40)
    )
    title = f"Outlet {outlet} report {number}: {' '.join(words[:5])}"
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>Share. Recent posts.</footer></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    started = 0.0  # items published before the benchmark started are older than max_age
    etags = True  # feeds answer conditional GET, as most news sites' do

    def do_GET(self) -> None:
        self.extra: dict[str, str] = {}
        parts = self.path.strip("/").split("/")
        body, kind = b"", "text/plain"
        if self.path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
        elif len(parts) == 3 and parts[0] == "o" and parts[2] == "feed.xml":
            body, kind = self.feed(int(parts[1])), "application/rss+xml"
            if self.etags:
                etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.extra = {"ETag": etag}
        elif len(parts) == 4 and parts[0] == "o" and parts[2] == "a":
            body, kind = article(int(parts[1]), int(parts[3].removesuffix(".html"))), "text/html"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        for key, value in self.extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def feed(self, outlet: int) -> bytes:
        host = self.headers["Host"]
        items = []
        for number, published in item_times(outlet, time.time()):
            if published < self.started:
                published -= 10 * 86400  # the back catalogue: older than max_age
            when = format_datetime(datetime.fromtimestamp(published, UTC))
            items.append(
                f"<item><title>Report {number}</title>"
                f"<link>http://{host}/o/{outlet}/a/{number}.html</link>"
                f"<pubDate>{when}</pubDate></item>"
            )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {outlet}</title>'
            f"<link>http://{host}/o/{outlet}/</link>{''.join(items)}</channel></rss>"
        ).encode()

    def log_message(self, format: str, *args: object) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    def verify_request(self, request: object, client_address: tuple[str, int]) -> bool:
        return client_address[0].startswith("127.")


def site(outlet: int) -> str:
    """Outlet ``outlet``'s own loopback address."""
    return f"127.1.{outlet // 250}.{outlet % 250 + 1}"


def serve(port: multiprocessing.connection.Connection, started: float, etags: bool) -> None:
    Handler.started = started
    Handler.etags = etags
    # Every outlet is a site of its own (127.1.x.y, all loopback), as 10,000 outlets are
    # 10,000 sites: wirewatch crawls one site's runs one at a time. Only loopback peers are
    # answered.
    server = LoopbackServer(("0.0.0.0", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    port.send(server.server_address[1])
    server.serve_forever()


def config_text(
    port: int, outlets: int, every: int, workers: int, db: Path, redis: str = ""
) -> str:
    lines = [
        f'[storage]\ndatabase = "{db}"\n',
        '[crawl]\nuser_agent = "wirewatch-bench/0.1 (+https://example.org/bench)"',
        'delay = "0s"\nautothrottle = false\n',
        f'[schedule]\nevery = "{every}s"\nworkers = {workers}\nmax_parallel = 64',
        'crawl_timeout = "60s"\n',
        f'[email]\nmaildir = "{db.parent / "maildir"}"\n',
        # Every article says "said an official": each new one is an alert and an email.
        '[[watches]]\nname = "all"\nquery = "official"\nemail = "analyst@example.org"\n',
    ]
    if redis:
        # As many runs in hand over the cluster's processes as the monitor sends at once.
        lines.append(f'[cluster]\nredis = "{redis}"\nruns = {max(1, 64 // workers)}\n')
    for n in range(outlets):
        lines.append(
            f'[[outlets]]\nname = "o{n}"\nfeeds = ["http://{site(n)}:{port}/o/{n}/feed.xml"]\n'
            'max_age = "1d"\n'
        )
    return "\n".join(lines)


def start_redis(folder: Path) -> str:
    """A redis-server of the benchmark's own (AOF on, as a cluster's should run); its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = ["--bind", "127.0.0.1", "--appendonly", "yes", "--save", ""]
    server = subprocess.Popen(
        ["redis-server", *options, "--port", str(port), "--dir", str(folder)],
        stdout=open(folder / "redis.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    atexit.register(lambda: server.poll() is None and server.terminate())
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                break
        time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


def cpu_seconds(pid: int, own: bool = False) -> float:
    """User + system CPU of ``pid`` and of its children that it has waited for (``own``: of
    ``pid`` alone)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime stime, then cutime cstime
    ticks = sum(int(fields[i]) for i in ((11, 12) if own else (11, 12, 13, 14)))
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_case(
    outlets: int,
    every: int,
    intervals: int,
    workers: int,
    etags: bool,
    settle: float,
    keep: Path | None,
    cluster: int = 0,
) -> str:
    started = time.time()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, started, etags), daemon=True)
    server.start()
    port = parent.recv()
    with tempfile.TemporaryDirectory(prefix="wirewatch-scale-") as folder:
        db = Path(folder) / "scale.db"
        config = Path(folder) / "scale.toml"
        redis_url = start_redis(Path(folder)) if cluster else ""
        config.write_text(config_text(port, outlets, every, cluster or workers, db, redis_url))
        crawlers: subprocess.Popen[bytes] | None = None
        if cluster:
            command = [sys.executable, "-m", "wirewatch", "--config", str(config), "worker"]
            crawlers = subprocess.Popen(
                [*command, "--processes", str(cluster)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(Path(folder) / "workers.log", "w"),  # noqa: SIM115
            )
            atexit.register(lambda: crawlers.poll() is None and crawlers.kill())
        monitor = subprocess.Popen(
            [sys.executable, "-m", "wirewatch", "--config", str(config), "run"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(folder) / "monitor.log", "w"),  # noqa: SIM115
        )
        # Interrupted, the benchmark takes its monitor down (its crawls die with it).
        atexit.register(lambda: monitor.poll() is None and monitor.kill())
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        duration = every * intervals
        worker_cpu: dict[int, float] = {}
        worker_peak: dict[int, int] = {}
        rss_by_interval: list[int] = []
        deadline = time.monotonic() + duration
        next_mark = time.monotonic() + every
        # The cluster's worker processes are the supervisor's children, not the monitor's.
        parents = [monitor.pid] + ([crawlers.pid] if crawlers else [])
        while time.monotonic() < deadline:
            for pid in [child for parent in parents for child in children(parent)]:
                with contextlib.suppress(OSError):
                    worker_cpu[pid] = cpu_seconds(pid)
                worker_peak[pid] = max(worker_peak.get(pid, 0), status_kb(pid, "VmHWM"))
            if time.monotonic() >= next_mark:
                rss_by_interval.append(status_kb(monitor.pid, "VmRSS"))
                next_mark += every
            time.sleep(0.5)
        monitor_peak = status_kb(monitor.pid, "VmHWM")
        total_cpu = cpu_seconds(monitor.pid)
        monitor_cpu = cpu_seconds(monitor.pid, own=True)
        # Workers alive now are not yet in cutime: add their own CPU.
        alive = {child for parent in parents for child in children(parent)}
        total_cpu += sum(cpu for pid, cpu in worker_cpu.items() if pid in alive)
        if crawlers is not None:
            total_cpu += cpu_seconds(crawlers.pid, own=True)
            # The CPU of the cluster's workers that ended (replaced) is the supervisor's.
            total_cpu += cpu_seconds(crawlers.pid) - cpu_seconds(crawlers.pid, own=True)
        # Late is not lost: the monitor runs on (up to ``settle`` seconds) until every article
        # due is mailed; whatever is still missing then is traced below.
        ended = started + duration
        expected = {
            (outlet, number)
            for outlet in range(outlets)
            for number, published in item_times(outlet, ended)
            if started <= published <= ended - every
        }
        settle_until = time.monotonic() + settle
        while (
            not expected <= mailed_items(db, outlets, time.time())
            and time.monotonic() < settle_until
        ):
            time.sleep(5)
        settled = time.time() - ended
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=120)
        if crawlers is not None:
            crawlers.send_signal(signal.SIGTERM)
            crawlers.wait(timeout=120)
        log = (Path(folder) / "monitor.log").read_text(encoding="utf-8", errors="replace")
        if crawlers is not None:
            log += (Path(folder) / "workers.log").read_text(encoding="utf-8", errors="replace")
        behind = log.count("Falling behind")
        errors = sum(" ERROR " in line or " CRITICAL " in line for line in log.splitlines())
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "select lag, status from crawl_runs where started >= ?",
                [datetime.fromtimestamp(started, UTC).isoformat()],
            ).fetchall()
            # Throughput: the runs that started and finished within the measured time.
            (within,) = connection.execute(
                "select count(*) from crawl_runs where started >= ? and finished <= ? "
                "and status = 'finished'",
                [
                    datetime.fromtimestamp(started, UTC).isoformat(),
                    datetime.fromtimestamp(started + duration, UTC).isoformat(),
                ],
            ).fetchone()
            articles = connection.execute("select count(*) from articles").fetchone()[0]
            sent = connection.execute(
                "select articles.url, alerts.sent_at from alerts join articles "
                "on articles.id = alerts.article_id where alerts.sent_at is not null"
            ).fetchall()
        missing = sorted(expected - mailed_items(db, outlets, ended + settled))
        traces = [trace(db, outlet, number) for outlet, number in missing[:20]]
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("scale.db", "scale.toml", "monitor.log", "workers.log"):
                for path in Path(folder).glob(name + "*"):
                    shutil.copy2(path, keep / path.name)
    server.kill()
    # Every item published from the start until an interval before the end must be mailed.
    delays, mailed = [], set()
    for url, sent_at in sent:
        outlet, number = item_of(url)
        published = dict(item_times(outlet, ended, 12)).get(number)
        if published is not None and (outlet, number) in expected:
            sent_time = datetime.fromisoformat(sent_at).timestamp()
            if sent_time <= ended:
                mailed.add((outlet, number))
            delays.append(sent_time - published)
    delays.sort()
    lags = sorted(lag for lag, _ in rows if lag is not None)
    runs = len(rows)
    finished = sum(status == "finished" for _, status in rows)
    due = outlets * intervals  # each outlet due once an interval
    on_time = sum(lag <= 60 for lag in lags)
    p50 = statistics.median(lags) if lags else float("nan")
    p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
    peak_worker = max(worker_peak.values(), default=0) / 1024
    design = f"{workers} workers" if workers else "process per run"
    if cluster:
        design = f"cluster of {cluster} worker process(es) through Redis"
    design += "" if etags else ", feeds without ETag"
    return (
        f"{outlets} outlets every {every}s x{intervals}, {design}: {runs} runs "
        f"({finished} finished) of {due} due, {within / duration:.1f} runs/s finished in the "
        f"measured {duration}s, {on_time / max(due, 1):.0%} of due runs started "
        f"within 60 s; lag p50 {p50:.1f}s p95 {p95:.1f}s; "
        f"CPU {1000 * total_cpu / max(runs, 1):.0f} ms/run "
        f"(monitor {1000 * monitor_cpu / max(runs, 1):.0f}, crawls "
        f"{1000 * (total_cpu - monitor_cpu) / max(runs, 1):.0f}); "
        f"monitor peak {monitor_peak / 1024:.0f} MB, RSS by interval "
        f"{[round(kb / 1024) for kb in rss_by_interval]} MB; worker peak {peak_worker:.0f} MB; "
        f"{articles} articles stored; {len(mailed)} of {len(expected)} articles published "
        f"from the start to an interval before the end mailed, feed to email p50 "
        f"{statistics.median(delays) if delays else float('nan'):.0f}s max "
        f"{max(delays, default=float('nan')):.0f}s; "
        + (
            f"all {len(expected)} mailed by {max(settled, 0):.0f}s after the end, none lost; "
            if not missing
            else f"{len(missing)} never mailed ({settled:.0f}s after the end): "
            f"{'; '.join(traces)}; "
        )
        + f"the log: {behind} 'Falling behind' warnings, {errors} errors"
    )


def item_of(url: str) -> tuple[int, int]:
    """(outlet, number) of an article's URL, ``http://site/o/OUTLET/a/NUMBER.html``."""
    outlet, number = (int(part) for part in url.removesuffix(".html").split("/")[-3::2])
    return outlet, number


def mailed_items(db: Path, outlets: int, until: float) -> set[tuple[int, int]]:
    """The (outlet, number) of every article mailed by ``until``."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        rows = connection.execute(
            "select articles.url from alerts join articles on articles.id = alerts.article_id "
            "where alerts.sent_at is not null and alerts.sent_at <= ?",
            [datetime.fromtimestamp(until, UTC).isoformat()],
        ).fetchall()
    return {item_of(url) for (url,) in rows}


def trace(db: Path, outlet: int, number: int) -> str:
    """Where an article that was never mailed stopped: not stored, stored with no alert, or an
    alert not sent; and its outlet's last run."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        article = connection.execute(
            "select id from articles where url like ?", [f"%/o/{outlet}/a/{number}.html"]
        ).fetchone()
        alert = (
            article
            and connection.execute(
                "select id, sent_at, attempts from alerts where article_id = ?", [article[0]]
            ).fetchone()
        )
        last = connection.execute(
            "select started, status, reason from crawl_runs where outlet = ? "
            "order by started desc limit 1",
            [f"o{outlet}"],
        ).fetchone()
    state = (
        "not stored"
        if not article
        else "stored, no alert"
        if not alert
        else f"alert {alert[0]} sent {alert[1]}"
        if alert[1]
        else f"alert {alert[0]} unsent after {alert[2]} attempts"
    )
    return f"o{outlet}/{number}: {state}; last run {last}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=100)
    parser.add_argument("--every", type=int, default=90, help="seconds between an outlet's runs")
    parser.add_argument("--intervals", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="0: a process per run")
    parser.add_argument("--no-etag", action="store_true", help="feeds without conditional GET")
    parser.add_argument(
        "--settle",
        type=float,
        help="seconds the monitor may run on after the end until every article due is mailed "
        "(default: one interval)",
    )
    parser.add_argument("--keep", type=Path, help="copy the database and the log here")
    parser.add_argument(
        "--cluster",
        type=int,
        default=0,
        help="N: the workers as a cluster's, `wirewatch worker --processes N` through Redis",
    )
    args = parser.parse_args()
    line = run_case(
        args.outlets,
        args.every,
        args.intervals,
        args.workers,
        not args.no_etag,
        args.every if args.settle is None else args.settle,
        args.keep,
        args.cluster,
    )
    print(line)
    with open(ROOT / "bench" / "scale.txt", "a", encoding="utf-8") as out:
        out.write(f"{datetime.now(UTC):%Y-%m-%d} {line}\n")


if __name__ == "__main__":
    main()
