"""Concert search: public, in Korean and English, with filters and facets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from api.deps import ServicesDep
from booking.domain.search import (
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    SearchPage,
    SearchQuery,
    SearchSort,
)


class SearchController(Controller):
    path = "/api/v1/search"
    tags = ["search"]

    @get(
        "/concerts",
        summary="Find concerts by artist, title, venue or city (Korean or English)",
        description=(
            "Matches artist names in Korean and English, their aliases, partial words and "
            "small typos. Facets count results per city and genre. Results appear here "
            "moments after a catalogue change (see docs/PERFORMANCE.md for freshness)."
        ),
    )
    async def concerts(
        self,
        services: ServicesDep,
        q: Annotated[str, QueryParameter(max_length=200, description="Search text")] = "",
        city: Annotated[str | None, QueryParameter(max_length=100)] = None,
        genre: Annotated[str | None, QueryParameter(max_length=100)] = None,
        starts_from: Annotated[
            str | None,
            QueryParameter(
                name="from", format="date-time", description="Performances starting at or after"
            ),
        ] = None,
        starts_before: Annotated[
            str | None,
            QueryParameter(
                name="to", format="date-time", description="Performances starting before"
            ),
        ] = None,
        has_seats: Annotated[
            bool | None, QueryParameter(description="Only those with (true) or without seats left")
        ] = None,
        sort: Annotated[SearchSort, QueryParameter(description="relevance or date")] = (
            SearchSort.RELEVANCE
        ),
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, lt=MAX_RESULT_WINDOW)] = 0,
    ) -> SearchPage:
        query = SearchQuery(
            text=q,
            city=city,
            genre=genre,
            starts_from=_date_time("from", starts_from),
            starts_before=_date_time("to", starts_before),
            has_seats_left=has_seats,
            sort=sort,
            offset=offset,
            limit=limit,
        )
        return await services.search.search(query)


def _date_time(parameter: str, text: str | None) -> datetime | None:
    """An RFC 3339 date-time, as documented. Litestar converts a `datetime` query parameter
    leniently, taking a number such as `0.5` for seconds since 1970."""
    if text is None:
        return None
    try:
        return msgspec.convert(text, datetime, strict=True)
    except msgspec.ValidationError:
        message = f"Expected an RFC 3339 date-time such as 2026-12-24T19:00:00+09:00, got {text!r}"
        raise ValidationException(
            detail=f"Validation failed for GET {SearchController.path}/concerts: {message}",
            extra=[{"message": message, "key": parameter, "source": "query"}],
        ) from None
