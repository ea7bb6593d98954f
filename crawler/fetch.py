"""Fetch single pages outside any crawl, for the commands a person runs (``watch test``,
``add``, ``outlets import``) and the monitor's WebSub requests to a hub (``monitor.websub``):
plain HTTP with the configured user agent, through the same rule as the crawler's address
guard (``crawler.guard``).

- **Private addresses**: a URL whose host is, or resolves to, a loopback, private, link-local
  or otherwise non-public address is fetched only if its origin (scheme, host, port) is one
  the operator named on the command line (``trusted``); a feed link or a redirect elsewhere
  private is refused before any byte is sent, and the error says so without quoting anything.
  Hosts are read through ``extractors.urls.normal_host`` (IDNA, full-width and ideographic
  dots), and the connection goes to the very address that was checked, so a name that
  resolves differently a second time cannot slip through.
- **One deadline per fetch**: ``timeout`` bounds the whole fetch, redirects and body included,
  not each read: a server sending a byte every five seconds is cut off at the deadline.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from core.errors import WirewatchError
from crawler.finder import Fetched
from extractors.urls import Origin, is_private_address, origin

MAX_BYTES = 10 * 1000**2
TIMEOUT = 30.0
MAX_REDIRECTS = 10
_REDIRECTS = {301, 302, 303, 307, 308}


class Refused(OSError):
    """A URL the guard does not fetch: the message says why, and quotes no body."""


def fetch_url(
    url: str,
    user_agent: str,
    timeout: float = TIMEOUT,
    trusted: Iterable[Origin] = (),
    form: dict[str, str] | None = None,
) -> Fetched:
    """GET ``url``, following redirects, within ``timeout`` seconds in all; or with ``form``,
    POST it form-encoded (a redirect is then returned, not followed). An HTTP error is returned
    with its status.

    Args:
        trusted: Origins that may be at private addresses (the ones the operator named).

    Raises:
        OSError: The URL cannot be fetched at all (DNS, refused, timeout, a bad URL, a private
            address not trusted: :class:`Refused`), or its body is larger than ``MAX_BYTES``.
    """
    deadline = time.monotonic() + timeout
    allowed = frozenset(trusted)
    body = urlencode(form).encode() if form is not None else None
    for _ in range(MAX_REDIRECTS + 1):
        fetched = _get(url, user_agent, deadline, allowed, body)
        location = fetched.headers.get("Location") or fetched.headers.get("location")
        if fetched.status not in _REDIRECTS or not location or body is not None:
            return fetched
        url = urljoin(url, location.strip())
    raise OSError(f"more than {MAX_REDIRECTS} redirects")


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no answer within the time limit")
    return left


def _get(
    url: str, user_agent: str, deadline: float, trusted: frozenset[Origin], form: bytes | None
) -> Fetched:
    found = origin(url)
    if found is None:
        raise OSError(f"not an http(s) URL: {url}")
    scheme, host, port = found
    address = _address(host, port, found, trusted, deadline)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    sock = socket.create_connection((address, port), timeout=_left(deadline))
    try:
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            connection = http.client.HTTPSConnection(host, port, timeout=_left(deadline))
        else:
            connection = http.client.HTTPConnection(host, port, timeout=_left(deadline))
        connection.sock = sock  # the address checked above, not a second lookup
        headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request("GET" if form is None else "POST", target, form, headers)
        sock.settimeout(_left(deadline))
        response = connection.getresponse()
        body = bytearray()
        while True:
            sock.settimeout(_left(deadline))
            chunk = response.read1(65536)
            if not chunk:
                break
            body += chunk
            if len(body) > MAX_BYTES:
                raise OSError(f"larger than {MAX_BYTES} bytes")
        return Fetched(
            url=url, status=response.status, body=bytes(body), headers=dict(response.getheaders())
        )
    except (http.client.HTTPException, ssl.SSLError) as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from None
    except TimeoutError:
        raise TimeoutError("no answer within the time limit") from None
    finally:
        sock.close()


def _address(
    host: str, port: int, found: Origin, trusted: frozenset[Origin], deadline: float
) -> str:
    """The address to connect to for ``host``: the first it resolves to, refused when it is
    private and ``found`` is not trusted."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    _left(deadline)
    addresses = [str(info[4][0]) for info in answers]
    if not addresses:
        raise OSError(f"cannot resolve {host}")
    private = [a for a in addresses if is_private_address(a)]
    if private and found not in trusted:
        raise Refused(
            f"{host} is at {private[0]}, a private address, and is not an address you gave: refused"
        )
    return addresses[0]


def read_source(
    source: str, user_agent: str, timeout: float = TIMEOUT
) -> tuple[bytes, str | None, dict[str, str]]:
    """The bytes, URL (None for a file) and headers of ``source``, a file or an http(s) URL
    (whose own origin is trusted: the operator named it).

    Raises:
        WirewatchError: The file cannot be read or the URL not fetched.
    """
    if not source.startswith(("http://", "https://")):
        try:
            return Path(source).read_bytes(), None, {}
        except OSError as exc:
            raise WirewatchError(f"{source}: cannot read: {exc.strerror or exc}") from None
    named = origin(source)
    try:
        page = fetch_url(source, user_agent, timeout, trusted=[named] if named else [])
    except OSError as exc:
        raise WirewatchError(f"{source}: cannot fetch: {exc}") from None
    if page.status >= 400:
        raise WirewatchError(f"{source}: cannot fetch: HTTP {page.status}")
    return page.body, page.url, page.headers
