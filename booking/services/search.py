"""Concert search for fans: checks the question, asks the index."""

from __future__ import annotations

from booking.domain.ports import SearchIndex
from booking.domain.search import SearchPage, SearchQuery


class SearchService:
    def __init__(self, index: SearchIndex) -> None:
        self._index = index

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self._index.search(query.checked())
