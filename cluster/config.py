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
