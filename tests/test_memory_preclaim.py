"""The local runtime's in-process pre-claim against the real SQLite store.

It turns losers of a seat race away before they queue for the writer; the store's
conditional write stays the only fence, so forgetting the pre-claims (a restart) changes
how much losers cost, never whether a seat is sold once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from booking.adapters.local.memory_preclaim import (
    TAKEN,
    MemoryPreclaimingBookingStore,
    PreclaimMap,
)
from booking.bootstrap import LocalRuntime, build_local
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import GaRequest, Hold, HoldRequest
from booking.domain.ids import new_id
from booking.domain.ports import Idempotency, PlaceState
from booking.settings import Settings
from tests.booking_rig import HOLD_TTL_SECONDS, CountingStore, on_sale
from tests.support import new_key


class SteppedTime:
    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@dataclass
class Rig:
    runtime: LocalRuntime
    inner: CountingStore
    store: MemoryPreclaimingBookingStore
    time: SteppedTime
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
            ticket_limit=4,
            ttl_seconds=HOLD_TTL_SECONDS,
        )
        return request, Idempotency(f"{fan}:place_hold", new_key(), "fingerprint")

    async def hold(self, seats: list[str], ga: int = 0) -> Hold:
        return await self.store.place_hold(*self.request(seats, ga))

    async def held(self) -> set[str]:
        states = await self.runtime.booking_store.place_states(self.performance_id, None)
        return {p.unit_id for p in states if p.state is PlaceState.HELD}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    """The local runtime without its own pre-claim: the tests wrap its store themselves."""
    runtime = build_local(Settings(data_dir=tmp_path / "data", preclaim=False))
    runtime.open()
    yield runtime
    runtime.close()


def run(runtime: LocalRuntime, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        performance_id, seats = await on_sale(runtime)
        inner = CountingStore(runtime.booking_store)
        time = SteppedTime()
        store = MemoryPreclaimingBookingStore(inner, runtime.clock, PreclaimMap(clock=time))
        await scenario(Rig(runtime, inner, store, time, performance_id, seats))

    asyncio.run(main())


def test_a_preclaimed_seat_is_refused_without_a_store_transaction(runtime: LocalRuntime) -> None:
    """GIVEN a hold on two seats WHEN another fan asks for one of them THEN the pre-claim
    refuses it, naming the seat, and the store never hears of the attempt."""

    async def scenario(rig: Rig) -> None:
        await rig.hold(rig.seats[:2])
        with pytest.raises(SeatsUnavailable) as refused:
            await rig.hold([rig.seats[1], rig.seats[2]])
        assert refused.value.taken == [rig.seats[1]]
        assert rig.inner.place_hold_calls == 1
        assert await rig.held() == set(rig.seats[:2])

    run(runtime, scenario)


def test_store_refusal_frees_the_untaken_claims_and_marks_the_taken_seat(
    runtime: LocalRuntime,
) -> None:
    """GIVEN a seat held in the store behind the pre-claim's back WHEN a fan asks for it and
    a free seat THEN the store refuses, the free seat can be held by the next fan, and the
    taken one is turned away by its mark until the mark lapses."""

    async def scenario(rig: Rig) -> None:
        await rig.inner.place_hold(*rig.request([rig.seats[0]]))  # not through the pre-claim
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0], rig.seats[1]])
        assert rig.store.claims.kept(rig.performance_id, [rig.seats[0]], "x") == [
            (rig.seats[0], TAKEN)
        ]
        await rig.hold([rig.seats[1]])
        calls = rig.inner.place_hold_calls
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls  # the mark answered
        rig.time.at += 3.5  # the mark lapses: the store decides again (and refuses)
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls + 1

    run(runtime, scenario)


def test_release_and_cancelled_order_free_the_preclaims(runtime: LocalRuntime) -> None:
    """GIVEN a released hold and a cancelled order WHEN another fan asks for their seats
    THEN the pre-claim lets the request through and the store grants it."""

    async def scenario(rig: Rig) -> None:
        released = await rig.hold([rig.seats[0]])
        await rig.store.release_hold(released.id)
        ordered = await rig.hold([rig.seats[1]])
        order = await rig.store.place_order(
            new_id("ord"), ordered.id, timedelta(minutes=15), Idempotency("x", new_key(), "f")
        )
        await rig.store.close_order(order.id, refund=False)
        again = await rig.hold([rig.seats[0], rig.seats[1]])
        assert {i.unit_id for i in again.items} == {rig.seats[0], rig.seats[1]}

    run(runtime, scenario)


def test_a_lapsed_preclaim_lets_the_store_decide(runtime: LocalRuntime) -> None:
    """GIVEN a hold whose pre-claims lapsed with its lifetime WHEN another fan asks for its
    seat THEN the request reaches the store (which decides by the hold's own expiry)."""

    async def scenario(rig: Rig) -> None:
        await rig.hold([rig.seats[0]])
        rig.time.at += HOLD_TTL_SECONDS + 1
        calls = rig.inner.place_hold_calls
        with pytest.raises(SeatsUnavailable):  # the store's clock: the hold is still active
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls + 1

    run(runtime, scenario)


def test_an_order_keeps_its_seats_for_its_payment_window(runtime: LocalRuntime) -> None:
    """GIVEN a hold turned into an order with a payment window shorter than the hold's life
    WHEN the window has passed THEN the pre-claim no longer refuses the seats (the store
    decides: an expired order's places are free), while before it, it did."""

    async def scenario(rig: Rig) -> None:
        held = await rig.hold([rig.seats[0]])
        await rig.store.place_order(
            new_id("ord"), held.id, timedelta(seconds=60), Idempotency("x", new_key(), "f")
        )
        calls = rig.inner.place_hold_calls
        with pytest.raises(SeatsUnavailable):
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls
        rig.time.at += 61
        with pytest.raises(SeatsUnavailable):  # the store's clock: the order is still pending
            await rig.hold([rig.seats[0]])
        assert rig.inner.place_hold_calls == calls + 1

    run(runtime, scenario)


def test_a_retry_gets_its_stored_hold_not_a_refusal_by_its_own_claims(
    runtime: LocalRuntime,
) -> None:
    """GIVEN a hold placed WHEN the client retries with the same Idempotency-Key THEN it gets
    the same hold back; and after a restart that forgot the pre-claims, while another
    attempt had the seat marked taken, the retry still gets it from the store's record."""

    async def scenario(rig: Rig) -> None:
        request, idem = rig.request([rig.seats[0]])
        first = await rig.store.place_hold(request, idem)
        retried = HoldRequest(**{**_fields(request), "hold_id": new_id("hld")})
        assert await rig.store.place_hold(retried, idem) == first
        restarted = MemoryPreclaimingBookingStore(
            rig.inner, rig.runtime.clock, PreclaimMap(clock=rig.time)
        )
        with pytest.raises(SeatsUnavailable):  # marks the seat taken in the new map
            await restarted.place_hold(*rig.request([rig.seats[0]]))
        assert await restarted.place_hold(retried, idem) == first

    run(runtime, scenario)


def test_a_late_retry_of_an_ordered_hold_gets_the_hold_while_its_order_keeps_the_seats(
    runtime: LocalRuntime,
) -> None:
    """GIVEN a hold turned into an order whose payment window outlasts the hold's key mark
    WHEN the client retries the hold with its Idempotency-Key after the hold's lifetime
    THEN it gets its stored hold, not a refusal by the seats its own order keeps."""

    async def scenario(rig: Rig) -> None:
        request, idem = rig.request([rig.seats[0]])
        first = await rig.store.place_hold(request, idem)
        await rig.store.place_order(
            new_id("ord"),
            first.id,
            timedelta(seconds=10 * HOLD_TTL_SECONDS),
            Idempotency("x", new_key(), "f"),
        )
        rig.time.at += 2 * HOLD_TTL_SECONDS  # past the key mark made with the hold
        retried = HoldRequest(**{**_fields(request), "hold_id": new_id("hld")})
        assert (await rig.store.place_hold(retried, idem)).id == first.id

    run(runtime, scenario)


def test_standing_places_pass_through(runtime: LocalRuntime) -> None:
    """GIVEN a request for standing places only WHEN it is placed THEN the store decides it
    and nothing is pre-claimed."""

    async def scenario(rig: Rig) -> None:
        hold = await rig.hold([], ga=2)
        assert hold.quantity == 2
        assert len(rig.store.claims) == 0

    run(runtime, scenario)


def test_race_of_200_holds_for_20_seats_sells_each_seat_once(runtime: LocalRuntime) -> None:
    """GIVEN 200 concurrent holds of 1-3 adjacent seats of 20 WHEN they race THEN no seat is
    in two holds, every granted seat is held in the store, and most losers never reached
    the store."""

    async def scenario(rig: Rig) -> None:
        rng = random.Random(7)

        def pick() -> list[str]:
            n = rng.randint(1, 3)
            start = rng.randrange(0, len(rig.seats) - n + 1)
            return rig.seats[start : start + n]

        answers = await asyncio.gather(
            *(rig.hold(pick()) for _ in range(200)), return_exceptions=True
        )
        holds = [a for a in answers if isinstance(a, Hold)]
        assert all(isinstance(a, Hold | SeatsUnavailable) for a in answers), answers
        granted = [i.unit_id for h in holds for i in h.items]
        assert len(granted) == len(set(granted))
        assert set(granted) == await rig.held()
        assert rig.inner.place_hold_calls < 100

    run(runtime, scenario)


def test_the_map_sweeps_out_what_has_lapsed() -> None:
    """GIVEN a thousand claims that each lapse a second later WHEN they are made a second
    apart THEN the map stays small (lapsed entries are swept out whenever it has doubled)
    and a live claim stays."""
    time = SteppedTime()
    claims = PreclaimMap(clock=time, min_sweep=10)
    claims.claim("p", ["live"], "h-live", 10_000, Idempotency("a:place_hold", "live", "f"))
    for n in range(1000):
        time.at += 1
        claims.claim("p", [f"s{n}"], f"h{n}", 0.5, Idempotency("a:place_hold", f"k{n}", "f"))
    assert len(claims) < 40
    assert claims.kept("p", ["live"], "someone") == [("live", "h-live")]


def _fields(request: HoldRequest) -> dict[str, object]:
    return {f: getattr(request, f) for f in request.__struct_fields__}
