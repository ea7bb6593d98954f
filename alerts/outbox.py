"""The outbox: alerts become emails, and emails are delivered at least once, never lost.

``notify`` works in two steps, each safe to interrupt:

1. **Plan** (one transaction): every pending alert of an immediate watch gets an ``emails`` row
   of its own; for a digest watch whose time has come, all its pending alerts share one.
2. **Send**: each due email goes to each of its watch's recipients, one SMTP transaction per
   recipient. A recipient that accepted is committed to ``emails.delivered`` at once, so a
   crash between the server's "250 OK" and that commit repeats at most that one email. The
   email (and its alerts) become ``sent`` when every recipient has it, ``failed`` on a
   permanent refusal (5xx), and otherwise stay ``pending`` with ``attempts``, ``last_error`` and
   an exponential ``next_attempt``.

Only one ``notify`` runs at a time per database (an advisory lock next to the file), so running
it twice, or from the daemon and a shell at once, sends nothing twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from alerts.channels import is_channel
from alerts.config import AlertSettings, WatchConfig
from alerts.mail import (
    DeliveryError,
    Item,
    Transport,
    build_message,
    build_notice,
    local_date,
)
from extractors.dates import isoformat
from storage import channels as channels_store
from storage import outbox as store
from storage.db import write_transaction
from storage.outbox import FAILED, PENDING, SENT, list_alerts

logger = logging.getLogger(__name__)

__all__ = ["FAILED", "PENDING", "SENT", "NotifyReport", "list_alerts", "notify", "plan"]


@dataclass
class NotifyReport:
    emails_sent: int = 0
    alerts_sent: int = 0
    failed: int = 0
    retrying: int = 0
    waiting: int = 0  # pending emails not yet due for a retry
    planned: int = 0
    transport: str = ""
    busy: bool = False  # another notify held the lock

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """One line: what was sent, failed, is to be retried and waits."""
        return (
            f"{self.emails_sent} email(s) sent ({self.alerts_sent} alert(s)) via "
            f"{self.transport}; {self.failed} failed, {self.retrying} to retry, "
            f"{self.waiting} waiting"
        )


@contextmanager
def notify_lock(database: Path) -> Iterator[bool]:
    """Hold the database's notify lock; yields False if another process holds it."""
    path = database.with_name(database.name + ".notify.lock")
    with os.fdopen(os.open(path, os.O_CREAT | os.O_RDWR, 0o600), "r+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def notify(
    db: Database,
    config: AlertSettings,
    transport: Transport,
    database: Path,
    now: datetime | None = None,
) -> NotifyReport:
    """Plan and deliver every email that is due."""
    now = now or datetime.now(UTC)
    report = NotifyReport(transport=transport.describe())
    with notify_lock(database) as held:
        if not held:
            report.busy = True
            logger.info("Another notify is running on %s; nothing to do here", database)
            return report
        report.planned = plan(db, config, now)
        before = store.last_email_id(db)
        # What failed in this run, tried again in the next: "mail" (the SMTP connection) or a
        # channel's URL. One failure per channel and run: a dead webhook costs one timeout a run.
        down: set[str] = set()
        try:
            _send_due(db, config, transport, now, report, down)
            # The operator hears of a channel that failed or recovered in this very run.
            notices = {due.id for due in store.due_emails(db, now) if due.id > before}
            if notices:
                _send_due(db, config, transport, now, report, down, notices)
        finally:
            transport.close()
    report.waiting = store.waiting(db, now)
    return report


def plan(db: Database, config: AlertSettings, now: datetime) -> int:
    """Give pending alerts their emails; returns how many emails were created."""
    stamp = isoformat(now)
    watches = {watch.name: watch for watch in config.watches}
    created = 0
    with write_transaction(db):
        by_watch: dict[str, list[int]] = {}
        for alert_id, name in store.unplanned_alerts(db):
            by_watch.setdefault(name, []).append(alert_id)
        for name, alert_ids in by_watch.items():
            watch = watches.get(name)
            if watch is None:
                store.fail_alerts(db, alert_ids, "the watch is no longer in the config")
                continue
            if watch.mode == "immediate":
                for alert_id in alert_ids:
                    _new_email(db, config, watch, [alert_id], "immediate", stamp)
                    created += 1
        for watch in config.watches:
            if watch.mode != "digest" or not _digest_due(db, watch, now):
                continue
            alert_ids = by_watch.get(watch.name, [])
            if alert_ids:
                _new_email(db, config, watch, alert_ids, "digest", stamp)
                created += 1
            store.set_last_digest(db, watch.name, stamp)
    return created


