"""The Redis layer of the aws runtime against a real redis-server and the real SQLite store.

The pre-claim turns losers of a seat race away before they cost a store
transaction; the store's conditional write stays the only fence, so a flushed
or dead Redis changes how fast bookings are, never whether they are right. What every
pre-claim must do is in tests/contract/test_preclaim_contract.py; here is what only Redis does:
batching, a flushed, dead or frozen server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from booking.adapters.aws.redis_availability import CachedAvailabilityStore, availability_key
from booking.adapters.aws.redis_guard import RedisGuard, redis_client
from booking.adapters.aws.redis_preclaim import TAKEN, PreclaimingBookingStore, seat_key
from booking.bootstrap import LocalRuntime, build_local
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import GaRequest, Hold, HoldRequest
from booking.domain.ids import new_id
from booking.domain.ports import Idempotency, PlaceState
from booking.settings import Settings
from tests.booking_rig import HOLD_TTL_SECONDS, CountingStore, on_sale
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401 - the fixture
from tests.support import new_key


@dataclass
class Rig:
    """One on-sale performance of 20 seats and 20 standing places, behind the Redis wrappers."""

    runtime: LocalRuntime
    server: RedisServer
    redis: Redis
    inner: CountingStore
    guard: RedisGuard
    store: PreclaimingBookingStore
    cached: CachedAvailabilityStore
    performance_id: str
    seats: list[str]

    async def hold(self, seats: list[str], ga: int = 0) -> Hold:
        """A new fan's hold through the pre-claim, with a fresh Idempotency-Key."""
        return await self.store.place_hold(*self.request(seats, ga))

    def request(
        self, seats: list[str], ga: int = 0, fan: str | None = None
    ) -> tuple[HoldRequest, Idempotency]:
        fan = fan or new_id("acc")
        request = HoldRequest(
            hold_id=new_id("hld"),
            performance_id=self.performance_id,
            account_id=fan,
            seat_ids=seats,
            ga=[GaRequest(zone="FLOOR", quantity=ga)] if ga else [],
            ticket_limit=4,
            ttl_seconds=HOLD_TTL_SECONDS,
        )
        return request, Idempotency(f"{fan}:place_hold", new_key(), "fingerprint")

    async def owner(self, seat: str) -> str | None:
        """Who the key says owns `seat`: a hold id, `taken`, `p:<hold id>` in flight, or None
        (once the settles riding with the next call have been sent)."""
        await self.store.batches.flush()
        value = await self.redis.get(seat_key(self.performance_id, seat))
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        if text.startswith("o:"):
            return text[2:].rsplit(":", 1)[0]
        return TAKEN if text.startswith(TAKEN) else text

    async def held(self) -> set[str]:
        states = await self.runtime.booking.inventory.place_states(self.performance_id, None)
        return {p.unit_id for p in states if p.state is PlaceState.HELD}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    """The local runtime, opened without the API: the tests call its store directly."""
    runtime = build_local(Settings.of(data_dir=tmp_path / "data", preclaim=False))
    runtime.open()
    yield runtime
    runtime.close()


def run(
    runtime: LocalRuntime,
    server: RedisServer,
    scenario: Callable[[Rig], Awaitable[None]],
    guard: RedisGuard | None = None,
    timeout_seconds: float = 0.5,
) -> None:
    """Build the rig in one event loop (the Redis client belongs to it) and run `scenario`."""

    async def main() -> None:
        performance_id, seats = await on_sale(runtime)
        client = redis_client(server.url, timeout_seconds=timeout_seconds)
        shared = guard or RedisGuard()
        try:
            inner = CountingStore.of(runtime)
            store = PreclaimingBookingStore(inner, client, shared)
            cached = CachedAvailabilityStore(store, inner, client, shared)
            await scenario(
                Rig(runtime, server, client, inner, shared, store, cached, performance_id, seats)
            )
            await store.aclose()
        finally:
            await shared.aclose()
            await client.aclose()

    asyncio.run(main())


