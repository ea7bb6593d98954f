"""The hub's side of WebSub (W3C), for the tests and bench/push.py: its verification of a
subscriber's intent, and its signed delivery of content."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
import urllib.request


def verify_intent(form: dict[str, str], lease: int) -> bool:
    """Ask the subscription request ``form``'s callback to confirm it (a GET with a
    challenge, granting ``lease`` seconds); True if it echoed the challenge."""
    challenge = secrets.token_hex(8)
    query = urllib.parse.urlencode(
        {
            "hub.mode": form["hub.mode"],
            "hub.topic": form["hub.topic"],
            "hub.challenge": challenge,
            "hub.lease_seconds": str(lease),
        }
    )
    try:
        with urllib.request.urlopen(f"{form['hub.callback']}?{query}", timeout=10) as answer:
            return answer.status == 200 and answer.read().decode() == challenge
    except OSError:
        return False  # the subscriber is gone or refused it


def deliver(callback: str, secret: str, body: bytes) -> tuple[int, float]:
    """POST ``body`` to ``callback``, signed with ``secret`` (sha256); the answer's status and
    when the delivery was sent (epoch seconds)."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        callback,
        data=body,
        headers={"Content-Type": "application/rss+xml", "X-Hub-Signature": f"sha256={signature}"},
    )
    sent = time.time()
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, sent
