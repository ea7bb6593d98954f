"""URL identity: one spelling per article URL.

Scheme and host are lower-cased, default ports, fragments and tracking parameters (utm_*, fbclid,
gclid and the rest of courlan's list) are removed, and the query is sorted, so that the same page
reached from a feed, a sitemap or a shared link is one URL.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import tldextract
from courlan.clean import normalize_url, scrub_url

# The public suffix list as tldextract ships it: no download at run time.
_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def normalise_url(url: str) -> str:
    """Return the normal form of an absolute http(s) URL; a ``file:`` URL (a saved page's own
    address) is kept as it is, without its fragment.

    Raises:
        ValueError: ``url`` is not an absolute http(s) or file URL.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() == "file" and parts.path:
        return urlunsplit(parts._replace(scheme="file", fragment=""))
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    normal = urlsplit(normalize_url(scrub_url(url)))
    return urlunsplit(normal._replace(fragment=""))


#: Host labels that name another rendering of the same site: mobile, AMP.
_VIEW_HOSTS = ("www.", "m.", "mobile.", "amp.")
#: Query parameters that ask for another rendering of the same page.
_VIEW_PARAMS = {
    "amp": {"", "1", "true", "yes"},
    "print": {"", "1", "true", "yes"},
    "output": {"amp", "print"},
    "outputtype": {"amp", "print"},
    "format": {"amp", "print"},
    "view": {"amp", "print"},
    "mobile": {"1", "true", "yes"},
}
#: Path segments of AMP and print views: /amp/..., .../amp, .../print, article.amp.html.
_VIEW_SEGMENT = re.compile(r"/(?:amp|print)(?=/|$)", re.IGNORECASE)
_AMP_SUFFIX = re.compile(r"\.amp(?=\.html?$|$)", re.IGNORECASE)


def url_key(url: str) -> str:
    """The identity of the page at ``url`` across its renderings.

    Beyond ``normalise_url``: the scheme is dropped (http and https are one page), and so are a
    leading ``www.``, ``m.``, ``mobile.`` or ``amp.`` host label, AMP and print path segments
    (``/amp/``, ``/amp``, ``/print``, ``.amp.html``), the query parameters that select those views
    (``amp=1``, ``output=amp``, ``print=1``...) and a trailing slash. The key is for lookups
    only; the URL that is stored and shown stays the canonical one.

    Raises:
        ValueError: ``url`` is not an absolute http(s) URL.
    """
    parts = urlsplit(normalise_url(url))
    host = parts.netloc
    while host.startswith(_VIEW_HOSTS) and host.count(".") > 1:
        host = host.split(".", 1)[1]
    path = _AMP_SUFFIX.sub("", _VIEW_SEGMENT.sub("", parts.path)).rstrip("/")
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if value.lower() not in _VIEW_PARAMS.get(name.lower(), ())
    ]
    return host + (path or "/") + ("?" + urlencode(query) if query else "")


def resolve_url(candidate: str | None, base: str) -> str | None:
    """``candidate`` made absolute against ``base`` and normalised, or None if it is not http(s)."""
    if not candidate or not candidate.strip():
        return None
    try:
        return normalise_url(urljoin(base, candidate.strip()))
    except ValueError:
        return None


#: The dots IDNA reads as dots: full stop, ideographic, full-width and half-width ideographic.
_DOTS = re.compile("[\u002e\u3002\uff0e\uff61]")


def normal_host(host: str) -> str:
    """A host name as resolvers and HTTP clients read it: its dots (the ideographic and
    full-width ones too) as ".", NFKC (``①②⑦`` is ``127``, full-width letters plain), lower
    case, without trailing dots, each label in IDNA (punycode) where it is not ASCII. So
    ``①②⑦.⓪.⓪.①`` and ``127。0。0。1`` are ``127.0.0.1``, and every check sees what a
    connection would reach."""
    host = unicodedata.normalize("NFKC", host.strip().strip("[]"))
    labels = [label for label in _DOTS.split(host.casefold())]
    while labels and not labels[-1]:
        labels.pop()
    out = []
    for label in labels:
        if label.isascii():
            out.append(label)
            continue
        try:
            out.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            out.append(label)
    return ".".join(out)


