"""The pre-claim against a reference model, in random interleavings (Hypothesis stateful).

The inner store here is the model: a dictionary of places with the store's own rules
(conditional claims, expiry by the clock, one record per Idempotency-Key), whose calls
wait at a gate until the test lets each one through, succeed or fail for another reason.
Hypothesis interleaves holds (new keys, replays, a key reused with another body),
completions and failures of the store calls in flight, releases, orders, cancellations
and the passing of time on a manual clock, in front of the in-memory pre-claim and the
Redis one. After every step: the pre-claim refused no seat the model would have granted,
every replay got the stored answer, and no place is in two live claims.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from msgspec.structs import replace

from booking.adapters.aws.redis_guard import RedisGuard, redis_client
from booking.adapters.aws.redis_preclaim import PreclaimingBookingStore
from booking.adapters.local.memory_preclaim import MemoryPreclaimingBookingStore
from booking.adapters.timestamps import to_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import (
    HoldExpired,
    HoldNotActive,
    IdempotencyKeyReused,
    SeatsUnavailable,
    StoreUnavailable,
)
from booking.domain.holds import GaRequest, Hold, HoldItem, HoldRequest, HoldStatus
from booking.domain.ids import new_id
from booking.domain.orders import Order, OrderStatus
from booking.domain.ports import Idempotency
from tests.booking_rig import ManualClock
from tests.redis_server import RedisServer, redis_binary, start_redis
from tests.support import skip_unless_available

PERFORMANCE = "prf_model"
SEATS = [f"S1-A-{n}" for n in range(1, 6)]
GA_ZONE = "FLOOR"
GA_CAPACITY = 1
HOLD_TTL = 10
PAYMENT_WINDOW = 6


@dataclass
class Unit:
    state: str = "available"
    hold_id: str | None = None
    expires_ms: int = 0

    def claimable(self, now_ms: int) -> bool:
        return self.state == "available" or (
            self.state in ("held", "reserved") and self.expires_ms <= now_ms
        )


@dataclass
class Gate:
    request: HoldRequest
    opened: asyncio.Future[str]
    """Set to `go` (the model decides) or `fail` (the store call fails for another reason)."""


@dataclass
class ModelStore:
    """The store's rules on dictionaries, every hold waiting at a gate."""

    clock: ManualClock
    units: dict[str, Unit] = field(default_factory=dict)
    holds: dict[str, tuple[Hold, HoldStatus]] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    records: dict[tuple[str, str], tuple[str, Any]] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)
    place_hold_calls: int = 0

    def __post_init__(self) -> None:
        for seat in SEATS:
            self.units[seat] = Unit()
        for n in range(GA_CAPACITY):
            self.units[f"{GA_ZONE}-{n}"] = Unit()

    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    def _record(self, idem: Idempotency) -> Any:
        found = self.records.get((idem.scope, idem.key))
        if found is None:
            return None
        if found[0] != idem.fingerprint:
            raise IdempotencyKeyReused("reused")
        return found[1]

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        self.place_hold_calls += 1
        gate = Gate(request, asyncio.get_running_loop().create_future())
        self.gates.append(gate)
        try:
            if await gate.opened == "fail":
                raise StoreUnavailable("the store failed for another reason")
        finally:
            self.gates.remove(gate)
        earlier = self._record(idem)
        if earlier is not None:
            return earlier  # type: ignore[no-any-return]
        now = self.now_ms()
        taken = [s for s in request.seat_ids if not self.units[s].claimable(now)]
        free_ga = [
            u for u, unit in self.units.items() if u.startswith(GA_ZONE) and unit.claimable(now)
        ]
        wanted_ga = sum(g.quantity for g in request.ga)
        if taken or len(free_ga) < wanted_ga:
            short = {GA_ZONE: wanted_ga - len(free_ga)} if len(free_ga) < wanted_ga else {}
            until = {
                s: self.units[s].expires_ms if self.units[s].state != "sold" else None
                for s in taken
            }
            raise SeatsUnavailable(sorted(taken), short, until)
        expires = now + request.ttl_seconds * 1000
        items = [HoldItem(s, "S1", UnitKind.SEAT, "R", 1000) for s in request.seat_ids]
        items += [HoldItem(u, GA_ZONE, UnitKind.GA, "R", 1000) for u in free_ga[:wanted_ga]]
        for item in items:
            self.units[item.unit_id] = Unit("held", request.hold_id, expires)
        hold = Hold(
            request.hold_id,
            PERFORMANCE,
            request.account_id,
            HoldStatus.ACTIVE,
            items,
            self.clock.now(),
            self.clock.now() + timedelta(seconds=request.ttl_seconds),
        )
        self.holds[hold.id] = (hold, HoldStatus.ACTIVE)
        self.records[(idem.scope, idem.key)] = (idem.fingerprint, hold)
        return hold

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return self._record(idem)  # type: ignore[no-any-return]

    async def release_hold(self, hold_id: str) -> Hold:
        hold, status = self.holds[hold_id]
        if status is not HoldStatus.ACTIVE:
            raise HoldNotActive("not active")
        if to_ms(hold.expires_at) <= self.now_ms():
            raise HoldExpired("expired")
        self._free(hold.items, hold_id)
        self.holds[hold_id] = (hold, HoldStatus.RELEASED)
        return hold

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        earlier = self._record(idem)
        if earlier is not None:
            return earlier  # type: ignore[no-any-return]
        hold, status = self.holds[hold_id]
        if status is not HoldStatus.ACTIVE:
            raise HoldNotActive("not active")
        if to_ms(hold.expires_at) <= self.now_ms():
            raise HoldExpired("expired")
        deadline = self.clock.now() + payment_window
        for item in hold.items:
            self.units[item.unit_id] = Unit("reserved", hold_id, to_ms(deadline))
        order = Order(
            order_id,
            PERFORMANCE,
            hold.account_id,
            hold_id,
            OrderStatus.PENDING_PAYMENT,
            hold.items,
            hold.total_krw,
            self.clock.now(),
            deadline,
        )
        self.orders[order_id] = order
        self.holds[hold_id] = (hold, HoldStatus.ORDERED)
        self.records[(idem.scope, idem.key)] = (idem.fingerprint, order)
        return order

    async def close_order(self, order_id: str, refund: bool) -> Order:
        order = self.orders[order_id]
        if order.effective_status(self.clock.now()) is not OrderStatus.PENDING_PAYMENT:
            raise HoldNotActive("not pending")
        self._free(order.items, order.hold_id)
        closed = replace(order, status=OrderStatus.CANCELLED)
        self.orders[order_id] = closed
        return closed

    def _free(self, items: list[HoldItem], hold_id: str) -> None:
        for item in items:
            if self.units[item.unit_id].hold_id == hold_id:
                self.units[item.unit_id] = Unit()


