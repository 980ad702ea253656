"""One lock per performance held across the whole claim, like `SELECT … FOR UPDATE` on the
performance's row (what Hi.Events does per event): every hold of a performance waits for
the previous one's transaction and commit; nothing is grouped."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from booking.adapters.passing import PassingHolds
from booking.domain.holds import Hold, HoldRequest
from booking.domain.ports import HoldStore, Idempotency


class PerformanceLockingBookingStore(PassingHolds):
    def __init__(self, inner: HoldStore) -> None:
        super().__init__(inner)
        # One process's locks: the baseline runs as a single server, as its designs do.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        async with self._locks[request.performance_id]:
            return await self._inner.place_hold(request, idem)
