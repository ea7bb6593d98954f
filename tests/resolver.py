"""A Scrapy DNS resolver that answers names a test owns from ``$WIREWATCH_TEST_HOSTS`` (a JSON
object, name -> address) and everything else as the system would: ``feeds.example.test`` can
be 127.0.0.1 for one crawl, with no change to the machine."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer


class HostsResolver(CachingThreadedResolver):
    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        hosts = json.loads(os.environ.get("WIREWATCH_TEST_HOSTS", "{}"))
        if name in hosts:
            return defer.succeed(hosts[name])
        return super().getHostByName(name, timeout)
