"""Concert search: the listing a fan finds, the questions they ask, the page they get back.

One listing per performance (a concert on a date at a venue), carrying what is
searched (titles, artists in Korean and English, aliases) and what is filtered
on (city, genre, date, seats left). Listings are derived from the catalog and
rebuilt whole; their `version` only grows, so a late or repeated rebuild never
replaces a newer one.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated

import msgspec

from booking.domain.catalog import Event, EventStatus, Performance
from booking.domain.errors import InvalidRequest
from booking.domain.text import SINGLE_LINE
from booking.domain.venues import Venue

MAX_PAGE_SIZE = 50
# Deep pages cost the index more than they help a fan; narrow the query instead.
MAX_RESULT_WINDOW = 1_000
FACETS = ("city", "genre")


class ListingArtist(msgspec.Struct, frozen=True):
    name_ko: str
    name_en: str
    aliases: list[str]


class ConcertListing(msgspec.Struct, frozen=True):
    performance_id: str
    event_id: str
    version: int
    title: str
    artists: list[ListingArtist]
    genre: str
    description: str
    venue_name: str
    city: str
    starts_at: datetime
    timezone: str
    sale_opens_at: datetime
    sale_closes_at: datetime
    min_price_krw: int
    max_price_krw: int
    capacity: int
    seats_left: int
    has_seats_left: bool
    poster_ref: str | None

    def search_text(self) -> str:
        """Everything a fan may type to find this concert, in one string."""
        names = [n for a in self.artists for n in (a.name_ko, a.name_en, *a.aliases)]
        return " ".join([self.title, *names, self.genre, self.venue_name, self.city])


# The version a deleted performance's listing is removed at: ids are never reused.
GONE_FOR_GOOD = 2**62


class Withdrawal(msgspec.Struct, frozen=True, gc=False):
    """A listing fans must no longer find, as of `version` (a draft may come back later)."""

    performance_id: str
    version: int


def listing_version(event: Event, performance: Performance, venue: Venue) -> int:
    """Grows with every edit of any part: each revision only grows, so their sum does."""
    return 1 + event.revision + performance.revision + venue.revision


def build_listing(
    event: Event, performance: Performance, venue: Venue, seats_left: int, capacity: int
) -> ConcertListing | None:
    """The listing of a performance, or None when fans must not find it (a draft)."""
    if event.status is not EventStatus.PUBLISHED:
        return None
    prices = [grade.price_krw for grade in performance.grades] or [0]
    return ConcertListing(
        performance_id=performance.id,
        event_id=event.id,
        version=listing_version(event, performance, venue),
        title=event.title,
        artists=[ListingArtist(a.name_ko, a.name_en, list(a.aliases)) for a in event.artists],
        genre=event.genre,
        description=event.description,
        venue_name=venue.name,
        city=venue.city,
        starts_at=performance.starts_at,
        timezone=performance.timezone,
        sale_opens_at=performance.sale_opens_at,
        sale_closes_at=performance.sale_closes_at,
        min_price_krw=min(prices),
        max_price_krw=max(prices),
        capacity=capacity,
        seats_left=seats_left,
        has_seats_left=seats_left > 0,
        poster_ref=event.poster_ref,
    )


class SearchSort(enum.StrEnum):
    RELEVANCE = "relevance"
    DATE = "date"


class SearchQuery(msgspec.Struct, frozen=True, gc=False):
    text: str = ""
    city: str | None = None
    genre: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    has_seats_left: bool | None = None
    sort: SearchSort = SearchSort.RELEVANCE
    offset: int = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE_SIZE)] = 20

    def checked(self) -> SearchQuery:
        if len(self.text) > 200:
            raise InvalidRequest("a search text may be at most 200 characters")
        for name, value in (("q", self.text), ("city", self.city), ("genre", self.genre)):
            if value and not re.search(SINGLE_LINE, value):
                raise InvalidRequest(
                    f"'{name}' holds control or invisible characters", parameter=name
                )
        if self.offset < 0 or self.offset + self.limit > MAX_RESULT_WINDOW:
            raise InvalidRequest(
                f"results beyond the first {MAX_RESULT_WINDOW} are not served; narrow the search"
            )
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        if (
            self.starts_from is not None
            and self.starts_before is not None
            and self.starts_from >= self.starts_before
        ):
            raise InvalidRequest("the date range is empty: 'from' must be before 'to'")
        for bound in (self.starts_from, self.starts_before):
            if bound is not None and bound.tzinfo is None:
                raise InvalidRequest("dates must carry a time zone offset")
        return self

    def effective_sort(self) -> SearchSort:
        """Without text there is no relevance to sort by; soonest first then."""
        return self.sort if self.text.strip() else SearchSort.DATE


class SearchHit(msgspec.Struct, frozen=True):
    listing: ConcertListing
    score: float


class FacetCount(msgspec.Struct, frozen=True, gc=False):
    value: str
    count: int


class SearchPage(msgspec.Struct, frozen=True):
    hits: list[SearchHit]
    total: int
    facets: dict[str, list[FacetCount]]
    next_offset: int | None


def next_offset(query: SearchQuery, total: int) -> int | None:
    following = query.offset + query.limit
    return following if following < min(total, MAX_RESULT_WINDOW) else None
