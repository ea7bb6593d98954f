"""Read one page for ``wirewatch watch test``: from a file, or fetched from an http(s) URL."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from core.errors import WirewatchError

MAX_BYTES = 10 * 1000**2
TIMEOUT = 30.0


def read_source(source: str, user_agent: str) -> tuple[bytes, str | None, dict[str, str]]:
    """The bytes, URL (None for a file) and headers of ``source``.

    Raises:
        WirewatchError: The file cannot be read or the URL not fetched.
    """
    if not source.startswith(("http://", "https://")):
        try:
            return Path(source).read_bytes(), None, {}
        except OSError as exc:
            raise WirewatchError(f"{source}: cannot read: {exc.strerror or exc}") from None
    request = urllib.request.Request(source, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            body = response.read(MAX_BYTES + 1)
            headers = {key: value for key, value in response.headers.items()}
            url = response.geturl()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WirewatchError(f"{source}: cannot fetch: {exc}") from None
    if len(body) > MAX_BYTES:
        raise WirewatchError(f"{source}: larger than {MAX_BYTES} bytes")
    return body, url, headers
