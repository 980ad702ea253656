"""A real local store with one performance on sale, for tests that call a store directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from booking.adapters.passing import PassingHoldsAndOrders
from booking.bootstrap import LocalRuntime, Runtime, holds_and_orders
from booking.domain.accounts import Role
from booking.domain.catalog import Artist, EventStatus, GradeAssignment, PriceGrade
from booking.domain.errors import StoreUnavailable
from booking.domain.holds import Hold, HoldRequest
from booking.domain.orders import Order
from booking.domain.ports import (
    Availability,
    HoldsAndOrders,
    Idempotency,
    InventoryReads,
    PlaceStatus,
    Sales,
)
from booking.domain.venues import GaZone, SeatBlock, seat_map_from_blocks
from booking.services.catalog import PerformancePlan
from tests.support import PASSWORD, unique_email

HOLD_TTL_SECONDS = 600


class CountingStore(PassingHoldsAndOrders):
    """The real store's holds, orders and availability, counting the calls that reach it."""

    def __init__(self, inner: HoldsAndOrders, inventory: InventoryReads) -> None:
        super().__init__(inner)
        self._inventory = inventory
        self.place_hold_calls = 0
        self.availability_calls = 0
        self.lose_answers = False
        """Releases and cancellations are written, then answered StoreUnavailable (an answer
        lost after the commit)."""

    async def release_hold(self, hold_id: str) -> Hold:
        hold = await self._inner.release_hold(hold_id)
        if self.lose_answers:
            raise StoreUnavailable("the answer was lost after the commit")
        return hold

    async def close_order(self, order_id: str, refund: bool) -> Order:
        order = await self._inner.close_order(order_id, refund)
        if self.lose_answers:
            raise StoreUnavailable("the answer was lost after the commit")
        return order

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        self.place_hold_calls += 1
        return await self._inner.place_hold(request, idem)

    async def availability(self, performance_id: str) -> Availability:
        self.availability_calls += 1
        return await self._inventory.availability(performance_id)

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        return await self._inventory.place_states(performance_id, zone_id)

    async def sales(self, performance_id: str) -> Sales:
        return await self._inventory.sales(performance_id)

    @classmethod
    def of(cls, runtime: LocalRuntime) -> CountingStore:
        """Around the runtime's own holds, orders and inventory reads."""
        return cls(holds_and_orders(runtime.booking), runtime.booking.inventory)


async def on_sale(runtime: Runtime) -> tuple[str, list[str]]:
    """20 seats (S1, two rows of ten) and 20 standing places on sale now: its id and seats."""
    services = runtime.services
    organizer = await services.accounts.sign_up(
        unique_email("organizer"), PASSWORD, "Organizer", Role.ORGANIZER
    )
    seat_map = seat_map_from_blocks(
        [SeatBlock(section="S1", name="Section 1", rows=2, seats_per_row=10)],
        [GaZone(id="FLOOR", name="Floor", capacity=20)],
    )
    venue = await services.catalog.create_venue(
        organizer, "Test Arena", "Seoul", "Asia/Seoul", seat_map, None
    )
    event = await services.catalog.create_event(
        organizer,
        "Test Concert",
        [Artist(name_ko="아이유", name_en="IU")],
        "k-pop",
        "",
        None,
        EventStatus.PUBLISHED,
        None,
    )
    now = datetime.now(UTC)
    performance = await services.catalog.create_performance(
        organizer,
        event.id,
        PerformancePlan(
            venue_id=venue.id,
            starts_at=now + timedelta(days=30),
            timezone="Asia/Seoul",
            sale_opens_at=now - timedelta(minutes=1),
            sale_closes_at=now + timedelta(days=29),
            grades=[
                PriceGrade(code="VIP", name="VIP", price_krw=198_000),
                PriceGrade(code="R", name="R", price_krw=154_000),
            ],
            assignment=GradeAssignment(sections={"S1": "VIP"}, ga_zones={"FLOOR": "R"}),
            blocked_seats=[],
            ticket_limit=4,
            hold_ttl_seconds=HOLD_TTL_SECONDS,
            payment_window_seconds=900,
        ),
        None,
    )
    places = await runtime.booking.inventory.place_states(performance.id, None)
    return performance.id, [p.unit_id for p in places]


class ManualClock:
    """The store's and the pre-claim's clock in one: starts at the real time, then moves
    only when a test moves it (expiry without sleeping)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
