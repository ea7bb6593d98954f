"""The single writer of a cluster: articles a second the monitor stores and alerts on.

What the cluster's monitor does for every article a worker sends, measured end to end: read the
results stream from Redis (batches of 10, as workers send them), decode, ``Ingest.store`` with
100 watches (URL lookup, exact and near-duplicate story lookup, insert, band keys, full-text
index, alert matching, the alerts in the article's transaction), the run's counts, the URL keys
copied back to Redis, the acknowledgement, and each run's outcome closing its ``crawl_runs``
row. The archive first holds ``--stored`` synthetic articles (``bench/ingest.py``'s filler);
the articles sent are AEB texts made distinct by a random edit of a third of their words, one in
ten a light copy of an earlier one (a syndicated story). Redis is a redis-server of its own with
its AOF on. The figure to beat is the busiest news monitor's: about a million articles a day,
12 a second.

Usage: ``python bench/writer.py [--stored 100000] [--articles 3000]``; the line goes to stdout
and is appended to ``bench/writer.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cluster.bus import Bus  # noqa: E402
from cluster.home import Home  # noqa: E402
from storage.db import open_db  # noqa: E402
from storage.runs import start_run  # noqa: E402


def _bench(name: str) -> Any:
    """Another benchmark script, loaded by path (``ingest`` is also the package's name)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


filler = _bench("ingest")  # the synthetic archive, the AEB texts, the 100 watches
scale = _bench("scale")  # a redis-server of the benchmark's own

PER_RUN = 30  # articles a run sends (three batches), then its outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000, help="articles already stored")
    parser.add_argument("--articles", type=int, default=3000, help="articles sent home")
    args = parser.parse_args()
    rng = random.Random(16)
    texts = filler.load_texts()
    vocabulary = sorted({word for text in texts for word in text.split() if word.isalpha()})
    config = filler.config_with_watches(vocabulary, rng)
    with tempfile.TemporaryDirectory(prefix="wirewatch-writer-") as folder:
        url = scale.start_redis(Path(folder))
        try:
            db_path = Path(folder) / "writer.db"
            db = open_db(db_path)
            filler.fill(db, 0, args.stored, vocabulary, rng)
            bus = Bus(url)
            bus.ensure_groups()
            sent: list[str] = []
            runs = 0
            for first in range(0, args.articles, PER_RUN):
                run_id = start_run(db, "bench", cluster=True)
                head = {"run": run_id, "outlet": "bench", "worker": "bench:1"}
                runs += 1
                count = min(PER_RUN, args.articles - first)
                batch = []
                for i in range(first, first + count):
                    if sent and i % 10 == 9:
                        text = filler.edit(rng.choice(sent), 0.02, rng, vocabulary)
                    else:
                        text = filler.edit(rng.choice(texts), 0.33, rng, vocabulary)
                    sent.append(text)
                    page = f"https://bench.example/a/{i}"
                    batch.append(
                        {
                            "url": page,
                            "fetched_url": page,
                            "title": text[:60],
                            "author": None,
                            "published": datetime.now(UTC).isoformat(),
                            "language": "en",
                            "sitename": "Bench",
                            "text": text,
                        }
                    )
                for at in range(0, len(batch), 10):  # ten a message, as a worker sends them
                    bus.send({**head, "kind": "articles", "articles": batch[at : at + 10]})
                bus.send(
                    {
                        **head,
                        "kind": "done",
                        "reason": "finished",
                        "stats": {"downloader/response_count": count},
                        "sources": [],
                    }
                )
            db.close()
            home = Home(bus, lambda: open_db(db_path), config.watches, lambda run: None)
            started = time.perf_counter()
            home.start()
            while bus.backlog()["results"]:
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            home.stop()
            db = open_db(db_path)
            stored = db.execute("select count(*) from articles").fetchone()[0] - args.stored
            alerts = db.execute("select count(*) from alerts").fetchone()[0]
            closed = db.execute(
                "select count(*) from crawl_runs where status = 'finished'"
            ).fetchone()[0]
            db.close()
        finally:
            with contextlib.suppress(Exception):
                Bus(url).redis.shutdown(nosave=True)
    rate = args.articles / elapsed
    line = (
        f"single writer, {args.stored:,} stored, 100 watches, Redis with AOF: {args.articles} "
        f"articles in {runs} runs stored in {elapsed:.1f}s = {rate:.0f} articles/s "
        f"({1000 / rate:.1f} ms an article, {rate / 12:.0f}x the 12/s to beat; "
        f"{rate * 86400 / 1e6:.1f}M a day); {stored} articles stored, {alerts} alerts, "
        f"{closed} of {runs} runs closed"
    )
    print(line)
    with open(ROOT / "bench" / "writer.txt", "a", encoding="utf-8") as out:
        out.write(f"{datetime.now(UTC):%Y-%m-%d} {line}\n")


if __name__ == "__main__":
    main()