#: An origin: scheme, normal host, port.
Origin = tuple[str, str, int]
_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin | None:
    """The origin of an http(s) URL (its scheme, :func:`normal_host` and port, the default
    port where none is written); None for another scheme or a malformed URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _PORTS or not parts.hostname:
        return None
    return scheme, normal_host(parts.hostname), port or _PORTS[scheme]


def private_target(url: str) -> bool:
    """True if the URL's host is a loopback, private, link-local or reserved address, or a
    name for the local machine (``localhost``, ``*.localhost``, ``*.local``, ``*.internal``).

    Names are not resolved (that would mean a DNS lookup per link); IP literals in any form
    that ``ipaddress`` reads are checked, IPv6 and IPv4-mapped ones included, after
    :func:`normal_host` (so ``http://①②⑦.⓪.⓪.①/`` is loopback).
    """
    try:
        host = normal_host(urlsplit(url).hostname or "")
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global


def is_private_address(text: str) -> bool:
    """Whether an IP address (text) is one a crawl must not reach on a link's word: loopback,
    private, link-local (169.254.0.0/16, fe80::/10), unique-local (fc00::/7), multicast,
    reserved or unspecified, IPv4-mapped IPv6 forms of these included. False for a name."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def host_of(url: str) -> str:
    """The URL's host, lower-cased and without a leading ``www.``."""
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def registrable_domain(url: str) -> str:
    """The domain a URL's host belongs to, by the public suffix list: ``bbc.co.uk`` for
    ``https://feeds.bbc.co.uk/x``; an IP address or a single-label name stays as it is."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return ""
    found = _SUFFIXES(host)
    if found.suffix and found.domain:
        return f"{found.domain}.{found.suffix}"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        # A name under a suffix the list does not know (.test, .internal): its last two labels.
        return ".".join(host.split(".")[-2:])


def in_domains(url: str, domains: list[str]) -> bool:
    """True if the URL's host is one of ``domains`` or a subdomain of one."""
    host = host_of(url)
    return any(host == d or host.endswith("." + d) for d in domains)


# -- what a URL's shape says of its page -------------------------------------------------------

#: Query parameters whose numeric value names one post: WordPress's default permalinks
#: (``/?p=123``, ``/?page_id=7``) and their kin in other CMSs.
_POST_KEYS = frozenset(
    {
        "p",
        "page_id",
        "attachment_id",
        "post",
        "postid",
        "post_id",
        "id",
        "article",
        "articleid",
        "article_id",
        "story",
        "storyid",
        "story_id",
        "newsid",
        "news_id",
        "nid",
        "aid",
        "cid",
    }
)
_DRUPAL_NODE = re.compile(r"node/\d+/?$")
#: Path segments that start a listing: taxonomy, author, date and page archives.
_LISTING_WORDS = frozenset(
    {
        "archive",
        "archives",
        "author",
        "autor",
        "cat",
        "kat",
        "category",
        "categories",
        "kategorie",
        "page",
        "paged",
        "seite",
        "schlagwort",
        "tag",
        "tags",
        "topic",
        "topics",
        "user",
        "section",
        "sections",
    }
)
_PAGE_WORDS = frozenset({"page", "paged", "seite"})
_YEAR = re.compile(r"(?:19|20)\d\d$")
#: A slug of this many words or more is a headline's, so its page an article.
HEADLINE_WORDS = 4


def names_a_post(query: str) -> bool:
    """Whether a URL's query names one post (``p=123``, ``page_id=7``, ``q=node/12``)."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        key = key.lower()
        if key in _POST_KEYS and value.isdigit():
            return True
        if key == "q" and _DRUPAL_NODE.match(value):
            return True
    return False


def is_front(url: str) -> bool:
    """Whether ``url`` is a site's front page: no path, and no query naming a post."""
    parts = urlsplit(url)
    return not parts.path.strip("/") and not names_a_post(parts.query)


def is_listing(url: str) -> bool:
    """Whether the URL's shape is a listing's: a taxonomy term (``/tag/iran``,
    ``/category/world/middle-east``), an author, a date archive (``/archives/2024/05``) or a page
    of one (``/page/2``). A post inside such a path is not: a number that is no year, month or
    page number (``/archives/123``, WordPress's numeric permalinks; ``/topic/air-defence/123``)
    or a headline slug (``/topics/iran/irans-new-air-defence-deal``) names one article, and so
    does a query naming a post (``/?p=123``)."""
    parts = urlsplit(url)
    if names_a_post(parts.query):
        return False
    segments = [s for s in parts.path.lower().split("/") if s]
    for index, segment in enumerate(segments):
        if segment in _LISTING_WORDS:
            return _listing_tail(segment, segments[index + 1 :])
    return False


def _listing_tail(word: str, rest: list[str]) -> bool:
    if len(rest) >= 2 and rest[-2] in _PAGE_WORDS and rest[-1].isdigit():
        rest = rest[:-2]  # page 3 of the listing
    if word in _PAGE_WORDS:
        return not rest or (len(rest) == 1 and rest[0].isdigit())
    if rest and _YEAR.fullmatch(rest[0]):
        dated = rest[1:]
        return len(dated) <= 2 and all(s.isdigit() and len(s) <= 2 for s in dated)
    if any(s.isdigit() for s in rest):
        return False  # a post's number
    last = rest[-1].rsplit(".", 1)[0] if rest else ""
    return len(re.findall(r"[^\W_]+", last)) < HEADLINE_WORDS
