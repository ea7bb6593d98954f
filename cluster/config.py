"""The ``[cluster]`` section of the config."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from core.fields import Count, Interval, Section

SCHEMES = ("redis", "rediss", "unix")


class ClusterConfig(Section):
    #: The Redis server, without its password (``$WIREWATCH_REDIS_URL`` gives the URL with it);
    #: "" = one machine, no Redis.
    redis: str = ""
    #: Seconds a run may go untouched by its worker before another worker takes it over.
    claim_after: Interval = 60.0
    #: Runs one worker process holds at once.
    runs: Count = Field(default=4, ge=1, le=256)
    #: How long Redis keeps a stored URL's key for the workers to skip it (SQLite keeps it for
    #: ever); an older URL still listed by a feed, undated, is fetched again and recognised
    #: there. At least the outlets' longest max_age.
    known_for: Interval = 7 * 86400.0

    @field_validator("redis")
    @classmethod
    def _no_password(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"not a Redis URL: {value!r} (redis://host:6379/0)")
        if parts.password:
            raise ValueError(
                "a password in the file: write the URL without it here and give the whole URL "
                "in $WIREWATCH_REDIS_URL"
            )
        return value
