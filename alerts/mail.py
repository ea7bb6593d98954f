"""Alert emails: built from templates with autoescaping, sent over SMTP or written to a Maildir.

Delivery goes through ``$WIREWATCH_SMTP_URL`` (``smtp://user:pass@host:port``; ``smtps://`` for
TLS from the start; STARTTLS is used whenever the server offers it). The URL stays in the
environment: neither the config file nor any log line carries the credentials. Without it,
messages are written to the ``[email] maildir`` folder, which any mail client can open.
"""

from __future__ import annotations

import mailbox
import re
import smtplib
import ssl
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from alerts.config import SMTP_URL
from alerts.watches import Snippet, snippet_text
from core.errors import WirewatchError

SUBJECT_MAX = 160

_templates = Environment(
    loader=PackageLoader("alerts", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_templates.filters["plain"] = lambda snippet: snippet_text(snippet, "*", "*")
_SPACE = re.compile(r"\s+")


#: Control characters (C0, DEL, C1): never in an SMTP URL, a log line or a stored error.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """``text`` made safe for a header: control and line-break characters become spaces."""
    cleaned = "".join(
        " " if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} else c for c in text
    )
    cleaned = _SPACE.sub(" ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Item:
    """One article in an alert email."""

    title: str
    url: str
    outlet: str
    date: str
    snippets: list[Snippet]
    #: Other outlets that published the same story.
    also: tuple[str, ...] = ()
    #: Why the stored text may not be the whole article, if it may not.
    doubt: str | None = None
    #: The watched terms the article holds and how often, the rarest first.
    terms: tuple[tuple[str, int], ...] = ()

    @property
    def link(self) -> str | None:
        """The URL if it is safe to make a link of (http or https)."""
        return self.url if urlsplit(self.url).scheme in {"http", "https"} else None


def local_date(stamp: str | None, zone: str) -> str:
    """A stored date (ISO 8601) as the reader's wall clock in ``zone``, the zone shown:
    ``2025-10-17 17:54 CEST``; a date without a time stays a date."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if len(stamp) <= 10:
        return moment.date().isoformat()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def list_id(watch: str, sender: str) -> str:
    """The ``List-Id`` of a watch's emails: its name, and a label made of it (RFC 2919), in the
    sender's domain, so a mail client can filter and mute each watch."""
    label = re.sub(r"[^a-z0-9]+", "-", watch.casefold()).strip("-")[:40]
    if label != watch.casefold().replace(" ", "-"):
        # Something was lost (a non-ASCII letter, punctuation): names that fold alike stay apart.
        label = f"{label or 'watch'}-{zlib.crc32(watch.encode()):08x}"
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    shown = one_line(watch, 60).replace('"', "'")
    return f'"{shown}" <{label}.wirewatch.{domain}>'


def build_message(
    *,
    watch: str,
    query: str,
    items: list[Item],
    more: int,
    sender: str,
    recipient: str,
    message_id: str,
    date: datetime,
    unsubscribe: str = "",
) -> EmailMessage:
    """A multipart (plain text + HTML) alert email for one recipient.

    Args:
        unsubscribe: The ``List-Unsubscribe`` header's value (``<mailto:…>`` or ``<https://…>``),
            or "" for none.
    """
    if len(items) == 1 and not more:
        subject = f"[wirewatch] {one_line(watch, 60)}: {one_line(items[0].title)}"
    else:
        count = len(items) + more
        subject = f"[wirewatch] {one_line(watch, 60)}: {count} new article{'s' * (count != 1)}"
    context: dict[str, Any] = {
        "watch": one_line(watch, 200),
        "query": one_line(query, 500),
        "items": [
            Item(
                one_line(i.title, 500),
                i.url,
                one_line(i.outlet, 80),
                i.date,
                i.snippets,
                tuple(one_line(o, 80) for o in i.also),
                i.doubt,
                tuple((one_line(term, 80), count) for term, count in i.terms),
            )
            for i in items
        ],
        "more": more,
        "subject": one_line(subject),
    }
    message = _message(subject, sender, recipient, message_id, date)
    message["X-Wirewatch-Watch"] = one_line(watch, 200)
    message["List-Id"] = list_id(watch, sender)
    if unsubscribe:
        message["List-Unsubscribe"] = one_line(unsubscribe, 500)
    message.set_content(_templates.get_template("alert.txt").render(context))
    message.add_alternative(_templates.get_template("alert.html").render(context), subtype="html")
    return message


def build_notice(
    *, subject: str, body: str, sender: str, recipient: str, message_id: str, date: datetime
) -> EmailMessage:
    """A plain-text operator email (outlet health)."""
    message = _message(subject, sender, recipient, message_id, date)
    message.set_content(
        body + "\n-- \nSent by wirewatch. This message was generated automatically.\n"
    )
    return message


def _message(
    subject: str, sender: str, recipient: str, message_id: str, date: datetime
) -> EmailMessage:
    """An empty message with the headers every wirewatch email carries."""
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    return message


# -- transports --------------------------------------------------------------------------------


class DeliveryError(Exception):
    """A message was not accepted.

    Attributes:
        permanent: The server refused it for good (a 5xx reply): do not retry.
        stop: The connection itself failed: stop this run, try the rest later.
    """

    def __init__(self, message: str, *, permanent: bool = False, stop: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.stop = stop


class Transport(Protocol):
    def send(self, message: EmailMessage, recipient: str) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class MaildirTransport:
    """Write each message into a Maildir folder (``new/``), atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._box: mailbox.Maildir | None = None

    def send(self, message: EmailMessage, recipient: str) -> None:
        try:
            if self._box is None:
                self._box = mailbox.Maildir(self.path, create=True)
            self._box.add(message)
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.path}: {exc}", stop=True) from exc

    def close(self) -> None:
        self._box = None

    def describe(self) -> str:
        return f"Maildir {self.path}"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Read ``smtp://user:pass@host:port`` or ``smtps://...``.

        Raises:
            WirewatchError: Not such a URL; the message never repeats the password.
        """
        if _CONTROL.search(url.strip()):
            raise WirewatchError(
                f"${SMTP_URL} holds a control character (a line break, a tab): write it on one "
                "line, with %-escapes where the password needs them"
            )
        parts = urlsplit(url.strip())
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname or port == -1:
            shown = f"{parts.scheme}://{parts.hostname or ''}"
            raise WirewatchError(
                f"${SMTP_URL} must look like smtp://user:password@host:port or smtps://…; "
                f"got {shown}…"
            )
        tls = parts.scheme == "smtps"
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        host = unquote(parts.hostname)
        for part, value in (("host", host), ("user name", username), ("password", password)):
            if value and _CONTROL.search(value):
                raise WirewatchError(
                    f"the {part} of ${SMTP_URL} decodes to a control character (%0d, %0a, ...):"
                    " an SMTP server would read it as a new command; remove it"
                )
        return cls(
            host=host,
            port=port or (465 if tls else 25),
            tls=tls,
            username=username,
            password=password,
        )

    def describe(self) -> str:
        scheme = "smtps" if self.tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class SmtpTransport:
    """One SMTP connection per notify run, opened on the first message."""

    def __init__(self, settings: SmtpSettings, sender: str) -> None:
        self.settings = settings
        self.sender = parseaddr(sender)[1]
        self._smtp: smtplib.SMTP | None = None

    def describe(self) -> str:
        return self.settings.describe()

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.tls:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            smtp.ehlo()
            if not settings.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, recipient: str) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message, self.sender, [recipient])
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise DeliveryError(
                f"SMTP login refused by {self.describe()}: {exc.smtp_code} {_text(exc.smtp_error)}",
                stop=True,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            raise DeliveryError(
                f"{self.describe()} does not offer AUTH over this connection: {exc}", stop=True
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(
                f"recipient refused: {code} {_text(reply)}", permanent=500 <= code < 600
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise DeliveryError(f"connection lost: {exc}", stop=True) from exc
        except smtplib.SMTPResponseException as exc:
            connect = isinstance(exc, smtplib.SMTPConnectError)
            if connect:
                self.close()
            raise DeliveryError(
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=500 <= exc.smtp_code < 600 and not connect,
                stop=connect,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            where = f"{self.settings.host}:{self.settings.port}"
            raise DeliveryError(
                f"cannot reach {where}: {exc or type(exc).__name__}", stop=True
            ) from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise DeliveryError(f"recipient refused: {code} {_text(reply)}", permanent=code >= 500)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _text(reply: bytes | str) -> str:
    return one_line(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply, 300)


def transport(maildir: Path, sender: str, smtp_url: str = "") -> Transport:
    """SMTP if ``smtp_url`` (``$WIREWATCH_SMTP_URL``, which the application reads) is given,
    else the Maildir."""
    url = smtp_url.strip()
    if url:
        return SmtpTransport(SmtpSettings.from_url(url), sender)
    return MaildirTransport(maildir)
