"""What the booking table's parts share: item layout, conditions, decoders, the base."""

from __future__ import annotations

import asyncio
import random

import msgspec

from booking.adapters.aws.dynamodb_catalog import inventory_pk
from booking.adapters.aws.dynamodb_table import (
    INDEX_SHARDS,
    INVENTORY_SHARDS,
    Dynamo,
    Item,
    TransactionCancelled,
    shard_of,
)
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.catalog import Performance
from booking.domain.errors import (
    Conflict,
)
from booking.domain.holds import Hold, HoldStatus
from booking.domain.orders import Order, OrderStatus
from booking.domain.payments import Payment, PaymentStatus
from booking.domain.ports import (
    Clock,
)
from booking.domain.tickets import Ticket, TicketStatus

_encode = msgspec.json.Encoder().encode
_decode_hold = msgspec.json.Decoder(Hold).decode
_decode_order = msgspec.json.Decoder(Order).decode
_decode_payment = msgspec.json.Decoder(Payment).decode
_decode_ticket = msgspec.json.Decoder(Ticket).decode
_decode_performance = msgspec.json.Decoder(Performance).decode

CLAIMABLE = "(#s = :available OR (#s IN (:held, :reserved) AND expires_at_ms <= :now))"
STATES = {":available": "available", ":held": "held", ":reserved": "reserved"}
STATE = {"#s": "state"}
STATUS = {"#s": "status"}
GA_ATTEMPTS = 4
ACTIVE_PAYMENTS = ("processing", "authorized", "captured")


def expiry_keys(kind: str, ident: str, expires_ms: int) -> dict[str, str]:
    """A sparse index of what can lapse, so the sweeper never scans the table."""
    return {
        "gsi2pk": f"EXPIRY#{shard_of(ident, INDEX_SHARDS)}",
        "gsi2sk": f"{expires_ms:013d}#{kind}#{ident}",
    }


class DynamoBookingBase:
    """The table, the clock and the reads every part uses."""

    def __init__(self, dynamo: Dynamo, clock: Clock) -> None:
        self._db = dynamo
        self._clock = clock
        self._random = random.Random()  # noqa: S311 - spreading GA picks, not security
        self._performances: dict[str, Performance] = {}

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    async def _units_of(self, performance_id: str, unit_ids: list[str]) -> list[Item]:
        found = await asyncio.gather(
            *(self._db.get(inventory_pk(performance_id, u), u) for u in unit_ids)
        )
        return [u for u in found if u is not None]

    # Reads of later parts that earlier ones need too (an order's payment and tickets).
    async def get_payment(self, payment_id: str) -> Payment | None:
        item = await self._db.get(f"PAY#{payment_id}", "PAY")
        return None if item is None else _payment_of(item)

    async def tickets_for_order(self, order_id: str) -> list[Ticket]:
        items = await self._db.query("gsi1pk = :o", {":o": f"TICKETS#{order_id}"}, index="gsi1")
        return [_ticket_of(i) for i in items]

    async def _all_units(self, performance_id: str) -> list[Item]:
        shards = await asyncio.gather(
            *(
                self._db.query("pk = :p", {":p": f"INV#{performance_id}#{shard}"})
                for shard in range(INVENTORY_SHARDS)
            )
        )
        return [unit for shard in shards for unit in shard]


class _ignore_refusal:  # noqa: N801 - used as a context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, (TransactionCancelled, Conflict))


_STATE_INDEX = {"available": 0, "held": 1, "sold": 2, "blocked": 3}


def _visible_state(unit: Item, now_ms: int) -> str:
    state = str(unit["state"])
    if state in ("held", "reserved"):
        return "held" if int(unit["expires_at_ms"]) > now_ms else "available"
    return state


def _hold_of(item: Item) -> Hold:
    return msgspec.structs.replace(
        _decode_hold(item["doc"]), status=HoldStatus(str(item["status"]))
    )


def _order_of(item: Item) -> Order:
    paid, closed = item.get("paid_at_ms"), item.get("closed_at_ms")
    return msgspec.structs.replace(
        _decode_order(item["doc"]),
        status=OrderStatus(str(item["status"])),
        paid_at=from_ms(int(paid)) if paid is not None else None,
        closed_at=from_ms(int(closed)) if closed is not None else None,
    )


def _payment_of(item: Item) -> Payment:
    return msgspec.structs.replace(
        _decode_payment(item["doc"]),
        status=PaymentStatus(str(item["status"])),
        decline_reason=item.get("decline_reason"),
        updated_at=from_ms(int(item["updated_at_ms"])),
    )


def _ticket_of(item: Item) -> Ticket:
    return msgspec.structs.replace(
        _decode_ticket(item["doc"]), status=TicketStatus(str(item["status"]))
    )
