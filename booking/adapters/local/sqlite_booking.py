"""Holds, orders, payments and tickets in SQLite: every claim a conditional UPDATE.

A place can be taken only if it is available or its hold/order has expired,
checked in the UPDATE's WHERE clause at the moment of the write; an order is
confirmed only while every place it reserved is still reserved for it and
before its deadline. All of a hold's places change in one transaction or none.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import msgspec

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import (
    Conflict,
    HoldExpired,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    OrderExpired,
    OrderNotPayable,
    PaymentInProgress,
    SeatsUnavailable,
)
from booking.domain.holds import Hold, HoldItem, HoldRequest, HoldStatus
from booking.domain.messages import (
    HoldPlaced,
    HoldReleased,
    OrderClosed,
    OrderPaid,
    OrderPlaced,
    TicketsIssued,
)
from booking.domain.orders import Order, OrderStatus
from booking.domain.payments import PAYMENT_RANK, Payment, PaymentStatus
from booking.domain.ports import (
    Availability,
    ConfirmOutcome,
    GradeSales,
    Idempotency,
    PlaceState,
    PlaceStatus,
    Sales,
    ZoneAvailability,
)
from booking.domain.tickets import Ticket, TicketStatus

_encode = msgspec.json.Encoder().encode
_decode_hold = msgspec.json.Decoder(Hold).decode
_decode_order = msgspec.json.Decoder(Order).decode
_decode_payment = msgspec.json.Decoder(Payment).decode
_decode_ticket = msgspec.json.Decoder(Ticket).decode

# A place is free to claim when available, or when the hold/order keeping it has expired.
_CLAIMABLE = "(state = 'available' OR (state IN ('held', 'reserved') AND expires_at_ms <= ?))"
_ACTIVE_PAYMENTS = ("processing", "authorized", "captured")


class SqliteBookingStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    # -- holds -------------------------------------------------------------------------
    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        return await self._db.write_idempotent(idem, Hold, _place_hold, request)

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return await self._db.stored_result(idem, Hold)

    async def get_hold(self, hold_id: str) -> Hold | None:
        def find(conn: sqlite3.Connection) -> Hold | None:
            row = conn.execute("SELECT doc, status FROM holds WHERE id=?", (hold_id,)).fetchone()
            return None if row is None else _hold_from_row(row)

        return self._db.point_read(find)

    async def release_hold(self, hold_id: str) -> Hold:
        return await self._db.write(_release_hold, hold_id)

    async def availability(self, performance_id: str) -> Availability:
        def count(conn: sqlite3.Connection) -> Availability:
            now = self._db.now()
            now_ms = to_ms(now)
            # One SELECT is one snapshot: the four counts always add up to capacity.
            rows = conn.execute(
                """
                SELECT zone_id, kind, grade, MIN(price_krw), COUNT(*),
                  SUM(state = 'available' OR (state IN ('held','reserved') AND expires_at_ms <= ?)),
                  SUM(state IN ('held','reserved') AND expires_at_ms > ?),
                  SUM(state = 'sold'),
                  SUM(state = 'blocked')
                FROM units WHERE performance_id = ? GROUP BY zone_id, kind, grade
                ORDER BY zone_id, grade
                """,
                (now_ms, now_ms, performance_id),
            ).fetchall()
            zones = [ZoneAvailability(*row) for row in rows]
            return Availability(
                performance_id=performance_id,
                as_of=now,
                capacity=sum(z.capacity for z in zones),
                available=sum(z.available for z in zones),
                held=sum(z.held for z in zones),
                sold=sum(z.sold for z in zones),
                blocked=sum(z.blocked for z in zones),
                zones=zones,
            )

        return await self._db.read(count)

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        def states(conn: sqlite3.Connection) -> list[PlaceStatus]:
            now_ms = to_ms(self._db.now())
            sql = (
                "SELECT unit_id, zone_id, grade, CASE"
                f" WHEN {_CLAIMABLE} THEN 'available'"
                " WHEN state IN ('held','reserved') THEN 'held' ELSE state END"
                " FROM units WHERE performance_id = ? AND kind = 'seat'"
            )
            params: tuple[object, ...] = (now_ms, performance_id)
            if zone_id is not None:
                sql += " AND zone_id = ?"
                params = (*params, zone_id)
            rows = conn.execute(sql + " ORDER BY unit_id", params)
            return [PlaceStatus(u, z, g, PlaceState(s)) for u, z, g, s in rows]

        return await self._db.read(states)

    async def sales(self, performance_id: str) -> Sales:
        def total(conn: sqlite3.Connection) -> Sales:
            grades = [
                GradeSales(*row)
                for row in conn.execute(
                    "SELECT grade, COUNT(*), SUM(price_krw) FROM units"
                    " WHERE performance_id=? AND state='sold' GROUP BY grade ORDER BY grade",
                    (performance_id,),
                )
            ]
            (orders,) = conn.execute(
                "SELECT COUNT(*) FROM orders WHERE performance_id=? AND status='paid'",
                (performance_id,),
            ).fetchone()
            return Sales(
                performance_id=performance_id,
                as_of=self._db.now(),
                sold=sum(g.sold for g in grades),
                revenue_krw=sum(g.revenue_krw for g in grades),
                paid_orders=orders,
                grades=grades,
            )

        return await self._db.read(total)

    # -- orders ------------------------------------------------------------------------
    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        return await self._db.write_idempotent(
            idem, Order, _place_order, order_id, hold_id, payment_window
        )

    async def get_order(self, order_id: str) -> Order | None:
        def find(conn: sqlite3.Connection) -> Order | None:
            row = conn.execute(_ORDER_SELECT + " WHERE id=?", (order_id,)).fetchone()
            return None if row is None else _order_from_row(row)

        return self._db.point_read(find)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        def rows(conn: sqlite3.Connection) -> list[Order]:
            cursor = conn.execute(
                _ORDER_SELECT + " WHERE account_id=? AND id > ? ORDER BY id LIMIT ?",
                (account_id, after or "", limit),
            )
            return [_order_from_row(row) for row in cursor]

        return await self._db.read(rows)

    async def close_order(self, order_id: str, refund: bool) -> Order:
        return await self._db.write(_close_order, order_id, refund)

    # -- payments ----------------------------------------------------------------------
    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment:
        return await self._db.write_idempotent(idem, Payment, _add_payment, payment)

    async def get_payment(self, payment_id: str) -> Payment | None:
        return self._db.point_read(lambda c: _payment_where(c, "id", payment_id))

    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None:
        return await self._db.read(
            lambda c: _payment_where(c, "gateway_payment_id", gateway_payment_id)
        )

    async def payments_for_order(self, order_id: str) -> list[Payment]:
        def rows(conn: sqlite3.Connection) -> list[Payment]:
            cursor = conn.execute(_PAYMENT_SELECT + " WHERE order_id=? ORDER BY id", (order_id,))
            return [_payment_from_row(row) for row in cursor]

        return await self._db.read(rows)

    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool:
        return await self._db.write(_advance_payment, payment_id, status, decline_reason)

    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
        return await self._db.write(_confirm_order, payment_id, status)

    # -- tickets -----------------------------------------------------------------------
    async def issue_tickets(self, order_id: str, tickets: list[Ticket]) -> None:
        await self._db.write(_issue_tickets, order_id, tickets)

    async def tickets_for_order(self, order_id: str) -> list[Ticket]:
        return await self._db.read(lambda c: _tickets(c, "order_id=? ORDER BY id", (order_id,)))

    async def list_tickets(self, account_id: str, limit: int, after: str | None) -> list[Ticket]:
        return await self._db.read(
            lambda c: _tickets(
                c, "account_id=? AND id > ? ORDER BY id LIMIT ?", (account_id, after or "", limit)
            )
        )

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        def find(conn: sqlite3.Connection) -> Ticket | None:
            found = _tickets(conn, "id=?", (ticket_id,))
            return found[0] if found else None

        return await self._db.read(find)

    # -- expiry ------------------------------------------------------------------------
    async def expire_due(self, limit: int) -> int:
        """Mark what has lapsed; the claim conditions never needed this to stay correct."""

        return await self._db.write(_expire_due, limit)


def _release_hold(tx: Tx, hold_id: str) -> Hold:
    row = tx.execute(
        "SELECT doc, status, expires_at_ms FROM holds WHERE id=?", (hold_id,)
    ).fetchone()
    if row is None:
        raise NotFound("hold", hold_id)
    hold = _hold_from_row(row)
    hold.require_active(tx.now)
    _end_hold(tx, hold, HoldStatus.RELEASED)
    return msgspec.structs.replace(hold, status=HoldStatus.RELEASED)


def _place_order(tx: Tx, order_id: str, hold_id: str, payment_window: timedelta) -> Order:
    row = tx.execute(
        "SELECT doc, status, expires_at_ms FROM holds WHERE id=?", (hold_id,)
    ).fetchone()
    if row is None:
        raise NotFound("hold", hold_id)
    hold = _hold_from_row(row)
    hold.require_active(tx.now)
    deadline = tx.now + payment_window
    # The hold's expiry is part of the condition of the confirming write.
    moved = tx.execute(
        "UPDATE units SET state='reserved', order_id=?, expires_at_ms=?, version=version+1"
        " WHERE hold_id=? AND state='held' AND expires_at_ms > ?",
        (order_id, to_ms(deadline), hold_id, tx.now_ms),
    ).rowcount
    if moved != hold.quantity:
        raise HoldExpired(f"hold {hold_id} expired at {hold.expires_at.isoformat()}")
    tx.execute("UPDATE holds SET status='ordered' WHERE id=?", (hold_id,))
    order = Order(
        id=order_id,
        performance_id=hold.performance_id,
        account_id=hold.account_id,
        hold_id=hold_id,
        status=OrderStatus.PENDING_PAYMENT,
        items=hold.items,
        total_krw=hold.total_krw,
        created_at=tx.now,
        payment_deadline=deadline,
    )
    tx.execute(
        "INSERT INTO orders(id, performance_id, account_id, hold_id, status,"
        " payment_deadline_ms, quantity, doc) VALUES (?,?,?,?,?,?,?,?)",
        (
            order.id,
            order.performance_id,
            order.account_id,
            hold_id,
            order.status,
            to_ms(deadline),
            hold.quantity,
            _encode(order),
        ),
    )
    tx.emit(OrderPlaced(order.id, order.performance_id, order.total_krw))
    return order


def _close_order(tx: Tx, order_id: str, refund: bool) -> Order:
    row = tx.execute(_ORDER_SELECT + " WHERE id=?", (order_id,)).fetchone()
    if row is None:
        raise NotFound("order", order_id)
    order = _order_from_row(row)
    if refund:
        if order.status is not OrderStatus.PAID:
            raise Conflict(f"order {order_id} is {order.status}, not paid")
        return _close(tx, order, OrderStatus.REFUNDED, refund=True)
    if order.status is not OrderStatus.PENDING_PAYMENT:
        raise Conflict(f"order {order_id} is {order.status}")
    if to_ms(order.payment_deadline) <= tx.now_ms:
        raise OrderExpired(f"order {order_id} passed its payment deadline")
    return _close(tx, order, OrderStatus.CANCELLED, refund=False)


def _add_payment(tx: Tx, payment: Payment) -> Payment:
    row = tx.execute(
        "SELECT status, payment_deadline_ms FROM orders WHERE id=?", (payment.order_id,)
    ).fetchone()
    if row is None:
        raise NotFound("order", payment.order_id)
    if row[0] != OrderStatus.PENDING_PAYMENT:
        raise OrderNotPayable(f"order {payment.order_id} is {row[0]}")
    if row[1] <= tx.now_ms:
        raise OrderExpired(f"order {payment.order_id} passed its payment deadline")
    busy = tx.execute(
        "SELECT id FROM payments WHERE order_id=? AND status IN (?,?,?)",
        (payment.order_id, *_ACTIVE_PAYMENTS),
    ).fetchone()
    if busy is not None:
        raise PaymentInProgress(f"payment {busy[0]} for this order is still in progress")
    tx.execute(
        "INSERT INTO payments(id, order_id, account_id, gateway_payment_id, status,"
        " updated_at_ms, doc) VALUES (?,?,?,?,?,?,?)",
        (
            payment.id,
            payment.order_id,
            payment.account_id,
            payment.gateway_payment_id,
            payment.status,
            tx.now_ms,
            _encode(payment),
        ),
    )
    return payment


def _confirm_order(tx: Tx, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
    payment_row = tx.execute(_PAYMENT_SELECT + " WHERE id=?", (payment_id,)).fetchone()
    if payment_row is None:
        raise NotFound("payment", payment_id)
    payment = _payment_from_row(payment_row)
    row = tx.execute(_ORDER_SELECT + " WHERE id=?", (payment.order_id,)).fetchone()
    order = _order_from_row(row)
    if order.status is OrderStatus.PAID and row[_PAID_PAYMENT] == payment_id:
        return ConfirmOutcome.ALREADY_PAID
    _advance_payment(tx, payment_id, status, None)
    refund = status is PaymentStatus.CAPTURED
    if order.status is not OrderStatus.PENDING_PAYMENT:
        # Closed meanwhile, or paid by another payment: this money goes back.
        tx.emit(OrderClosed(order.id, order.status, payment.gateway_payment_id, refund))
        return ConfirmOutcome.CLOSED
    sold = tx.execute(
        "UPDATE units SET state='sold', expires_at_ms=NULL, version=version+1"
        " WHERE order_id=? AND state='reserved' AND expires_at_ms > ?",
        (order.id, tx.now_ms),
    ).rowcount
    if sold != len(order.items):
        # Past the deadline: the order ends and the authorized money goes back.
        _close(tx, order, OrderStatus.EXPIRED, refund=refund)
        return ConfirmOutcome.EXPIRED
    tx.execute(
        "UPDATE orders SET status='paid', paid_payment_id=?, paid_at_ms=? WHERE id=?",
        (payment_id, tx.now_ms, order.id),
    )
    tx.emit(OrderPaid(order.id, payment_id, payment.gateway_payment_id))
    return ConfirmOutcome.CONFIRMED


def _issue_tickets(tx: Tx, order_id: str, tickets: list[Ticket]) -> None:
    status = tx.execute("SELECT status FROM orders WHERE id=?", (order_id,)).fetchone()
    if status is None or status[0] != OrderStatus.PAID:
        return
    inserted = tx.conn.executemany(
        "INSERT INTO tickets(id, order_id, account_id, performance_id, unit_id, status,"
        " doc) VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        (
            (
                t.id,
                t.order_id,
                t.account_id,
                t.performance_id,
                t.unit_id,
                t.status,
                _encode(t),
            )
            for t in tickets
        ),
    ).rowcount
    if inserted > 0:  # a repeat inserts nothing and announces nothing
        tx.emit(TicketsIssued(order_id, tickets[0].account_id))


def _expire_due(tx: Tx, limit: int) -> int:
    holds = tx.execute(
        "SELECT doc, status FROM holds WHERE status='active' AND expires_at_ms <= ? LIMIT ?",
        (tx.now_ms, limit),
    ).fetchall()
    for row in holds:
        _end_hold(tx, _hold_from_row(row), HoldStatus.EXPIRED)
    orders = tx.execute(
        _ORDER_SELECT + " WHERE status='pending_payment' AND payment_deadline_ms <= ? LIMIT ?",
        (tx.now_ms, limit),
    ).fetchall()
    for row in orders:
        _close(tx, _order_from_row(row), OrderStatus.EXPIRED, refund=False)
    return len(holds) + len(orders)


def _place_hold(tx: Tx, request: HoldRequest) -> Hold:
    if not _within_limit(tx, request):
        # Lapsed holds of this fan (not swept yet) stop counting before a refusal.
        for row in tx.execute(
            "SELECT doc, status FROM holds WHERE account_id=? AND performance_id=?"
            " AND status='active' AND expires_at_ms <= ?",
            (request.account_id, request.performance_id, tx.now_ms),
        ).fetchall():
            _end_hold(tx, _hold_from_row(row), HoldStatus.EXPIRED)
        if not _within_limit(tx, request):
            raise LimitExceeded(
                f"at most {request.ticket_limit} tickets per account for this performance"
            )
    expires_ms = tx.now_ms + request.ttl_seconds * 1000
    items: list[HoldItem] = []
    taken: list[str] = []
    if request.seat_ids:
        # One statement for all the seats (the service refuses a seat named twice).
        marks = ",".join("?" * len(request.seat_ids))
        claimed = {
            row[0]: row
            for row in tx.execute(
                "UPDATE units SET state='held', hold_id=?, order_id=NULL, expires_at_ms=?,"
                f" version=version+1 WHERE performance_id=? AND unit_id IN ({marks})"
                f" AND kind='seat' AND {_CLAIMABLE} RETURNING unit_id, zone_id, grade, price_krw",
                (request.hold_id, expires_ms, request.performance_id, *request.seat_ids, tx.now_ms),
            ).fetchall()
        }
        for seat in request.seat_ids:
            row = claimed.get(seat)
            if row is None:
                taken.append(seat)
            else:
                items.append(HoldItem(row[0], row[1], UnitKind.SEAT, row[2], row[3]))
    short: dict[str, int] = {}
    for ga in request.ga:
        rows = tx.execute(
            "UPDATE units SET state='held', hold_id=?, order_id=NULL, expires_at_ms=?,"
            " version=version+1 WHERE performance_id=? AND unit_id IN ("
            "  SELECT unit_id FROM units WHERE performance_id=? AND zone_id=? AND kind='ga'"
            f"  AND {_CLAIMABLE} LIMIT ?) AND {_CLAIMABLE}"
            " RETURNING unit_id, zone_id, grade, price_krw",
            (
                request.hold_id,
                expires_ms,
                request.performance_id,
                request.performance_id,
                ga.zone,
                tx.now_ms,
                ga.quantity,
                tx.now_ms,
            ),
        ).fetchall()
        if len(rows) < ga.quantity:
            short[ga.zone] = ga.quantity - len(rows)
        items.extend(HoldItem(r[0], r[1], UnitKind.GA, r[2], r[3]) for r in rows)
    if taken or short:
        _reject_unknown_places(tx, request, taken, list(short))
        raise SeatsUnavailable(sorted(taken), short, _claimed_until(tx, request, taken))
    hold = Hold(
        id=request.hold_id,
        performance_id=request.performance_id,
        account_id=request.account_id,
        status=HoldStatus.ACTIVE,
        items=items,
        created_at=tx.now,
        expires_at=from_ms(expires_ms),
    )
    tx.execute(
        "INSERT INTO holds(id, performance_id, account_id, status, expires_at_ms, quantity, doc)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            hold.id,
            hold.performance_id,
            hold.account_id,
            hold.status,
            expires_ms,
            hold.quantity,
            _encode(hold),
        ),
    )
    tx.emit(HoldPlaced(hold.id, hold.performance_id, hold.quantity))
    return hold


def _within_limit(tx: Tx, request: HoldRequest) -> bool:
    """Counts the hold's places against the fan's limit, if they fit under it."""
    return (
        tx.execute(
            "INSERT INTO ticket_limits(performance_id, account_id, quantity) SELECT ?, ?, ?"
            " WHERE ? <= ? ON CONFLICT(performance_id, account_id)"
            " DO UPDATE SET quantity = quantity + excluded.quantity"
            " WHERE quantity + excluded.quantity <= ?",
            (
                request.performance_id,
                request.account_id,
                request.quantity,
                request.quantity,
                request.ticket_limit,
                request.ticket_limit,
            ),
        ).rowcount
        == 1
    )


def _claimed_until(tx: Tx, request: HoldRequest, seats: list[str]) -> dict[str, int | None]:
    """When each taken seat's claim lapses: a hold's or order's expiry, never for a sale."""
    if not seats:
        return {}
    marks = ",".join("?" * len(seats))
    return {
        unit: expires_ms if state in ("held", "reserved") else None
        for unit, state, expires_ms in tx.execute(
            f"SELECT unit_id, state, expires_at_ms FROM units WHERE performance_id=?"
            f" AND unit_id IN ({marks})",
            (request.performance_id, *seats),
        ).fetchall()
    }


