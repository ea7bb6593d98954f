"""A web server on 127.0.0.1 that serves what a crawler meets on a bad day.

Each path is one hostile case; ``CASES`` says what it is. Two good articles (``/good/...``)
are served beside them, so a test can check that they are still stored.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

TESTS = Path(__file__).resolve().parents[1]
SITE = TESTS / "fixtures" / "site"
GOOD = {
    "/good/ifp.html": SITE / "ifpnews" / "russian-exporter-continue-military-cooperation-iran.html",
    "/good/tehrantimes.html": SITE
    / "tehrantimes"
    / "news"
    / "517845-russia-voices-commitment.html",
}
ARTICLE = (
    "<p>Moscow will proceed with military-technical cooperation with Tehran, the director "
    "general of a Russian state arms exporter has announced at an air show on Sunday.</p>"
    "<p>Arms supplies could be allowed only by the UN Security Council before the embargo "
    "expired, and the two countries have since discussed a range of defence products.</p>"
)

#: path -> what the case is (the README's Reliability table lists them).
CASES = {
    "/empty.html": "empty body",
    "/binary.html": "binary data served as text/html",
    "/truncated.html": "HTML cut off in the middle of the article",
    "/cp1251.html": "Cyrillic page in windows-1251, no charset declared anywhere",
    "/wrong-charset.html": "windows-1251 bytes declared as UTF-8",
    "/mixed.html": "UTF-8 page with stray windows-1252 bytes",
    "/big.html": "an 11 MB page",
    "/deep.html": "10,000 nested elements around the article",
    "/bomb.html": "gzip bomb: 200 KB that inflates to 200 MB",
    "/loop": "redirects that never end",
    "/drip.html": "a server that sends one byte every half second, forever",
    "/missing.html": "HTTP 404",
    "/broken.html": "HTTP 500",
    "/not-a-feed.xml": "a feed that is not XML",
    "/entity-bomb.xml": "a feed with an XML entity bomb (billion laughs)",
    "/huge-sitemap.xml": "a sitemap of 100,000 URLs",
    "/bad-dates.html": "an article dated in the year 20201",
    "/future.html": "an article dated 2999",
    "/long-title.html": "a title of 50 kB",
}


def page(title: str, body: str, head: str = "", charset: str | None = "utf-8") -> bytes:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f"<!DOCTYPE html><html lang='en'><head>{meta}<title>{title}</title>{head}</head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode(charset or "utf-8")


def dated(title: str, date: str) -> bytes:
    data = json.dumps({"@type": "NewsArticle", "headline": title, "datePublished": date})
    ld = f'<script type="application/ld+json">{data}</script>'
    return page(title, ARTICLE, ld)


_bomb: bytes | None = None


def bomb() -> bytes:
    global _bomb
    if _bomb is None:
        chunk = bytes(1 << 20)
        compressor_out = []
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        for _ in range(200):
            compressor_out.append(compressor.compress(chunk))
        compressor_out.append(compressor.flush())
        _bomb = b"".join(compressor_out)
    return _bomb


def huge_sitemap(base: str) -> bytes:
    urls = "".join(f"<url><loc>{base}/archive/{n}.html</loc></url>" for n in range(100_000))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()


def feed(base: str) -> bytes:
    links = [*GOOD, *[p for p in CASES if p.endswith(".html") or p == "/loop"]]
    items = "".join(f"<item><title>{p}</title><link>{base}{p}</link></item>" for p in links)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>{items}'
        "</channel></rss>"
    ).encode()


CP1251 = (
    "<!DOCTYPE html><html><head><title>Россия продолжит военное сотрудничество</title></head>"
    "<body><article><h1>Россия продолжит военное сотрудничество</h1><p>"
    + "Москва продолжит военно-техническое сотрудничество с Тегераном. " * 8
    + "</p></article></body></html>"
).encode("cp1251")

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']><rss version="2.0"><channel><title>&lol9;</title></channel></rss>'
)


class Handler(BaseHTTPRequestHandler):
    base = ""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def send(self, body: bytes, kind: str = "text/html", status: int = 200, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        # The crawler hangs up on a page it does not want: that is the point.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        routes: dict[str, Callable[[], None]] = {
            "/robots.txt": lambda: self.send(b"User-agent: *\nAllow: /\n", "text/plain"),
            "/feed.xml": lambda: self.send(feed(self.base), "application/rss+xml"),
            "/empty.html": lambda: self.send(b""),
            "/binary.html": lambda: self.send(bytes(range(256)) * 64),
            "/truncated.html": lambda: self.send(
                page("Truncated article", ARTICLE * 3)[: len(page("x", ARTICLE)) + 200]
            ),
            "/cp1251.html": lambda: self.send(CP1251, "text/html"),
            "/wrong-charset.html": lambda: self.send(
                (
                    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Лавров о "
                    "сотрудничестве</title></head><body><article><h1>Лавров</h1><p>"
                    + "Сергей Лавров заявил о развитии сотрудничества с Ираном. " * 8
                    + "</p></article></body></html>"
                ).encode("cp1251"),
                "text/html; charset=utf-8",
            ),
            "/mixed.html": lambda: self.send(
                page("Mixed encodings", ARTICLE).replace(b"Sunday", b"Sunday \x93quoted\x94")
            ),
            "/big.html": lambda: self.send(
                page("Big", ARTICLE + "<p>" + "x" * 11_000_000 + "</p>")
            ),
            "/deep.html": lambda: self.send(
                page("Deep", "<div>" * 10_000 + ARTICLE + "</div>" * 10_000)
            ),
            "/bomb.html": lambda: self.send(bomb(), "text/html", Content_Encoding="gzip"),
            "/missing.html": lambda: self.send(b"not here", status=404),
            "/broken.html": lambda: self.send(b"oops", status=500),
            "/not-a-feed.xml": lambda: self.send(
                b"<html>this is not a feed", "application/rss+xml"
            ),
            "/entity-bomb.xml": lambda: self.send(ENTITY_BOMB, "application/rss+xml"),
            "/huge-sitemap.xml": lambda: self.send(huge_sitemap(self.base), "application/xml"),
            "/bad-dates.html": lambda: self.send(dated("Dated in the year 20201", "20201-01-01")),
            "/future.html": lambda: self.send(dated("Dated 2999", "2999-01-01T00:00:00Z")),
            "/long-title.html": lambda: self.send(page("T" * 50_000, ARTICLE)),
        }
        if path in GOOD:
            self.send(GOOD[path].read_bytes())
        elif path.startswith("/loop"):
            self.send(b"", status=302, Location=f"{self.base}/loop{int(time.time() * 1e6)}")
        elif path == "/drip.html":
            self.drip()
        elif path in routes:
            routes[path]()
        else:
            self.send(b"not found", status=404)

    def drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        try:
            while True:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            return


@contextmanager
def hostile_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    Handler.base = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    with hostile_server() as url:
        print(url)
        time.sleep(3600)
