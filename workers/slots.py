"""The per-site slot: two runs of one site (a source's host and port) never crawl at once, so the
site's ``delay`` and ``concurrency_per_domain`` hold as for one run (as Scrapy's downloader
``Slot`` does for the requests of one crawler).

Three places keep it, each with this object: the pool sends the runs of one site to one worker
(:func:`route`); a worker starts a run only when it can take the slots of all its sites
(:class:`Slots`); a cluster worker also holds a Redis lock per site, so that the rule holds
across machines (``workers.cluster.ClusterSlots``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


def site_of(url: str) -> str:
    """A source's site: its host and port, lower case."""
    return urlsplit(url).netloc.lower()


def sites_of(sources: Iterable[str]) -> frozenset[str]:
    return frozenset(site_of(url) for url in sources)


def route(site: str, workers: Sequence[T]) -> T:
    """The worker of ``workers`` (in a stable order) that takes the runs of ``site``."""
    return workers[zlib.crc32(site.encode()) % len(workers)]


class Slots:
    """Which run holds each site in this worker."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}  # site -> the token of the run that holds it

    def take(self, token: str, sites: frozenset[str]) -> bool:
        """Take ``sites`` for the run ``token`` if no other run holds one of them."""
        if sites & self.holders.keys():
            return False
        self.holders.update(dict.fromkeys(sites, token))
        return True

    def release(self, token: str) -> None:
        for site in [site for site, holder in self.holders.items() if holder == token]:
            del self.holders[site]
