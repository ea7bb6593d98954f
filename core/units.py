"""Parse the human units of the config file: durations ("15m", "1h30m") and sizes ("10MB")."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_BYTES = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(value: str | int | float) -> float:
    """Return a duration in seconds.

    Args:
        value: A string of number-unit pairs ("2s", "15m", "1h30m", "3d", "1w") or a number of
            seconds.

    Raises:
        ValueError: The string is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    text = value.strip()
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if text[position : match.start()].strip():
            break
        total += float(match.group(1)) * _DURATION_SECONDS[match.group(2).lower()]
        position = match.end()
    if not text or position == 0 or text[position:].strip():
        raise ValueError(f'not a duration: {value!r} (use e.g. "30s", "15m", "1h30m", "3d")')
    return total


def parse_size(value: str | int) -> int:
    """Return a size in bytes from "10MB", "512KiB" or a plain number of bytes.

    Raises:
        ValueError: The value is not a size.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value!r}")
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f'not a size: {value!r} (use e.g. "10MB", "512KiB")')
    return int(float(match.group(1)) * _SIZE_BYTES[(match.group(2) or "b").lower()])


def format_duration(seconds: float) -> str:
    """``seconds`` in the config's own units: 90 -> "90s", 900 -> "15m", 7200 -> "2h"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
