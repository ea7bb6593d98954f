"""Alerts end to end: replayed fixtures, a real SQLite file, a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import mailbox
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.mail import MaildirTransport, SmtpSettings, SmtpTransport
from alerts.outbox import last_occurrence, notify, notify_lock
from extractors.article import Article
from ingest import Ingest
from storage.db import open_db
from tests.support.servers import Handler, free_port
from tests.support.site import ROOT, SITE, outlets_config, wirewatch
from wirewatch.config import parse_config

ANALYST = "analyst@example.org"
WATCHES = f"""
[[watches]]
name = "S-400"
query = "S-400"
email = "{ANALYST}"
max_age = "10000d"

[[watches]]
name = "snapback"
query = "snapback"
email = ["{ANALYST}", "desk@example.org"]
max_age = "10000d"

[[watches]]
name = "chrome only"
query = 'Pezeshkian OR "zero enrichment" OR Nagorno-Karabakh'
email = "{ANALYST}"
max_age = "10000d"
"""


def config_text(tmp_path: Path, watches: str = WATCHES, email_extra: str = "") -> str:
    return f"""
[storage]
database = "{tmp_path / "w.db"}"

[[outlets]]
name = "tehrantimes"
feeds = ["https://www.tehrantimes.com/rss"]

[email]
from = "wirewatch@example.org"
maildir = "{tmp_path / "maildir"}"
retry = "0s"
{email_extra}
{watches}
"""


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    config = tmp_path / "w.toml"
    config.write_text(config_text(tmp_path), encoding="utf-8")
    return config


def alerts_of(config: Path) -> list[dict]:
    result = wirewatch("--config", str(config), "alerts", "--json", "--limit", "100")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_replayed_fixtures_send_the_right_emails_once(
    setup: Path, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    url = {"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    replayed = wirewatch("--config", str(setup), "replay", "--json", str(SITE))
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["alerts"] == 3

    sent = wirewatch("--config", str(setup), "notify", "--json", **url)
    assert sent.returncode == 0, sent.stderr
    report = json.loads(sent.stdout)
    assert report["emails_sent"] == 3 and report["failed"] == 0

    by_to: dict[str, list[str]] = {}
    for message in handler.messages:
        by_to.setdefault(message["X-Envelope-To"], []).append(message["Subject"])
    assert sorted(by_to[ANALYST]) == [
        "[wirewatch] S-400: Russia voices commitment to military cooperation with Iran",
        "[wirewatch] S-400: Russia-Iran military cooperation observing international law: Diplomat",
        "[wirewatch] snapback: Russia voices commitment to military cooperation with Iran",
    ]
    assert by_to["desk@example.org"] == [
        "[wirewatch] snapback: Russia voices commitment to military cooperation with Iran"
    ]
    assert not any("chrome only" in s for subjects in by_to.values() for s in subjects)

    message = handler.messages[0]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"] == "wirewatch@example.org"
    assert message["Message-ID"] and message["Date"]
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "*S-400*" in plain.get_content()
    assert "<mark><strong>S-400</strong></mark>" in html.get_content()
    assert 'href="https://' in html.get_content()

    states = {(a["watch"], a["status"]) for a in alerts_of(setup)}
    assert states == {("S-400", "sent"), ("snapback", "sent")}

    # Replaying and notifying again sends nothing new.
    again = wirewatch("--config", str(setup), "replay", "--json", str(SITE))
    assert json.loads(again.stdout)["alerts"] == 0
    second = wirewatch("--config", str(setup), "notify", "--json", **url)
    assert json.loads(second.stdout)["emails_sent"] == 0
    assert len(handler.messages) == 4


def test_alerts_wait_while_the_server_is_down_and_go_out_when_it_is_back(setup: Path) -> None:
    port = free_port()
    url = {"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    wirewatch("--config", str(setup), "replay", str(SITE))
    down = wirewatch("--config", str(setup), "notify", "--json", **url)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["emails_sent"] == 0
    pending = alerts_of(setup)
    assert {a["status"] for a in pending} == {"pending"}
    assert any("cannot reach 127.0.0.1" in (a["last_error"] or "") for a in pending)

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        up = wirewatch("--config", str(setup), "notify", "--json", **url)
    finally:
        controller.stop()
    assert json.loads(up.stdout)["emails_sent"] == 3
    assert {a["status"] for a in alerts_of(setup)} == {"sent"}
    assert len(handler.messages) == 4  # snapback has two recipients


def test_a_permanent_refusal_marks_the_alert_failed(setup: Path, smtp: tuple[Handler, int]) -> None:
    handler, port = smtp
    handler.refuse[ANALYST] = "550 5.1.1 No such user here"
    url = {"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    wirewatch("--config", str(setup), "replay", str(SITE))
    first = wirewatch("--config", str(setup), "notify", "--json", **url)
    assert json.loads(first.stdout)["failed"] == 3
    failed = alerts_of(setup)
    assert {a["status"] for a in failed} == {"failed"}
    assert all("550 5.1.1 No such user here" in a["last_error"] for a in failed)
    # The other recipient of "snapback" got it once; nothing is retried.
    assert [m["X-Envelope-To"] for m in handler.messages] == ["desk@example.org"]
    wirewatch("--config", str(setup), "notify", **url)
    assert len(handler.messages) == 1


def test_a_temporary_refusal_is_retried(setup: Path, smtp: tuple[Handler, int]) -> None:
    handler, port = smtp
    handler.refuse[ANALYST] = "451 4.3.0 Try again later"
    url = {"WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    wirewatch("--config", str(setup), "replay", str(SITE))
    first = json.loads(wirewatch("--config", str(setup), "notify", "--json", **url).stdout)
    assert first["retrying"] == 3 and first["emails_sent"] == 0
    assert {a["status"] for a in alerts_of(setup)} == {"pending"}
    del handler.refuse[ANALYST]
    second = json.loads(wirewatch("--config", str(setup), "notify", "--json", **url).stdout)
    assert second["emails_sent"] == 3
    # desk@ had its copy of "snapback" the first time and does not get it again.
    assert sorted(m["X-Envelope-To"] for m in handler.messages).count("desk@example.org") == 1


def hostile_article(title: str, url: str = "https://www.tehrantimes.com/news/1/evil") -> Article:
    return Article(
        url=url,
        fetched_url=url,
        title=title,
        author=None,
        published=None,
        language="en",
        sitename=None,
        text="Moscow confirmed the S-400 <b>delivery</b> & more. " * 10,
    )


def test_a_hostile_title_breaks_neither_headers_nor_html(
    tmp_path: Path, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = parse_config(config_text(tmp_path))
    db = open_db(tmp_path / "w.db")
    title = 'S-400 news\r\nBcc: victim@example.org\r\n\r\n<script>alert("x")</script>\x07'
    stored = Ingest(db, config.watches).store(hostile_article(title), "tehrantimes")
    assert stored.alerts == 1
    report = notify(
        db,
        config,
        SmtpTransport(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}"), config.email.sender),
        tmp_path / "w.db",
    )
    assert report.emails_sent == 1
    (message,) = handler.messages
    assert message["Bcc"] is None
    assert message["X-Envelope-To"] == ANALYST
    subject = message["Subject"]
    assert "\n" not in subject and "\r" not in subject and "\x07" not in subject
    assert subject.startswith("[wirewatch] S-400: S-400 news Bcc: victim@example.org <script>")
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;delivery&lt;/b&gt; &amp; more" in html


def test_without_smtp_emails_go_to_a_maildir(setup: Path, tmp_path: Path) -> None:
    wirewatch("--config", str(setup), "replay", str(SITE))
    result = wirewatch("--config", str(setup), "notify", WIREWATCH_SMTP_URL="")
    assert result.returncode == 0, result.stderr
    assert "via Maildir" in result.stdout
    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    subjects = sorted(message["Subject"] for message in box)
    assert len(subjects) == 4
    assert all(s.startswith("[wirewatch] S-400:") or "snapback" in s for s in subjects)


def test_smtp_login_uses_the_url_credentials_and_never_logs_them(setup: Path) -> None:
    handler = Handler()
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cr:t@pw")

    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        wirewatch("--config", str(setup), "replay", str(SITE))
        url = f"smtp://watcher:s3cr%3At%40pw@127.0.0.1:{port}"
        result = wirewatch("--config", str(setup), "-vv", "notify", WIREWATCH_SMTP_URL=url)
        wrong = f"smtp://watcher:nope-wrong@127.0.0.1:{port}"
        refused = wirewatch("--config", str(setup), "-vv", "notify", WIREWATCH_SMTP_URL=wrong)
    finally:
        controller.stop()
    assert result.returncode == 0, result.stderr
    assert logins[0] == (b"watcher", b"s3cr:t@pw")
    assert len(handler.messages) == 4
    for output in (result.stdout + result.stderr, refused.stdout + refused.stderr):
        assert "s3cr" not in output and "nope-wrong" not in output
    assert "smtp://watcher@127.0.0.1" in result.stdout


def test_a_digest_gathers_the_alerts_and_caps_the_list(
    tmp_path: Path, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    watches = f"""
