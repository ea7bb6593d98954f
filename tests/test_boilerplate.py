"""Furniture lines (share, follow, related-story pointers) leave the article text; prose stays."""

import pytest

from extractors.article import extract_article, headline_url
from extractors.boilerplate import drop_furniture, is_furniture


@pytest.mark.parametrize(
    "line",
    [
        "Related: Possible Water Plumes on Europa: The Discovery in Images",
        "[Related: Keynote, Integration And Protestors]",
        "READ MORE: S-400 deliveries to resume next spring",
        "SEE MORE: Protesters under siege in university",
        "Also on example.com Ministers threatened with arrest",
        "Filed under: Defence |",
        "DON'T MISS",
        "You may also like...",
        "Most read in world news",
        "Comments",
        "12 comments",
        "Like this story? Share it with a friend!",
        "Subscribe to the Morning Review newsletter",
        "Follow The Daily Example on Facebook, Twitter (@example) and Instagram.",
        "Tags:",
    ],
)
def test_furniture(line):
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        "Related talks between Moscow and Tehran stalled in March.",
        "More than 400 people were evacuated, officials said.",
        "Comments by the minister drew a sharp response from Washington.",
        "Subscribers to the service were told nothing about the breach.",
        "Follow-up inspections are planned for the summer.",
        "Also present were the deputy ministers of defence.",
        "Tags on the crates showed they had left the port in June.",
        # a long line is prose, whatever its first word
        "Related: " + "the agreement covers air defence systems and training " * 5,
    ],
)
def test_prose(line):
    assert not is_furniture(line)


def test_drop_furniture_keeps_the_article():
    text = "\n".join(
        [
            "Iran will receive S-400 systems, the ministry said.",
            "Read more: Snapback sanctions explained",
            "Deliveries start next year.",
            "Tags",
            "S-400, Iran, Russia, arms",
            "Every online business exists in time.Click To Tweet",
        ]
    )
    assert drop_furniture(text) == (
        "Iran will receive S-400 systems, the ministry said.\nDeliveries start next year.\n"
        "Every online business exists in time."
    )


def test_furniture_inside_a_page_never_reaches_the_text():
    page = b"""<html><head><title>Iran to receive S-400 systems</title></head><body>
    <nav><a href="/">Home</a></nav><article><h1>Iran to receive S-400 systems</h1>
    <p>Iran will receive the first S-400 air defence systems next year, the defence ministry in
    Tehran said on Monday, ending months of talks with Moscow over the terms of the contract.</p>
    <p>READ MORE: Snapback sanctions and what they would mean for the oil trade</p>
    <p>The ministry did not say how many batteries were ordered or what they would cost, and
    Russian officials declined to comment on the details of the deal when asked on Monday.</p>
    <p>Like this story? Share it with a friend!</p></article></body></html>"""
    result = extract_article(page, "https://news.example/world/iran-to-receive-s-400-systems")
    assert result.ok, result
    assert "S-400 air defence" in result.article.text
    assert "Snapback" not in result.article.text
    assert "Share it" not in result.article.text


@pytest.mark.parametrize(
    ("url", "title", "expected"),
    [
        (
            "https://city.example/news/servi-o-de-atendimento-registra-arrombamento-em-ve-culos",
            "Serviço de Atendimento registra arrombamento em veículos",
            True,
        ),
        (
            "https://news.example/world/iran-to-receive-s-400-systems.html",
            "Iran to receive S-400 systems",
            True,
        ),
        ("https://news.example/world/middle-east", "Middle East news", False),  # too few words
        ("https://news.example/world/iran-to-receive-s-400-systems", "World news", False),
        ("https://news.example/world/iran-to-receive-s-400-systems", None, False),
    ],
)
def test_headline_url(url, title, expected):
    assert headline_url(url, title) is expected


def test_a_link_heavy_article_with_a_headline_url_is_kept():
    links = "".join(f'<li><a href="/n/{i}">Another headline number {i}</a></li>' for i in range(80))
    story = (
        "A equipe do Servico de Atendimento registrou nesta manha o arrombamento de dois "
        "dos cinco automoveis da unidade, e a policia foi ao local verificar os danos. "
    ) * 3
    page = (
        "<html><head><title>Atendimento registra arrombamento em veiculos</title></head><body>"
        f"<ul>{links}</ul><div><h1>Atendimento registra arrombamento em veiculos</h1>"
        f"<p>{story}</p></div><ul>{links}</ul></body></html>"
    )
    url = "https://city.example/news/atendimento-registra-arrombamento-em-veiculos"
    result = extract_article(page.encode(), url)
    assert result.ok, result
    assert (
        extract_article(page.encode(), "https://city.example/news/list").reason == "section_front"
    )
