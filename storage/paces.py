"""The ``outlet_paces`` table: how often the monitor polls each outlet now, and why
(``monitor.rhythm``), so that ``status``, another process, can say it."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from storage.db import write_transaction


def record_paces(db: Database, paces: dict[str, tuple[float, str, str | None]]) -> None:
    """The current paces, ``outlet: (seconds, why, until)`` (``until``: when a burst's pace
    ends, or None); the rows of outlets not in ``paces`` are removed."""
    with write_transaction(db):
        db.execute("delete from outlet_paces")
        db.table("outlet_paces").insert_all(
            (
                {"outlet": name, "seconds": seconds, "why": why, "until": until}
                for name, (seconds, why, until) in paces.items()
            ),
            pk="outlet",
            replace=True,
        )


def set_pace(db: Database, outlet: str, seconds: float, why: str, until: str | None) -> None:
    with write_transaction(db):
        db.table("outlet_paces").insert(
            {"outlet": outlet, "seconds": seconds, "why": why, "until": until},
            pk="outlet",
            replace=True,
        )


def outlet_paces(db: Database) -> dict[str, dict[str, Any]]:
    """``outlet: {seconds, why, until}`` as the monitor last set them."""
    return {row["outlet"]: row for row in db.query("select * from outlet_paces")}
