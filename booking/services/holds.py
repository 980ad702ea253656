"""Holding places: the fan's all-or-nothing claim, kept for the performance's hold TTL."""

from __future__ import annotations

from booking.domain.accounts import Account, Role
from booking.domain.errors import (
    Forbidden,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    SaleNotOpen,
    SeatsUnavailable,
)
from booking.domain.holds import MAX_SEATS_PER_HOLD, GaRequest, Hold, HoldRequest
from booking.domain.ids import new_id
from booking.domain.ports import (
    Availability,
    Clock,
    HoldStore,
    Idempotency,
    InventoryReads,
    PlaceState,
    PlaceStatus,
    Sales,
)
from booking.domain.telemetry import TELEMETRY, HoldRefusal, Telemetry
from booking.services.catalog import CatalogService


class HoldService:
    def __init__(
        self,
        holds: HoldStore,
        inventory: InventoryReads,
        catalog: CatalogService,
        clock: Clock,
        telemetry: Telemetry = TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._store = holds
        self._inventory = inventory
        self._catalog = catalog
        self._clock = clock

    async def place(
        self,
        fan: Account,
        performance_id: str,
        seat_ids: list[str],
        ga: list[GaRequest],
        idem: Idempotency,
    ) -> Hold:
        if fan.role is not Role.FAN:
            raise Forbidden("only fan accounts hold and buy tickets")
        performance = await self._catalog.performance(fan, performance_id)
        if len(set(seat_ids)) != len(seat_ids):
            raise InvalidRequest("a seat is listed twice")
        zones = [g.zone for g in ga]
        if len(set(zones)) != len(zones):
            raise InvalidRequest("a GA zone is listed twice; ask for its total quantity once")
        request = HoldRequest(
            hold_id=new_id("hld"),
            performance_id=performance.id,
            account_id=fan.id,
            seat_ids=seat_ids,
            ga=ga,
            ticket_limit=performance.ticket_limit,
            ttl_seconds=performance.hold_ttl_seconds,
        )
        if request.quantity == 0:
            raise InvalidRequest("ask for at least one seat or standing place")
        if request.quantity > MAX_SEATS_PER_HOLD:
            raise InvalidRequest(f"a hold takes at most {MAX_SEATS_PER_HOLD} places")
        if not performance.on_sale(self._clock.now()):
            raise SaleNotOpen(
                f"sale runs from {performance.sale_opens_at.isoformat()} "
                f"to {performance.sale_closes_at.isoformat()}"
            )
        try:
            hold = await self._store.place_hold(request, idem)
        except SeatsUnavailable as refusal:
            preclaimed = refusal.preclaimed
            self._telemetry.hold_refused(HoldRefusal.PRECLAIM if preclaimed else HoldRefusal.TAKEN)
            raise
        except LimitExceeded:
            self._telemetry.hold_refused(HoldRefusal.LIMIT)
            raise
        if hold.id == request.hold_id:  # not a replay's stored hold
            self._telemetry.hold_placed()
        return hold

    async def get(self, fan: Account, hold_id: str) -> Hold:
        hold = await self._store.get_hold(hold_id)
        if hold is None or hold.account_id != fan.id:
            raise NotFound("hold", hold_id)
        return hold

    async def release(self, fan: Account, hold_id: str) -> Hold:
        await self.get(fan, hold_id)
        return await self._store.release_hold(hold_id)

    async def availability(self, viewer: Account | None, performance_id: str) -> Availability:
        performance = await self._catalog.performance(viewer, performance_id)
        return await self._inventory.availability(performance.id)

    async def sales(self, organizer: Account, performance_id: str) -> Sales:
        """Live sales figures, for the organizer who owns the performance only."""
        performance = await self._catalog.performance(organizer, performance_id)
        if performance.organizer_id != organizer.id:
            raise NotFound("performance", performance_id)
        return await self._inventory.sales(performance.id)

    async def places(
        self,
        viewer: Account | None,
        performance_id: str,
        zone_id: str | None,
        only: PlaceState | None = None,
    ) -> list[PlaceStatus]:
        """Each seat's state; `only` keeps one state (a picker after free seats fetches a
        map that shrinks as the sale goes on). Filtered here, so concurrent readers of a
        section still share one store read."""
        performance = await self._catalog.performance(viewer, performance_id)
        places = await self._inventory.place_states(performance.id, zone_id)
        return places if only is None else [p for p in places if p.state == only]
