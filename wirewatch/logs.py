"""Logging setup for the command line: plain text for people, JSON lines for log shippers."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: wirewatch's own loggers: their messages quote what servers, pages and settings say, so their
#: control characters are written escaped (a CR/LF in a URL or a server's reply cannot forge a
#: log line). Libraries' multi-line messages (Scrapy's stats dump) stay as they are.
OURS = frozenset(
    {"wirewatch", "crawler", "extractors", "storage", "alerts", "ingest", "monitor", "workers"}
    | {"cluster", "scheduler", "core"}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escaped(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\r``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """The text format, wirewatch's own messages on one line each (``escaped``)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.name.split(".", 1)[0] in OURS:
            record.message = escaped(record.message)
        return super().formatMessage(record)


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
        handler.setFormatter(
            JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)
        )
