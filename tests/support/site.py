"""The fixture outlets, the five seed stories, and the real ``wirewatch`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wirewatch.demo import fixture_config

ROOT = Path(__file__).resolve().parents[2]

FIXTURES = ROOT / "tests" / "fixtures"

SITE = FIXTURES / "site"


# The five seed stories: fixture page -> expected clean text, with lines of their chrome that
# must never reach the stored text.
PAGES = {
    "almayadeen-ryabkov-2023": (
        "almayadeen/news/politics/russia-iran-military-cooperation-observing-international-law.html",
        [
            "Read more",
            "Direct clash between Russia, NATO possible",
            "Share",
            "Most Read",
            "cookies",
            "All rights reserved",
            "Russia-Iran trade hits record high",
        ],
    ),
    "tehrantimes-lavrov-2025": (
        "tehrantimes/news/517845-russia-voices-commitment.html",
        ["Date archive", "Search", "Related News", "Creative Commons", "Newsletter"],
    ),
    "presstv-lavrov-2020": (
        "presstv/Detail/2020/11/10/638304-russia-iran-military-cooperation-lavrov.html",
        ["Latest News", "alternate addresses", "Venezuela boosts", "Share", "Telegram"],
    ),
    "presstv-ryabkov-2020": (
        "presstv/Detail/2020/10/18/636839-russia-iran-cooperation-embargo-ends.html",
        ["Latest News", "alternate addresses", "Ma'rib", "Share"],
    ),
    "ifpnews-mikheev-2021": (
        "ifpnews/russian-exporter-continue-military-cooperation-iran.html",
        [
            "Recent Posts",
            "Published by",
            "Share",
            "Media Wire section",
            "14 minutes ago",
            "Iran FM warns of Israel plot",
            "Zero enrichment",
        ],
    ),
}


def expected_text(name: str) -> str:
    return (FIXTURES / "expected" / f"{name}.txt").read_text(encoding="utf-8")


def normal(text: str) -> str:
    """Whitespace-insensitive form for comparing texts."""
    return " ".join(text.split())


def outlets_config(base: str, database: Path, extra: str = "") -> str:
    """A config whose outlets are the fixture outlets served at ``base`` (the demo's)."""
    return fixture_config(base, database, extra)


def wirewatch(*args: str, cwd: Path | None = None, timeout: float = 120, **env: str):
    """Run the real ``wirewatch`` command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "wirewatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, **env},
    )


def crawl_with_hosts(
    config: Path, outlets: list[str], hosts: dict[str, str], **settings: object
) -> dict:
    """Run the named outlets' crawls in a child process, the test's names resolving to
    ``hosts`` (the WIREWATCH_RESOLVE setting), with more Scrapy ``settings``; returns
    {outlet: stats}."""
    overrides = {"WIREWATCH_RESOLVE": hosts, **settings}
    code = (
        "import json, sys; from pathlib import Path; from wirewatch.crawl import run_crawls\n"
        "from wirewatch.config import load_config\n"
        f"path = Path({str(config)!r})\n"
        f"found = run_crawls({outlets!r}, load_config(path), path, None, 'WARNING', {overrides!r})\n"
        "print(json.dumps({s.outlet: s.stats for s in found}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])
