"""Addresses checked where connections are made, not where links are found.

A link in a public outlet's feed may name a host inside the network the crawler runs in
(``intranet.example.com`` resolving to 10.0.0.5, a name resolving to a cloud's metadata service
at 169.254.169.254), and a public page may redirect to one. So every connection a crawl makes
(feeds, sitemaps, robots.txt, articles, every redirect hop) is checked against the address it
goes to:

- ``GuardedResolver`` (Scrapy's ``TWISTED_DNS_RESOLVER``) resolves a name and refuses an answer
  that is loopback, private, link-local, unique-local, multicast, reserved or unspecified
  (IPv4-mapped forms included), with ``PrivateAddressError``. The connection then goes to the
  address it answered: a name that would resolve differently a second time cannot slip
  through.
- ``AddressGuard`` (a downloader middleware) resolves each request's host through that resolver
  before the download (its answer is cached, so the download connects to the address that
  was checked) and refuses it, as ``RefusedAddress`` with a stat and a log line naming the URL
  and the address; and it refuses a private address written out in the URL
  (``http://127.0.0.1:8080/admin``).

Hosts the operator configured are trusted: the hosts of every outlet's sources and its
``allow_domains`` (``WIREWATCH_TRUSTED_HOSTS``, set from the config), so an outlet pointed at an
intranet crawls it. ``WIREWATCH_RESOLVE`` (name -> address) answers names before the system
does, as ``curl --resolve`` would; the tests use it. The trust is per process: in a crawl of
several outlets, a host one outlet configures is trusted for all.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

from extractors.urls import is_private_address

logger = logging.getLogger(__name__)


class PrivateAddressError(DNSLookupError):
    """A host resolves to an address a crawl may not reach."""


class RefusedAddress(IgnoreRequest):
    """A request to a private address written out in its URL."""


def trusted(host: str, hosts: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``hosts`` or a subdomain of one (without ``www.``)."""
    host = host.lower().rstrip(".").removeprefix("www.")
    return any(host == h or host.endswith("." + h) for h in hosts)


class GuardedResolver(CachingThreadedResolver):
    def __init__(
        self,
        reactor: Any,
        cache_size: int,
        timeout: float,
        trusted_hosts: Sequence[str] = (),
        resolve: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.trusted_hosts = [h.lower().removeprefix("www.") for h in trusted_hosts]
        self.resolve = {k.lower(): v for k, v in (resolve or {}).items()}

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        settings = crawler.settings
        cache = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        hosts = settings.getlist("WIREWATCH_TRUSTED_HOSTS")
        if not hosts:
            # `scrapy crawl` run alone: the process's settings have only the config's name.
            from crawler.config import trusted_hosts
            from crawler.context import crawl_config

            hosts = trusted_hosts(crawl_config(settings).outlets)
        return cls(
            reactor,
            cache,
            settings.getfloat("DNS_TIMEOUT"),
            hosts,
            settings.getdict("WIREWATCH_RESOLVE"),
        )

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        try:
            ipaddress.ip_address(name)
            return defer.succeed(name)  # written out in the URL: AddressGuard checked it
        except ValueError:
            pass
        given = self.resolve.get(name.lower())
        found = defer.succeed(given) if given else super().getHostByName(name, timeout)
        found.addCallback(self._check, name)
        return found

    def _check(self, address: str, name: str) -> str:
        if is_private_address(address) and not trusted(name, self.trusted_hosts):
            raise PrivateAddressError(f"{name} resolves to {address}, a private address: refused")
        return address


class AddressGuard:
    """Refuses requests to private addresses written out in the URL, unless trusted."""

    def __init__(self, trusted_hosts: Sequence[str], crawler: Crawler) -> None:
        self.trusted_hosts = [h.lower().removeprefix("www.") for h in trusted_hosts]
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuard:
        return cls(crawler.settings.getlist("WIREWATCH_TRUSTED_HOSTS"), crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlsplit(request.url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            # A name: resolved now, through the guarded resolver, whose answer is cached and is
            # the address the connection then goes to (and is checked again there).
            from twisted.internet import reactor

            try:
                await maybe_deferred_to_future(reactor.resolver.getHostByName(host))  # type: ignore[attr-defined]
            except PrivateAddressError as exc:
                self._refuse(request, str(exc.args[0]))
            except Exception:
                return
            return
        if is_private_address(host) and not trusted(host, self.trusted_hosts):
            self._refuse(request, f"{host} is a private address: refused")

    def _refuse(self, request: Request, why: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("wirewatch/fetch/refused_private")
        logger.warning("Refused %(url)s: %(why)s", {"url": request.url, "why": why})
        raise RefusedAddress(why)
