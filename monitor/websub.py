"""WebSub (W3C, formerly PubSubHubbub): where a feed names a hub and ``[websub] callback`` is
set, the monitor subscribes at the hub, and each update the hub pushes starts the outlet's run
at once, through the one ingest path (its feeds polled, its new items fetched first, its
alerts delivered as they are stored). Polling goes on as the safety net.

- **Discovery**: the crawl records the hub and topic a feed names (its ``Link`` headers, its
  ``<atom:link rel="hub">``, JSON Feed's ``hubs``) in ``websub`` (``storage.websub``).
- **Subscribe** (:meth:`WebSub.sync`, in a thread of its own: at start, after each run, on
  reload, when a lease is granted, and every ten minutes at most): a POST to the
  hub with ``hub.callback`` (the public ``callback`` URL and a token of the subscription's
  own), ``hub.topic``, ``hub.lease_seconds`` and ``hub.secret``, through the operator fetch's
  guard (``crawler.fetch``: a hub at a private address only if it is one of the outlet's own
  origins). A request the hub does not verify within ``VERIFY_WITHIN`` is failed; a failed or
  denied one is tried again after ``RETRY_AFTER``; a lease is renewed when four fifths of it
  have run; a feed no longer configured, or no longer naming its hub, is unsubscribed.
- **The callback server** (on ``listen``, behind the reverse proxy that serves ``callback``):
  a GET is the hub's verification of intent, answered with its challenge only for a pending
  request of that token and topic (404 otherwise); ``hub.mode=denied`` is recorded. A POST is
  content: read up to ``[crawl] max_size``, its ``X-Hub-Signature`` checked against the
  subscription's secret (HMAC, sha1 to sha512); a bad or missing signature is logged and the
  content ignored, and answered 2xx all the same, as the spec asks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlite_utils import Database

from core.units import format_duration
from crawler.config import OutletConfig
from crawler.fetch import fetch_url
from extractors.dates import isoformat
from monitor.config import MonitorConfig
from storage import websub

logger = logging.getLogger("wirewatch.websub")

#: Seconds a hub has to verify a request before it counts as failed.
VERIFY_WITHIN = 600.0
#: Seconds before a failed or denied subscription is tried again.
RETRY_AFTER = 3600.0
#: Seconds between two looks at the subscriptions, at most.
SYNC_EVERY = 600.0
#: The fraction of a lease after which it is renewed.
RENEW_AT = 0.8
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384}
_DIGESTS["sha512"] = hashlib.sha512


def _at(stamp: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None


class WebSub:
    """The monitor's subscriptions and its callback server."""

    def __init__(
        self,
        config: MonitorConfig,
        open_db: Callable[[], Database],
        pushed: Callable[[str], None],
    ) -> None:
        self.config = config
        self.open_db = open_db
        self.pushed = pushed  # an outlet's feed was pushed: run it now
        self.server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()  # one sync at a time
        self.woken = threading.Event()  # something changed: sync now
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def on(self) -> bool:
        return bool(self.config.websub.callback)

    # -- the callback server -------------------------------------------------------------------

    def start(self) -> None:
        """Bind the callback server, if ``[websub] callback`` is set.

        Raises:
            OSError: ``listen`` cannot be bound (the message names it).
        """
        if not self.on or self.server is not None:
            return
        host, port = self.config.websub.bind()
        try:
            self.server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise OSError(
                f"[websub] listen = {self.config.websub.listen!r} cannot be bound: "
                f"{exc.strerror or exc}; free the port or set another"
            ) from None
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="websub", daemon=True).start()
        if self.thread is None:
            self.thread = threading.Thread(target=self._keep, name="websub-sync", daemon=True)
            self.thread.start()
        logger.info(
            "WebSub callbacks on %(listen)s, reached as %(callback)s",
            {"listen": self.config.websub.listen, "callback": self.config.websub.callback},
        )

    def wake(self) -> None:
        """Look at the subscriptions now (a run may have found a hub, a lease was granted, the
        config changed)."""
        self.woken.set()

    def _keep(self) -> None:
        """The subscriptions' thread: a sync, then a wait until the next is due or a wake."""
        while not self.stopping.is_set():
            try:
                due = self.sync()
            except Exception:  # a bad row or a database trouble must not end the thread
                logger.exception("WebSub subscriptions not updated; tried again soon")
                due = 60.0
            self.woken.wait(due)
            self.woken.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.woken.set()
        self._close_server()

    def _close_server(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reload(self, config: MonitorConfig) -> None:
        old = self.config.websub
        self.config = config
        if (old.callback, old.listen) != (config.websub.callback, config.websub.listen):
            self._close_server()
            self.start()
        self.wake()

    def verify(self, token: str, query: dict[str, str]) -> tuple[int, bytes]:
        """The hub's verification of intent (or its denial) for ``token``: status and body."""
        db = self.open_db()
        try:
            row = websub.by_token(db, token)
            mode = query.get("hub.mode", "")
            if row is None:
                return 404, b"unknown subscription"
            if mode == "denied":
                reason = query.get("hub.reason", "") or "no reason given"
                websub.failed(db, row["feed"], "denied", f"the hub denied it: {reason}")
                logger.warning(
                    "WebSub: %(hub)s denied the subscription to %(topic)s: %(reason)s",
                    {"hub": row["hub"], "topic": row["topic"], "reason": reason[:200]},
                )
                return 200, b""
            wanted = "unsubscribe" if row["state"] == "unsubscribing" else "subscribe"
            if mode != wanted or query.get("hub.topic") != row["topic"]:
                return 404, b"no such request"
            challenge = query.get("hub.challenge", "")
            if mode == "unsubscribe":
                websub.forget(db, row["feed"])
                logger.info("WebSub: unsubscribed from %(topic)s", {"topic": row["topic"]})
                return 200, challenge.encode()
            try:
                lease = float(query.get("hub.lease_seconds") or self.config.websub.lease)
            except ValueError:
                lease = self.config.websub.lease
            lease = max(1.0, lease)
            until = isoformat(datetime.now(UTC) + timedelta(seconds=lease))
            websub.verified(db, token, lease, until)
            self.wake()  # to time its renewal
            logger.info(
                "WebSub: %(hub)s pushes %(topic)s to this monitor, lease %(lease)s",
                {"hub": row["hub"], "topic": row["topic"], "lease": format_duration(lease)},
            )
            return 200, challenge.encode()
        finally:
            db.close()

    def content(self, token: str, body: bytes, signature: str) -> int:
        """Content the hub pushed for ``token``: the outlet's run started if it is genuine."""
        db = self.open_db()
        try:
            row = websub.by_token(db, token)
            if row is None or row["state"] not in ("verified", "requested"):
                return 410 if row is None else 202  # 410 Gone: the hub ends the subscription
            method, _, given = signature.partition("=")
            digest = _DIGESTS.get(method.strip().lower())
            expected = (
                hmac.new(str(row["secret"]).encode(), body, digest).hexdigest() if digest else ""
            )
            if not expected or not hmac.compare_digest(expected, given.strip().lower()):
                logger.warning(
                    "WebSub: content for %(topic)s ignored: %(why)s",
                    {
                        "topic": row["topic"],
                        "why": "its signature does not match" if signature else "it is unsigned",
                    },
                )
                return 202
            websub.pushed(db, token)
        finally:
            db.close()
        # The content is not read here: the run reads the feed itself, through the one path.
        logger.info(
            "WebSub: %(topic)s pushed: %(outlet)s runs now",
            {"topic": row["topic"], "outlet": row["outlet"]},
        )
        if row["outlet"]:
            self.pushed(str(row["outlet"]))
        return 202

    # -- subscriptions -------------------------------------------------------------------------

    def sync(self, now: datetime | None = None) -> float:
        """Subscribe, renew, retry and unsubscribe as due; the seconds until the next is due
        (at most ``SYNC_EVERY``)."""
        if not self.on:
            return SYNC_EVERY
        now = now or datetime.now(UTC)
        with self.lock:
            db = self.open_db()
            try:
                return self._sync(db, now)
            finally:
                db.close()

    def _sync(self, db: Database, now: datetime) -> float:
        owners = {feed: outlet for outlet in self.config.outlets for feed in outlet.feeds}
        soonest = SYNC_EVERY
        for row in websub.feeds(db):
            outlet = owners.get(row["feed"])
            state = row["state"]
            if outlet is None or not row["named"]:
                if state in ("verified", "requested"):
                    # The outlet that subscribed, if it is still configured: its origins are
                    # the ones its hub may be at.
                    owner = outlet or self._outlet(str(row["outlet"] or ""))
                    self._request(db, row, owner, "unsubscribe")
                elif state != "unsubscribing" or self._stale(row, now):
                    websub.forget(db, row["feed"])
                continue
            due = self._due(db, row, now)
            if due <= 0:
                self._request(db, row, outlet, "subscribe")
            else:
                soonest = min(soonest, due)
        return max(1.0, soonest)

    def _outlet(self, name: str) -> OutletConfig | None:
        try:
            return self.config.outlet(name)
        except KeyError:
            return None

    def _stale(self, row: dict[str, Any], now: datetime) -> bool:
        asked = _at(row["requested"])
        return asked is None or (now - asked).total_seconds() >= VERIFY_WITHIN

    def _due(self, db: Database, row: dict[str, Any], now: datetime) -> float:
        """Seconds until the feed's subscription is to be requested again (<= 0: now)."""
        state, asked = row["state"], _at(row["requested"])
        if state == "verified":
            until, lease = _at(row["lease_until"]), float(row["lease"] or 0)
            if until is None:
                return 0.0
            renew = until - timedelta(seconds=lease * (1 - RENEW_AT))
            return (renew - now).total_seconds()
        if state == "requested" and asked is not None:
            left = VERIFY_WITHIN - (now - asked).total_seconds()
            if left > 0:
                return left
            websub.failed(db, row["feed"], "failed", "the hub never verified it")
            logger.warning(
                "WebSub: %(hub)s never verified the subscription to %(topic)s; polling goes "
                "on, and it is asked again in %(wait)s",
                {"hub": row["hub"], "topic": row["topic"], "wait": format_duration(RETRY_AFTER)},
            )
            return RETRY_AFTER
        if state in ("failed", "denied") and asked is not None:
            return RETRY_AFTER - (now - asked).total_seconds()
        return 0.0

    def _request(
        self, db: Database, row: dict[str, Any], outlet: OutletConfig | None, mode: str
    ) -> None:
        """Ask the hub to (un)subscribe ``row``'s topic for ``outlet`` (None: one no longer
        configured, whose origins are trusted no more); recorded as requested or failed. The
        hub may be at a private address only if it is one of the outlet's origins."""
        config = self.config
        token = row["token"] or secrets.token_urlsafe(18)
        secret = row["secret"] or secrets.token_hex(20)
        form = {
            "hub.mode": mode,
            "hub.topic": row["topic"],
            "hub.callback": f"{config.websub.callback}/{token}",
        }
        if mode == "subscribe":
            # Kept across renewals: content the hub pushes meanwhile is signed with it.
            form["hub.secret"] = secret
            form["hub.lease_seconds"] = str(int(config.websub.lease))
        name = outlet.name if outlet is not None else str(row["outlet"] or "")
        state = "requested" if mode == "subscribe" else "unsubscribing"
        # Recorded first: the hub may verify before its answer to this request arrives.
        websub.requested(db, row["feed"], outlet=name, token=token, secret=secret, state=state)
        try:
            answer = fetch_url(
                row["hub"],
                config.crawl.user_agent,
                config.crawl.timeout,
                trusted=outlet.origins if outlet is not None else (),
                form=form,
            )
        except OSError as exc:
            self._failed(db, row, f"the hub {row['hub']} cannot be reached: {exc}")
            return
        if not 200 <= answer.status < 300:
            said = answer.body[:200].decode("utf-8", "replace")
            said = "".join(c if c.isprintable() else " " for c in said).strip()
            self._failed(
                db, row, f"the hub answered HTTP {answer.status}" + (f": {said}" if said else "")
            )
            return
        logger.info(
            "WebSub: asked %(hub)s to %(mode)s %(topic)s",
            {"hub": row["hub"], "mode": mode, "topic": row["topic"]},
        )

    def _failed(self, db: Database, row: dict[str, Any], error: str) -> None:
        websub.failed(db, row["feed"], "failed", error)
        logger.warning(
            "WebSub: %(topic)s not subscribed (%(error)s); polling goes on, tried again in "
            "%(wait)s",
            {"topic": row["topic"], "error": error, "wait": format_duration(RETRY_AFTER)},
        )


def _handler(subs: WebSub) -> type[BaseHTTPRequestHandler]:
    class Callback(BaseHTTPRequestHandler):
        server_version = "wirewatch-websub"
        timeout = 30  # seconds a slow client may hold a connection's thread

        def _token(self) -> str:
            return urlsplit(self.path).path.rstrip("/").rpartition("/")[2]

        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            try:
                status, body = subs.verify(self._token(), query)
            except sqlite3.Error as exc:
                logger.error("WebSub: verification not recorded: %(error)s", {"error": exc})
                status, body = 503, b"try again"
            self._answer(status, body)

        def do_POST(self) -> None:
            limit = subs.config.crawl.max_size
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                self._answer(411, b"Content-Length required")
                return
            if length > limit or length < 0:
                self._answer(413, b"too large")
                return
            body = self.rfile.read(length)
            try:
                status = subs.content(self._token(), body, self.headers.get("X-Hub-Signature", ""))
            except sqlite3.Error as exc:
                logger.error("WebSub: content not taken: %(error)s", {"error": exc})
                status = 503
            self._answer(status, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Callback