def _new_email(
    db: Database,
    config: AlertSettings,
    watch: WatchConfig,
    alert_ids: list[int],
    kind: str,
    stamp: str,
) -> None:
    store.new_email(
        db,
        watch=watch.name,
        kind=kind,
        created=stamp,
        message_id=message_id_for(config),
        alert_ids=alert_ids,
    )


def message_id_for(config: AlertSettings) -> str:
    """A new Message-ID in the sender's domain."""
    domain = parseaddr(config.email.sender)[1].rpartition("@")[2] or "localhost"
    return make_msgid("wirewatch", domain=domain)


def _digest_due(db: Database, watch: WatchConfig, now: datetime) -> bool:
    stamp = store.last_digest(db, watch.name)
    if stamp is None:
        return False
    last = datetime.fromisoformat(stamp)
    if watch.every is not None:
        return now - last >= timedelta(seconds=watch.every)
    assert watch.at is not None
    return last < last_occurrence(watch.at, watch.timezone, now)


def last_occurrence(at: str, zone: str, now: datetime) -> datetime:
    """The latest moment, not after ``now``, whose local time in ``zone`` is ``at`` (HH:MM)."""
    hour, minute = (int(part) for part in at.split(":"))
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    moment = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
    if moment > local:
        moment = datetime.combine(local.date() - timedelta(days=1), time(hour, minute), tzinfo=tz)
    return moment.astimezone(UTC)


def _send_due(
    db: Database,
    config: AlertSettings,
    transport: Transport,
    now: datetime,
    report: NotifyReport,
    down: set[str],
    only: set[int] | None = None,
) -> None:
    """Deliver the due emails (``only`` these, if given)."""
    watches = {watch.name: watch for watch in config.watches}
    for due in store.due_emails(db, now):
        if only is not None and due.id not in only:
            continue
        email_id, name, kind, message_id = due.id, due.watch, due.kind, due.message_id
        if kind == "health":
            prepared = _notice(db, config, email_id, message_id, now)
        else:
            prepared = _alert_email(db, config, watches.get(name), email_id, message_id, now)
        if isinstance(prepared, str):
            store.finish_email(db, email_id, FAILED, prepared, now)
            report.failed += 1
            continue
        recipients, build, alerts = prepared
        delivered = due.delivered
        label = f"{email_id} ({name or 'operator'}, {kind})"
        error = _deliver(db, config, transport, email_id, label, recipients, delivered, build, down)
        if all(recipient in delivered for recipient in recipients):
            store.finish_email(db, email_id, SENT, None, now)
            report.emails_sent += 1
            report.alerts_sent += alerts
        elif error is None:
            continue  # only recipients behind a transport that is down: untouched until next run
        elif error.permanent and not error.stop:
            store.finish_email(db, email_id, FAILED, str(error), now)
            report.failed += 1
        else:
            attempts = due.attempts + 1
            delay = min(config.email.retry * 2 ** (attempts - 1), config.email.retry_max)
            when = now + timedelta(seconds=delay)
            store.retry_email(db, email_id, attempts, str(error), when)
            report.retrying += 1


#: Who gets an email, how its message is built for one of them, and how many alerts it carries;
#: or why it cannot be sent.
Prepared = tuple[list[str], Callable[[str], EmailMessage], int] | str


def _alert_email(
    db: Database,
    config: AlertSettings,
    watch: WatchConfig | None,
    email_id: int,
    message_id: str,
    now: datetime,
) -> Prepared:
    if watch is None:
        return "the watch is no longer in the config"
    items, more = _items(db, email_id, config.email.digest_limit, watch.timezone)
    if not items:
        return "its articles are no longer in the database"

    def build(recipient: str) -> EmailMessage:
        assert watch is not None
        return build_message(
            watch=watch.name,
            query=watch.query,
            items=items,
            more=more,
            sender=config.email.sender,
            recipient=recipient,
            message_id=message_id,
            date=now,
            unsubscribe=unsubscribe_header(config, watch.name),
        )

    return [*watch.email, *watch.notify], build, len(items) + more


def unsubscribe_header(config: AlertSettings, watch: str) -> str:
    """``List-Unsubscribe``: ``[email] unsubscribe`` if set (``{watch}`` in it becomes the
    watch's name, URL-quoted), else a mailto of the first ``[email] operator`` asking to be
    taken off the watch, else none."""
    if config.email.unsubscribe:
        return config.email.unsubscribe.replace("{watch}", quote(watch, safe=""))
    if config.email.operator:
        subject = quote(f"Unsubscribe me from the watch {watch}", safe="")
        return f"<mailto:{config.email.operator[0]}?subject={subject}>"
    return ""