def _reject_unknown_places(
    tx: Tx, request: HoldRequest, seats: list[str], zones: list[str]
) -> None:
    """A seat or zone that does not exist is a bad request, not a lost race."""
    unknown = [
        s
        for s in seats
        if tx.execute(
            "SELECT 1 FROM units WHERE performance_id=? AND unit_id=? AND kind='seat'",
            (request.performance_id, s),
        ).fetchone()
        is None
    ]
    unknown += [
        z
        for z in zones
        if tx.execute(
            "SELECT 1 FROM units WHERE performance_id=? AND zone_id=? AND kind='ga' LIMIT 1",
            (request.performance_id, z),
        ).fetchone()
        is None
    ]
    if unknown:
        raise InvalidRequest(
            f"not seats or standing zones of this performance: {', '.join(sorted(unknown))}",
            unknown=sorted(unknown),
        )


def _end_hold(tx: Tx, hold: Hold, status: HoldStatus) -> None:
    tx.execute(
        "UPDATE units SET state='available', hold_id=NULL, expires_at_ms=NULL,"
        " version=version+1 WHERE hold_id=? AND state='held'",
        (hold.id,),
    )
    tx.execute("UPDATE holds SET status=? WHERE id=?", (status, hold.id))
    _give_back_limit(tx, hold.performance_id, hold.account_id, hold.quantity)
    tx.emit(HoldReleased(hold.id, hold.performance_id, status))


