"""Seat pre-claims in this process's memory: the embedded runtime's Redis pre-claim.

The embedded runtime serves from one API process, so the seats that process has handed to
holds are known to it exactly, without a network hop: a hold asking for a seat another
hold of this process pre-claimed is turned away at once, and never queues for the writer.
As with Redis (`booking/adapters/aws/redis_preclaim.py`, whose semantics this follows),
the store's conditional write still decides every claim: a pre-claim only keeps losers
away, so a restart that forgets them only makes losers cost a store transaction again.

Per seat the map keeps who pre-claimed it and until when (the hold's lifetime, then its
order's payment window), or a short
`TAKEN` mark for a seat the store said was taken (ordered, sold or held by a hold this
process did not see); per Idempotency-Key a mark that it was seen, so a client's retry of
a hold goes to the store and gets its stored answer rather than a refusal by its own
claims. Expired entries count as absent and are swept out once the map has doubled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from booking.adapters.delegating import DelegatingBookingStore
from booking.domain.catalog import UnitKind
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import Hold, HoldRequest
from booking.domain.orders import Order
from booking.domain.ports import BookingStore, Clock, Idempotency

TAKEN = "taken"
"""Owner of a seat the store reported taken: turned away for `taken_mark_seconds`."""
_IDEM_GRACE_SECONDS = 5.0
"""The Idempotency-Key mark outlives the seat claims made with it."""


class PreclaimMap:
    """Who pre-claimed which seat until when, and the Idempotency-Keys seen."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, min_sweep: int = 10_000):
        self._clock = clock
        self._seats: dict[tuple[str, str], tuple[str, float]] = {}
        self._keys: dict[tuple[str, str, str], float] = {}
        # The key each hold was claimed with: its mark lasts as long as the hold's seats
        # are kept (an order's payment window may outlast the hold), so a late retry of
        # the hold still reaches the store's record instead of its own seats' refusal.
        self._key_of: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._min_sweep = min_sweep
        self._sweep_at = min_sweep

    def __len__(self) -> int:
        return len(self._seats) + len(self._keys)

    def seen(self, performance_id: str, idem: Idempotency) -> bool:
        until = self._keys.get((performance_id, idem.scope, idem.key))
        return until is not None and until > self._clock()

    def kept(
        self, performance_id: str, seats: Sequence[str], hold_id: str
    ) -> list[tuple[str, str]]:
        """Each of `seats` someone other than `hold_id` keeps, with who keeps it."""
        now = self._clock()
        found = []
        for seat in seats:
            entry = self._seats.get((performance_id, seat))
            if entry is not None and entry[1] > now and entry[0] != hold_id:
                found.append((seat, entry[0]))
        return found

    def claim(
        self,
        performance_id: str,
        seats: Sequence[str],
        hold_id: str,
        ttl_seconds: float,
        idem: Idempotency,
    ) -> None:
        now = self._clock()
        for seat in seats:
            self._seats[(performance_id, seat)] = (hold_id, now + ttl_seconds)
        key = (performance_id, idem.scope, idem.key)
        self._keys[key] = now + ttl_seconds + _IDEM_GRACE_SECONDS
        self._key_of[(performance_id, hold_id)] = key
        if len(self) >= self._sweep_at:
            self._sweep(now)

    def mark(self, performance_id: str, seats: Iterable[str], owner: str, seconds: float) -> None:
        until = self._clock() + seconds
        for seat in seats:
            self._seats[(performance_id, seat)] = (owner, until)

    def keep(self, performance_id: str, seats: Iterable[str], owner: str, seconds: float) -> None:
        """`owner` keeps `seats` for `seconds` from now (an order's payment window)."""
        self.mark(performance_id, seats, owner, seconds)
        key = self._key_of.get((performance_id, owner))
        if key is not None:
            until = self._clock() + seconds + _IDEM_GRACE_SECONDS
            self._keys[key] = max(self._keys.get(key, 0.0), until)

    def free(self, performance_id: str, seats: Iterable[str], *owners: str) -> None:
        """Drop the entries of `seats` that belong to one of `owners` (never another's)."""
        for seat in seats:
            entry = self._seats.get((performance_id, seat))
            if entry is not None and entry[0] in owners:
                del self._seats[(performance_id, seat)]

    def _sweep(self, now: float) -> None:
        self._seats = {k: v for k, v in self._seats.items() if v[1] > now}
        self._keys = {k: v for k, v in self._keys.items() if v > now}
        self._key_of = {h: k for h, k in self._key_of.items() if k in self._keys}
        self._sweep_at = max(self._min_sweep, 2 * len(self))


class MemoryPreclaimingBookingStore(DelegatingBookingStore):
    """A BookingStore that pre-claims seats in `PreclaimMap` before the inner store claims
    them; standing places (a count, not places) go straight to the store."""

    def __init__(
        self,
        inner: BookingStore,
        clock: Clock,
        claims: PreclaimMap | None = None,
        taken_mark_seconds: float = 3.0,
    ) -> None:
        super().__init__(inner)
        self._clock = clock
        self.claims = claims if claims is not None else PreclaimMap()
        self._taken_mark = taken_mark_seconds

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        seats, performance_id = request.seat_ids, request.performance_id
        if not seats or self.claims.seen(performance_id, idem):
            # Standing places, or a retry: the store claims, or answers from its record.
            return await self._inner.place_hold(request, idem)
        kept = self.claims.kept(performance_id, seats, request.hold_id)
        if kept:
            # Another hold of this process keeps a seat: that is not this request's own
            # earlier hold (its key would be marked). A seat the store reported taken might
            # be, if that hold was placed before this process started: the record tells.
            if any(owner == TAKEN for _, owner in kept):
                earlier = await self._inner.stored_hold(idem)
                if earlier is not None:
                    return earlier
            raise SeatsUnavailable(sorted(seat for seat, _ in kept))
        self.claims.claim(performance_id, seats, request.hold_id, request.ttl_seconds, idem)
        try:
            hold = await self._inner.place_hold(request, idem)
        except SeatsUnavailable as exc:
            lost = set(exc.taken)
            self.claims.free(performance_id, [s for s in seats if s not in lost], request.hold_id)
            self.claims.mark(performance_id, lost, TAKEN, self._taken_mark)
            raise
        except BaseException:
            self.claims.free(performance_id, seats, request.hold_id)
            raise
        if hold.id != request.hold_id:  # a replay the mark missed: the claims are not its
            self.claims.free(performance_id, seats, request.hold_id)
        return hold

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        order = await self._inner.place_order(order_id, hold_id, payment_window, idem)
        # The places are the order's until its deadline, and free again after it: a window
        # shorter than the hold's lifetime must not leave them refused by the pre-claim.
        seats = [i.unit_id for i in order.items if i.kind is UnitKind.SEAT]
        left = (order.payment_deadline - self._clock.now()).total_seconds()
        self.claims.keep(order.performance_id, seats, hold_id, left)
        return order

    async def release_hold(self, hold_id: str) -> Hold:
        hold = await self._inner.release_hold(hold_id)
        self._free_places(hold.performance_id, hold)
        return hold

    async def close_order(self, order_id: str, refund: bool) -> Order:
        order = await self._inner.close_order(order_id, refund)
        self._free_places(order.performance_id, order, order.hold_id)
        return order

    def _free_places(self, performance_id: str, booking: Hold | Order, hold_id: str = "") -> None:
        """After the store freed the places: their pre-claims and taken marks go too."""
        seats = [i.unit_id for i in booking.items if i.kind is UnitKind.SEAT]
        self.claims.free(performance_id, seats, hold_id or booking.id, TAKEN)
