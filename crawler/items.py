"""The item the outlet spider yields: an extracted article and the outlet it was found on."""

from __future__ import annotations

from dataclasses import dataclass

from extractors.article import Article


@dataclass
class ArticleItem:
    outlet: str
    article: Article

    def __repr__(self) -> str:
        # Scrapy logs a dropped item by its repr: the URL says which, the text would flood.
        return f"ArticleItem(outlet={self.outlet!r}, url={self.article.url!r})"
