"""A short-lived Redis cache of availability counts, dropped whenever a booking changes them.

During an onsale every fan polls the counts of one performance; the cache turns
those reads into one store read per TTL. A change made through this wrapper
deletes the entry at once, so the writer's next read already sees it; changes
whose performance is unknown here (confirmations, the expiry sweep) show after
the TTL. A read that started before a change may still write its older counts
back: they live at most one TTL. The counts carry their `as_of`, and the store,
not these counts, decides every claim. Redis trouble means reading through.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import msgspec
from redis.asyncio import Redis

from booking.adapters.aws.redis_guard import RedisGuard, Skipped
from booking.adapters.passing import PassingHoldsAndOrders
from booking.domain.errors import DomainError
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

_log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Availability).decode


def availability_key(performance_id: str) -> str:
    return f"av:{{{performance_id}}}"


class CachedAvailabilityStore(PassingHoldsAndOrders):
    """Inventory reads whose `availability` is served from Redis for up to `ttl_ms`, and the
    holds and orders whose writes drop a performance's entry (both ports, since the entry
    must go whenever places change)."""

    def __init__(
        self,
        inner: HoldsAndOrders,
        inventory: InventoryReads,
        redis: Redis,
        guard: RedisGuard | None = None,
        ttl_ms: int = 1_000,
    ) -> None:
        super().__init__(inner)
        self._inventory = inventory
        self._redis = redis
        self._guard = guard or RedisGuard()
        self._ttl_ms = ttl_ms

    async def availability(self, performance_id: str) -> Availability:
        key = availability_key(performance_id)
        cached = await self._guard.call("read availability", lambda: self._redis.get(key))
        if isinstance(cached, bytes | str):
            try:
                return _decode(cached)
            except msgspec.DecodeError:  # written by another version: read it afresh
                _log.warning("unreadable cached availability under %s", key)
        fresh = await self._inventory.availability(performance_id)
        if not isinstance(cached, Skipped):
            await self._guard.call(
                "cache availability", lambda: self._redis.set(key, _encode(fresh), px=self._ttl_ms)
            )
        return fresh

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        return await self._inventory.place_states(performance_id, zone_id)

    async def sales(self, performance_id: str) -> Sales:
        return await self._inventory.sales(performance_id)

    # A DomainError is the store refusing: nothing changed, so the entry stays (losers of
    # a seat race must not empty the cache for everyone). Any other error leaves the
    # outcome unknown, so the entry goes when the performance is known.
    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        try:
            hold = await self._inner.place_hold(request, idem)
        except DomainError:
            raise
        except BaseException:
            await self._invalidate(request.performance_id)
            raise
        await self._invalidate(hold.performance_id)
        return hold

    async def release_hold(self, hold_id: str) -> Hold:
        hold = await self._inner.release_hold(hold_id)
        await self._invalidate(hold.performance_id)
        return hold

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        order = await self._inner.place_order(order_id, hold_id, payment_window, idem)
        await self._invalidate(order.performance_id)
        return order

    async def close_order(self, order_id: str, refund: bool) -> Order:
        order = await self._inner.close_order(order_id, refund)
        await self._invalidate(order.performance_id)
        return order

    # confirm_order and expire_due do not name their performances: their changes show
    # once the entries expire, without a store read to find out which to drop.

    async def _invalidate(self, performance_id: str) -> None:
        await self._guard.call(
            "drop cached availability", lambda: self._redis.delete(availability_key(performance_id))
        )