def _close(tx: Tx, order: Order, status: OrderStatus, refund: bool) -> Order:
    """End an order: its places go back on sale, its tickets are void, its money returned."""
    tx.execute(
        "UPDATE units SET state='available', order_id=NULL, hold_id=NULL, expires_at_ms=NULL,"
        " version=version+1 WHERE order_id=? AND state IN ('reserved','sold')",
        (order.id,),
    )
    tx.execute(
        "UPDATE orders SET status=?, closed_at_ms=? WHERE id=?", (status, tx.now_ms, order.id)
    )
    tx.execute("UPDATE tickets SET status='void' WHERE order_id=? AND status='valid'", (order.id,))
    _give_back_limit(tx, order.performance_id, order.account_id, len(order.items))
    payment = tx.execute(
        "SELECT gateway_payment_id FROM payments WHERE order_id=? AND status IN (?,?,?)"
        " ORDER BY updated_at_ms DESC LIMIT 1",
        (order.id, *_ACTIVE_PAYMENTS),
    ).fetchone()
    tx.emit(OrderClosed(order.id, status, payment[0] if payment else None, refund))
    return msgspec.structs.replace(order, status=status, closed_at=tx.now)


def _give_back_limit(tx: Tx, performance_id: str, account_id: str, quantity: int) -> None:
    tx.execute(
        "UPDATE ticket_limits SET quantity = MAX(quantity - ?, 0)"
        " WHERE performance_id=? AND account_id=?",
        (quantity, performance_id, account_id),
    )


