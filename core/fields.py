"""The typed fields that every config section shares, and their base model.

Each package defines the section of ``wirewatch.toml`` it reads (``storage.config``,
``alerts.config``, ``crawler.config``, ``monitor.config``); ``wirewatch.config``
composes them, reads the file and reports errors with their line.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from core.units import parse_duration, parse_size


def written_duration(value: Any) -> float:
    """A duration as the config writes it: a string with its unit. A bare number is refused,
    since nobody can tell whether ``every = 30`` meant seconds or minutes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'{value!r} has no unit: write "{value:g}s" for seconds or "{value:g}m" for minutes'
        )
    if not isinstance(value, str):
        raise ValueError(f'not a duration: {value!r} (use e.g. "30s", "15m", "1h30m", "3d")')
    return parse_duration(value)


#: The longest duration any setting takes: 100,000 days (about 270 years: "for ever" for an
#: archive's max_age, still far inside what dates can count). Beyond it a value is a typo, and
#: one that passed would overflow the scheduler's clock. Settings a crawl waits on have
#: tighter bounds of their own (crawler.config).
MAX_DURATION = 100_000 * 86400.0
#: A duration: "30s", "15m", "1h30m", "3d" (see ``core.units``); "0s" allowed.
Seconds = Annotated[float, BeforeValidator(written_duration), Field(le=MAX_DURATION)]
#: A duration that must be longer than zero: an interval, a time limit.
Interval = Annotated[float, BeforeValidator(written_duration), Field(gt=0, le=MAX_DURATION)]
#: A size: "10MB".
Bytes = Annotated[int, BeforeValidator(parse_size)]
#: A whole number, written as one (not "1", not true).
Count = Annotated[int, Strict()]
#: true or false, written as such (not "yes", not 1).
Flag = Annotated[bool, Strict()]
#: A number (not a string).
Number = Annotated[float, Strict()]


class Section(BaseModel):
    """A config section: unknown keys are errors, values are frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
