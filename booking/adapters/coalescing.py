"""Concurrent identical reads share one store query (single flight).

When thousands of fans open the same seat map in the same second, each query of the
store would read the same rows; instead the first caller's query is shared with every
caller that arrives while it runs. A caller never gets an answer computed before its
own request began by more than one query's duration, and sequential callers always
query afresh, so nobody reads their own write late by more than that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from booking.adapters.passing import PassingInventory
from booking.domain.ports import Availability, InventoryReads, PlaceStatus

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, query: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            # A task of its own: a caller that goes away does not cancel the others' answer.
            running = self._running[key] = asyncio.ensure_future(query())
            running.add_done_callback(lambda _: self._running.pop(key, None))
        result: T = await asyncio.shield(running)
        return result


class CoalescingInventoryReads(PassingInventory):
    """Availability counts and seat maps of a performance, one query per burst."""

    def __init__(self, inner: InventoryReads) -> None:
        super().__init__(inner)
        self._flights = SingleFlight()

    async def availability(self, performance_id: str) -> Availability:
        return await self._flights.run(
            ("availability", performance_id), lambda: self._inner.availability(performance_id)
        )

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        return await self._flights.run(
            ("places", performance_id, zone_id),
            lambda: self._inner.place_states(performance_id, zone_id),
        )
