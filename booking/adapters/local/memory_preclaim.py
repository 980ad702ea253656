"""Seat pre-claims in this process's memory: the embedded runtime's Redis pre-claim.

The embedded runtime serves from one API process, so the seats that process has handed to
holds are known to it exactly, without a network hop: a hold asking for a seat another
hold owns is turned away at once, and never queues for the writer. The store's
conditional write still decides every claim; the pre-claim only keeps losers away, and
it is exact: it refuses only what the store would refuse.

Per seat the map keeps one of
- `Pending`: a request in flight marked it. That request may still fail, so this is no
  reason to refuse anyone: a newcomer waits for its outcome (a few milliseconds, one
  group commit) and looks again;
- `Owned`: an acknowledged hold (then its order, for the payment window) owns it until
  the instant the store's own condition lets it go;
- `Owned(TAKEN)`: the store refused a request naming this seat; kept no longer than the
  claim that refused it lives (`SeatsUnavailable.until_ms`) and never past a release the
  map heard of meanwhile (a per-performance count of frees).

A refusal is always checked against the store's record of the Idempotency-Key first, so
a replay gets its stored answer (or 422 for another body) whatever the seats' state; a
replay never creates or extends a claim. Expired entries count as absent and are swept
out once the map has doubled. `booking/adapters/aws/redis_preclaim.py` follows the same
rules in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import NamedTuple

from booking.adapters.passing import PassingHoldsAndOrders
from booking.adapters.timestamps import to_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import Hold, HoldRequest
from booking.domain.orders import Order, OrderStatus
from booking.domain.ports import Clock, HoldsAndOrders, Idempotency
from booking.domain.telemetry import TELEMETRY, PreclaimGuard, Telemetry

TAKEN = "taken"
"""Owner of a seat the store reported taken by a claim this map did not see."""


class Pending:
    """A seat's mark while the request that made it is at the store."""

    __slots__ = ("owner", "waiters")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.waiters: list[asyncio.Future[frozenset[str]]] = []
        """Requests waiting for this one's outcome: each is told the seats it won."""

    def wait(self) -> asyncio.Future[frozenset[str]]:
        waiter: asyncio.Future[frozenset[str]] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return waiter


class Owned(NamedTuple):
    owner: str
    until_ms: int


class PreclaimMap:
    """Who pre-claimed which seat, and until when; all instants in epoch milliseconds."""

    def __init__(self, now_ms: Callable[[], int], min_sweep: int = 10_000) -> None:
        self._now_ms = now_ms
        self._seats: dict[tuple[str, str], Pending | Owned] = {}
        self._frees: dict[str, int] = {}
        """Per performance, how many times places were given back: a taken mark learned
        before a release must not be written after it."""
        self._min_sweep = min_sweep
        self._sweep_at = min_sweep

    def __len__(self) -> int:
        return len(self._seats)

    def entry(self, performance_id: str, seat: str) -> Pending | Owned | None:
        """The live entry of a seat (a lapsed one is absent)."""
        entry = self._seats.get((performance_id, seat))
        if isinstance(entry, Owned) and entry.until_ms <= self._now_ms():
            return None
        return entry

    def conflicts(
        self, performance_id: str, seats: Sequence[str]
    ) -> tuple[list[str], Pending | None]:
        """The seats an acknowledged claim owns, and a request in flight that marked one of
        the others (its outcome decides; one is enough to wait for)."""
        now = self._now_ms()
        owned: list[str] = []
        in_flight: Pending | None = None
        for seat in seats:
            entry = self._seats.get((performance_id, seat))
            if entry is None:
                continue
            if isinstance(entry, Pending):
                in_flight = entry
            elif entry.until_ms > now:
                owned.append(seat)
        return owned, in_flight

    def claim(self, performance_id: str, seats: Sequence[str], request_id: str) -> Pending:
        """Mark `seats` as in flight for `request_id` (after `conflicts` found none)."""
        pending = Pending(request_id)
        for seat in seats:
            self._seats[(performance_id, seat)] = pending
        if len(self) >= self._sweep_at:
            self._sweep()
        return pending

    def frees(self, performance_id: str) -> int:
        return self._frees.get(performance_id, 0)

    def settle(
        self,
        performance_id: str,
        seats: Sequence[str],
        pending: Pending,
        owned_until_ms: int | None = None,
        taken: Mapping[str, int] | None = None,
    ) -> None:
        """The store answered the request that marked `seats`: they become its own until
        `owned_until_ms` (acknowledged), or a taken mark until the given instant (refused
        by the store), or nothing. Only entries still this request's own are touched."""
        taken = taken or {}
        for seat in seats:
            key = (performance_id, seat)
            if self._seats.get(key) is not pending:
                continue
            if owned_until_ms is not None:
                self._seats[key] = Owned(pending.owner, owned_until_ms)
            elif seat in taken:
                self._seats[key] = Owned(TAKEN, taken[seat])
            else:
                del self._seats[key]
        won = frozenset(seats) if owned_until_ms is not None else frozenset()
        for waiter in pending.waiters:
            if not waiter.done():
                waiter.set_result(won)

    def keep(self, performance_id: str, seats: Iterable[str], owner: str, until_ms: int) -> None:
        """`owner` keeps the seats it still owns here until `until_ms` (an order's deadline);
        seats it no longer owns here (freed meanwhile) are left alone."""
        for seat in seats:
            key = (performance_id, seat)
            entry = self._seats.get(key)
            if isinstance(entry, Owned) and entry.owner == owner:
                self._seats[key] = Owned(owner, until_ms)

    def free(self, performance_id: str, seats: Iterable[str], *owners: str) -> None:
        """The store gave `seats` back: drop the entries of `owners` (never another's)."""
        self._frees[performance_id] = self._frees.get(performance_id, 0) + 1
        for seat in seats:
            key = (performance_id, seat)
            entry = self._seats.get(key)
            if isinstance(entry, Owned) and entry.owner in owners:
                del self._seats[key]

    def _sweep(self) -> None:
        now = self._now_ms()
        self._seats = {
            k: v for k, v in self._seats.items() if isinstance(v, Pending) or v.until_ms > now
        }
        self._sweep_at = max(self._min_sweep, 2 * len(self))


