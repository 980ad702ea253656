"""The seed's design as written: a Redis lock per seat (`SET NX` with a lease), and only a
request holding every lock of its seats proceeds to the store's transaction; the locks
are deleted afterwards. Standing places take one lock per zone, which serialises them."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from booking.adapters.passing import PassingHolds
from booking.domain.errors import SeatsUnavailable, StoreUnavailable
from booking.domain.holds import Hold, HoldRequest
from booking.domain.ports import HoldStore, Idempotency

LEASE_MS = 5_000
"""A lock outlives a crashed holder by this much; the store's condition is the fence."""


class SeatLockingBookingStore(PassingHolds):
    def __init__(self, inner: HoldStore, redis: Redis) -> None:
        super().__init__(inner)
        self._redis = redis

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        try:
            return await self._place_hold(request, idem)
        except (RedisError, TimeoutError) as exc:
            raise StoreUnavailable("the seat locks did not answer in time") from exc

    async def _place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        # A retry of a finished request gets its answer even while others lock its seats.
        earlier = await self._inner.stored_hold(idem)
        if earlier is not None:
            return earlier
        owner = f"{idem.scope}:{idem.key}"
        locked: list[str] = []
        try:
            # One round trip per lock, as the design is usually written.
            for seat in request.seat_ids:
                if not await self._lock(f"lock:{request.performance_id}:{seat}", owner, locked):
                    raise SeatsUnavailable([seat])
            for ga in request.ga:
                zone_lock = f"lock:{request.performance_id}:zone:{ga.zone}"
                if not await self._lock(zone_lock, owner, locked):
                    raise SeatsUnavailable([], {ga.zone: ga.quantity})
            return await self._inner.place_hold(request, idem)
        finally:
            if locked:
                await self._redis.delete(*locked)

    async def _lock(self, key: str, owner: str, locked: list[str]) -> bool:
        """Take the lock; a replay of the request holding it may go on to the store, which
        answers it from the idempotency record (or decides the claim, as for anyone)."""
        if await self._redis.set(key, owner, nx=True, px=LEASE_MS):
            locked.append(key)
            return True
        return await self._redis.get(key) == owner.encode()