@dataclass
class Attempt:
    request: HoldRequest
    idem: Idempotency
    task: asyncio.Task[Hold]
    checked: bool = False


class PreclaimMachine(RuleBasedStateMachine):
    """One pre-claim in front of the model; `family` and `redis` are set per test."""

    family = "memory"
    redis: RedisServer | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.model = ModelStore(self.clock)
        self.closing: list[Any] = []
        self.store = self.loop.run_until_complete(self._build())
        self.attempts: list[Attempt] = []
        self.keys: list[tuple[HoldRequest, Idempotency]] = []
        self.fans = [new_id("acc") for _ in range(3)]

    async def _build(self) -> Any:
        if self.family == "memory":
            return MemoryPreclaimingBookingStore(self.model, self.clock, taken_mark_seconds=3)  # type: ignore[arg-type]
        assert self.redis is not None
        self.redis.flushall()
        client = redis_client(self.redis.url, timeout_seconds=10)
        guard = RedisGuard(budget_seconds=30)
        store = PreclaimingBookingStore(
            self.model,  # type: ignore[arg-type]
            client,
            guard,
            taken_mark_ms=3000,
            clock=self.clock,
        )
        self.closing.append((store, client, guard))
        return store

    def teardown(self) -> None:
        for attempt in self.attempts:
            attempt.task.cancel()
        for gate in list(self.model.gates):
            if not gate.opened.done():
                gate.opened.set_result("fail")
        with contextlib.suppress(BaseException):
            self._settle()

        async def close() -> None:
            for store, client, guard in self.closing:
                await store.aclose()
                await guard.aclose()
                await client.aclose()

        self.loop.run_until_complete(close())
        self.loop.close()

    def _settle(self) -> None:
        """Run the loop until nothing moves: every attempt done, waiting at a gate of the
        model, or waiting for the outcome of one that is (Redis: for 25 ms of real time)."""
        tick, quiet_ticks = (0.001, 25) if self.redis else (0, 50)
        last: tuple[object, ...] = ()
        quiet = 0
        for _ in range(5000):
            self.loop.run_until_complete(asyncio.sleep(tick))
            now = (
                tuple(a.task.done() for a in self.attempts),
                tuple(id(g) for g in self.model.gates),
            )
            quiet = quiet + 1 if now == last else 0
            last = now
            if quiet >= quiet_ticks:
                return
        raise AssertionError("the pre-claim did not settle")

    def _start(self, request: HoldRequest, idem: Idempotency) -> None:
        task = self.loop.create_task(self.store.place_hold(request, idem))
        self.attempts.append(Attempt(request, idem, task))
        self._settle()

    # -- rules ---------------------------------------------------------------------------
    @rule(
        fan=st.integers(0, 2),
        seats=st.sets(st.sampled_from(SEATS), min_size=1, max_size=3),
        ga=st.booleans(),
    )
    def hold(self, fan: int, seats: set[str], ga: bool) -> None:
        request = HoldRequest(
            hold_id=new_id("hld"),
            performance_id=PERFORMANCE,
            account_id=self.fans[fan],
            seat_ids=sorted(seats),
            ga=[GaRequest(zone=GA_ZONE, quantity=1)] if ga else [],
            ticket_limit=20,
            ttl_seconds=HOLD_TTL,
        )
        idem = Idempotency(f"{self.fans[fan]}:hold", new_id("key"), f"{sorted(seats)}{ga}")
        self.keys.append((request, idem))
        self._start(request, idem)

    @rule(n=st.integers(0, 50), same_body=st.booleans())
    def replay(self, n: int, same_body: bool) -> None:
        if not self.keys:
            return
        request, idem = self.keys[n % len(self.keys)]
        again = replace(request, hold_id=new_id("hld"))
        if not same_body:
            again = replace(again, seat_ids=[SEATS[-1]], ga=[])
            idem = Idempotency(idem.scope, idem.key, "another body")
        self._start(again, idem)

    @rule(n=st.integers(0, 50), fail=st.booleans())
    def store_answers(self, n: int, fail: bool) -> None:
        if not self.model.gates:
            return
        gate = self.model.gates[n % len(self.model.gates)]
        gate.opened.set_result("fail" if fail else "go")
        self._settle()

    @rule(n=st.integers(0, 50), action=st.sampled_from(["release", "order", "cancel"]))
    def change(self, n: int, action: str) -> None:
        holds = [h for h, status in self.model.holds.values() if status is HoldStatus.ACTIVE]
        orders = [o for o in self.model.orders.values() if o.status is OrderStatus.PENDING_PAYMENT]

        async def act() -> None:
            with contextlib.suppress(HoldNotActive, HoldExpired):
                if action == "release" and holds:
                    await self.store.release_hold(holds[n % len(holds)].id)
                elif action == "order" and holds:
                    hold = holds[n % len(holds)]
                    key = Idempotency("o", new_id("key"), hold.id)
                    window = timedelta(seconds=PAYMENT_WINDOW)
                    await self.store.place_order(new_id("ord"), hold.id, window, key)
                    # A replay of the order's key, now or later, keeps nothing extra.
                    await self.store.place_order(new_id("ord"), hold.id, window, key)
                elif action == "cancel" and orders:
                    await self.store.close_order(orders[n % len(orders)].id, refund=False)

        self.loop.run_until_complete(act())
        self._settle()

    @rule(seconds=st.sampled_from([0.5, 1, 2, 4, 7, 11]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- what must hold after every step ------------------------------------------------
    @invariant()
    def refusals_are_the_stores_and_replays_get_the_record(self) -> None:
        now = self.model.now_ms()
        for attempt in self.attempts:
            if attempt.checked or not attempt.task.done():
                continue
            attempt.checked = True
            record = self.model.records.get((attempt.idem.scope, attempt.idem.key))
            error = attempt.task.exception()
            if record is not None and record[0] != attempt.idem.fingerprint:
                assert isinstance(error, IdempotencyKeyReused), error
                continue
            if isinstance(error, SeatsUnavailable):
                # Decided just now (each step runs to a quiet point): the model must agree.
                assert record is None, "a replay was refused instead of answered"
                for seat in error.taken:
                    assert not self.model.units[seat].claimable(now), (
                        f"{seat} refused while the store would grant it: {self.model.units[seat]}"
                    )
            elif error is None:
                hold = attempt.task.result()
                assert record is not None and record[1] == hold
            else:
                assert isinstance(error, StoreUnavailable), error

    @invariant()
    def no_place_in_two_live_claims(self) -> None:
        now = self.model.now_ms()
        live: dict[str, str] = {}
        for hold, status in self.model.holds.values():
            if status is HoldStatus.ACTIVE and to_ms(hold.expires_at) > now:
                for item in hold.items:
                    assert item.unit_id not in live
                    live[item.unit_id] = hold.id


@pytest.fixture(params=["memory", "redis"])
def machine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[type[PreclaimMachine]]:
    server = None
    if request.param == "redis":
        binary = redis_binary()
        skip_unless_available(binary is not None, "redis-server is not installed")
        assert binary is not None
        server = start_redis(binary, tmp_path / "redis")
    machine = type(
        f"PreclaimMachine_{request.param}",
        (PreclaimMachine,),
        {"family": request.param, "redis": server},
    )
    try:
        yield machine
    finally:
        if server is not None:
            server.stop()


def test_the_preclaim_never_refuses_what_the_model_grants(
    machine: type[PreclaimMachine],
) -> None:
    machine.TestCase.settings = settings(
        max_examples=60 if machine.family == "memory" else 25,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,  # the same interleavings on every run: a failure reproduces
    )
    machine.TestCase().runTest()
