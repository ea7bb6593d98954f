"""Fetch single pages for the commands a person runs (``watch test``, ``add``, ``outlets
import``): plain HTTP with the configured user agent, outside any crawl."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from core.errors import WirewatchError
from crawler.finder import Fetched

MAX_BYTES = 10 * 1000**2
TIMEOUT = 30.0


def fetch_url(url: str, user_agent: str, timeout: float = TIMEOUT) -> Fetched:
    """GET ``url``, following redirects. An HTTP error is returned with its status.

    Raises:
        OSError: The URL cannot be fetched at all (DNS, refused, timeout, a bad URL), or its
            body is larger than ``MAX_BYTES``.
    """
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _fetched(response, url)
    except urllib.error.HTTPError as exc:
        with exc:
            return _fetched(exc, url)
    except urllib.error.URLError as exc:
        raise OSError(str(exc.reason)) from None
    except ValueError as exc:
        raise OSError(f"not a URL: {exc}") from None


def _fetched(response: urllib.response.addinfourl | urllib.error.HTTPError, url: str) -> Fetched:
    body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise OSError(f"larger than {MAX_BYTES} bytes")
    return Fetched(
        url=response.geturl() or url,
        status=response.status or 200,
        body=body,
        headers=dict(response.headers.items()),
    )


def read_source(source: str, user_agent: str) -> tuple[bytes, str | None, dict[str, str]]:
    """The bytes, URL (None for a file) and headers of ``source``, a file or an http(s) URL.

    Raises:
        WirewatchError: The file cannot be read or the URL not fetched.
    """
    if not source.startswith(("http://", "https://")):
        try:
            return Path(source).read_bytes(), None, {}
        except OSError as exc:
            raise WirewatchError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        page = fetch_url(source, user_agent)
    except OSError as exc:
        raise WirewatchError(f"{source}: cannot fetch: {exc}") from None
    if page.status >= 400:
        raise WirewatchError(f"{source}: cannot fetch: HTTP {page.status}")
    return page.body, page.url, page.headers
