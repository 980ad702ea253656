"""One contract for every seat pre-claim: in memory (the embedded runtime) and in Redis
(the aws runtime, and the embedded one with a Redis URL), each in front of the real
SQLite store, on one manual clock shared by the store and the pre-claim.

A pre-claim may turn a request away only where the store would: for a seat an
acknowledged, live hold or order owns, or one the store itself named taken. A request
in flight is no reason to refuse; a failure leaves no mark; a replay gets its stored
answer and never claims; a release, a cancellation or the lapse of a claim frees its
seats at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from booking.adapters.aws.redis_guard import RedisGuard, redis_client
from booking.adapters.aws.redis_preclaim import PreclaimingBookingStore
from booking.adapters.local.memory_preclaim import MemoryPreclaimingBookingStore
from booking.bootstrap import LocalRuntime, build_local
from booking.domain.errors import IdempotencyKeyReused, SeatsUnavailable, StoreUnavailable
from booking.domain.holds import GaRequest, Hold, HoldRequest
from booking.domain.ids import new_id
from booking.domain.orders import Order
from booking.domain.ports import HoldsAndOrders, Idempotency, PlaceState
from booking.settings import Settings
from tests.booking_rig import HOLD_TTL_SECONDS, CountingStore, ManualClock, on_sale
from tests.redis_server import RedisServer, redis_binary, start_redis
from tests.support import new_key, skip_unless_available

FAMILIES = ["memory", "redis"]
Family = tuple[str, RedisServer | None]


@dataclass
class Rig:
    runtime: LocalRuntime
    clock: ManualClock
    inner: CountingStore
    store: HoldsAndOrders
    restart: Callable[[], Awaitable[HoldsAndOrders]]
    """A new pre-claim in front of the same store, as after a restart (Redis: flushed)."""
    performance_id: str
    seats: list[str]

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
            ticket_limit=20,
            ttl_seconds=HOLD_TTL_SECONDS,
        )
        return request, Idempotency(f"{fan}:place_hold", new_key(), f"{seats}/{ga}")

    async def hold(self, seats: list[str], ga: int = 0) -> Hold:
        return await self.store.place_hold(*self.request(seats, ga))

    async def order(self, hold: Hold, window_seconds: float = 900) -> Order:
        return await self.store.place_order(
            new_id("ord"),
            hold.id,
            timedelta(seconds=window_seconds),
            Idempotency("o:place_order", new_key(), hold.id),
        )

    async def held(self) -> set[str]:
        states = await self.inner.place_states(self.performance_id, None)
        return {p.unit_id for p in states if p.state is PlaceState.HELD}


@pytest.fixture(params=FAMILIES)
def family(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Family]:
    """Which pre-claim, and the redis-server it needs."""
    if request.param == "memory":
        yield request.param, None
        return
    binary = redis_binary()
    skip_unless_available(binary is not None, "redis-server is not installed")
    assert binary is not None
    server = start_redis(binary, tmp_path / "redis")
    try:
        yield request.param, server
    finally:
        server.stop()


@asynccontextmanager
async def _rig(
    kind: str,
    server: RedisServer | None,
    runtime: LocalRuntime,
    clock: ManualClock,
    taken_mark_seconds: float,
) -> AsyncIterator[Rig]:
    performance_id, seats = await on_sale(runtime)
    inner = CountingStore.of(runtime)
    closing: list[Any] = []

    async def build() -> HoldsAndOrders:
        if server is None:
            return MemoryPreclaimingBookingStore(
                inner, clock, taken_mark_seconds=taken_mark_seconds
            )
        if closing:
            await closing[-1][0].aclose()  # what it still had riding lands first
            server.flushall()
        client = redis_client(server.url, timeout_seconds=10)
        guard = RedisGuard(budget_seconds=30)
        store = PreclaimingBookingStore(
            inner, client, guard, taken_mark_ms=int(taken_mark_seconds * 1000), clock=clock
        )
        closing.append((store, client, guard))
        return store

    store = await build()
    try:
        yield Rig(runtime, clock, inner, store, build, performance_id, seats)
    finally:
        for preclaim, client, guard in closing:
            await preclaim.aclose()
            await guard.aclose()
            await client.aclose()


def run(
    family: Family,
    tmp_path: Path,
    scenario: Callable[[Rig], Awaitable[None]],
    taken_mark_seconds: float = 3.0,
) -> None:
    clock = ManualClock()
    runtime = build_local(Settings.of(data_dir=tmp_path / "data", preclaim=False), clock)
    runtime.open()

    async def main() -> None:
        async with _rig(*family, runtime, clock, taken_mark_seconds) as rig:
            await scenario(rig)

    try:
        asyncio.run(main())
    finally:
        runtime.close()


def test_an_owned_seat_is_refused_without_a_store_transaction(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN a hold on two seats WHEN another fan asks for one of them and a free one
    THEN the pre-claim refuses, naming the owned seat, and the store never hears of it."""

    async def scenario(rig: Rig) -> None:
        await rig.hold(rig.seats[:2])
        with pytest.raises(SeatsUnavailable) as refused:
            await rig.hold([rig.seats[1], rig.seats[2]])
        assert refused.value.taken == [rig.seats[1]]
        assert rig.inner.place_hold_calls == 1
        assert await rig.held() == set(rig.seats[:2])

    run(family, tmp_path, scenario)


