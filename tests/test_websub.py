"""WebSub (#33): a feed that names a hub is subscribed at it, verified, renewed, and a pushed
update starts the outlet's run at once, its alert delivered as it is stored; content with a
bad signature is ignored. A real monitor, a real hub and outlet on 127.0.0.1 (the hub speaks
the W3C recommendation's subscriber side: subscription request, verification of intent with a
challenge, signed content distribution), a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core.errors import ConfigError
from crawler.discovery import Hub, feed_hub, read_feed
from tests.support.daemons import Daemon, schedule, wait_for
from tests.support.hub import deliver, verify_intent
from tests.support.servers import Answering, free_port, serving, story_page
from tests.support.site import wirewatch
from wirewatch.config import parse_config

WATCH = (
    '\n[[watches]]\nname = "S-400"\nquery = "S-400"\nemail = "analyst@example.org"\n'
    'max_age = "10000d"\n'
)


class HubSite(Answering):
    """An outlet whose feed names its hub, and the hub: it takes subscriptions (202), verifies
    intent with a challenge, and pushes signed content on :func:`publish`."""

    stories: ClassVar[list[tuple[str, str]]] = []  # (name, lead sentence), newest last
    requests: ClassVar[list[dict[str, str]]] = []  # the subscription requests it took
    verified: ClassVar[list[dict[str, str]]] = []  # requests whose challenge came back
    lease: ClassVar[int] = 3600
    base: ClassVar[str] = ""
    names_hub: ClassVar[bool] = True  # the feed's atom:link rel="hub"

    def do_GET(self) -> None:
        now = datetime.now(UTC)
        if self.path == "/feed.xml":
            self.answer(200, feed(now), {"Content-Type": "application/rss+xml"})
        elif self.path.startswith("/story/"):
            name = self.path.rsplit("/", 1)[1]
            lead = dict(type(self).stories).get(name, "")
            self.answer(
                200, story_page(name, lead + " "), {"Content-Type": "text/html; charset=utf-8"}
            )
        else:
            self.answer(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        if self.path != "/hub" or form.get("hub.mode") not in ("subscribe", "unsubscribe"):
            self.answer(400, b"not a subscription request")
            return
        type(self).requests.append(form)
        self.answer(202)
        threading.Thread(target=verify, args=(form,), daemon=True).start()


def feed(now: datetime) -> bytes:
    items = "".join(
        f"<item><title>{name}</title><link>{HubSite.base}/story/{name}</link>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=n))}</pubDate></item>"
        for n, (name, _) in enumerate(reversed(HubSite.stories))
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        "<channel><title>Wire</title>"
        + (f'<atom:link rel="hub" href="{HubSite.base}/hub"/>' if HubSite.names_hub else "")
        + f'<atom:link rel="self" href="{HubSite.base}/feed.xml"/>{items}</channel></rss>'
    ).encode()


def verify(form: dict[str, str]) -> None:
    if verify_intent(form, HubSite.lease):
        HubSite.verified.append(form)


def publish(name: str, lead: str, secret: str | None = None) -> int:
    """A new story: the feed lists it, and the hub pushes the feed, signed, to the subscriber."""
    HubSite.stories.append((name, lead))
    (subscription,) = {f["hub.callback"]: f for f in HubSite.verified}.values()
    key = secret if secret is not None else subscription["hub.secret"]
    status, _ = deliver(subscription["hub.callback"], key, feed(datetime.now(UTC)))
    return status


@pytest.fixture
def hub_site():
    HubSite.stories = [("old", "The talks began.")]
    HubSite.requests, HubSite.verified, HubSite.lease = [], [], 3600
    HubSite.names_hub = True
    with serving(HubSite) as base:
        HubSite.base = base
        yield base


def config_text(tmp_path, base: str, port: int) -> str:
    return (
        f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n'
        '[crawl]\ndelay = "0s"\nautothrottle = false\n'
        f'[websub]\ncallback = "http://127.0.0.1:{port}/websub"\nlisten = "127.0.0.1:{port}"\n'
        f'[[outlets]]\nname = "wire"\nfeeds = ["{base}/feed.xml"]\n'
        # Polled once an hour, notify once an hour: only the push can bring the news soon.
        + schedule("1h", workers="1", notify='"1h"')
        + WATCH
    )


def runs(tmp_path) -> list[Any]:
    with sqlite3.connect(tmp_path / "w.db") as db:
        return db.execute("select status from crawl_runs order by id").fetchall()


@contextmanager
def monitoring(tmp_path, base: str, smtp_port: int = 1) -> Iterator[tuple[Daemon, Path, int]]:
    """A monitor of the hub's outlet, its first run over and its subscription verified:
    the daemon, its config and its callback port."""
    port = free_port()
    config = tmp_path / "w.toml"
    config.write_text(config_text(tmp_path, base, port))
    daemon = Daemon(config, env={"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"})
    try:
        # The first run reads the feed and finds its hub; the monitor subscribes, the hub
        # verifies the intent.
        wait_for(lambda: HubSite.verified, 60, "the verified subscription")
        wait_for(lambda: runs(tmp_path) == [("finished",)], 30, "the first run's end")
        yield daemon, config, port
    finally:
        daemon.stop()
    assert daemon.process.returncode == 0, daemon.log


def test_a_pushed_story_reaches_the_inbox_without_waiting_for_the_poll(tmp_path, hub_site, smtp):
    handler, smtp_port = smtp
    with monitoring(tmp_path, hub_site, smtp_port) as (daemon, config, port):
        (request,) = HubSite.requests
        assert request["hub.topic"] == f"{hub_site}/feed.xml"
        assert request["hub.callback"].startswith(f"http://127.0.0.1:{port}/websub/")
        assert len(request["hub.secret"]) >= 32 and request["hub.lease_seconds"] == "604800"
        assert not handler.messages
        assert publish("s400", "Moscow offered the S-400 system.") == 202
        wait_for(lambda: handler.messages, 60, "the pushed story's alert")
        (message,) = handler.messages
        assert "S-400" in message["Subject"]
        assert len(runs(tmp_path)) == 2  # the push started a run; the hourly poll did not
        with sqlite3.connect(tmp_path / "w.db") as db:
            state, pushes = db.execute("select state, pushes from websub").fetchone()
        assert (state, pushes) == ("verified", 1)
        shown = wirewatch("--config", str(config), "status").stdout
        assert f"pushed by {hub_site}/hub (lease to " in shown and "1 push(es)" in shown, shown
    assert "WebSub: " in daemon.log and "Traceback" not in daemon.log


def test_content_with_a_bad_signature_is_ignored_and_a_short_lease_renewed(
    tmp_path, hub_site, smtp
):
    handler, smtp_port = smtp
    HubSite.lease = 3  # granted by the hub: renewed when four fifths have run
    with monitoring(tmp_path, hub_site, smtp_port) as (daemon, _, _):
        # Answered 2xx as the spec asks, and ignored: no run, no alert.
        assert publish("s400", "Moscow offered the S-400 system.", secret="forged") == 202
        wait_for(lambda: "signature does not match" in daemon.log, 30, "the ignored content")
        wait_for(lambda: len(HubSite.verified) >= 3, 30, "two renewals of the 3 s lease")
        assert {f["hub.secret"] for f in HubSite.verified} == {HubSite.requests[0]["hub.secret"]}
        assert runs(tmp_path) == [("finished",)] and not handler.messages


def test_a_feed_taken_out_of_the_config_is_unsubscribed(tmp_path, hub_site):
    with monitoring(tmp_path, hub_site) as (daemon, config, _):
        config.write_text(config.read_text().replace("/feed.xml", "/other.xml"))
        wait_for(
            lambda: any(f["hub.mode"] == "unsubscribe" for f in HubSite.verified),
            60,
            "the verified unsubscription",
        )
        wait_for(lambda: "unsubscribed from" in daemon.log, 30, "the unsubscription logged")
        with sqlite3.connect(tmp_path / "w.db") as db:
            assert db.execute("select count(*) from websub").fetchone()[0] == 0


def test_a_feed_that_stops_naming_its_hub_is_unsubscribed(tmp_path, hub_site):
    with monitoring(tmp_path, hub_site) as (daemon, _, _):
        HubSite.names_hub = False
        assert publish("next", "The talks went on.") == 202  # its run reads the feed again
        wait_for(
            lambda: any(f["hub.mode"] == "unsubscribe" for f in HubSite.verified),
            60,
            "the verified unsubscription",
        )
        wait_for(lambda: "unsubscribed from" in daemon.log, 30, "the unsubscription logged")


def test_a_verification_for_no_request_is_refused(tmp_path, hub_site):
    with monitoring(tmp_path, hub_site) as (_, _, port):
        token = HubSite.verified[0]["hub.callback"].rsplit("/", 1)[1]
        for path, query in (
            ("unknown-token", {"hub.mode": "subscribe", "hub.topic": f"{hub_site}/feed.xml"}),
            (token, {"hub.mode": "subscribe", "hub.topic": "http://other.example/feed"}),
            (token, {"hub.mode": "unsubscribe", "hub.topic": f"{hub_site}/feed.xml"}),
        ):
            url = f"http://127.0.0.1:{port}/websub/{path}?" + urllib.parse.urlencode(
                {**query, "hub.challenge": "c"}
            )
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(url, timeout=10)
            assert caught.value.code == 404
            caught.value.close()


def test_a_feed_names_its_hub_in_any_of_the_ways_the_spec_allows():
    rss = (
        b'<rss xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        b'<atom:link rel="hub" href="https://hub.example/"/>'
        b'<atom:link rel="self" href="https://site.example/feed"/><item><link>x</link></item>'
        b"</channel></rss>"
    )
    assert hub_of(rss, "http://u/") == Hub("https://hub.example/", "https://site.example/feed")
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="https://h/"/></feed>'
    assert hub_of(atom, "http://u/feed") == Hub("https://h/", "http://u/feed")
    header = '<https://hub.example/>; rel="hub", <https://site.example/f>; rel=self'
    assert feed_hub({}, "http://u/", header) == Hub(
        "https://hub.example/", "https://site.example/f"
    )
    json_feed = b'{"version": "https://jsonfeed.org/version/1.1", "hubs": [{"type": "WebSub", "url": "https://h/"}], "items": []}'
    assert hub_of(json_feed, "http://u/") == Hub("https://h/", "http://u/")
    # An item's own links are not the feed's; a hub that is no http(s) URL is none.
    late = b'<rss version="2.0"><channel><item><link>http://u/1</link></item></channel></rss>'
    late = late.replace(
        b"</link>",
        b'</link><atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" href="https://h/"/>',
    )
    scheme = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="javascript:x"/></feed>'
    )
    for body in (late, scheme):
        assert hub_of(body, "http://u/") is None


def hub_of(body: bytes, url: str) -> Hub | None:
    return feed_hub(read_feed(body, url).links, url)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('callback = "wirewatch.example.org"', "not an http(s) URL"),
        ('callback = "https://w.example/cb?x=1"', "takes no query"),
        ('callback = "https://w.example/cb"\nlisten = "8470"', "is not HOST:PORT"),
    ],
)
def test_websub_settings_are_checked(section, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(f"[websub]\n{section}\n")


def test_without_a_callback_status_says_the_feed_could_be_pushed(tmp_path, hub_site):
    config = tmp_path / "w.toml"
    config.write_text(
        "\n".join(
            line
            for line in config_text(tmp_path, hub_site, 1).splitlines()
            if '= "127.0.0.1:1' not in line and "callback" not in line
        )
    )
    assert wirewatch("--config", str(config), "crawl").returncode == 0
    shown = wirewatch("--config", str(config), "status").stdout
    assert f"its feed names a WebSub hub ({hub_site}/hub): set [websub] callback" in shown, shown
    assert not HubSite.requests  # nothing subscribes without a callback


def test_check_says_where_hubs_reach_the_monitor(tmp_path, hub_site):
    config = tmp_path / "w.toml"
    config.write_text(config_text(tmp_path, hub_site, 8471))
    shown = wirewatch("--config", str(config), "check").stdout
    assert (
        "WebSub callbacks at http://127.0.0.1:8471/websub (listening on 127.0.0.1:8471)" in shown
    ), shown