def _notice(
    db: Database, config: AlertSettings, email_id: int, message_id: str, now: datetime
) -> Prepared:
    """An operator email (outlet health), to every ``[email] operator``."""
    if not config.email.operator:
        return "no [email] operator in the config"
    subject, body = store.notice(db, email_id)

    def build(recipient: str) -> EmailMessage:
        return build_notice(
            subject=subject,
            body=body,
            sender=config.email.sender,
            recipient=recipient,
            message_id=message_id,
            date=now,
        )

    return config.email.operator, build, 0


def _deliver(
    db: Database,
    config: AlertSettings,
    transport: Transport,
    email_id: int,
    label: str,
    recipients: list[str],
    delivered: set[str],
    build: Callable[[str], EmailMessage],
    down: set[str],
) -> DeliveryError | None:
    """Send to each recipient not yet in ``delivered``, committing each acceptance at once.

    A recipient behind something in ``down`` (the SMTP connection, or the channel itself,
    failed earlier in this run) is left for the next run; such a failure adds to ``down``.
    Returns the worst error (a permanent one over a temporary one), None if none was met.
    """
    error: DeliveryError | None = None
    for recipient in recipients:
        channel = is_channel(recipient)
        route = recipient if channel else "mail"
        if recipient in delivered or route in down:
            continue
        try:
            transport.send(build(recipient), recipient)
        except DeliveryError as exc:
            logger.warning(
                "%(what)s %(label)s to %(to)s not delivered: %(error)s",
                {
                    "what": "Message" if channel else "Email",
                    "label": label,
                    "to": recipient,
                    "error": exc,
                },
            )
            if error is None or exc.permanent:
                error = exc
            if exc.stop or (channel and not exc.permanent):
                down.add(route)
            if channel:
                _channel_failed(db, config, recipient, str(exc))
            continue
        delivered.add(recipient)
        store.record_delivered(db, email_id, delivered)
        if channel:
            _channel_delivered(db, config, recipient)
        logger.info(
            "%(what)s %(label)s delivered to %(to)s",
            {"what": "Message" if channel else "Email", "label": label, "to": recipient},
        )
    return error


def _channel_failed(db: Database, config: AlertSettings, url: str, error: str) -> None:
    """Count a failed delivery to a channel; at ``[health] failures`` in a row, tell the
    operator (once, until it delivers again)."""
    stamp = isoformat(datetime.now(UTC))
    with write_transaction(db):
        failures, reported = channels_store.record_failure(db, url, error, stamp)
        if failures >= config.health.failures and not reported:
            channels_store.set_reported(db, url, True)
            operator_notice(
                db,
                config,
                f"[wirewatch] channel {url} is failing",
                f"The alert channel {url} has failed {failures} times in a row; the last "
                f"error: {error}.\n\nIts messages wait in the outbox and are retried with "
                "backoff; `wirewatch alerts --status pending` lists them.\n"
                "You will get one more email when it delivers again.\n",
                stamp,
            )


def _channel_delivered(db: Database, config: AlertSettings, url: str) -> None:
    """A channel delivered: its failure count restarts, and if it had been reported failing,
    the operator is told it works again. A channel with no failure on record costs one read."""
    if not channels_store.failing(db, url):
        return
    stamp = isoformat(datetime.now(UTC))
    with write_transaction(db):
        if channels_store.record_success(db, url, stamp):
            operator_notice(
                db,
                config,
                f"[wirewatch] channel {url} delivers again",
                f"The alert channel {url} delivers again.\n",
                stamp,
            )


def operator_notice(
    db: Database, config: AlertSettings, subject: str, body: str, stamp: str
) -> None:
    """Queue an email to every ``[email] operator``; without one, say so in the log."""
    if not config.email.operator:
        logger.warning("No [email] operator configured: nobody gets %(what)r", {"what": subject})
        return
    store.new_email(
        db,
        watch="",
        kind="health",
        created=stamp,
        message_id=message_id_for(config),
        subject=subject,
        body=body,
    )


def _items(db: Database, email_id: int, limit: int, zone: str) -> tuple[list[Item], int]:
    rows = store.email_articles(db, email_id)
    items = [
        Item(
            title=row["title"] or row["url"],
            url=row["url"],
            outlet=row["outlet"],
            date=local_date(row["date"], zone),
            snippets=[
                [(text, bool(mark)) for text, mark in s] for s in json.loads(row["snippets"])
            ],
            also=tuple(o for o in json.loads(row["outlets"] or "[]") if o != row["outlet"]),
            doubt=row["doubt"],
            terms=tuple((term, count) for term, count in json.loads(row["terms"] or "[]")),
        )
        for row in rows[:limit]
    ]
    return items, max(0, len(rows) - limit)
