"""The ``[[watches]]``, ``[email]`` and ``[health]`` sections of the config, and what the
alerts code needs of the whole config (``AlertSettings``, which ``wirewatch.config.Config`` is)."""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator, model_validator

from core.fields import Count, Interval, Number, Seconds, Section

#: The environment variable that holds the SMTP URL (credentials never live in the file).
SMTP_URL = "WIREWATCH_SMTP_URL"


class WatchConfig(Section):
    name: str
    query: str
    email: list[str] = []
    #: Apprise URLs (slack://${SLACK_TOKENS}, tgram://…, ntfy://…, json://host/path…): secrets
    #: written ${NAME}, filled in from the environment when a message goes out.
    notify: list[str] = []
    mode: Literal["immediate", "digest"] = "immediate"
    at: str | None = None
    every: Interval | None = None
    timezone: str = "UTC"
    outlets: list[str] = []
    max_age: Seconds = 3 * 86400.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip() or len(value) > 80 or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("a watch name is 1 to 80 printable characters")
        return value

    @field_validator("email", "notify", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @field_validator("notify")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        from alerts.channels import check_channel

        return [check_channel(url) for url in value]

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: str | None) -> str | None:
        if value is not None and not _TIME_OF_DAY.match(value):
            raise ValueError(f"not a time of day (HH:MM, 24-hour): {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. 'Europe/Paris', 'UTC')") from None
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str, info: ValidationInfo) -> str:
        from alerts.query import QueryError, parse_query, shown

        try:
            parse_query(value)
        except QueryError as exc:
            name = info.data.get("name", "?")
            raise ValueError(f"watch {name!r}: bad query {shown(value)}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _mode(self) -> WatchConfig:
        if not self.email and not self.notify:
            raise ValueError(
                f"watch {self.name!r}: give email (addresses) or notify (Apprise URLs), or both"
            )
        if self.mode == "digest" and self.at is None and self.every is None:
            raise ValueError(
                f'watch {self.name!r}: a digest needs at (e.g. "08:00") or every (e.g. "6h")'
            )
        if self.mode == "digest" and self.at is not None and self.every is not None:
            raise ValueError(f"watch {self.name!r}: give either at or every, not both")
        if self.mode == "immediate" and (self.at is not None or self.every is not None):
            raise ValueError(f'watch {self.name!r}: at and every are for mode = "digest"')
        return self


_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _check_addresses(value: list[str]) -> list[str]:
    for address in value:
        if not _ADDRESS.match(address):
            raise ValueError(f"not an email address: {address!r}")
    return value


class EmailConfig(Section):
    sender: str = Field(default="wirewatch@localhost", alias="from")
    maildir: str = "maildir"
    operator: list[str] = []
    #: The List-Unsubscribe header (RFC 2369), e.g. "<mailto:desk@example.org?subject=stop>" or
    #: "<https://intranet.example.org/unsubscribe?watch={watch}>"; empty: a mailto of the first
    #: operator.
    unsubscribe: str = ""

    retry: Seconds = 60.0
    retry_max: Seconds = 6 * 3600.0
    digest_limit: Count = Field(default=50, ge=1)

    @field_validator("operator", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("operator")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @field_validator("unsubscribe")
    @classmethod
    def _unsubscribe(cls, value: str) -> str:
        if value and not re.fullmatch(
            r"(<(mailto|https?):[^<>\s]+>)(\s*,\s*<(mailto|https?):[^<>\s]+>)*", value
        ):
            raise ValueError(
                "unsubscribe is one or more <mailto:…> or <https://…> URLs, each in angle "
                f"brackets: {value!r}"
            )
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        from email.utils import parseaddr

        if not _ADDRESS.match(parseaddr(value)[1]) or any(c in value for c in "\r\n"):
            raise ValueError(f"not an email address: {value!r}")
        return value


class HealthConfig(Section):
    """Thresholds of ``alerts.health``: how many runs in a row make an outlet unhealthy."""

    failures: Count = Field(default=3, ge=1)
    quiet_runs: Count = Field(default=24, ge=1)
    extraction_runs: Count = Field(default=2, ge=1)
    extraction_ok: Number = Field(default=0.5, gt=0, le=1)
    extraction_min_pages: Count = Field(default=3, ge=1)
    feed_errors: Count = Field(default=3, ge=1)
    #: An outlet silent for this many times its usual longest wait between articles is
    #: reported as gone quiet (``alerts.health.gone_quiet``); 0 turns it off.
    quiet_factor: Number = Field(default=3, ge=0, le=1000)
    #: ... and never sooner than this.
    quiet_after: Interval = 86400.0


class AlertSettings(Protocol):
    """What alerting, delivery and outlet health read of the config."""

    @property
    def watches(self) -> list[WatchConfig]: ...

    @property
    def email(self) -> EmailConfig: ...

    @property
    def health(self) -> HealthConfig: ...
