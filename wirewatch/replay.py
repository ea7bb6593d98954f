"""Push saved pages through the same extract -> store path as a crawl.

Inputs are HTML files, folders of them (searched recursively), WARC files (``.warc``,
``.warc.gz``, also gzipped whole rather than record by record) and ARC files (``.arc``,
``.arc.gz``). Pages are a WARC's ``response`` records and its ``resource`` records that hold
HTML (how Webrecorder stores pages). A page's URL is its canonical link or og:url (a WARC
record's target URI where the page names none). A page belongs to the configured outlet whose
domains hold its URL, else to an outlet named after its host.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from extractors.article import EMPTY, FAILED, NOT_HTML, UNPARSABLE, Article, extract_article
from extractors.urls import host_of, in_domains
from ingest import Ingest
from storage.articles import DUPLICATE, NEAR_DUPLICATE, NEW, UPDATED
from wirewatch.config import Config
from wirewatch.progress import Progress

logger = logging.getLogger(__name__)

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
BAD_INPUT = {EMPTY, NOT_HTML, UNPARSABLE, FAILED, "truncated", "unreadable"}
COUNT_KEYS = (
    "seen",
    "new",
    "near_duplicates",
    "updated",
    "duplicates",
    "skipped",
    "errors",
    "alerts",
)
#: Report keys of the storing outcomes.
OUTCOME_KEYS = {
    NEW: "new",
    NEAR_DUPLICATE: "near_duplicates",
    UPDATED: "updated",
    DUPLICATE: "duplicates",
}


@dataclass(frozen=True)
class Page:
    """One saved page: where it came from, its bytes, and its URL and headers if known."""

    source: str
    body: bytes
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


@dataclass
class ReplayReport:
    """Counts of a replay and the inputs that could not be used, with why."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {key: self.counts[key] for key in COUNT_KEYS}


def outlet_for(config: Config, url: str) -> str:
    """The configured outlet whose domains hold ``url``, else the URL's host."""
    for outlet in config.outlets:
        if in_domains(url, outlet.domains):
            return outlet.name
    return host_of(url) or "unknown"


def input_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The files to read: each file given, and the HTML and WARC files below each folder."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and (p.suffix.lower() in HTML_SUFFIXES or _is_warc(p))
            )
        else:
            yield path


def iter_pages(paths: Iterable[str | Path]) -> Iterator[Page]:
    """Every page in the given files and folders, in a stable order; unreadable ones flagged."""
    for file in input_files(paths):
        if _is_warc(file):
            yield from _warc_pages(file)
            continue
        try:
            body = file.read_bytes()
        except OSError as exc:
            yield Page(str(file), b"", problem=f"unreadable: {exc.strerror or exc}")
            continue
        yield Page(str(file), body, problem=_truncation(body))


def tracked(pages: Iterable[Page], progress: Progress) -> Iterator[Page]:
    """``pages`` as they are, telling ``progress`` each time the pages of one file are done."""
    current = None
    for page in pages:
        head, _, number = page.source.rpartition("#")
        file = head if head and number.isdigit() else page.source  # a WARC record: file#n
        if current is not None and file != current:
            progress.update()
        current = file
        yield page
    if current is not None:
        progress.update()


#: What a worker hands back for one page: the article, or why there is none.
Extracted = tuple[Article | None, str | None, str]


def _extract(page: Page, min_text: int) -> Extracted:
    result = extract_article(page.body, page.url, page.headers, min_text=min_text)
    return result.article, result.reason, result.detail


def default_jobs() -> int:
    """Extracting processes when ``--jobs`` is not given: one per CPU core this process may
    use, up to ``MAX_JOBS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_JOBS))


#: Beyond this many extracting processes the one storing process is the bottleneck (storing
#: and matching take about a sixth of a page's time, docs/benchmarks.md).
MAX_JOBS = 6
#: Pages in flight per extracting process. Pages are stored in input order, so a slow page
#: holds the ones behind it; a deep window keeps the workers busy meanwhile (16: 4-9 % faster
#: than 4 with --jobs 2 over 905 pages, a few MB of pages in flight).
WINDOW = 16


def _extracted(pages: Iterable[Page], min_text: int, jobs: int) -> Iterator[tuple[Page, Extracted]]:
    """Each page with its extraction, in input order; ``jobs`` > 1 extracts in worker processes.

    Only extraction runs in the workers: storing (and the story and alert lookups it makes) stays
    in this process, one article at a time, so the result is the same whatever ``jobs`` is.
    A worker that dies (killed, or a crash in a native library) breaks the pool: the pages that
    were in flight are then extracted again one by one, each in a process of its own, so the
    page that kills its process is reported as an error and costs no other page.
    """
    if jobs <= 1:
        for page in pages:
            yield page, (None, None, "") if page.problem else _extract(page, min_text)
        return
    window: deque[tuple[Page, Future[Extracted] | None]] = deque()
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        for page in pages:
            window.append((page, _submit(pool, page, min_text)))
            if len(window) > WINDOW * jobs:
                if _broken(window[0]):
                    pool.shutdown(wait=False, cancel_futures=True)
                    yield from _one_by_one([page for page, _ in window], min_text)
                    window.clear()
                    pool = ProcessPoolExecutor(max_workers=jobs)
                else:
                    yield _done(window.popleft())
        while window:
            if _broken(window[0]):
                yield from _one_by_one([page for page, _ in window], min_text)
                break
            yield _done(window.popleft())
    finally:
        pool.shutdown(cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, page: Page, min_text: int) -> Future[Extracted] | None:
    """The future extraction of ``page`` (None for a page already known bad); a pool already
    broken gives a future that says so."""
    if page.problem:
        return None
    try:
        return pool.submit(_extract, page, min_text)
    except BrokenProcessPool as exc:
        future: Future[Extracted] = Future()
        future.set_exception(exc)
        return future


def _broken(pending: tuple[Page, Future[Extracted] | None]) -> bool:
    """Waits for a page's extraction; whether its pool broke before it was done."""
    _, future = pending
    return future is not None and isinstance(future.exception(), BrokenProcessPool)


