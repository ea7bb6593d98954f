"""Publish-to-inbox on 127.0.0.1 (#33), end to end: a real monitor, a real outlet with its
WebSub hub, a real SMTP server; what bench/latency.py's simulation leaves out (the crawl's own
time and delivery).

Two parts, one outlet publishing one story at a time, each about the S-400 that the watch
looks for, with the starter config's politeness (``[crawl] delay = "2s"``, robots.txt obeyed):

- **push**: the outlet's feed names its hub; the monitor (``[websub] callback``, polling at
  ``every = "1h"``) subscribes, and each story is pushed by the hub as it is published. Latency
  is from the hub's delivery (the POST to the callback) to the alert email's arrival at the
  SMTP server.
- **poll**: no hub; the monitor polls at a fixed ``every`` (``--every``, "30s"), the stories
  published at random moments. Latency is from publication to the email, and from the start of
  the run that stored the story (``crawl_runs.started``) to the email: the part a poll costs
  beyond its wait, which the simulation does not have.

CPU: the monitor's and its crawl workers' user+system seconds over each part, per run.

Usage: ``python bench/push.py [--stories 20] [--every 30s]``; the table goes to stdout and
``bench/push.txt``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hub import deliver, verify_intent  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

WORDS = [
    "minister",
    "capital",
    "talks",
    "supply",
    "missile",
    "defence",
    "officials",
    "delegation",
    "treaty",
    "sanctions",
    "contract",
    "delivery",
    "radar",
    "battery",
    "drone",
    "export",
    "import",
    "envoy",
    "summit",
    "parliament",
    "budget",
    "pipeline",
    "border",
    "statement",
    "spokesman",
    "agency",
    "report",
    "source",
    "analyst",
    "navy",
    "exercise",
    "shipment",
    "factory",
    "engineer",
    "training",
    "agreement",
    "dispute",
    "council",
    "vote",
    "embassy",
]


def story_text(name: str) -> list[str]:
    """Six paragraphs of their own for each story (a copy of another story's text would join
    its story and alert no one again), each saying S-400."""
    rng = random.Random(name)
    return [
        f"Moscow offered the S-400 system. {' '.join(rng.choices(WORDS, k=40))}." for _ in range(6)
    ]


class Inbox:
    """aiosmtpd's handler: the arrival time of each message, by subject."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("subject:"):
                self.arrived.setdefault(line.split(":", 1)[1].strip(), time.time())
        return "250 OK"


class Outlet(BaseHTTPRequestHandler):
    """An outlet (feed, stories, robots.txt) and, when ``hub`` is on, its WebSub hub."""

    stories: ClassVar[list[tuple[str, datetime]]] = []
    hub: ClassVar[bool] = False
    base: ClassVar[str] = ""
    subscriptions: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        if self.path == "/feed.xml":
            self._answer(200, feed(), "application/rss+xml")
        elif self.path.startswith("/story/"):
            name = self.path.rsplit("/", 1)[1]
            paragraphs = "".join(f"<p>{sentence}</p>" for sentence in story_text(name))
            body = (
                f"<html><head><title>Story {name}</title></head><body><article>"
                f"<h1>Story {name}</h1>{paragraphs}</article></body></html>"
            )
            self._answer(200, body.encode(), "text/html; charset=utf-8")
        elif self.path == "/robots.txt":
            self._answer(200, b"User-agent: *\nAllow: /\n", "text/plain")
        else:
            self._answer(404, b"", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        self._answer(202, b"", "text/plain")
        threading.Thread(target=verify, args=(form,), daemon=True).start()

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def feed() -> bytes:
    hub = (
        f'<atom:link rel="hub" href="{Outlet.base}/hub"/>'
        f'<atom:link rel="self" href="{Outlet.base}/feed.xml"/>'
        if Outlet.hub
        else ""
    )
    items = "".join(
        f"<item><title>Story {name}</title><link>{Outlet.base}/story/{name}</link>"
        f"<pubDate>{format_datetime(at)}</pubDate></item>"
        for name, at in reversed(Outlet.stories[-20:])
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>Wire</title>{hub}{items}</channel></rss>"
    ).encode()


def verify(form: dict[str, str]) -> None:
    if verify_intent(form, int(form.get("hub.lease_seconds", "86400"))):
        Outlet.subscriptions.append(form)


def push() -> float:
    """The hub delivers the feed to the subscriber, signed; returns when it did."""
    (subscription,) = {s["hub.callback"]: s for s in Outlet.subscriptions}.values()
    _, sent = deliver(subscription["hub.callback"], subscription["hub.secret"], feed())
    return sent


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of ``pid`` and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(child) for child in children]
    return total


def wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def run_part(mode: str, stories: int, every: str, folder: Path, smtp_port: int) -> dict[str, Any]:
    inbox_handler = Inbox()
    controller = Controller(inbox_handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    Outlet.stories = [(f"{mode}-old", datetime.now(UTC) - timedelta(hours=3))]
    Outlet.hub = mode == "push"
    Outlet.subscriptions = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Outlet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Outlet.base = f"http://127.0.0.1:{server.server_address[1]}"
    callback_port = free_port()
    db = folder / f"{mode}.db"
    config = folder / f"{mode}.toml"
    websub = (
        f'[websub]\ncallback = "http://127.0.0.1:{callback_port}/websub"\n'
        f'listen = "127.0.0.1:{callback_port}"\n'
        if mode == "push"
        else ""
    )
    config.write_text(
        f'[storage]\ndatabase = "{db}"\n[crawl]\ndelay = "2s"\n'
        f'[schedule]\nevery = "{"1h" if mode == "push" else every}"\nadaptive = false\n'
        'workers = 1\nnotify = "1h"\n'
        f"{websub}"
        f'[[outlets]]\nname = "wire"\nfeeds = ["{Outlet.base}/feed.xml"]\n'
        '[[watches]]\nname = "S-400"\nquery = "S-400"\nemail = "analyst@example.org"\n'
        'max_age = "10000d"\n',
        encoding="utf-8",
    )
    log = open(folder / f"{mode}.log", "w")  # noqa: SIM115
    monitor = subprocess.Popen(
        [sys.executable, "-m", "wirewatch", "--config", str(config), "run"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={
            **os.environ,
            "WIREWATCH_CONFIG": "",
            "WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        },
    )
    rng = random.Random(33)
    latencies, overheads = [], []
    try:
        wait(lambda: runs_finished(db) >= 1, 120, "the first run")
        if mode == "push":
            wait(lambda: Outlet.subscriptions, 60, "the verified subscription")
        cpu_before, runs_before = cpu_seconds(monitor.pid), runs_finished(db)
        for n in range(stories):
            name = f"{mode}-{n}"
            if mode == "poll":
                time.sleep(rng.uniform(0, 2 * seconds_of(every)))
            Outlet.stories.append((name, datetime.now(UTC)))
            published = push() if mode == "push" else time.time()
            subject = f"[wirewatch] S-400: Story {name}"
            wait(lambda subject=subject: subject in inbox_handler.arrived, 600, subject)
            arrived = inbox_handler.arrived[subject]
            latencies.append(arrived - published)
            overheads.append(arrived - run_start(db, f"Story {name}"))
            time.sleep(1.0)
        cpu = cpu_seconds(monitor.pid) - cpu_before
        runs = runs_finished(db) - runs_before
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=120)
        log.close()
        server.shutdown()
        server.server_close()
        controller.stop()
    return {"latency": latencies, "overhead": overheads, "cpu": cpu, "runs": runs}


def seconds_of(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


def runs_finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(
                conn.execute(
                    "select count(*) from crawl_runs where finished is not null"
                ).fetchone()[0]
            )
    except sqlite3.OperationalError:
        return 0


def run_start(db: Path, title: str) -> float:
    """When the run that stored the article titled ``title`` started (epoch seconds)."""
    with sqlite3.connect(db, timeout=30) as conn:
        first_seen = conn.execute(
            "select first_seen from articles where title = ?", [title]
        ).fetchone()[0]
        (started,) = conn.execute(
            "select max(started) from crawl_runs where started <= ?", [first_seen]
        ).fetchone()
    return datetime.fromisoformat(started).timestamp()


def quantiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=20)
    parser.add_argument("--every", default="30s", help="the poll part's fixed interval")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("push", "poll"):
            results[mode] = run_part(mode, args.stories, args.every, Path(tmp), free_port())
            print(f"{mode}: done", file=sys.stderr, flush=True)
    lines = [
        f'{args.stories} stories a part, one outlet on 127.0.0.1, [crawl] delay = "2s", '
        f'robots.txt obeyed, 1 crawl worker; poll part at every = "{args.every}" (fixed)',
        "",
        "part | latency p50 | p95 | max | run start to inbox p50 | p95 | CPU per run",
        "---|---|---|---|---|---|---",
    ]
    for mode, what in (("push", "hub's delivery to inbox"), ("poll", "publication to inbox")):
        result = results[mode]
        p50, p95, top = quantiles(result["latency"])
        o50, o95, _ = quantiles(result["overhead"])
        cpu = result["cpu"] / max(1, result["runs"])
        lines.append(
            f"{mode} ({what}) | {p50:.1f} s | {p95:.1f} s | {top:.1f} s | {o50:.1f} s | "
            f"{o95:.1f} s | {cpu:.2f} s ({result['runs']} runs)"
        )
    report = "\n".join(lines)
    print(report)
    if argv is None and args.stories == parser.get_default("stories"):
        (ROOT / "bench" / "push.txt").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
