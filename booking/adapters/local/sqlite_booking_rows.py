"""How the booking tables' rows become domain values, and the conditions claims share."""

from __future__ import annotations

import sqlite3

import msgspec

from booking.adapters.timestamps import from_ms
from booking.domain.holds import Hold, HoldStatus
from booking.domain.orders import Order, OrderStatus
from booking.domain.payments import Payment, PaymentStatus
from booking.domain.tickets import Ticket, TicketStatus

encode = msgspec.json.Encoder().encode
decode_hold = msgspec.json.Decoder(Hold).decode
decode_order = msgspec.json.Decoder(Order).decode
decode_payment = msgspec.json.Decoder(Payment).decode
decode_ticket = msgspec.json.Decoder(Ticket).decode

# A place is free to claim when available, or when the hold/order keeping it has expired.
CLAIMABLE = "(state = 'available' OR (state IN ('held', 'reserved') AND expires_at_ms <= ?))"
ACTIVE_PAYMENTS = ("processing", "authorized", "captured")


def hold_from_row(row: tuple[bytes, str, *tuple[object, ...]]) -> Hold:
    return msgspec.structs.replace(decode_hold(row[0]), status=HoldStatus(row[1]))


ORDER_SELECT = "SELECT doc, status, paid_at_ms, closed_at_ms, paid_payment_id FROM orders"
PAID_PAYMENT = 4


def order_from_row(row: tuple[object, ...]) -> Order:
    doc, status, paid_ms, closed_ms = row[0], row[1], row[2], row[3]
    assert isinstance(doc, bytes)
    assert isinstance(status, str)
    return msgspec.structs.replace(
        decode_order(doc),
        status=OrderStatus(status),
        paid_at=from_ms(paid_ms) if isinstance(paid_ms, int) else None,
        closed_at=from_ms(closed_ms) if isinstance(closed_ms, int) else None,
    )


PAYMENT_SELECT = "SELECT doc, status, decline_reason, updated_at_ms FROM payments"


def payment_from_row(row: tuple[bytes, str, str | None, int]) -> Payment:
    return msgspec.structs.replace(
        decode_payment(row[0]),
        status=PaymentStatus(row[1]),
        decline_reason=row[2],
        updated_at=from_ms(row[3]),
    )


def payment_where(conn: sqlite3.Connection, column: str, value: str) -> Payment | None:
    row = conn.execute(f"{PAYMENT_SELECT} WHERE {column}=?", (value,)).fetchone()
    return None if row is None else payment_from_row(row)


def tickets_where(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> list[Ticket]:
    cursor = conn.execute(f"SELECT doc, status FROM tickets WHERE {where}", params)
    return [
        msgspec.structs.replace(decode_ticket(doc), status=TicketStatus(status))
        for doc, status in cursor
    ]
