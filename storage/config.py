"""The ``[storage]`` section of the config."""

from __future__ import annotations

from pydantic import Field

from core.fields import Interval, Section


class StorageConfig(Section):
    database: str = "wirewatch.db"
    busy_timeout: Interval = 30.0
    #: How long each crawl run's row is kept (the newest runs of each outlet always are); past
    #: it, one row a day per outlet and status keeps the counts.
    keep_runs: Interval = Field(default=30 * 86400.0, ge=86400.0)
