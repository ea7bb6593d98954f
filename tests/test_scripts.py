"""One watch across scripts and spellings (#29): S-400 is С-400 is اس-۴۰۰ is إس-٤٠٠.

Unit cases for every spelling and decoy the issue names; then real-looking Russian, Persian,
Arabic and English articles replayed into a real SQLite archive: every spelling fires its
watch once per story, no decoy fires, `wirewatch search` finds the same set, and an archive of
an earlier version is indexed once and then found too.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from alerts.query import Document, display_text, parse_query
from alerts.watches import explain, snippet_text
from tests.support.site import ROOT, wirewatch


def matches(query: str, text: str) -> bool:
    return parse_query(query).matches(Document.of(None, text))


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("S-400", "Россия поставит Ирану С-400 в этом году"),  # Cyrillic Es
        ("S-400", "Russia's С-400 systems are in Iran"),  # a Cyrillic homoglyph in English
        ("S-400", "سامانه اس-۴۰۰ روسیه"),
        ("S-400", "سامانه اس ۴۰۰ روسیه"),
        ("S-400", "منظومة إس-٤٠٠ الروسية"),
        ("S-400", "منظومة إس-400 الروسية"),
        ("Su-35", "истребители Су-35 для Ирана"),
        ("Tu-160", "бомбардировщики Ту-160"),
        ("Kh-101", "ракеты Х-101"),
        ("MQ-9", "پهپاد ام‌کیو-۹ آمریکایی"),
        ("MQ-9", "پهپاد امکیو-۹ آمریکایی"),  # the non-joiner lost (trafilatura drops it)
        ("Zakharova", "Официальный представитель МИД Мария Захарова заявила"),
        ("Zakharova", "Захарова заявила, что переговоры продолжатся."),  # opening a sentence
        ("Iran", "Россия и Иран подписали договор"),
        ("ایران", "ايران"),  # Farsi yeh / Arabic yeh
        ("ایران", "قالت إيران"),  # alef with hamza
        ("ایران", "إيـران"),  # tatweel
        ("کرملین", "كرملين"),  # keheh / kaf
        ("کرملین", "قال الكرملين"),  # the Arabic article joined to the word
        ("اسنپ‌بک", "مکانیسم اسنپ بک"),  # ZWNJ / space
        ("اسنپ‌بک", "مکانیسم اسنپبک"),  # written together
        ("اسنپ بک", "مکانیسم اسنپ‌بک"),
        ("snapback", "the ѕnарbаск mechanism"),  # Cyrillic lookalikes in a Latin word
        ("Αθήνα", "στην αθηνα"),
        ("Österreich", "osterreich"),
        ("علي", "قال علی لاریجانی"),  # the name Ali, Arabic yeh / Farsi yeh
        ("على", "القوات عَلَى الحدود"),  # the preposition "on", with its vowel marks
        ("С-400", "the S-400 systems"),  # the other way round
        ("Захарова", "Maria Zakharova said"),
    ],
)
def test_every_spelling_fires(query, text):
    assert matches(query, text)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("S-400", "поставки С-300 продолжаются"),
        ("S-400", "the S-4000 model"),
        ("S-400", "سامانه اس-۳۰۰"),
        ("S-400", "вместе с 400 ракетами"),  # "together with 400 missiles"
        ("S-1", "С 1 января вступает в силу"),  # "from 1 January", opening a sentence
        ("Su-35", "Су-34 и Су-57"),
        ("no", "Но это не так"),  # "but"
        ("on", "Он сказал"),  # "he"
        ("zakharova", "Мария Захарова заявила"),  # a name reads across scripts for a capital only
        ("Net", "Нет, это не так. А нет ли другого?"),  # a common word opening a sentence
        ('exact:"С-400"', "the S-400 systems"),
        ("exact:S-400", "Россия поставит Ирану С-400"),
        ("V-2024", "في 2024 قالت الحكومة"),  # في is "in", not the letter V
        ("S-400", "σε 400 χιλιόμετρα"),  # Greek "at 400 km"
        ("kai", "στην Αθήνα και στον Πειραιά"),  # a Greek word read as Latin only as a name
        ("علي", "القوات على الحدود"),  # "on" is not the name Ali: its alef maksura is kept
        ("علي", "وعلى الحدود"),  # nor "and on"
    ],
)
def test_no_decoy_fires(query, text):
    assert not matches(query, text)


def test_the_analyst_sees_the_form_found_and_its_script():
    text = "Россия поставит С-400 в Иран, сообщил источник. Ещё С-400 будут."
    doc = Document.of("Поставки", text)
    snippets, terms = explain(parse_query("S-400 Iran"), doc, display_text("Поставки", text))
    assert dict(terms) == {"S-400 (as С-400)": 2, "Iran (as Иран)": 1}
    assert snippet_text(snippets[0]) == (
        "Россия поставит [С-400] в [Иран], сообщил источник. Ещё [С-400] будут."
    )


# -- real-looking articles through the archive ------------------------------------------------

ARTICLES = {
    "ru-s400": (
        "Россия и Иран обсуждают поставки С-400",
        "Официальный представитель МИД России Мария Захарова заявила во вторник, что Москва и "
        "Тегеран продолжают переговоры о военно-техническом сотрудничестве. По её словам, "
        "поставки зенитных ракетных систем С-400 и истребителей Су-35 обсуждаются на уровне "
        "экспертов. Иран рассчитывает получить первые машины до конца года.",
    ),
    "fa-s400": (
        "گفت‌وگوی ایران و روسیه درباره اس-۴۰۰",
        "سخنگوی کرملین روز سه‌شنبه گفت که مذاکرات درباره سامانه اس-۴۰۰ ادامه دارد. به گفته او، "
        "ایران پیش از فعال شدن مکانیسم اسنپ‌بک خواستار تحویل این سامانه است. همچنین گزارش شد "
        "که یک پهپاد ام‌کیو-۹ آمریکایی بر فراز خلیج فارس مشاهده شده است.",
    ),
    "ar-s400": (
        "إيران وروسيا تبحثان صفقة إس-٤٠٠",
        "قال المتحدث باسم الكرملين يوم الثلاثاء إن المحادثات بشأن منظومة إس-٤٠٠ مستمرة. وأضاف "
        "أن إيـران تأمل في تسلم المنظومة قبل نهاية العام، وأن الطرفين يبحثان أيضاً تعاوناً في "
        "مجال الطائرات المقاتلة.",
    ),
    "en-s400": (
        "Iran presses Moscow on air defence",
        "Tehran wants the С-400 air defence system delivered before the ѕnарbаск mechanism is "
        "triggered, officials said on Tuesday. Russian foreign ministry spokeswoman Maria "
        "Zakharova declined to comment on the timing of any deliveries to the Islamic Republic.",
    ),
    "ru-decoy": (
        "Поставки С-300 и Су-34",
        "Но это не так, сказал он. Вместе с 400 ракетами Минобороны получило самолёты Су-34 и "
        "Су-57, а поставки комплексов С-300 продолжаются. Он добавил, что сроки не изменились.",
    ),
    "fa-decoy": (
        "سامانه اس-۳۰۰",
        "گزارش‌ها از استقرار سامانه اس-۳۰۰ در شمال کشور حکایت دارد و مقام‌ها از ارائه جزئیات "
        "بیشتر خودداری کردند. این خبر در روزهای گذشته بارها تکذیب شده بود.",
    ),
}
#: A second paragraph in each language, so that every page is an article of some length.
FILLER = {
    "ru": "Эксперты отмечают, что переговоры идут уже несколько месяцев, а окончательное решение "
    "будет принято после консультаций правительств обеих стран в ближайшие недели.",
    "fa": "کارشناسان می‌گویند این گفت‌وگوها چند ماه است که ادامه دارد و تصمیم نهایی پس از "
    "رایزنی‌های دو دولت در هفته‌های آینده گرفته خواهد شد و جزئیات آن اعلام می‌شود.",
    "ar": "ويقول خبراء إن هذه المحادثات مستمرة منذ عدة أشهر، وإن القرار النهائي سيتخذ بعد "
    "مشاورات بين حكومتي البلدين في الأسابيع المقبلة، على أن تعلن التفاصيل لاحقاً.",
    "en": "Analysts say the talks have been going on for several months and that a final "
    "decision will follow consultations between the two governments in the coming weeks.",
}
WATCHES = {
    "s400": ("S-400", {"ru-s400", "fa-s400", "ar-s400", "en-s400"}),
    "su35": ("Su-35", {"ru-s400"}),
    "zakharova": ("Zakharova", {"ru-s400", "en-s400"}),
    "iran": ("ایران", {"fa-s400", "ar-s400"}),
    "kremlin": ("کرملین", {"fa-s400", "ar-s400"}),
    "snapback": ("snapback OR اسنپ‌بک", {"fa-s400", "en-s400"}),
    "mq9": ("MQ-9", {"fa-s400"}),
}


def write_archive(tmp_path: Path) -> Path:
    pages = tmp_path / "pages"
    pages.mkdir()
    for key, (title, text) in ARTICLES.items():
        (pages / f"{key}.html").write_text(
            f'<html><head><title>{title}</title><link rel="canonical" '
            f'href="https://news.example.org/{key}"></head><body><article><h1>{title}</h1>'
            f"<p>{text}</p><p>{FILLER[key[:2]]}</p></article></body></html>",
            encoding="utf-8",
        )
    config = tmp_path / "w.toml"
    config.write_text(
        f'[storage]\ndatabase = "{tmp_path / "w.db"}"\n'
        + "".join(
            f'[[watches]]\nname = "{name}"\nquery = {json.dumps(query, ensure_ascii=False)}\n'
            'email = ["analyst@example.org"]\nmax_age = "100000d"\n'
            for name, (query, _) in WATCHES.items()
        ),
        encoding="utf-8",
    )
    replayed = wirewatch("--config", str(config), "replay", "--json", str(pages))
    assert replayed.returncode == 0, replayed.stderr
    return config


def alerted(database: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(database)
    rows = db.execute(
        "select w.watch, a.url from alerts w join articles a on a.id = w.article_id"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for watch, url in rows:
        found.setdefault(watch, set()).add(url.rsplit("/", 1)[1])
    return found


def searched(config: Path, query: str) -> set[str]:
    result = wirewatch("--config", str(config), "search", "--json", query)
    assert result.returncode == 0, result.stderr
    return {json.loads(line)["url"].rsplit("/", 1)[1] for line in result.stdout.splitlines()}


def test_each_spelling_fires_its_watch_once_per_story_and_search_finds_the_same(tmp_path):
    config = write_archive(tmp_path)
    found = alerted(tmp_path / "w.db")
    assert found == {name: keys for name, (_, keys) in WATCHES.items()}
    db = sqlite3.connect(tmp_path / "w.db")
    per_story = db.execute(
        "select w.watch, a.story_id, count(*) from alerts w join articles a on a.id = w.article_id "
        "group by 1, 2"
    ).fetchall()
    assert all(count == 1 for _, _, count in per_story)
    for _, (query, keys) in WATCHES.items():
        assert searched(config, query) == keys, query


def test_an_archive_of_an_earlier_version_is_indexed_once_and_then_found(tmp_path):
    config = write_archive(tmp_path)
    db = sqlite3.connect(tmp_path / "w.db")
    db.execute("update articles set folded = null")  # as an earlier version left them
    db.commit()
    assert searched(config, "S-400") == WATCHES["s400"][1]
    assert db.execute("select count(*) from articles where folded is null").fetchone()[0] == 0
    again = wirewatch("--config", str(config), "search", "S-400")
    assert "Indexing" not in again.stderr


# -- collisions the folding creates among real pages' frequent words --------------------------

SHARED = ROOT.parent / "shared" / "benchmarks"
#: Among the 1,000 most frequent Cyrillic and Greek words of the three shared sets, those
#: whose reading in Latin is one of the 3,000 most frequent Latin words there, with what the
#: reading is: each must be a spelling of the same thing. Common words that a bare
#: transliteration would meet (нет/net, том/tom, друг/drug, лет/let, про/pro, день/den) get
#: no reading, for they are not written with a capital mid-sentence; nor do the one-letter
#: prepositions в and с before a number ("С 1 января", "в 2024"), which are no designation.
COLLISIONS = {("путин", "putin")}
#: Among the 1,000 most frequent Arabic-script words of the same sets (289 in all), the words
#: that the letter folding makes one: رأس/راس ("head") is one word spelt two ways; أن and إن
#: ("that", "indeed") are two particles written alike but for the hamza's seat, which no watch
#: names.
ARABIC_COLLISIONS = {"ان": {"أن", "إن"}, "راس": {"رأس", "راس"}}


@pytest.mark.skipif(not (SHARED / "fundus-dev").exists(), reason="no shared benchmark sets")
def test_the_collisions_among_frequent_words_are_listed_and_harmless():
    import unicodedata
    from collections import Counter

    from alerts.query import TOKEN, normalise, tokens
    from alerts.scripts import script
    from bench.extraction import aeb, fundus, news_pages
    from extractors.article import extract_article

    latin: Counter[str] = Counter()
    other: Counter[str] = Counter()
    arabic: Counter[str] = Counter()
    read: dict[str, set[str]] = {}
    for page in fundus() + news_pages() + aeb():
        result = extract_article(page.body, page.url, {"Content-Type": "text/html"}, listed=True)
        if result.article is None:
            continue
        # The Arabic-script words as they were matched before #29: marks and format
        # characters dropped, nothing folded.
        plain = "".join(
            c
            for c in unicodedata.normalize("NFKC", result.article.text)
            if unicodedata.category(c) not in ("Mn", "Me", "Cf")
        ).casefold()
        arabic.update(t for t in TOKEN.findall(plain) if script(t) == "arabic")
        doc = Document.of(None, result.article.text)
        for token in doc.tokens:
            kind = script(token)
            if kind == "latin":
                latin[token] += 1
            elif kind == "cyrillic_greek":
                other[token] += 1
        for index, found in doc.readings.items():
            read.setdefault(doc.tokens[index], set()).update(form for form, _, _ in found)
    frequent = {word for word, _ in latin.most_common(3000)}
    collisions = {
        (word, form)
        for word, _ in other.most_common(1000)
        for form in read.get(word, ())
        if form in frequent
    }
    assert collisions == COLLISIONS
    folded: dict[str, set[str]] = {}
    for word, _ in arabic.most_common(1000):
        folded.setdefault("".join(tokens(normalise(word))), set()).add(word)
    assert {form: words for form, words in folded.items() if len(words) > 1} == ARABIC_COLLISIONS