def test_a_seat_marked_by_a_request_that_fails_is_not_refused(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN a standing zone sold out WHEN, per seat, three requests for the seat and a
    standing place (which cannot succeed) race one request for the seat alone THEN the lone
    request gets the seat every time: a mark of a request in flight refuses no one."""

    async def scenario(rig: Rig) -> None:
        await rig.hold([], ga=20)  # the whole floor
        for seat in rig.seats[:10]:
            attempts = [rig.hold([seat], ga=1) for _ in range(3)]
            attempts.insert(random.randrange(4), rig.hold([seat]))
            outcomes = await asyncio.gather(*attempts, return_exceptions=True)
            won = [o for o in outcomes if isinstance(o, Hold)]
            assert len(won) == 1, outcomes
            assert [i.unit_id for i in won[0].items] == [seat]
            doomed = [o for o in outcomes if not isinstance(o, Hold)]
            assert all(isinstance(o, SeatsUnavailable) for o in doomed), doomed
        assert await rig.held() >= set(rig.seats[:10])

    run(family, tmp_path, scenario)


def test_a_failed_request_leaves_no_mark(family: Family, tmp_path: Path) -> None:
    """GIVEN a request refused for its standing places WHEN another fan then asks for the
    seat it named THEN the seat is granted."""

    async def scenario(rig: Rig) -> None:
        await rig.hold([], ga=20)
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0]], ga=1)
        assert [i.unit_id for i in (await rig.hold([rig.seats[0]])).items] == [rig.seats[0]]

    run(family, tmp_path, scenario)


def test_a_taken_mark_never_outlives_the_claim_that_refused(family: Family, tmp_path: Path) -> None:
    """GIVEN a seat held in the store behind the pre-claim's back, lapsing in 2 s WHEN a fan
    is refused for it (the store names it taken) THEN the next fan is refused by the mark
    alone, and once the hold has lapsed (before the 60 s mark would) the seat is granted."""

    async def scenario(rig: Rig) -> None:
        request, idem = rig.request([rig.seats[0]])
        short = replace(request, ttl_seconds=2)
        await rig.inner.place_hold(short, idem)  # not through the pre-claim
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0], rig.seats[1]])
        calls = rig.inner.place_hold_calls
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls  # the mark answered
        assert [i.unit_id for i in (await rig.hold([rig.seats[1]])).items] == [rig.seats[1]]
        rig.clock.advance(2.1)
        assert [i.unit_id for i in (await rig.hold([rig.seats[0]])).items] == [rig.seats[0]]

    run(family, tmp_path, scenario, taken_mark_seconds=60)


def test_a_release_or_cancel_frees_the_seats_at_once(family: Family, tmp_path: Path) -> None:
    """GIVEN a released hold, a cancelled order and a seat marked taken WHEN other fans ask
    for those seats at once THEN the store grants them."""

    async def scenario(rig: Rig) -> None:
        a, b, c = rig.seats[:3]
        released = await rig.hold([a])
        await rig.store.release_hold(released.id)
        ordered = await rig.order(await rig.hold([b]))
        await rig.store.close_order(ordered.id, refund=False)
        behind_its_back, idem = rig.request([c])
        stored = await rig.inner.place_hold(behind_its_back, idem)
        with pytest.raises(SeatsUnavailable):
            await rig.hold([c])  # marked taken
        await rig.store.release_hold(stored.id)
        again = await rig.hold([a, b, c])
        assert {i.unit_id for i in again.items} == {a, b, c}

    run(family, tmp_path, scenario, taken_mark_seconds=60)


def test_a_release_or_cancel_whose_answer_was_lost_frees_the_seats(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN a release and a cancellation written by the store whose answers were lost
    (StoreUnavailable after the commit) WHEN other fans ask for those seats THEN the store
    grants them: the pre-claim does not go on refusing on a claim that may be gone."""

    async def scenario(rig: Rig) -> None:
        a, b = rig.seats[:2]
        released = await rig.hold([a])
        ordered = await rig.order(await rig.hold([b]))
        rig.inner.lose_answers = True
        with pytest.raises(StoreUnavailable):
            await rig.store.release_hold(released.id)
        with pytest.raises(StoreUnavailable):
            await rig.store.close_order(ordered.id, refund=False)
        again = await rig.hold([a, b])
        assert {i.unit_id for i in again.items} == {a, b}

    run(family, tmp_path, scenario)


def test_an_order_keeps_its_seats_until_its_deadline_and_not_after(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN a hold turned into an order with a 60 s payment window WHEN another fan asks for
    its seat THEN it is refused without a store transaction until the deadline, and granted
    after it (the store frees an expired order's places by its own condition)."""

    async def scenario(rig: Rig) -> None:
        await rig.order(await rig.hold([rig.seats[0]]), window_seconds=60)
        calls = rig.inner.place_hold_calls
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls
        rig.clock.advance(61)
        assert [i.unit_id for i in (await rig.hold([rig.seats[0]])).items] == [rig.seats[0]]

    run(family, tmp_path, scenario)


def test_a_replayed_order_of_a_cancelled_order_keeps_nothing(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN hold, order with key K, cancel WHEN the order is replayed with K (the stored
    order comes back) THEN other fans still get its seats."""

    async def scenario(rig: Rig) -> None:
        hold = await rig.hold(rig.seats[:2])
        idem = Idempotency("o:place_order", new_key(), hold.id)
        order_id = new_id("ord")
        order = await rig.store.place_order(order_id, hold.id, timedelta(seconds=900), idem)
        await rig.store.close_order(order.id, refund=False)
        replay = await rig.store.place_order(new_id("ord"), hold.id, timedelta(seconds=900), idem)
        assert replay.id == order.id
        again = await rig.hold(rig.seats[:2])
        assert {i.unit_id for i in again.items} == set(rig.seats[:2])

    run(family, tmp_path, scenario)


def test_a_replay_gets_its_stored_hold_whatever_the_seats_state(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN a hold placed with key K WHEN K is replayed (1) at once, (2) after a restart
    and an order of the hold, (3) after its release, its lapse and another fan taking the
    seat THEN every replay gets the stored hold, and no replay leaves a claim."""

    async def scenario(rig: Rig) -> None:
        a = rig.seats[0]
        request, idem = rig.request([a])
        first = await rig.store.place_hold(request, idem)

        def replay() -> HoldRequest:
            return replace(request, hold_id=new_id("hld"))

        assert await rig.store.place_hold(replay(), idem) == first
        rig.store = await rig.restart()
        await rig.order(first)
        with pytest.raises(SeatsUnavailable):
            await rig.hold([a])  # another fan: the order owns it
        assert await rig.store.place_hold(replay(), idem) == first
        # The other fan's refusal marked it taken; the order is cancelled and the seat sold
        # on to someone else: the replay still gets its stored hold, not a refusal.
        orders = await rig.inner.list_orders(request.account_id, 10, None)
        await rig.store.close_order(orders[0].id, refund=False)
        rig.clock.advance(HOLD_TTL_SECONDS + 1)
        someone = await rig.hold([a])
        assert await rig.store.place_hold(replay(), idem) == first
        await rig.store.release_hold(someone.id)
        assert await rig.store.place_hold(replay(), idem) == first  # the seat is free now
        assert [i.unit_id for i in (await rig.hold([a])).items] == [a]  # and not claimed

    run(family, tmp_path, scenario)


def test_a_reused_key_with_another_body_is_refused_whatever_the_seats_state(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN key K first used for standing places WHEN K comes back naming a seat another
    fan holds THEN the answer is IdempotencyKeyReused (422), not a lost race (409)."""

    async def scenario(rig: Rig) -> None:
        await rig.hold([rig.seats[0]])
        request, idem = rig.request([], ga=1)
        await rig.store.place_hold(request, idem)
        other = replace(request, hold_id=new_id("hld"), ga=[], seat_ids=[rig.seats[0]])
        with pytest.raises(IdempotencyKeyReused):
            await rig.store.place_hold(other, Idempotency(idem.scope, idem.key, "another body"))

    run(family, tmp_path, scenario)


def test_standing_places_pass_through(family: Family, tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        assert (await rig.hold([], ga=2)).quantity == 2
        assert rig.inner.place_hold_calls == 1

    run(family, tmp_path, scenario)


def test_race_of_200_holds_for_20_seats_sells_each_seat_once(
    family: Family, tmp_path: Path
) -> None:
    """GIVEN 20 free seats WHEN 200 fans ask at once for one to three random seats each
    THEN no seat is in two holds, the store holds exactly the winners' seats, and the
    losers were turned away before the store: only winners cost a store transaction."""

    async def scenario(rig: Rig) -> None:
        rng = random.Random(20_240_501)
        wanted = [rng.sample(rig.seats, rng.randint(1, 3)) for _ in range(200)]
        outcomes = await asyncio.gather(*(rig.hold(s) for s in wanted), return_exceptions=True)
        won = [o for o in outcomes if isinstance(o, Hold)]
        lost = [o for o in outcomes if isinstance(o, SeatsUnavailable)]
        assert len(won) + len(lost) == 200, [o for o in outcomes if isinstance(o, Exception)]
        assert won and lost
        for one, other in combinations(won, 2):
            assert not {i.unit_id for i in one.items} & {i.unit_id for i in other.items}
        assert await rig.held() == {i.unit_id for h in won for i in h.items}
        assert rig.inner.place_hold_calls == len(won)

    run(family, tmp_path, scenario)
