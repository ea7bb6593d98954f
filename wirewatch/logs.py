"""Logging setup for the command line: plain text for people, JSON lines for log shippers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


#: Libraries whose INFO lines are their own bookkeeping ("Adding job tentatively", "Running
#: job ...", "Spider opened"): WARNING and above only, unless -v.
THIRD_PARTY = ("apscheduler", "scrapy", "twisted", "py.warnings", "asyncio", "datasette")


def setup_logging(level: int, log_format: str = "text", verbose: int = 0) -> None:
    """Configure the root logger once; the level holds where Scrapy resets the root logger.
    Without ``verbose``, libraries say only their warnings: wirewatch's own lines are the log."""
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    logging.root.setLevel(level)  # again, for an option given after the command
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    # Apprise warns of each failed delivery; the outbox logs it once, with the message and the
    # channel as configured (never its secrets). Its lines still reach the delivery's result
    # (the level stays WARNING): they just do not reach the log a second time.
    apprise = logging.getLogger("apprise")
    apprise.setLevel(logging.NOTSET if verbose else logging.WARNING)
    apprise.propagate = bool(verbose)
    for handler in logging.root.handlers:
        handler.setLevel(level)
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
