"""The few exceptions wirewatch raises; the CLI turns them into messages."""

from __future__ import annotations


class WirewatchError(Exception):
    """Base class of every error wirewatch reports to the user."""


class ConfigError(WirewatchError):
    """The configuration file is missing, unreadable or invalid."""


class UnknownOutletError(WirewatchError):
    """An outlet name given on the command line is not in the configuration."""


class ReplayInputError(WirewatchError):
    """A file given to replay cannot be read as a page or a WARC archive."""


class MonitorRunning(WirewatchError):
    """Another monitor runs on the database."""


class DatabaseGone(WirewatchError):
    """The database was deleted or replaced under a running monitor."""
