"""Venues, events and performances, managed by the organizer who owns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from booking.domain.accounts import Account, Role
from booking.domain.catalog import (
    Artist,
    Event,
    EventStatus,
    GradeAssignment,
    Performance,
    PriceGrade,
    check_performance_plan,
    check_schedule,
    inventory_units,
)
from booking.domain.errors import Forbidden, NotFound
from booking.domain.ids import new_id
from booking.domain.ports import (
    Clock,
    EventStore,
    Idempotency,
    MediaStore,
    PerformanceStore,
    StoredMedia,
    VenueStore,
)
from booking.domain.text import require_timezone
from booking.domain.venues import SeatMap, Venue, validate_seat_map
from booking.services.recent import Recent


def require_organizer(account: Account) -> None:
    if account.role is not Role.ORGANIZER:
        raise Forbidden("only organizer accounts manage venues, events and performances")


class PerformancePlan(msgspec.Struct, frozen=True):
    venue_id: str
    starts_at: datetime
    timezone: str
    sale_opens_at: datetime
    sale_closes_at: datetime
    grades: list[PriceGrade]
    assignment: GradeAssignment
    blocked_seats: list[str]
    ticket_limit: int
    hold_ttl_seconds: int
    payment_window_seconds: int


PERFORMANCE_CACHE_SECONDS = 1.0
"""How long a process trusts a performance and its event it has read (every hold and
availability request needs them): edits made through this process apply at once; on
other processes of a stage, within this long."""


class CatalogService:
    def __init__(
        self,
        venues: VenueStore,
        events: EventStore,
        performances: PerformanceStore,
        media: MediaStore,
        clock: Clock,
    ) -> None:
        self._venue_store = venues
        self._event_store = events
        self._performance_store = performances
        self._media = media
        self._clock = clock
        self._performances: Recent[str, tuple[Performance, Event]] = Recent(
            maxsize=10_000, ttl=PERFORMANCE_CACHE_SECONDS
        )

    # -- venues: private to their organizer ---------------------------------------------
    async def create_venue(
        self,
        organizer: Account,
        name: str,
        city: str,
        timezone: str,
        seat_map: SeatMap,
        idem: Idempotency | None,
    ) -> Venue:
        require_organizer(organizer)
        venue = Venue(
            id=new_id("ven"),
            organizer_id=organizer.id,
            name=name,
            city=city,
            timezone=require_timezone(timezone),
            seat_map=validate_seat_map(seat_map),
            created_at=self._clock.now(),
        )
        return await self._venue_store.add_venue(venue, idem)

    async def venue(self, organizer: Account, venue_id: str) -> Venue:
        venue = await self._venue_store.get_venue(venue_id)
        if venue is None or venue.organizer_id != organizer.id:
            raise NotFound("venue", venue_id)
        return venue

    async def venues(self, organizer: Account) -> list[Venue]:
        require_organizer(organizer)
        return await self._venue_store.list_venues(organizer.id)

    async def update_venue(
        self, organizer: Account, venue_id: str, changes: dict[str, Any]
    ) -> Venue:
        venue = await self.venue(organizer, venue_id)
        if "timezone" in changes:
            require_timezone(changes["timezone"])
        venue = msgspec.structs.replace(venue, **changes, revision=venue.revision + 1)
        await self._venue_store.update_venue(venue)
        return venue

    async def delete_venue(self, organizer: Account, venue_id: str) -> None:
        await self.venue(organizer, venue_id)
        await self._venue_store.delete_venue(venue_id)

    # -- events: public once published, otherwise only their organizer sees them ----------
    async def create_event(
        self,
        organizer: Account,
        title: str,
        artists: list[Artist],
        genre: str,
        description: str,
        poster_ref: str | None,
        status: EventStatus,
        idem: Idempotency | None,
    ) -> Event:
        require_organizer(organizer)
        now = self._clock.now()
        event = Event(
            id=new_id("evt"),
            organizer_id=organizer.id,
            title=title,
            artists=artists,
            genre=genre,
            description=description,
            poster_ref=poster_ref,
            status=status,
            created_at=now,
            updated_at=now,
        )
        return await self._event_store.add_event(event, idem)

    async def event(self, viewer: Account | None, event_id: str) -> Event:
        event = await self._event_store.get_event(event_id)
        if event is None or not _visible(event, viewer):
            raise NotFound("event", event_id)
        return event

    async def own_event(self, organizer: Account, event_id: str) -> Event:
        event = await self._event_store.get_event(event_id)
        if event is None or event.organizer_id != organizer.id:
            raise NotFound("event", event_id)
        return event

    async def events(
        self, viewer: Account | None, mine: bool, limit: int, after: str | None
    ) -> list[Event]:
        if mine:
            if viewer is None:
                raise Forbidden("log in as an organizer to list your own events")
            require_organizer(viewer)
            return await self._event_store.list_events(viewer.id, False, limit, after)
        return await self._event_store.list_events(None, True, limit, after)

    async def update_event(
        self, organizer: Account, event_id: str, changes: dict[str, Any]
    ) -> Event:
        event = await self.own_event(organizer, event_id)
        if changes.get("poster_ref", event.poster_ref) != event.poster_ref:
            changes = {**changes, "poster": None}  # variants of the old poster no longer apply
        event = msgspec.structs.replace(
            event, **changes, updated_at=self._clock.now(), revision=event.revision + 1
        )
        await self._event_store.update_event(event)
        self._performances.clear()
        return event

    async def media(self, key: str) -> StoredMedia:
        stored = await self._media.get(key)
        if stored is None:
            raise NotFound("media", key)
        return stored

    async def delete_event(self, organizer: Account, event_id: str) -> None:
        await self.own_event(organizer, event_id)
        await self._event_store.delete_event(event_id)
        self._performances.clear()

    # -- performances: inventory is created with them, in one transaction -----------------
    async def create_performance(
        self, organizer: Account, event_id: str, plan: PerformancePlan, idem: Idempotency | None
    ) -> Performance:
        event = await self.own_event(organizer, event_id)
        venue = await self.venue(organizer, plan.venue_id)
        require_timezone(plan.timezone)
        check_performance_plan(
            venue,
            plan.grades,
            plan.assignment,
            plan.blocked_seats,
            plan.sale_opens_at,
            plan.sale_closes_at,
            plan.starts_at,
        )
        performance = Performance(
            id=new_id("prf"),
            event_id=event.id,
            organizer_id=organizer.id,
            created_at=self._clock.now(),
            **msgspec.structs.asdict(plan),
        )
        units = list(inventory_units(performance, venue))
        return await self._performance_store.add_performance(performance, units, idem)

    async def performance(self, viewer: Account | None, performance_id: str) -> Performance:
        cached = self._performances.get(performance_id)
        if cached is None:
            performance = await self._performance_store.get_performance(performance_id)
            if performance is None:
                raise NotFound("performance", performance_id)
            event = await self._event_store.get_event(performance.event_id)
            if event is None:
                raise NotFound("performance", performance_id)
            cached = (performance, event)
            self._performances.put(performance_id, cached)
        performance, event = cached
        if not _visible(event, viewer):
            raise NotFound("performance", performance_id)
        return performance

    async def performances(self, viewer: Account | None, event_id: str) -> list[Performance]:
        event = await self.event(viewer, event_id)
        return await self._performance_store.list_performances(event.id)

    async def update_performance(
        self, organizer: Account, performance_id: str, changes: dict[str, Any]
    ) -> Performance:
        performance = await self._performance_store.get_performance(performance_id)
        if performance is None or performance.organizer_id != organizer.id:
            raise NotFound("performance", performance_id)
        updated = msgspec.structs.replace(performance, **changes, revision=performance.revision + 1)
        check_schedule(updated.sale_opens_at, updated.sale_closes_at, updated.starts_at)
        await self._performance_store.update_performance(updated)
        self._performances.pop(performance_id)
        return updated

    async def delete_performance(self, organizer: Account, performance_id: str) -> None:
        performance = await self._performance_store.get_performance(performance_id)
        if performance is None or performance.organizer_id != organizer.id:
            raise NotFound("performance", performance_id)
        await self._performance_store.delete_performance(performance_id)
        self._performances.pop(performance_id)


def _visible(event: Event, viewer: Account | None) -> bool:
    return event.status is EventStatus.PUBLISHED or (
        viewer is not None and viewer.id == event.organizer_id
    )
