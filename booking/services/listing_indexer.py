"""The search feed: turns outbox messages into listings and writes them to a search index.

Both runtimes feed it the same messages (locally from the SQLite outbox, on
AWS from the table's stream). Every message only says *what* changed; the
listing is rebuilt from the store's current state, so a late, repeated or
reordered message can only write what is true now, and the index keeps the
higher version when two writers race.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from cachetools import TTLCache

from booking.batches import chunks
from booking.domain.messages import CatalogChanged, HoldPlaced, HoldReleased, OutboxMessage
from booking.domain.ports import CatalogReads, InventoryReads, SearchIndex
from booking.domain.search import (
    GONE_FOR_GOOD,
    ConcertListing,
    Withdrawal,
    build_listing,
    listing_version,
)
from booking.domain.venues import Venue

log = logging.getLogger(__name__)

# Topics that change what a listing says: catalog edits, and seats taken or given back.
INDEXED_TOPICS = frozenset({"CatalogChanged", "HoldPlaced", "HoldReleased"})
_PARALLEL_READS = 8


@dataclass
class IndexerStats:
    messages: int = 0
    upserted: int = 0
    removed: int = 0
    performance_ids: set[str] = field(default_factory=set)


class ListingIndexer:
    def __init__(self, catalog: CatalogReads, booking: InventoryReads, index: SearchIndex) -> None:
        self._catalog = catalog
        self._booking = booking
        self._index = index
        # A stadium's seat map takes tens of milliseconds to read and decode, and a rush
        # rebuilds its listings every second. Venue edits evict their entry here; a copy
        # another process still holds builds an older listing version, which the index
        # refuses to keep over a newer one.
        self._venues: TTLCache[str, Venue] = TTLCache(maxsize=256, ttl=60)

    async def apply(self, messages: Sequence[OutboxMessage]) -> IndexerStats:
        """Index what a batch of messages touched: one rebuild per performance, one bulk write."""
        stats = IndexerStats(messages=len(messages))
        stats.performance_ids = await self._touched(messages)
        listings, gone = await self.listings(stats.performance_ids)
        if listings:
            await self._index.upsert(listings)
        if gone:
            await self._index.remove(gone)
        stats.upserted, stats.removed = len(listings), len(gone)
        return stats

    async def reindex(self) -> int:
        """Fill a fresh index, switch searches to it, then catch up on writes made meanwhile.

        The catch-up pass rewrites every listing into the new index; versions make
        it harmless where the live feed already wrote something newer.
        """
        count = await self._index.rebuild(_with_progress(self.all_listings(), "built"))
        async for batch in chunks(_with_progress(self.all_listings(), "caught up"), 200):
            await self._index.upsert(batch)
        return count

    async def all_listings(self) -> AsyncIterator[ConcertListing]:
        after: str | None = None
        while True:
            events = await self._catalog.list_events(None, True, 100, after)
            if not events:
                return
            for event in events:
                performances = await self._catalog.list_performances(event.id)
                listings, _ = await self.listings({p.id for p in performances})
                for listing in listings:
                    yield listing
            after = events[-1].id

    async def listings(
        self, performance_ids: Iterable[str]
    ) -> tuple[list[ConcertListing], list[Withdrawal]]:
        """Current listings of these performances, and those fans must no longer find."""
        limit = asyncio.Semaphore(_PARALLEL_READS)

        async def one(performance_id: str) -> ConcertListing | Withdrawal:
            async with limit:
                return await self.listing(performance_id)

        built = await asyncio.gather(*(one(pid) for pid in sorted(performance_ids)))
        listings = [b for b in built if isinstance(b, ConcertListing)]
        return listings, [b for b in built if isinstance(b, Withdrawal)]

    async def listing(self, performance_id: str) -> ConcertListing | Withdrawal:
        performance = await self._catalog.get_performance(performance_id)
        if performance is None:
            return Withdrawal(performance_id, GONE_FOR_GOOD)
        event = await self._catalog.get_event(performance.event_id)
        venue = self._venues.get(performance.venue_id)
        if venue is None:
            venue = await self._catalog.get_venue(performance.venue_id)
            if venue is not None:
                self._venues[venue.id] = venue
        if event is None or venue is None:
            return Withdrawal(performance_id, GONE_FOR_GOOD)
        availability = await self._booking.availability(performance_id)
        listing = build_listing(
            event, performance, venue, availability.available, availability.capacity
        )
        # A draft is withdrawn at its own version, so publishing it again shows it again.
        return listing or Withdrawal(performance_id, listing_version(event, performance, venue))

    async def _touched(self, messages: Sequence[OutboxMessage]) -> set[str]:
        touched: set[str] = set()
        for message in messages:
            match message:
                case HoldPlaced(performance_id=pid) | HoldReleased(performance_id=pid):
                    touched.add(pid)
                case CatalogChanged(kind="performance", id=pid):
                    touched.add(pid)
                case CatalogChanged(kind="event", id=event_id, deleted=False):
                    touched.update(p.id for p in await self._catalog.list_performances(event_id))
                case CatalogChanged(kind="venue", id=venue_id, deleted=False):
                    self._venues.pop(venue_id, None)
                    performances = await self._catalog.list_performances_at_venue(venue_id)
                    touched.update(p.id for p in performances)
                case _:
                    # A deleted event or venue has no performances left (the stores insist).
                    pass
        return touched


async def _with_progress(
    listings: AsyncIterator[ConcertListing], stage: str, every: int = 1_000
) -> AsyncIterator[ConcertListing]:
    count = 0
    async for listing in listings:
        yield listing
        count += 1
        if count % every == 0:
            log.info("reindex: %d listings %s", count, stage)
