"""The ``[storage]`` section of the config."""

from __future__ import annotations

from core.fields import Interval, Section


class StorageConfig(Section):
    database: str = "wirewatch.db"
    busy_timeout: Interval = 30.0