[[watches]]
name = "digest"
query = "S-400 OR snapback"
email = "{ANALYST}"
mode = "digest"
every = "1h"
max_age = "10000d"
"""
    config = parse_config(config_text(tmp_path, watches, email_extra="digest_limit = 1"))
    db = open_db(tmp_path / "w.db")
    from wirewatch.replay import iter_pages, replay

    assert replay(db, config, iter_pages([SITE])).counts["alerts"] == 2
    settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")
    now = datetime.now(UTC)
    early = notify(db, config, SmtpTransport(settings, config.email.sender), tmp_path / "w.db", now)
    assert early.emails_sent == 0 and not handler.messages  # not an hour yet
    later = now + timedelta(hours=1, seconds=1)
    due = notify(db, config, SmtpTransport(settings, config.email.sender), tmp_path / "w.db", later)
    assert due.emails_sent == 1 and due.alerts_sent == 2
    (message,) = handler.messages
    assert message["Subject"] == "[wirewatch] digest: 2 new articles"
    assert "and 1 more" in message.get_body(("plain",)).get_content()
    # The next digest is due an hour after this one, and has nothing to say.
    again = notify(
        db,
        config,
        MaildirTransport(tmp_path / "m"),
        tmp_path / "w.db",
        later + timedelta(minutes=1),
    )
    assert again.emails_sent == 0


def test_digest_time_of_day_in_the_watch_time_zone() -> None:
    now = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 07:30 in Tehran
    assert last_occurrence("08:00", "Asia/Tehran", now) == datetime(2026, 3, 9, 4, 30, tzinfo=UTC)
    later = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # 08:30 in Tehran
    assert last_occurrence("08:00", "Asia/Tehran", later) == datetime(
        2026, 3, 10, 4, 30, tzinfo=UTC
    )


def test_old_articles_and_articles_older_than_the_watch_do_not_alert(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path))
    db = open_db(tmp_path / "w.db")
    ingest = Ingest(db, config.watches)
    old = Article(
        **{
            **hostile_article("Old S-400 story", "https://x.org/old").as_dict(),
            "published": "1999-01-01T00:00:00+00:00",
        }
    )
    assert ingest.store(old, "x").alerts == 0

    # Stored before a watch on it existed, then corrected: no alert for the new watch.
    quiet = parse_config(config_text(tmp_path, watches=""))
    article = hostile_article("Before", "https://x.org/before")
    Ingest(db, quiet.watches).store(article, "x", datetime.now(UTC) - timedelta(hours=1))
    changed = Article(**{**article.as_dict(), "text": article.text + " Corrected."})
    assert ingest.store(changed, "x").outcome == "updated"
    assert db.execute("select count(*) from alerts").fetchone()[0] == 0

    fresh = hostile_article("New", "https://x.org/new")
    assert ingest.store(fresh, "x").alerts == 1
    assert ingest.store(fresh, "x").alerts == 0
    again = Article(**{**fresh.as_dict(), "text": fresh.text + " Updated."})
    assert ingest.store(again, "x").alerts == 0  # one alert per watch and article


def test_only_one_notify_runs_at_a_time(setup: Path, tmp_path: Path) -> None:
    wirewatch("--config", str(setup), "replay", str(SITE))
    with notify_lock(tmp_path / "w.db") as held:
        assert held
        busy = wirewatch("--config", str(setup), "notify", "--json")
    assert json.loads(busy.stdout)["busy"] is True
    assert not (tmp_path / "maildir").exists()
    wirewatch("--config", str(setup), "notify")
    assert len(list(mailbox.Maildir(tmp_path / "maildir", create=False))) == 4


def test_backfill_and_watch_test(setup: Path, site: str) -> None:
    wirewatch("--config", str(setup), "replay", str(SITE))
    listed = wirewatch("--config", str(setup), "backfill", "S-400", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["outlet"] for r in rows] == ["tehrantimes", "english.almayadeen.net"]
    assert rows[0]["snippets"][0][1] == ["S-400", True]
    assert wirewatch("--config", str(setup), "backfill", "chrome only").stdout == ""
    unknown = wirewatch("--config", str(setup), "backfill", "nope")
    assert unknown.returncode == 2 and "no watch 'nope'" in unknown.stderr

    page = SITE / "tehrantimes" / "news" / "517845-russia-voices-commitment.html"
    hit = wirewatch("watch", "test", "snapback -Venezuela", str(page))
    assert hit.returncode == 0, hit.stderr
    assert "'snapback': 2 time(s)" in hit.stdout and "[snapback]" in hit.stdout
    ifp = f"{site}/ifpnews/russian-exporter-continue-military-cooperation-iran.html"
    miss = wirewatch("watch", "test", "Pezeshkian", ifp)
    assert miss.returncode == 1 and "match: no" in miss.stdout
    bad = wirewatch("watch", "test", "(Iran", str(page))
    assert bad.returncode == 2 and "never closed" in bad.stderr


def test_a_bad_query_is_a_config_error_naming_the_watch(tmp_path: Path) -> None:
    config = tmp_path / "w.toml"
    config.write_text(
        config_text(
            tmp_path,
            watches='[[watches]]\nname = "arms"\nquery = \'"S-400\'\nemail = "a@example.org"\n',
        ),
        encoding="utf-8",
    )
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2
    # #18: the error names the query's own key and line.
    assert (
        "watches.0.query: watch 'arms': bad query '\"S-400': quote at column 1 is never closed"
        in (result.stderr)
    )


def test_the_monitor_delivers_alerts_on_its_schedule(
    tmp_path: Path, site: str, smtp: tuple[Handler, int]
) -> None:
    handler, port = smtp
    config = tmp_path / "w.toml"
    config.write_text(
        outlets_config(site, tmp_path / "run.db")
        + '\n[schedule]\nevery = "1h"\nnotify = "1s"\n'
        + f'\n[email]\nfrom = "wirewatch@example.org"\nmaildir = "{tmp_path / "maildir"}"\n'
        + WATCHES,
        encoding="utf-8",
    )
    monitor = subprocess.Popen(
        [sys.executable, "-m", "wirewatch", "--config", str(config), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WIREWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}"},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(handler.messages) < 4:
            time.sleep(0.5)
    finally:
        monitor.send_signal(signal.SIGTERM)
        _, stderr = monitor.communicate(timeout=60)
    assert monitor.returncode == 0, stderr
    subjects = sorted(m["Subject"] for m in handler.messages)
    assert len(subjects) == 4, stderr
    assert subjects[0].startswith("[wirewatch] S-400: Russia")
    assert "notify: " in stderr and " email(s) sent (" in stderr


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (cryptography comes with Scrapy)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_tls_starttls_when_offered_and_smtps(setup: Path, tmp_path: Path, scheme: str) -> None:
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler()
    logins: list[bytes] = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login)
        return AuthResult(success=auth_data.password == b"pw")

    port = free_port()
    # aiosmtpd does not count implicit TLS as TLS for AUTH; the connection is encrypted anyway.
    options: dict = (
        {"ssl_context": context, "auth_require_tls": False}
        if scheme == "smtps"
        else {
            "tls_context": context,
            "require_starttls": True,  # refuses mail until the client upgrades
        }
    )
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        server_hostname="127.0.0.1",
        **options,
    )
    controller.start()
    try:
        wirewatch("--config", str(setup), "replay", str(SITE))
        url = f"{scheme}://watcher:pw@127.0.0.1:{port}"
        untrusted = wirewatch("--config", str(setup), "notify", "--json", WIREWATCH_SMTP_URL=url)
        assert json.loads(untrusted.stdout)["emails_sent"] == 0
        assert any("CERTIFICATE_VERIFY_FAILED" in (a["last_error"] or "") for a in alerts_of(setup))
        result = wirewatch(
            "--config",
            str(setup),
            "notify",
            "--json",
            WIREWATCH_SMTP_URL=url,
            SSL_CERT_FILE=str(cert),  # trust the test certificate; verification stays on
        )
    finally:
        controller.stop()
    assert result.returncode == 0, result.stderr
    errors = [a["last_error"] for a in alerts_of(setup)]
    assert json.loads(result.stdout)["emails_sent"] == 3, errors
    assert logins and logins[0] == b"watcher"
    assert len(handler.messages) == 4


def test_an_alert_email_shows_why_it_matched_and_files_itself(
    tmp_path: Path, smtp: tuple[Handler, int]
) -> None:
    """Snippets show every matched term, the rarest first, never the title; the email lists the
    terms and counts, carries List-Id and List-Unsubscribe, gives its dates in the watch's time
    zone with the zone shown, and each article's link once."""
    handler, port = smtp
    watches = f"""
[[watches]]
name = "Iran deal"
query = "snapback OR (sanctions Iran -Venezuela)"
email = "{ANALYST}"
timezone = "Asia/Tehran"
max_age = "10000d"
"""
    config = tmp_path / "w.toml"
    config.write_text(
        config_text(tmp_path, watches, email_extra='operator = "desk@example.org"'),
        encoding="utf-8",
    )
    assert wirewatch("--config", str(config), "replay", str(SITE)).returncode == 0
    sent = wirewatch(
        "--config", str(config), "notify", WIREWATCH_SMTP_URL=f"smtp://127.0.0.1:{port}"
    )
    assert sent.returncode == 0, sent.stderr
    by_title = {m["Subject"].split(": ", 1)[1]: m for m in handler.messages}
    message = by_title["Russia voices commitment to military cooperation with Iran"]
    assert message["List-Id"] == '"Iran deal" <iran-deal.wirewatch.example.org>'
    assert message["List-Unsubscribe"].startswith("<mailto:desk@example.org?subject=")
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Matched: snapback (2), sanctions (7), Iran (10)" in plain
    passages = [line.strip() for line in plain.splitlines() if line.startswith("  ")]
    # The rarest term first, and each term in a passage of its own; none is the title.
    assert "*snapback*" in passages[0]
    assert any("*sanctions*" in p for p in passages) and any("*Iran*" in p for p in passages)
    assert not any("Russia voices commitment" in p for p in passages)
    # Tehran is UTC+03:30, and the zone is shown.
    assert re.search(r"tehrantimes · \d{4}-\d\d-\d\d \d\d:\d\d \+0330", plain), plain
    url = re.search(r"https://www\.tehrantimes\.com/\S+", plain).group()  # type: ignore[union-attr]
    assert plain.count(url) == 1 and html.count(url) == 1
    # The query once, at the foot, beside the watch's name.
    assert plain.count("snapback OR (sanctions Iran -Venezuela)") == 1
    assert 'Watch "Iran deal": snapback OR (sanctions Iran -Venezuela)' in plain
    # `alerts` says the same.
    listed = wirewatch("--config", str(config), "alerts")
    assert "matched: snapback (2), sanctions (7), Iran (10)" in listed.stdout
    assert re.search(r"article \d+ · story \d+", listed.stdout)


