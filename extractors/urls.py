"""URL identity: one spelling per article URL.

Scheme and host are lower-cased, default ports, fragments and tracking parameters (utm_*, fbclid,
gclid and the rest of courlan's list) are removed, and the query is sorted, so that the same page
reached from a feed, a sitemap or a shared link is one URL.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from courlan.clean import normalize_url, scrub_url


def normalise_url(url: str) -> str:
    """Return the normal form of an absolute http(s) URL.

    Raises:
        ValueError: ``url`` is not an absolute http(s) URL.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    normal = urlsplit(normalize_url(scrub_url(url)))
    return urlunsplit(normal._replace(fragment=""))


def resolve_url(candidate: str | None, base: str) -> str | None:
    """``candidate`` made absolute against ``base`` and normalised, or None if it is not http(s)."""
    if not candidate or not candidate.strip():
        return None
    try:
        return normalise_url(urljoin(base, candidate.strip()))
    except ValueError:
        return None


def host_of(url: str) -> str:
    """The URL's host, lower-cased and without a leading ``www.``."""
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def in_domains(url: str, domains: list[str]) -> bool:
    """True if the URL's host is one of ``domains`` or a subdomain of one."""
    host = host_of(url)
    return any(host == d or host.endswith("." + d) for d in domains)
