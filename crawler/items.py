"""The item the outlet spider yields: an extracted article and the outlet it was found on."""

from __future__ import annotations

from dataclasses import dataclass

from extractors.article import Article


@dataclass
class ArticleItem:
    outlet: str
    article: Article
