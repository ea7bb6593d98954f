"""The typed fields that every config section shares, and their base model.

Each package defines the section of ``wirewatch.toml`` it reads (``storage.config``,
``alerts.config``, ``crawler.config``, ``scheduler.ScheduleConfig``); ``wirewatch.config``
composes them, reads the file and reports errors with their line.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from core.units import parse_duration, parse_size

#: A duration: "30s", "15m", "1h30m", "3d" (see ``core.units``).
Seconds = Annotated[float, BeforeValidator(parse_duration)]
#: A size: "10MB".
Bytes = Annotated[int, BeforeValidator(parse_size)]


class Section(BaseModel):
    """A config section: unknown keys are errors, values are frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
