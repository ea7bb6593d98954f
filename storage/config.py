"""The ``[storage]`` section of the config."""

from __future__ import annotations

from core.fields import Seconds, Section


class StorageConfig(Section):
    database: str = "wirewatch.db"
    busy_timeout: Seconds = 30.0
