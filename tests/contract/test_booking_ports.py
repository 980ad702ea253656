"""The booking ports' contract, run against each family's booking table as composed: the
embedded one on SQLite (its writer in a process of its own) and the aws one on DynamoDB
(moto). Each case is one scenario of the ports' promises, called directly, no HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from booking.adapters.shifted_clock import ShiftedClock
from booking.bootstrap import BookingPorts, Runtime
from booking.domain.errors import HoldExpired, SeatsUnavailable
from booking.domain.holds import GaRequest, Hold, HoldRequest, HoldStatus
from booking.domain.ids import new_id
from booking.domain.orders import OrderStatus
from booking.domain.ports import Idempotency, PlaceState
from tests.booking_rig import on_sale
from tests.conftest import build_family
from tests.support import new_key

Scenario = Callable[[BookingPorts, str, list[str], ShiftedClock], Awaitable[None]]


def _request(
    performance_id: str, seats: list[str], ga: int = 0, ttl_seconds: int = 600
) -> tuple[HoldRequest, Idempotency]:
    fan = new_id("acc")
    request = HoldRequest(
        hold_id=new_id("hld"),
        performance_id=performance_id,
        account_id=fan,
        seat_ids=seats,
        ga=[GaRequest(zone="FLOOR", quantity=ga)] if ga else [],
        ticket_limit=20,
        ttl_seconds=ttl_seconds,
    )
    return request, Idempotency(f"{fan}:place_hold", new_key(), f"{seats}/{ga}")


async def _states(ports: BookingPorts, performance_id: str) -> dict[str, PlaceState]:
    return {p.unit_id: p.state for p in await ports.inventory.place_states(performance_id, None)}


@pytest.fixture(params=["local", "aws"], ids=["sqlite", "dynamodb"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], None]:
    clock = ShiftedClock(tmp_path / "clock-offset")
    runtime: Runtime = build_family(request.param, tmp_path / "data", request, clock)

    def scenario(body: Scenario) -> None:
        async def main() -> None:
            await runtime.start()
            try:
                performance_id, seats = await on_sale(runtime)
                await body(runtime.booking, performance_id, seats, clock)
            finally:
                await runtime.stop()

        asyncio.run(main())

    return scenario


def test_a_hold_claims_all_its_places_or_none(run: Callable[[Scenario], None]) -> None:
    async def body(ports: BookingPorts, pid: str, seats: list[str], _: ShiftedClock) -> None:
        first = await ports.holds.place_hold(*_request(pid, seats[0:2], ga=3))
        with pytest.raises(SeatsUnavailable) as refused:
            await ports.holds.place_hold(*_request(pid, seats[1:3]))
        assert refused.value.taken == [seats[1]]
        states = await _states(ports, pid)
        assert (states[seats[0]], states[seats[1]], states[seats[2]]) == (
            PlaceState.HELD,
            PlaceState.HELD,
            PlaceState.AVAILABLE,
        )
        counted = await ports.inventory.availability(pid)
        assert counted.held == first.quantity == 5

    run(body)


def test_a_replay_gets_the_stored_hold(run: Callable[[Scenario], None]) -> None:
    async def body(ports: BookingPorts, pid: str, seats: list[str], _: ShiftedClock) -> None:
        request, idem = _request(pid, seats[:1])
        first = await ports.holds.place_hold(request, idem)
        # A retry of the request makes a new hold id; the key's record answers with the first.
        retry = msgspec.structs.replace(request, hold_id=new_id("hld"))
        again = await ports.holds.place_hold(retry, idem)
        assert again.id == first.id
        assert await ports.holds.stored_hold(idem) == first

    run(body)


def test_released_and_lapsed_places_can_be_held_again(run: Callable[[Scenario], None]) -> None:
    async def body(ports: BookingPorts, pid: str, seats: list[str], clock: ShiftedClock) -> None:
        released = await ports.holds.place_hold(*_request(pid, seats[:1]))
        assert (await ports.holds.release_hold(released.id)).status is HoldStatus.RELEASED
        await ports.holds.place_hold(*_request(pid, seats[:1], ttl_seconds=1))
        with pytest.raises(SeatsUnavailable):
            await ports.holds.place_hold(*_request(pid, seats[:1]))
        clock.advance(2)  # the claim has lapsed: the condition lets the next one in
        await ports.holds.place_hold(*_request(pid, seats[:1]))
        assert await ports.expiry.expire_due(limit=100) >= 1

    run(body)


def test_an_order_keeps_its_places_until_closed(run: Callable[[Scenario], None]) -> None:
    async def body(ports: BookingPorts, pid: str, seats: list[str], clock: ShiftedClock) -> None:
        held: Hold = await ports.holds.place_hold(*_request(pid, seats[:2], ttl_seconds=1))
        order = await ports.orders.place_order(
            new_id("ord"), held.id, timedelta(minutes=10), Idempotency("o", new_key(), held.id)
        )
        assert order.status is OrderStatus.PENDING_PAYMENT
        clock.advance(2)  # past the hold's own expiry: the order keeps the places
        with pytest.raises(SeatsUnavailable):
            await ports.holds.place_hold(*_request(pid, seats[:1]))
        closed = await ports.orders.close_order(order.id, refund=False)
        assert closed.status is OrderStatus.CANCELLED
        stored = await ports.orders.get_order(order.id)
        assert stored is not None and (stored.id, stored.status) == (order.id, closed.status)
        await ports.holds.place_hold(*_request(pid, seats[:2]))

    run(body)


def test_an_expired_hold_cannot_be_ordered(run: Callable[[Scenario], None]) -> None:
    async def body(ports: BookingPorts, pid: str, seats: list[str], clock: ShiftedClock) -> None:
        held = await ports.holds.place_hold(*_request(pid, seats[:1], ttl_seconds=1))
        clock.advance(2)
        with pytest.raises(HoldExpired):
            await ports.orders.place_order(
                new_id("ord"), held.id, timedelta(minutes=10), Idempotency("o", new_key(), "x")
            )

    run(body)
