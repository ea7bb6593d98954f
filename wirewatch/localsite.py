"""Serve a folder of saved pages on 127.0.0.1, as the offline demo and the tests do.

Text files (HTML, XML, JSON, robots.txt) may write ``{{base}}`` where the server's own address
belongs (``http://127.0.0.1:PORT``), so feeds and section pages can link to the pages beside them.
"""

from __future__ import annotations

import mimetypes
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

PLACEHOLDER = b"{{base}}"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".json": "application/feed+json",
    ".txt": "text/plain; charset=utf-8",
}


class _Handler(BaseHTTPRequestHandler):
    root: Path
    base: str
    delay: float = 0.0

    def do_GET(self) -> None:
        if self.delay and not self.path.endswith("robots.txt"):
            time.sleep(self.delay)
        path = unquote(urlsplit(self.path).path).lstrip("/")
        file = (self.root / path).resolve()
        if file.is_dir():
            file = file / "index.html"
        if self.root not in file.parents or not file.is_file():
            self.send_error(404, "Not Found")
            return
        body = file.read_bytes()
        if file.suffix in TYPES or file.name == "robots.txt":
            body = body.replace(PLACEHOLDER, self.base.encode())
        kind = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
        self.send_response(200)
        self.send_header("Content-Type", kind or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the crawler logs every fetch already


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # a client gone mid-answer is normal


@contextmanager
def serve_folder(root: str | Path, port: int = 0, delay: float = 0.0) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 while the block runs; yields the base URL. ``delay``: seconds
    each answer but robots.txt waits (a slow site, for tests of runs in flight)."""

    class Handler(_Handler):
        pass

    Handler.root = Path(root).resolve()
    Handler.delay = delay
    server = _Server(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    Handler.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Handler.base
    finally:
        server.shutdown()
        server.server_close()
