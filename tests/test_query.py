"""Watch queries: syntax, normalisation and the candidate index."""

from __future__ import annotations

import pytest

from alerts.query import Document, QueryError, normalise, offsets, parse_query
from alerts.watches import Watch, WatchSet, snippet_text, snippets


def matches(query: str, text: str, title: str = "", **facets: str) -> bool:
    return parse_query(query).matches(Document.of(title, text, **facets))


@pytest.mark.parametrize(
    "text",
    [
        "the S-400 system",
        "the S400 system",
        "the S 400 system",
        "the S‑400 system",
        "the s–400",
        "THE S—400",
        "ｓ－４００ (full width)",
        "S - 400",
        "the S-400s",
    ],
)
def test_s400_spellings_match(text: str) -> None:
    assert matches("S-400", text)


@pytest.mark.parametrize(
    "text",
    [
        "the S-4000 system",
        "the MS-400 engine",
        "S, 400 units",
        "S-40",
        "S\n400",
        "XS400",
    ],
)
def test_s400_lookalikes_do_not_match(text: str) -> None:
    assert not matches("S-400", text)


def test_a_cyrillic_designation_is_the_latin_one_unless_exact_and_words_keep_boundaries() -> None:
    assert matches("С-400", "Россия поставила С-400 Ирану")
    assert matches("С-400", "комплексы С400")
    assert matches("S-400", "Россия поставила С-400 Ирану")  # #29: one watch across scripts
    assert not matches('exact:"С-400"', "Russia delivered the S-400")
    assert matches('exact:"С-400"', "Россия поставила С-400 Ирану")
    assert not matches("exact:S-400", "Россия поставила С-400 Ирану")
    assert matches("Россия", "Россия поставила")
    assert not matches("Россия", "Россиянин поставил")
    assert matches("Росси*", "Россиянин поставил")


def test_arabic_and_persian_words() -> None:
    assert matches("إيران", "قالت إيران اليوم")
    assert not matches("إيران", "قالت الإيرانية اليوم")
    assert matches("إيران", "قالت إِيرَان اليوم")  # harakat are ignored
    assert matches("میخواهم", "من می‌خواهم")  # written together or apart (ZWNJ)
    assert matches("S-400", "سامانه اس S-۴۰۰ روسیه")  # Persian digits are digits


def test_case_and_compatibility_forms() -> None:
    assert matches("straße", "STRASSE")
    assert matches("snapback", "The SNAPBACK mechanism")
    assert matches('"nuclear deal"', "the ﬁnal nuclear  deal")


def test_boolean_operators() -> None:
    text = "Russia and Iran signed an arms deal on Monday"
    assert matches("Russia Iran", text)
    assert not matches("Russia China", text)
    assert matches("China OR Iran", text)
    assert matches("(China OR Iran) arms", text)
    assert not matches("Iran -Monday", text)
    assert matches('Iran -"arms sale"', text)
    assert not matches('Iran -"arms deal"', text)
    assert matches('"arms deal"', text)
    assert not matches('"deal arms"', text)
    assert matches("sign*", text)
    assert matches('"arms de*"', text)
    assert not matches("signa*", text)
    # OR binds tighter than AND, as in Google: (China OR Iran) AND Monday.
    assert matches("China OR Iran Monday", text)
    assert not matches("China OR Iran Tuesday", text)


def test_title_counts_but_phrases_do_not_cross_title_and_text() -> None:
    assert matches("snapback", "nothing here", title="Snapback looms")
    assert not matches('"looms nothing"', "nothing here", title="Snapback looms")


def test_filters() -> None:
    facets = {"outlet": "presstv", "host": "www.presstv.ir", "language": "en"}
    assert matches("Iran outlet:presstv", "Iran", **facets)
    assert matches("Iran outlet:PressTV", "Iran", **facets)
    assert not matches("Iran outlet:tehrantimes", "Iran", **facets)
    assert matches("Iran site:presstv.ir", "Iran", **facets)
    assert not matches("Iran site:tv.ir", "Iran", **facets)
    assert matches("Iran lang:en", "Iran", **facets)
    assert not matches("Iran lang:ru", "Iran", **facets)
    assert matches("Iran -site:example.org", "Iran", **facets)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty query"),
        ("(Iran", "never closed"),
        ("Iran)", "unexpected ')'"),
        ("()", "empty parentheses"),
        ('"arms deal', "never closed"),
        ("Iran OR", "needs a term after it"),
        ("OR Iran", "needs a term before it"),
        ("-Iran", "must be present"),
        ("-Iran OR -Russia", "must be present"),
        ("intitle:Iran", "unknown operator 'intitle:'"),
        ("site:", "needs a value"),
        ("a*b", "may only end a word"),
        ("s*", "at least 2 letters"),
        ("---", "no letters or digits"),
    ],
)
def test_malformed_queries_are_explained(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(query)


def test_offsets_map_back_to_the_display_text() -> None:
    display = "Die Straße ﬁel — S‑400"
    normal = normalise(display)
    where = offsets(display)
    assert len(where) == len(normal) + 1
    start = normal.index("400")
    assert display[where[start] : where[start + 3 - 1] + 1] == "400"


def test_snippets_quote_the_original_text_around_each_match() -> None:
    text = (
        "First paragraph about nothing.\n"
        + "Filler words here. " * 10
        + ("Moscow will deliver the S‑400 batteries soon, officials said.")
    )
    node = parse_query("S-400 OR Moscow")
    doc = Document.of("Title", text)
    quoted = snippets(node, doc, "Title\n\n" + text)
    assert len(quoted) == 1
    plain = snippet_text(quoted[0])
    assert "[Moscow] will deliver the [S‑400] batteries" in plain
    assert plain.startswith("…") and "First paragraph" not in plain


def _word(number: int) -> str:
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
        if not number:
            return "term" + letters


def test_candidates_come_from_the_index_not_a_scan() -> None:
    watches = [Watch(f"w{n}", parse_query(_word(n))) for n in range(5000)]
    watches.append(Watch("prefix", parse_query("sanction*")))
    watches.append(Watch("filter", parse_query("outlet:presstv")))
    index = WatchSet(watches)
    doc = Document.of("", f"{_word(42)} and sanctions", outlet="presstv")
    assert {w.name for w in index.candidates(doc)} == {"w42", "prefix", "filter"}
    assert {w.name for w in index.match_document(doc)} == {"w42", "prefix", "filter"}


def test_a_watch_restricted_to_outlets() -> None:
    watch = Watch("w", parse_query("Iran"), frozenset({"presstv"}))
    assert watch.matches(Document.of("", "Iran", outlet="presstv"))
    assert not watch.matches(Document.of("", "Iran", outlet="tehrantimes"))