class MemoryPreclaimingBookingStore(PassingHoldsAndOrders):
    """Holds and orders whose seats are pre-claimed in `PreclaimMap` before the inner store
    claims them; standing places (a count, not places) go straight to the store."""

    def __init__(
        self,
        inner: HoldsAndOrders,
        clock: Clock,
        claims: PreclaimMap | None = None,
        taken_mark_seconds: float = 3.0,
        telemetry: Telemetry = TELEMETRY,
    ) -> None:
        super().__init__(inner)
        self._telemetry = telemetry
        self._clock = clock
        self.claims = claims if claims is not None else PreclaimMap(self._now_ms)
        self._taken_mark_ms = int(taken_mark_seconds * 1000)

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        seats, performance_id = request.seat_ids, request.performance_id
        if not seats:  # standing places: the store counts them
            return await self._inner.place_hold(request, idem)
        while True:
            owned, in_flight = self.claims.conflicts(performance_id, seats)
            if not owned and in_flight is not None:
                # Marked by a request still in flight, which may fail: its outcome decides.
                self._telemetry.preclaim_guarded(PreclaimGuard.IN_FLIGHT)
                won = await in_flight.wait()
                owned = [seat for seat in seats if seat in won]
            if owned:
                # Owned by an acknowledged claim: the store would refuse too, unless this
                # is a replay, whose stored answer (or 422) the key's record gives.
                earlier = await self._inner.stored_hold(idem)
                if earlier is not None:
                    self._telemetry.preclaim_guarded(PreclaimGuard.REPLAY)
                    return earlier
                raise SeatsUnavailable(sorted(owned), preclaimed=True)
            if in_flight is None:
                break
        frees = self.claims.frees(performance_id)
        pending = self.claims.claim(performance_id, seats, request.hold_id)
        try:
            hold = await self._inner.place_hold(request, idem)
        except SeatsUnavailable as exc:
            taken = self._taken_marks(exc) if self.claims.frees(performance_id) == frees else {}
            self.claims.settle(performance_id, seats, pending, taken=taken)
            raise
        except BaseException:
            self.claims.settle(performance_id, seats, pending)
            raise
        if hold.id == request.hold_id:
            self.claims.settle(performance_id, seats, pending, to_ms(hold.expires_at))
        else:  # a replay: its stored hold's claims are not this request's to make
            self.claims.settle(performance_id, seats, pending)
        return hold

    def _taken_marks(self, refusal: SeatsUnavailable) -> dict[str, int]:
        """How long to remember each seat the store named: briefly, and never past the
        instant its claim lapses."""
        now = self._now_ms()
        marks = {}
        for seat in refusal.taken:
            until = now + self._taken_mark_ms
            lapses = refusal.until_ms.get(seat, now)  # unknown: not remembered at all
            if lapses is not None:
                until = min(until, lapses)
            if until > now:
                marks[seat] = until
        return marks

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        order = await self._inner.place_order(order_id, hold_id, payment_window, idem)
        if order.status is OrderStatus.PENDING_PAYMENT:
            # The places are the order's until its deadline, and free again after it. A
            # replay of a closed order keeps nothing: only seats still the hold's are kept.
            seats = [i.unit_id for i in order.items if i.kind is UnitKind.SEAT]
            self.claims.keep(order.performance_id, seats, hold_id, to_ms(order.payment_deadline))
        return order

    async def release_hold(self, hold_id: str) -> Hold:
        try:
            hold = await self._inner.release_hold(hold_id)
        except Exception:
            # The release may have been written before the error (the writer died after
            # its commit): its places must not be refused on a claim that may be gone.
            with contextlib.suppress(Exception):
                known = await self._inner.get_hold(hold_id)
                if known is not None:
                    self._free_places(known.performance_id, known)
            raise
        self._free_places(hold.performance_id, hold)
        return hold

    async def close_order(self, order_id: str, refund: bool) -> Order:
        try:
            order = await self._inner.close_order(order_id, refund)
        except Exception:
            with contextlib.suppress(Exception):  # as for a release that may have happened
                known = await self._inner.get_order(order_id)
                if known is not None:
                    self._free_places(known.performance_id, known, known.hold_id)
            raise
        self._free_places(order.performance_id, order, order.hold_id)
        return order

    def _free_places(self, performance_id: str, booking: Hold | Order, hold_id: str = "") -> None:
        """After the store freed the places: their pre-claims and taken marks go too."""
        seats = [i.unit_id for i in booking.items if i.kind is UnitKind.SEAT]
        self.claims.free(performance_id, seats, hold_id or booking.id, TAKEN)
