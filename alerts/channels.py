"""Alert channels beside email: Apprise URLs (Slack, Telegram, Matrix, ntfy, Discord, Teams,
``json://`` webhooks, and the rest of Apprise's list).

A watch's ``notify`` lists the URLs as the config writes them. Their secrets are written
``${NAME}`` and filled in from the environment only when a message goes out, so the config
file, the database (which records who has each message by the written form) and the log never
hold them. A channel gets the plain-text form of the email: the subject as its title.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from alerts.mail import DeliveryError, Transport, one_line
from alerts.mail import transport as mail_transport

SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Schemes whose URL is itself the credential (a bot token, a webhook's secret path): they must
#: name their secret as ``${NAME}``. (ntfy and Signal URLs name a topic or a number; a password
#: in any URL is refused on its own.)
TOKEN_SCHEMES = frozenset(
    {
        "slack",
        "tgram",
        "discord",
        "msteams",
        "workflow",
        "workflows",
        "matrix",
        "matrixs",
        "pushover",
        "gotify",
        "gotifys",
        "mmost",
        "mmosts",
        "rocket",
        "rockets",
        "zulip",
        "twilio",
        "pbul",
        "join",
        "line",
        "threema",
        "wxteams",
        "ifttt",
    }
)
TIMEOUT = 30.0


def is_channel(recipient: str) -> bool:
    """Whether a recipient is a channel URL rather than an email address."""
    return "://" in recipient


def check_channel(url: str) -> str:
    """A ``notify`` URL as the config may hold it.

    Raises:
        ValueError: Not a URL, or a secret written into it rather than named as ``${NAME}``.
    """
    parts = urlsplit(url)
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme) or not (parts.netloc or parts.path):
        raise ValueError(f"not an Apprise URL (scheme://…): {url!r}")
    shown = f"{parts.scheme}://…"
    if parts.password and not SECRET.search(parts.password):
        raise ValueError(
            f"{shown} holds a password: write it as ${{NAME}} and set NAME in the environment"
        )
    if parts.scheme in TOKEN_SCHEMES and not SECRET.search(url):
        raise ValueError(
            f"{shown} carries its token in the URL: write the token as ${{NAME}} "
            f"(e.g. {parts.scheme}://${{{parts.scheme.upper()}_TOKEN}}) and set NAME in the "
            "environment"
        )
    return url


def expand(url: str, environment: Mapping[str, str]) -> str:
    """``url`` with each ``${NAME}`` replaced by the environment's value.

    Raises:
        DeliveryError: A name is not set (a temporary failure: set it and the message goes).
    """
    missing = sorted({name for name in SECRET.findall(url) if name not in environment})
    if missing:
        raise DeliveryError(f"{', '.join('$' + m for m in missing)} not set in the environment")
    return SECRET.sub(lambda m: environment[m.group(1)], url)


class ChannelTransport:
    """Send each message to one Apprise URL."""

    def __init__(self, environment: Mapping[str, str], timeout: float = TIMEOUT) -> None:
        self.environment = environment
        self.timeout = timeout

    def send(self, message: EmailMessage, recipient: str) -> None:
        import apprise

        url = expand(recipient, self.environment)
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError(
                f"{recipient}: not a URL Apprise understands (see the Apprise wiki for its "
                "services' URLs)",
                permanent=True,
            )
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        result = notifier.notify(
            body=text,
            title=str(message["Subject"]),
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self.timeout,
        )
        if not result:
            said = [entry.message for entry in result.logs() if entry.level in {"WARNING", "ERROR"}]
            raise DeliveryError(self._scrub("; ".join(said) or "not delivered", recipient))

    def _scrub(self, text: str, recipient: str) -> str:
        """``text`` with every secret of ``recipient`` put back as ``${NAME}``."""
        for name in SECRET.findall(recipient):
            value = self.environment.get(name, "")
            if value:
                text = text.replace(value, "${" + name + "}")
        return one_line(text, 300)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "Apprise"


class Router:
    """Email addresses to the mail transport, channel URLs to Apprise."""

    def __init__(self, mail: Transport, channels: Transport) -> None:
        self.mail = mail
        self.channels = channels

    def send(self, message: EmailMessage, recipient: str) -> None:
        (self.channels if is_channel(recipient) else self.mail).send(message, recipient)

    def close(self) -> None:
        self.mail.close()
        self.channels.close()

    def describe(self) -> str:
        return f"{self.mail.describe()} (channels through Apprise)"


def transport(maildir: Path, sender: str, smtp_url: str, environment: Mapping[str, str]) -> Router:
    """Email through SMTP (``smtp_url``) or the Maildir, channels through Apprise with their
    secrets from ``environment``."""
    return Router(mail_transport(maildir, sender, smtp_url), ChannelTransport(environment))
