"""Dates as pages, feeds and sitemaps write them, read into aware UTC datetimes.

Implausible dates (before 1990, or more than two days in the future: "year 20201", clock skew)
are treated as absent rather than trusted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)


def parse_date(value: str | None, now: datetime | None = None) -> datetime | None:
    """Read an ISO 8601 / W3C or RFC 822 date; None if absent, unreadable or implausible."""
    if not value or len(value) > 64:
        return None
    text = value.strip()
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed if plausible(parsed, now) else None


def plausible(moment: datetime, now: datetime | None = None) -> bool:
    """True if ``moment`` could be a publication date seen at ``now``."""
    now = now or datetime.now(UTC)
    return EARLIEST <= moment <= now + FUTURE_SLACK


def isoformat(moment: datetime) -> str:
    """The storage form of a date: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()