def _done(pending: tuple[Page, Future[Extracted] | None]) -> tuple[Page, Extracted]:
    page, future = pending
    return page, future.result() if future is not None else (None, None, "")


def _one_by_one(pages: list[Page], min_text: int) -> Iterator[tuple[Page, Extracted]]:
    """``pages`` extracted each in a fresh process of its own; a page whose process dies is
    the reason ``failed``."""
    for page in pages:
        if page.problem:
            yield page, (None, None, "")
            continue
        with ProcessPoolExecutor(max_workers=1) as alone:
            try:
                yield page, alone.submit(_extract, page, min_text).result()
            except BrokenProcessPool:
                yield page, (None, FAILED, "the extracting process died on this page")


def replay(
    db: Database,
    config: Config,
    pages: Iterable[Page],
    report: ReplayReport | None = None,
    jobs: int = 1,
) -> ReplayReport:
    """Extract and store every page, raising alerts; bad inputs are counted and skipped.

    Args:
        jobs: Processes that extract pages at once (storing stays in this one); the CLI's
            default is :func:`default_jobs`.
    """
    report = report or ReplayReport()
    ingest = Ingest(db, config.watches)
    for page, (article, reason, detail) in _extracted(pages, config.crawl.min_text, jobs):
        report.counts["seen"] += 1
        if page.problem:
            _bad(report, page.source, page.problem)
            continue
        if article is None:
            if reason in BAD_INPUT:
                _bad(report, page.source, f"{reason}: {detail}")
            else:
                report.counts["skipped"] += 1
                report.counts[f"skipped/{reason}"] += 1
                logger.info(
                    "Skipped %(file)s: %(reason)s (%(detail)s)",
                    {"file": page.source, "reason": reason, "detail": detail},
                )
            continue
        outlet = outlet_for(config, article.url)
        stored = ingest.store(article, outlet)
        report.counts[OUTCOME_KEYS[stored.outcome]] += 1
        report.counts["alerts"] += stored.alerts
    return report


def _bad(report: ReplayReport, source: str, problem: str) -> None:
    report.counts["errors"] += 1
    report.problems.append((source, problem))
    logger.error("%(file)s: %(problem)s", {"file": source, "problem": problem})


def _is_warc(path: Path) -> bool:
    return path.name.lower().endswith(WARC_SUFFIXES)


def _truncation(body: bytes) -> str | None:
    """A page cut short in saving: it opened an HTML document but never closed it."""
    head, tail = body[:4096].lower(), body[-4096:].lower()
    if (b"<html" in head or b"<body" in head) and b"</html" not in tail and b"</body" not in tail:
        return "truncated: the document ends before </body> or </html>"
    return None


def _warc_pages(file: Path) -> Iterator[Page]:
    """The HTML pages of a WARC or ARC file; a file or record that cannot be read is a Page
    with its problem, in words."""
    pages = 0  # pages and problems yielded
    read = 0  # records read, so that a second pass (a WARC gzipped whole) starts after them
    try:
        with file.open("rb") as stream:
            for number, page in _archive_records(stream, file):
                read = number
                pages += page is not None
                if page is not None:
                    yield page
    except ArchiveLoadFailed as exc:
        message = " ".join(str(exc).split())
        if "non-chunked gzip" not in message:
            yield Page(str(file), b"", problem=f"unreadable WARC: {message or 'not a WARC file'}")
            return
        # Gzipped as one stream instead of one gzip member a record, as warcio expects: the
        # file is valid, read through gzip instead.
        try:
            with gzip.open(file, "rb") as stream:
                for number, page in _archive_records(stream, file):
                    if number > read and page is not None:
                        pages += 1
                        yield page
        except (ArchiveLoadFailed, OSError, EOFError, ValueError) as again:
            detail = " ".join(str(again).split()) or type(again).__name__
            yield Page(str(file), b"", problem=f"unreadable WARC: {detail}")
            return
    except (OSError, EOFError, ValueError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        yield Page(str(file), b"", problem=f"unreadable WARC: {detail}")
        return
    if not pages:
        problem = "no HTML page in it (no HTML response or resource record)"
        yield Page(str(file), b"", problem=problem)


def _archive_records(stream: Any, file: Path) -> Iterator[tuple[int, Page | None]]:
    """Each record of a WARC or ARC stream, numbered: a Page, or None for one that holds no
    page (request, metadata, an image)."""
    arc = ".arc" in file.name.lower()
    for number, record in enumerate(ArchiveIterator(stream, arc2warc=arc), start=1):
        source = f"{file}#{number}"
        if record.rec_type not in ("response", "resource"):
            yield number, None
            continue
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.rec_type == "resource":
            kind = record.rec_headers.get_header("Content-Type", "")
            if "html" not in kind.lower():
                yield number, None
                continue
            yield number, Page(source, record.content_stream().read(), url or None, {})
            continue
        if not url.startswith(("http://", "https://")) or record.http_headers is None:
            # warcio reads almost anything as a record; a response without an HTTP target and
            # headers is not one.
            problem = "a response record without an HTTP target URI and headers"
            yield number, Page(source, b"", problem=problem)
            continue
        headers = dict(record.http_headers.headers)
        kind = record.http_headers.get_header("Content-Type", "")
        if "html" not in kind.lower():
            yield number, None
            continue
        yield number, Page(source, record.content_stream().read(), url, headers)
