"""Bugs planted on purpose, to prove that the checker finds them. Test builds only: the
launcher `checker/serve.py` plants one when told to; production wiring never sees them.

- `check-then-act`: a hold reads the seats' states, then claims them with an UPDATE
  without the store's condition (the pre-claim off, so nothing hides the race);
- `sticky-preclaim`: the in-memory pre-claim keeps a failed request's marks as owned;
- `ack-before-commit`: a hold is answered 201 before its write, which may then fail;
- `replay-reruns`: a replay runs the hold again instead of answering from its record.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from booking import bootstrap
from booking.adapters.local import memory_preclaim, sqlite_booking_rows, sqlite_booking_writes
from booking.adapters.local.sqlite_writer import Tx
from booking.adapters.passing import PassingHolds
from booking.adapters.timestamps import to_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import Hold, HoldItem, HoldRequest, HoldStatus
from booking.domain.ports import Clock, HoldStore, Idempotency, InventoryReads, PlaceState

BUGS = ("check-then-act", "sticky-preclaim", "ack-before-commit", "replay-reruns")
SETTINGS: dict[str, dict[str, str]] = {
    # What each bug needs of the server to show: no pre-claim in front of the race, and the
    # writer in the server's own process (the planted write is not importable elsewhere).
    "check-then-act": {"CONCERTBOOK_PRECLAIM": "0", "CONCERTBOOK_SQLITE_WRITER": "thread"},
    "sticky-preclaim": {"CONCERTBOOK_PRECLAIM": "1"},
    "ack-before-commit": {},
    "replay-reruns": {},
}


class _Unconditional:
    """A transaction whose seat claims lost their condition."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        if sql.startswith("UPDATE units SET state='held'"):
            sql = sql.replace(sqlite_booking_rows.CLAIMABLE, "(1 OR ? IS NULL)")
        return self._tx.execute(sql, params)


def _claim_unconditionally(tx: Tx, request: HoldRequest) -> Hold:
    return sqlite_booking_writes.tx_place_hold(_Unconditional(tx), request)  # type: ignore[arg-type]


class CheckThenAct(PassingHolds):
    def __init__(self, inner: HoldStore, inventory: InventoryReads, db: Any) -> None:
        super().__init__(inner)
        self._inventory = inventory
        self._db = db

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        states = await self._inventory.place_states(request.performance_id, None)
        free = {p.unit_id for p in states if p.state is PlaceState.AVAILABLE}
        taken = [s for s in request.seat_ids if s not in free]
        if taken:
            raise SeatsUnavailable(sorted(taken))
        hold: Hold = await self._db.write_idempotent(idem, Hold, _claim_unconditionally, request)
        return hold


class AckBeforeCommit(PassingHolds):
    def __init__(self, inner: HoldStore, clock: Clock) -> None:
        super().__init__(inner)
        self._clock = clock
        self._writes: set[asyncio.Task[Hold]] = set()

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        write = asyncio.get_running_loop().create_task(self._inner.place_hold(request, idem))
        self._writes.add(write)
        write.add_done_callback(self._forget)
        now = self._clock.now()
        items = [HoldItem(s, s.split("-")[0], UnitKind.SEAT, "R", 99_000) for s in request.seat_ids]
        return Hold(
            request.hold_id,
            request.performance_id,
            request.account_id,
            HoldStatus.ACTIVE,
            items,
            now,
            now + timedelta(seconds=request.ttl_seconds),
        )

    def _forget(self, write: asyncio.Task[Hold]) -> None:
        self._writes.discard(write)
        if not write.cancelled():
            write.exception()  # retrieved: a failed write is this bug's silent loss


class ReplayReruns(PassingHolds):
    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        fresh = Idempotency(idem.scope, f"{idem.key}#{uuid.uuid4().hex[:8]}", idem.fingerprint)
        return await self._inner.place_hold(request, fresh)


def _sticky_settle(
    self: memory_preclaim.PreclaimMap,
    performance_id: str,
    seats: Sequence[str],
    pending: memory_preclaim.Pending,
    owned_until_ms: int | None = None,
    taken: Any = None,
) -> None:
    if owned_until_ms is None:  # a failure: its marks stay, as if it had won
        owned_until_ms = to_ms_now() + 60_000
    _real_settle(self, performance_id, seats, pending, owned_until_ms, taken)


_real_settle = memory_preclaim.PreclaimMap.settle


def to_ms_now() -> int:
    from datetime import UTC, datetime  # noqa: PLC0415 - only the planted bug reads it

    return to_ms(datetime.now(UTC))


def plant(bug: str) -> None:
    """Wire `bug` into the local runtime this process will build."""
    if bug not in BUGS:
        raise SystemExit(f"unknown planted bug {bug!r}: one of {', '.join(BUGS)}")
    if bug == "sticky-preclaim":
        memory_preclaim.PreclaimMap.settle = _sticky_settle  # type: ignore[method-assign]
        return
    real_inventory = bootstrap.inventory

    def planted(
        settings: Any, ports: bootstrap.BookingPorts, clock: Clock
    ) -> tuple[bootstrap.BookingPorts, Any]:
        wrapped, redis = real_inventory(settings, ports, clock)
        holds: HoldStore
        if bug == "check-then-act":
            table: Any = ports.holds  # the SQLite booking table: the pre-claim is off
            holds = CheckThenAct(wrapped.holds, wrapped.inventory, table._db)
        elif bug == "ack-before-commit":
            holds = AckBeforeCommit(wrapped.holds, clock)
        else:
            holds = ReplayReruns(wrapped.holds)
        return wrapped.wrapped(holds=holds), redis

    bootstrap.inventory = planted