def test_flushall_keeps_bookings_right_and_the_preclaim_heals(
    runtime: LocalRuntime, redis_server: RedisServer
) -> None:
    """GIVEN a hold through the pre-claim
    WHEN Redis loses every key (FLUSHALL) and fans keep booking
    THEN the store refuses the held seat, Redis relearns it as taken, new holds
    re-create their pre-claims, and the store holds each seat once."""

    async def scenario(rig: Rig) -> None:
        a, b = rig.seats[:2]
        first = await rig.hold([a])
        rig.server.flushall()

        with pytest.raises(SeatsUnavailable):
            await rig.hold([a])
        second = await rig.hold([b])

        assert rig.inner.place_hold_calls == 3
        assert await rig.owner(a) == TAKEN
        assert await rig.owner(b) == second.id
        assert {i.unit_id for i in first.items} == {a}
        assert await rig.held() == {a, b}

    run(runtime, redis_server, scenario)


def test_dead_redis_only_makes_bookings_reach_the_store(
    runtime: LocalRuntime, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN the wrappers with a warm Redis connection
    WHEN the redis-server process is killed
    THEN holds, refusals, releases and availability reads still work through the
    store, nothing but SeatsUnavailable is raised, and a warning says Redis was skipped."""

    async def scenario(rig: Rig) -> None:
        a, b = rig.seats[:2]
        await rig.hold([rig.seats[-1]])
        rig.server.kill()

        with caplog.at_level(logging.WARNING):
            first = await rig.hold([a, b])
            with pytest.raises(SeatsUnavailable) as refused:
                await rig.hold([b])
            counts = await rig.cached.availability(rig.performance_id)
            await rig.store.release_hold(first.id)
            again = await rig.hold([b])

        assert refused.value.taken == [b]
        assert counts.held == 3
        assert {i.unit_id for i in again.items} == {b}
        assert rig.inner.place_hold_calls == 4
        assert any("Redis skipped" in r.getMessage() for r in caplog.records)

    run(runtime, redis_server, scenario)


def test_a_frozen_redis_neither_blocks_a_booking_nor_leaves_a_late_claim(
    runtime: LocalRuntime, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a seat held straight in the store, and a redis-server that freezes (SIGSTOP)
    WHEN a fan asks for that seat and a free one, and Redis then resumes
    THEN the request ends with the store's refusal within the guard's budget, and once
    Redis has run the late pre-claim, its cleanup follows: neither seat keeps a mark, and
    the free one is granted to the next fan."""

    async def scenario(rig: Rig) -> None:
        a, b = rig.seats[:2]
        await rig.runtime.booking.holds.place_hold(*rig.request([a]))
        await rig.hold([rig.seats[-1]])  # Redis knows the script: the late claim will run
        rig.server.pause()

        with caplog.at_level(logging.WARNING), pytest.raises(SeatsUnavailable) as refused:
            await rig.hold([a, b])
        rig.server.resume()

        assert refused.value.taken == [a]
        assert any("Redis skipped" in r.getMessage() for r in caplog.records)
        await rig.guard.drain()  # the cleanup retries after the guard's cooldown
        assert (await rig.owner(a), await rig.owner(b)) == (None, None)
        assert {i.unit_id for i in (await rig.hold([b])).items} == {b}

    run(runtime, redis_server, scenario, RedisGuard(cooldown_seconds=0.5))


def test_claims_that_arrive_during_a_call_share_the_next_one(
    runtime: LocalRuntime, redis_server: RedisServer
) -> None:
    """GIVEN five fans asking at the same moment, two of them for a seat the first asks for
    WHEN their holds are placed concurrently
    THEN the first claim leaves at once and the four that arrive while it is in flight
    share the next script call, in arrival order: of two fans asking for the same seat the
    first marks it, the second waits for the first's outcome (a mark in flight refuses no
    one) and, the first having won the seat, is refused without asking again and without a
    store transaction."""

    async def scenario(rig: Rig) -> None:
        a, b, c, d = rig.seats[:4]
        wanted = [[a], [b, c], [c], [d], [a]]

        outcomes = await asyncio.gather(*(rig.hold(s) for s in wanted), return_exceptions=True)

        # The settles of the three winners ride with the next call: one more, at most.
        await rig.store.batches.flush()
        assert (rig.store.batches.calls, rig.store.batches.entries) == (3, 8)
        first, second, third, fourth, fifth = outcomes
        assert isinstance(first, Hold) and isinstance(second, Hold)
        assert isinstance(fourth, Hold)
        assert isinstance(third, SeatsUnavailable) and third.taken == [c]
        assert isinstance(fifth, SeatsUnavailable) and fifth.taken == [a]
        assert rig.inner.place_hold_calls == 3
        assert await rig.owner(c) == second.id
        assert await rig.held() == {a, b, c, d}

    run(runtime, redis_server, scenario)


def test_a_long_queue_leaves_in_calls_of_at_most_the_batch_size(
    runtime: LocalRuntime, redis_server: RedisServer
) -> None:
    """GIVEN at most two claims per script call
    WHEN five fans ask at once for five different seats
    THEN no call carries more than two entries (claims and the settles of their outcomes),
    and every fan gets a seat."""

    async def scenario(rig: Rig) -> None:
        store = PreclaimingBookingStore(rig.inner, rig.redis, rig.guard, max_claims_per_call=2)

        outcomes = await asyncio.gather(
            *(store.place_hold(*rig.request([seat])) for seat in rig.seats[:5])
        )

        await store.batches.flush()
        assert store.batches.entries == 10  # 5 claims, 5 settles
        assert [await rig.owner(seat) for seat in rig.seats[:5]] == [h.id for h in outcomes]

    run(runtime, redis_server, scenario)


def test_callers_that_went_away_leave_nothing_claimed(
    runtime: LocalRuntime, redis_server: RedisServer
) -> None:
    """GIVEN a frozen Redis (SIGSTOP), one claim sent to it and three queued behind it
    WHEN the first caller and the second queued one are cancelled, and Redis resumes
    after the others went on to the store
    THEN the seat Redis claimed late for the first caller is freed again (not kept for the
    hold's TTL), the cancelled queued claim was never sent, and the other two fans got
    their seats."""

    async def scenario(rig: Rig) -> None:
        seats = rig.seats[:4]
        await rig.hold([rig.seats[-1]])  # Redis knows the script: the late claims will run
        rig.server.pause()
        placing = [
            asyncio.create_task(rig.store.place_hold(*rig.request([seat]))) for seat in seats
        ]
        await asyncio.sleep(0)  # the first claim leaves, three queue behind it
        assert rig.store.batches.calls == 2  # the first hold's settle rides with it
        await asyncio.sleep(0.05)  # and it is written to Redis's socket

        placing[0].cancel()
        placing[2].cancel()
        outcomes = await asyncio.gather(*placing, return_exceptions=True)
        rig.server.resume()
        await rig.guard.drain()
        await rig.store.aclose()

        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert isinstance(outcomes[2], asyncio.CancelledError)
        assert isinstance(outcomes[1], Hold) and isinstance(outcomes[3], Hold)
        # The cancelled queued claim was never sent; the two fans left went to the store.
        assert (rig.store.batches.calls, rig.store.batches.entries) == (3, 5)
        assert await rig.owner(seats[0]) is None
        assert await rig.owner(seats[2]) is None
        assert await rig.held() == {rig.seats[-1], seats[1], seats[3]}

    run(runtime, redis_server, scenario, RedisGuard(budget_seconds=0.3, cooldown_seconds=0.3))


def test_availability_is_cached_and_dropped_by_a_hold(
    runtime: LocalRuntime, redis_server: RedisServer
) -> None:
    """GIVEN availability read through the cache twice
    WHEN a fan holds two seats through the cached store
    THEN the second read came from Redis, and the read after the hold shows
    the new counts at once."""

    async def scenario(rig: Rig) -> None:
        before = await rig.cached.availability(rig.performance_id)
        assert await rig.cached.availability(rig.performance_id) == before
        assert rig.inner.availability_calls == 1
        assert await rig.redis.exists(availability_key(rig.performance_id))

        request, idem = rig.request(rig.seats[:2])
        await rig.cached.place_hold(request, idem)
        after = await rig.cached.availability(rig.performance_id)

        assert rig.inner.availability_calls == 2
        assert (after.available, after.held) == (before.available - 2, before.held + 2)

    run(runtime, redis_server, scenario)
