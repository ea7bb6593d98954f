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

Trust is per outlet and per origin: an outlet may reach the private origins (scheme, host,
port) of its own configured sources, and nothing else private, by link, redirect or any
spelling of an address (hosts are read through ``extractors.urls.normal_host``: IDNA,
full-width and ideographic dots, trailing dots). A public outlet's redirect to a local RSS
bridge another outlet reads on ``127.0.0.1:9999`` is refused, and so is the bridge's link to
another port of its own host. The resolver is one per process: it lets the hosts of every
configured source (``WIREWATCH_SOURCE_HOSTS``) resolve to private addresses, and
``AddressGuard``, one per crawler, then checks the address against the requesting outlet's
own origins. ``WIREWATCH_TRUSTED_HOSTS`` names hosts trusted for every outlet at any port
(the tests' stand-ins for public hosts). ``WIREWATCH_RESOLVE`` (name -> address) answers names
before the system does, as ``curl --resolve`` would; the tests use it.
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

from extractors.urls import is_private_address, normal_host, origin

logger = logging.getLogger(__name__)


class PrivateAddressError(DNSLookupError):
    """A host resolves to an address a crawl may not reach."""


class RefusedAddress(IgnoreRequest):
    """A request to a private address written out in its URL."""


def trusted(host: str, hosts: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``hosts`` or a subdomain of one (without ``www.``)."""
    host = normal_host(host).removeprefix("www.")
    return any(host == h or host.endswith("." + h) for h in hosts)


def _hosts(names: Iterable[str]) -> list[str]:
    return [normal_host(name).removeprefix("www.") for name in names]


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
        self.trusted_hosts = _hosts(trusted_hosts)
        self.resolve = {normal_host(k): v for k, v in (resolve or {}).items()}

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        settings = crawler.settings
        cache = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        hosts = settings.getlist("WIREWATCH_SOURCE_HOSTS")
        if not hosts:
            # `scrapy crawl` run alone: the process's settings have only the config's name.
            from crawler.config import source_hosts
            from crawler.context import crawl_config

            hosts = source_hosts(crawl_config(settings).outlets)
        hosts = [*hosts, *settings.getlist("WIREWATCH_TRUSTED_HOSTS")]
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
        given = self.resolve.get(normal_host(name))
        found = defer.succeed(given) if given else super().getHostByName(name, timeout)
        found.addCallback(self._check, name)
        return found

    def _check(self, address: str, name: str) -> str:
        if is_private_address(address) and not trusted(name, self.trusted_hosts):
            raise PrivateAddressError(f"{name} resolves to {address}, a private address: refused")
        return address


class AddressGuard:
    """Refuses requests whose address is private (written out in the URL, or what its name
    resolves to) unless the requesting outlet configured that origin (or the host is one of
    ``WIREWATCH_TRUSTED_HOSTS``)."""

    def __init__(self, trusted_hosts: Sequence[str], crawler: Crawler) -> None:
        self.trusted_hosts = _hosts(trusted_hosts)
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuard:
        return cls(crawler.settings.getlist("WIREWATCH_TRUSTED_HOSTS"), crawler)

    def allowed(self, url: str, spider: Spider | None) -> bool:
        """Whether ``url``, at a private address, is one the crawling outlet may reach: an
        origin of its own sources, or a host trusted for all."""
        found = origin(url)
        if found is None:
            return False
        if trusted(found[1], self.trusted_hosts):
            return True
        outlet = getattr(spider or self.crawler.spider, "outlet", None)
        return outlet is not None and found in outlet.origins

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = normal_host(urlsplit(request.url).hostname or "")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            # A name: resolved now, through the guarded resolver, whose answer is cached and is
            # the address the connection then goes to (and is checked again there).
            from twisted.internet import reactor

            try:
                address = await maybe_deferred_to_future(
                    reactor.resolver.getHostByName(host)  # type: ignore[attr-defined]
                )
            except PrivateAddressError as exc:
                self._refuse(request, str(exc.args[0]))
            except Exception:
                return
            if is_private_address(str(address)) and not self.allowed(request.url, spider):
                self._refuse(
                    request,
                    f"{host} resolves to {address}, a private address this outlet does not "
                    "read its sources from: refused",
                )
            return
        if is_private_address(host) and not self.allowed(request.url, spider):
            self._refuse(
                request, f"{host} is a private address this outlet does not read its sources from"
            )

    def _refuse(self, request: Request, why: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("wirewatch/fetch/refused_private")
        logger.warning("Refused %(url)s: %(why)s", {"url": request.url, "why": why})
        raise RefusedAddress(why)