def _advance_payment(
    tx: Tx, payment_id: str, status: PaymentStatus, decline_reason: str | None
) -> bool:
    """Move a payment forward only: a late or repeated event changes nothing."""
    lower = [s.value for s, rank in PAYMENT_RANK.items() if rank < PAYMENT_RANK[status]]
    marks = ",".join("?" * len(lower))
    return (
        tx.execute(
            f"UPDATE payments SET status=?, decline_reason=COALESCE(?, decline_reason),"
            f" updated_at_ms=? WHERE id=? AND status IN ({marks})",
            (status, decline_reason, tx.now_ms, payment_id, *lower),
        ).rowcount
        == 1
    )


def _hold_from_row(row: tuple[bytes, str, *tuple[object, ...]]) -> Hold:
    return msgspec.structs.replace(_decode_hold(row[0]), status=HoldStatus(row[1]))


_ORDER_SELECT = "SELECT doc, status, paid_at_ms, closed_at_ms, paid_payment_id FROM orders"
_PAID_PAYMENT = 4


def _order_from_row(row: tuple[object, ...]) -> Order:
    doc, status, paid_ms, closed_ms = row[0], row[1], row[2], row[3]
    assert isinstance(doc, bytes)
    assert isinstance(status, str)
    return msgspec.structs.replace(
        _decode_order(doc),
        status=OrderStatus(status),
        paid_at=from_ms(paid_ms) if isinstance(paid_ms, int) else None,
        closed_at=from_ms(closed_ms) if isinstance(closed_ms, int) else None,
    )


_PAYMENT_SELECT = "SELECT doc, status, decline_reason, updated_at_ms FROM payments"


def _payment_from_row(row: tuple[bytes, str, str | None, int]) -> Payment:
    return msgspec.structs.replace(
        _decode_payment(row[0]),
        status=PaymentStatus(row[1]),
        decline_reason=row[2],
        updated_at=from_ms(row[3]),
    )


def _payment_where(conn: sqlite3.Connection, column: str, value: str) -> Payment | None:
    row = conn.execute(f"{_PAYMENT_SELECT} WHERE {column}=?", (value,)).fetchone()
    return None if row is None else _payment_from_row(row)


def _tickets(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> list[Ticket]:
    cursor = conn.execute(f"SELECT doc, status FROM tickets WHERE {where}", params)
    return [
        msgspec.structs.replace(_decode_ticket(doc), status=TicketStatus(status))
        for doc, status in cursor
    ]
