"""The news-pages set crawled through its outlets' feeds on 127.0.0.1 (#14): every article is
stored, its opening found at least as often as bare trafilatura finds it, no front page kept."""

import os
from pathlib import Path

import pytest

from bench.newspages import DEFAULT_PAGES, Case, found, measure, path_of

PAGES = Path(os.environ.get("WIREWATCH_NEWS_PAGES", DEFAULT_PAGES))


def test_found_folds_case_and_punctuation():
    assert found("WASHINGTON (Aug. 13) -- Declaring", "Washington, Aug 13: declaring")
    assert not found("Another text", "Washington")


def test_front_pages_are_served_at_the_root_and_articles_at_their_own_path():
    front = Case("np4k_cnn_main_site", b"", None, None, True)
    article = Case("a", b"", "http://lifestyle.msn.com/article.aspx?cp-documentid=1", "x", False)
    assert path_of(front) == "/"
    assert path_of(article) == "/article.aspx?cp-documentid=1"


@pytest.mark.skipif(not PAGES.is_dir(), reason=f"no news-pages set at {PAGES}")
def test_every_article_stored_openings_as_often_as_bare_trafilatura_no_front_page():
    result = measure(PAGES)
    assert result["articles"] == 74
    assert result["not_stored"] == [], result
    assert result["opening_wirewatch"] >= result["opening_trafilatura"], result
    assert result["only_trafilatura"] == [], result
    assert result["front_pages"] == 3
    assert result["front_pages_stored"] == [], result
