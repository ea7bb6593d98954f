"""Publish-to-poll latency, fixed against adaptive polling (#33), on simulated outlets.

A simulation, in simulated time, of the monitor's schedule with the real pacing code
(``monitor.rhythm``: ``arrival_rate``, ``paces``, ``burst``): outlets publish at rates drawn
from real ones (50 a day, 10 a day, 1 a day, 1 a week; Poisson), and one class publishes 2 a
day with a burst of 20 articles within two hours on one day (breaking news). Each outlet has
history before the measured two weeks: two weeks, or its feed's last 20 dated items where they
reach further back, as a first crawl stores them. Polled at ``[schedule] every`` ("15m")
for every outlet (fixed), or at the paces ``monitor.rhythm`` gives (adaptive: recomputed
hourly from each outlet's last 50 articles, a burst at ``min_every`` for an hour), with a
random phase each. Latency is from publication to the first poll after it; a crawl's own
duration and delivery (which follows each article's store at once) are not in it. Requests
are polls.

What it does not measure: real HTTP, the crawl's time per poll, CPU per run (a quiet poll is
one conditional GET). bench/push.py measures those end to end on 127.0.0.1, pushed and polled;
bench/crawl.py and bench/throughput.py at scale.

Usage: ``python bench/latency.py [--outlets 20] [--seed 33]``; prints a table per rate class
and keeps it in ``bench/latency.txt``.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.rhythm import BURST_FOR, Pace, arrival_rate, burst, paces  # noqa: E402
from wirewatch.config import parse_config  # noqa: E402

DAY = 86400.0
START = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = 14 * DAY
MEASURED = 14 * DAY
CLASSES = {"50/day": 50 / DAY, "10/day": 10 / DAY, "1/day": 1 / DAY, "1/week": 1 / (7 * DAY)}
BURSTY = "2/day+burst"


#: Items a feed lists, dated, at the first crawl: an outlet's history reaches back that far.
FEED_ITEMS = 20


def publications(rng: random.Random, rate: float, bursty: bool) -> list[float]:
    """Publication times (seconds from START, negative before it) over the measured weeks and
    the history before them: two weeks, or the feed's last ``FEED_ITEMS`` items where those
    reach further back (a weekly outlet's feed holds months)."""
    back = [HISTORY - rng.expovariate(rate)]
    while len(back) < FEED_ITEMS or back[-1] > 0:
        back.append(back[-1] - rng.expovariate(rate))
    times, now = sorted(back), HISTORY
    while True:
        now += rng.expovariate(rate)
        if now >= HISTORY + MEASURED:
            break
        times.append(now)
    if bursty:
        at = HISTORY + rng.uniform(2, 12) * DAY
        times += [at + rng.uniform(0, 2 * 3600) for _ in range(20)]
    return sorted(times)


def simulate(outlets: dict[str, list[float]], adaptive: bool, every: float = 900.0) -> dict:
    names = list(outlets)
    config = parse_config(
        f'[schedule]\nevery = "{int(every)}s"\nadaptive = {"true" if adaptive else "false"}\n'
        + "".join(f'[[outlets]]\nname = "{n}"\nfeeds = ["https://{n}.example/f"]\n' for n in names)
    )
    rng = random.Random(7)
    found: dict[str, int] = dict.fromkeys(names, 0)  # articles already polled
    seen: dict[str, list[tuple[float, float]]] = {n: [] for n in names}  # (published, seen)
    pace: dict[str, Pace] = {n: Pace(every, "") for n in names}
    bursting: dict[str, float] = {}
    latencies: dict[str, list[float]] = {n: [] for n in names}
    polls: dict[str, int] = dict.fromkeys(names, 0)
    queue = [(rng.uniform(0, every), n) for n in names]
    heapq.heapify(queue)
    next_pacing = 0.0
    while queue:
        now, name = heapq.heappop(queue)
        if now >= HISTORY + MEASURED:
            continue
        if adaptive and now >= next_pacing:
            moment = START + timedelta(seconds=now)
            rates = {
                n: arrival_rate(
                    [
                        (
                            (START + timedelta(seconds=p)).isoformat(),
                            (START + timedelta(seconds=s)).isoformat(),
                        )
                        for p, s in seen[n][-50:]
                    ],
                    moment,
                )
                for n in names
            }
            pace = paces(config, rates)
            next_pacing = now + 3600
        times = outlets[name]
        upto = bisect.bisect_right(times, now)
        new = times[found[name] : upto]
        found[name] = upto
        seen[name] += [(p, now) for p in new]
        if now >= HISTORY:
            polls[name] += 1
            latencies[name] += [now - p for p in new if p >= HISTORY]
        interval = pace[name].seconds
        if adaptive:
            if bursting.get(name, 0) > now:
                interval = config.schedule.min_every
            elif (fast := burst(pace[name], len(new), config)) is not None:
                bursting[name] = now + BURST_FOR
                interval = fast.seconds
        heapq.heappush(queue, (now + interval, name))
    return {"latencies": latencies, "polls": polls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=20, help="outlets per rate class (20)")
    parser.add_argument("--seed", type=int, default=33)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outlets: dict[str, list[float]] = {}
    kind: dict[str, str] = {}
    for label, rate in [*CLASSES.items(), (BURSTY, 2 / DAY)]:
        for n in range(args.outlets):
            name = f"{label.replace('/', '-').replace('+', '-')}-{n}"
            outlets[name] = publications(rng, rate, label == BURSTY)
            kind[name] = label
    runs = {mode: simulate(outlets, mode == "adaptive") for mode in ("fixed", "adaptive")}
    lines = [
        f"{args.outlets} outlets per class, 2 weeks of history then 2 measured weeks, simulated;"
        ' [schedule] every = "15m", min_every = "2m", max_every = "2h"',
        "",
        "class | mode | articles | latency p50 | latency p95 | polls a day an outlet "
        "| polls per new article",
        "---|---|---|---|---|---|---",
    ]
    totals = {}
    for label in [*CLASSES, BURSTY]:
        for mode, run in runs.items():
            names = [n for n in outlets if kind[n] == label]
            waits = sorted(w for n in names for w in run["latencies"][n])
            polls = sum(run["polls"][n] for n in names)
            totals.setdefault(mode, [0, 0])
            totals[mode][0] += polls
            totals[mode][1] += len(waits)
            p50 = statistics.median(waits) / 60 if waits else 0
            p95 = waits[int(0.95 * (len(waits) - 1))] / 60 if waits else 0
            per_day = polls / len(names) / (MEASURED / DAY)
            per_article = polls / len(waits) if waits else float("inf")
            lines.append(
                f"{label} | {mode} | {len(waits):,} | {p50:.1f} min | {p95:.1f} min "
                f"| {per_day:.0f} | {per_article:.1f}"
            )
    lines.append("")
    for mode, (polls, articles) in totals.items():
        waits = sorted(w for ws in runs[mode]["latencies"].values() for w in ws)
        p50, p95 = statistics.median(waits) / 60, waits[int(0.95 * (len(waits) - 1))] / 60
        lines.append(
            f"all, {mode}: {polls:,} polls for {articles:,} new articles; latency p50 "
            f"{p50:.1f} min, p95 {p95:.1f} min"
        )
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "latency.txt").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
