"""The pipe between the monitor and a crawl worker: JSON, one object a line, each with an ``op``.

The monitor writes to the worker's stdin:

- :class:`Run`: start a run of ``outlet`` (``id`` is the monitor's token for it), closed by the
  worker at ``deadline`` seconds;
- :class:`Drain`: finish the runs in hand, take no more, exit.

The worker writes to its stdout:

- :class:`Done` when a run ends, with Scrapy's finish reason (or why it did not start);
- :class:`Alerted` when a run has stored an article that raised alerts (committed: the monitor
  delivers them now, not when the run ends);
- :class:`Beat` every second, so that a stuck reactor is seen and killed.

The end of stdin (the monitor is gone) stops the worker: the runs in hand are closed as
``shutdown``. Logs go to stderr, as the monitor's own. A line that is not a message is logged
and skipped by either side; it never stops the pipe.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


class ProtocolError(ValueError):
    """A line that is not one of the messages below."""


@dataclass(frozen=True)
class Run:
    op: ClassVar[str] = "run"
    id: str
    outlet: str
    deadline: float


@dataclass(frozen=True)
class Drain:
    op: ClassVar[str] = "drain"


@dataclass(frozen=True)
class Done:
    op: ClassVar[str] = "done"
    id: str
    reason: str


@dataclass(frozen=True)
class Alerted:
    op: ClassVar[str] = "alerted"
    id: str
    count: int


@dataclass(frozen=True)
class Beat:
    op: ClassVar[str] = "beat"
    active: int
    waiting: int


Message = Run | Drain | Done | Alerted | Beat

_TYPES: dict[str, Any] = {kind.op: kind for kind in (Run, Drain, Done, Alerted, Beat)}
#: Each message's fields and their types, read off the dataclasses (whose annotations are
#: strings under ``from __future__ import annotations``).
_FIELDS: dict[str, dict[str, type]] = {
    op: {f.name: {"str": str, "float": float, "int": int}[str(f.type)] for f in fields(kind)}
    for op, kind in _TYPES.items()
}


def encode(message: Message) -> str:
    """One line (without its newline)."""
    return json.dumps({"op": message.op, **asdict(message)}, separators=(",", ":"))


def decode(line: str) -> Message:
    """The message on ``line``; raises :class:`ProtocolError` if it is none."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {line[:200]!r}") from exc
    if not isinstance(data, dict) or data.get("op") not in _TYPES:
        raise ProtocolError(f"not a message: {line[:200]!r}")
    op = data["op"]
    values = {}
    for name, kind in _FIELDS[op].items():
        value = data.get(name)
        # JSON has one number type: an int is a fine float; a bool is no number.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ProtocolError(f"{op}: {name} is not a {kind.__name__}: {line[:200]!r}")
        values[name] = value
    message: Message = _TYPES[op](**values)
    return message
