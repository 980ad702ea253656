"""Wrappers' bases, one per port a wrapper changes: each passes every call of its port on
to `inner`, and a wrapper overrides what it changes (a pre-claim, an availability cache,
the rehearsal's baselines). Spelled out method by method (no __getattr__) so mypy checks
each against its port; a wrapper never stands in for a port it does not change."""

from __future__ import annotations

from datetime import timedelta

from booking.domain.holds import Hold, HoldRequest
from booking.domain.orders import Order
from booking.domain.ports import (
    Availability,
    HoldsAndOrders,
    HoldStore,
    Idempotency,
    InventoryReads,
    PlaceStatus,
    Sales,
)


async def close(inner: object) -> None:
    """Finish what a wrapped wrapper still has in flight (at shutdown), down the chain."""
    closing = getattr(inner, "aclose", None)
    if closing is not None:
        await closing()


class PassingHolds:
    """A HoldStore passing every call to `inner`."""

    def __init__(self, inner: HoldStore) -> None:
        self._inner = inner

    async def aclose(self) -> None:
        await close(self._inner)

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        return await self._inner.place_hold(request, idem)

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return await self._inner.stored_hold(idem)

    async def get_hold(self, hold_id: str) -> Hold | None:
        return await self._inner.get_hold(hold_id)

    async def release_hold(self, hold_id: str) -> Hold:
        return await self._inner.release_hold(hold_id)


class PassingHoldsAndOrders(PassingHolds):
    """Holds and orders passing every call to `inner`."""

    _inner: HoldsAndOrders

    def __init__(self, inner: HoldsAndOrders) -> None:
        super().__init__(inner)

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        return await self._inner.place_order(order_id, hold_id, payment_window, idem)

    async def get_order(self, order_id: str) -> Order | None:
        return await self._inner.get_order(order_id)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        return await self._inner.list_orders(account_id, limit, after)

    async def close_order(self, order_id: str, refund: bool) -> Order:
        return await self._inner.close_order(order_id, refund)


class PassingInventory:
    """InventoryReads passing every call to `inner`."""

    def __init__(self, inner: InventoryReads) -> None:
        self._inner = inner

    async def aclose(self) -> None:
        await close(self._inner)

    async def availability(self, performance_id: str) -> Availability:
        return await self._inner.availability(performance_id)

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        return await self._inner.place_states(performance_id, zone_id)

    async def sales(self, performance_id: str) -> Sales:
        return await self._inner.sales(performance_id)