def test_a_watch_as_an_atom_feed(setup: Path, tmp_path: Path) -> None:
    """`wirewatch feed WATCH` is valid Atom: feedparser reads back every alert's link, title,
    outlet, terms and highlighted snippets."""
    import feedparser

    wirewatch("--config", str(setup), "replay", str(SITE))
    alerts = [a for a in alerts_of(setup) if a["watch"] == "S-400"]
    out = tmp_path / "s400.atom"
    made = wirewatch("--config", str(setup), "feed", "S-400", "-o", str(out))
    assert made.returncode == 0, made.stderr
    parsed = feedparser.parse(out.read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10" and parsed.feed.title == "wirewatch: S-400"
    assert sorted(e.link for e in parsed.entries) == sorted(a["url"] for a in alerts)
    assert len(alerts) == 2
    for entry in parsed.entries:
        assert entry.author in {"tehrantimes", "english.almayadeen.net"}
        assert [tag.term for tag in entry.tags] == ["S-400"]
        assert "<strong>S-400</strong>" in entry.summary
        assert entry.id.startswith("urn:wirewatch:watch:S-400:alert:")
    printed = wirewatch("--config", str(setup), "feed", "S-400", "--limit", "1")
    assert len(feedparser.parse(printed.stdout).entries) == 1
    unknown = wirewatch("--config", str(setup), "feed", "nope")
    assert unknown.returncode == 2 and "no watch 'nope'" in unknown.stderr
