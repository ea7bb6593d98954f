"""Trust per outlet and per origin (#34), with real servers on 127.0.0.1: a public-looking
outlet (a name the crawler's resolver setting sends to 127.0.0.1) beside a local bridge outlet;
operator fetches through the same rule, within one deadline; limits and the SMTP URL checked
when read."""

from __future__ import annotations

import time
from typing import ClassVar

from tests.support.servers import Answering, serving
from tests.support.site import crawl_with_hosts, wirewatch

PROSE = (
    "The ministers met in the capital on Tuesday to discuss the supply of air-defence systems, "
    "and officials on both sides said the talks would continue next month. "
)


BRIDGED = (
    "A grain convoy crossed the northern border at dawn, the port authority said, and two more "
    "are expected before the weekend if the weather holds along the coast road. "
)


def article(title: str, prose: str = PROSE) -> bytes:
    paragraphs = "".join(f"<p>{title}, paragraph {k}. {prose}</p>" for k in range(5))
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    ).encode()


def rss(links: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{n}</title><link>{link}</link></item>" for n, link in enumerate(links)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


class Bridge(Answering):
    """A local RSS bridge: its feed, its article, and secrets nobody else may read."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        port = self.server.server_address[1]
        if self.path == "/feed.xml":
            self.answer(
                200,
                rss([f"http://127.0.0.1:{port}/own.html"]),
                {"Content-Type": "application/rss+xml"},
            )
        elif self.path == "/own.html":
            self.answer(
                200, article("The bridge's own story", BRIDGED), {"Content-Type": "text/html"}
            )
        else:
            self.answer(200, b"TOP-SECRET-TOKEN-42", {"Content-Type": "application/rss+xml"})


class Public(Answering):
    """A public-looking outlet whose feed and pages point at the bridge every way there is."""

    bridge: ClassVar[int] = 0

    def do_GET(self) -> None:
        port, bridge = self.server.server_address[1], type(self).bridge
        if self.path == "/feed.xml":
            links = [
                f"http://news.example:{port}/story.html",
                f"http://news.example:{port}/moved.html",
                f"http://127.0.0.1:{bridge}/secret-1",
                f"http://①②⑦.⓪.⓪.①:{bridge}/secret-2",
                f"http://127。0。0。1:{bridge}/secret-3",
                f"http://localhost:{bridge}/secret-4",
                f"http://news.example:{bridge}/secret-5",
                f"http://[::ffff:127.0.0.1]:{bridge}/secret-6",
            ]
            self.answer(200, rss(links), {"Content-Type": "application/rss+xml"})
        elif self.path == "/story.html":
            self.answer(200, article("A public story"), {"Content-Type": "text/html"})
        elif self.path == "/moved.html":
            self.answer(302, b"", {"Location": f"http://127.0.0.1:{bridge}/secret-7"})
        elif self.path == "/":
            page = (
                '<html><head><title>Public</title><link rel="alternate" type="application/rss+xml"'
                f' href="http://localhost:{bridge}/private-feed.xml"></head><body>hi</body></html>'
            )
            self.answer(200, page.encode(), {"Content-Type": "text/html"})
        else:
            self.answer(404)


def test_no_request_of_a_public_outlet_reaches_a_local_bridge_by_link_redirect_or_spelling(
    tmp_path,
):
    Bridge.hits.clear()
    with serving(Bridge) as bridge:
        Public.bridge = int(bridge.rsplit(":", 1)[1])
        with serving(Public) as public:
            port = public.rsplit(":", 1)[1]
            config = tmp_path / "w.toml"
            config.write_text(
                f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n'
                '[crawl]\ndelay = "0s"\nautothrottle = false\nobey_robots = false\n'
                f'[[outlets]]\nname = "public"\nfeeds = ["http://news.example:{port}/feed.xml"]\n'
                'max_age = "100000d"\n'
                f'[[outlets]]\nname = "bridge"\nfeeds = ["{bridge}/feed.xml"]\nmax_age = "100000d"\n'
            )
            # Both outlets in one process, as one worker holds several outlets.
            stats = crawl_with_hosts(config, ["public", "bridge"], {"news.example": "127.0.0.1"})
    # The bridge was read by its own outlet, and by nothing else.
    assert sorted(Bridge.hits) == ["/feed.xml", "/own.html"], Bridge.hits
    assert stats["bridge"].get("wirewatch/store/new") == 1, stats["bridge"]
    public_stats = stats["public"]
    assert public_stats.get("wirewatch/store/new") == 1, public_stats  # its own story
    # Literal private spellings are dropped as links; the rest are refused where they connect.
    assert public_stats.get("wirewatch/discover/private") == 5, public_stats
    assert public_stats.get("wirewatch/fetch/refused_private") == 2, public_stats
    # And the run says so in words (status, the operator's email for repeated failures).
    assert public_stats["wirewatch/problems"] == ["7 links refused: they lead to private addresses"]


def test_add_refuses_a_feed_link_to_another_private_origin_and_quotes_nothing(tmp_path):
    Bridge.hits.clear()
    with serving(Bridge) as bridge:
        Public.bridge = int(bridge.rsplit(":", 1)[1])
        with serving(Public) as public:
            config = tmp_path / "w.toml"
            config.write_text(f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n')
            added = wirewatch("--config", str(config), "add", public + "/")
    assert added.returncode == 2
    assert "a private address, and is not an address you gave: refused" in added.stderr
    assert "TOP-SECRET" not in added.stdout + added.stderr
    assert Bridge.hits == []


class Trickle(Answering):
    """Answers with a byte every half second, for ever."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        try:
            for _ in range(600):
                self.wfile.write(b"<")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            return


def test_an_operator_fetch_has_one_deadline_not_one_per_read(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n[crawl]\ntimeout = "2s"\n')
    with serving(Trickle) as slow:
        started = time.monotonic()
        done = wirewatch("--config", str(config), "watch", "test", "S-400", slow + "/page.html")
        took = time.monotonic() - started
    assert done.returncode == 2
    assert "no answer within the time limit" in done.stderr
    assert took < 20, took  # the 2 s deadline and start-up, not 300 s of trickle


def test_limits_and_the_smtp_url_are_checked_when_read(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text('[crawl]\nmax_size = "0B"\n')
    off = wirewatch("--config", str(config), "check")
    assert off.returncode == 2 and "crawl.max_size: at least 1,000 bytes" in off.stderr
    config.write_text('[storage]\ndatabase = "w.db"\n')
    for url in (
        "smtp://user:hunter2@mail.example\r\nRCPT TO:<x@y>:587",
        "smtp://user%0d%0aRCPT:hunter2@mail.example:587",
        "smtp://user:hunter2%0a@mail.example:587",
    ):
        done = wirewatch("--config", str(config), "check", WIREWATCH_SMTP_URL=url)
        assert done.returncode == 2, url
        assert "control character" in done.stderr, done.stderr
        assert "hunter2" not in done.stderr and "\r" not in done.stderr
    good = wirewatch(
        "--config", str(config), "check", WIREWATCH_SMTP_URL="smtp://u:hunter2@mail.example:587"
    )
    assert good.returncode == 0 and "email over smtp://u@mail.example:587" in good.stdout
    assert "hunter2" not in good.stdout


def test_log_lines_of_wirewatch_carry_no_raw_control_characters():
    import logging

    from wirewatch.logs import TEXT_FORMAT, TextFormatter

    formatter = TextFormatter(TEXT_FORMAT)
    forged = logging.LogRecord(
        "alerts.outbox", logging.WARNING, __file__, 1, "refused: %s", ("a\r\nWARNING fake",), None
    )
    line = formatter.format(forged)
    assert "\r" not in line and "\n" not in line
    assert line.endswith("refused: a\\r\\nWARNING fake")
    scrapy = logging.LogRecord(
        "scrapy.statscollectors", logging.INFO, __file__, 1, "a\nb", (), None
    )
    assert formatter.format(scrapy).endswith("a\nb")  # a library's own lines stay as they are


def self_signed(folder) -> tuple[str, str]:
    """A certificate for localhost and 127.0.0.1 and its key, as PEM files in ``folder``."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
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
    return str(cert_file), str(key_file)


class Article(Answering):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.answer(302, b"", {"Location": "/story.html"})
        else:
            self.answer(200, article("S-400 talks go on"), {"Content-Type": "text/html"})


def test_an_operator_fetch_over_https_verifies_the_certificate_and_follows_redirects(tmp_path):
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    cert, key = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Article)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}/moved"
    try:
        trusted = wirewatch("watch", "test", "S-400", url, SSL_CERT_FILE=cert)
        untrusted = wirewatch("watch", "test", "S-400", url, SSL_CERT_FILE=str(tmp_path / "none"))
    finally:
        server.shutdown()
        server.server_close()
    assert trusted.returncode == 0, trusted.stderr
    assert "match: yes" in trusted.stdout, trusted.stdout
    assert "/story.html" in trusted.stdout  # the redirect followed, over TLS
    assert untrusted.returncode == 2
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
