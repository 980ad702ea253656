"""The booking writes, each one function run inside the writer's transaction (in the writer
process, by reference: module-level functions pickle by name): holds, orders, payments,
tickets and the expiry sweep, every claim a conditional UPDATE."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from booking.adapters.local.sqlite_booking_rows import (
    ACTIVE_PAYMENTS,
    CLAIMABLE,
    ORDER_SELECT,
    PAID_PAYMENT,
    PAYMENT_SELECT,
    encode,
    hold_from_row,
    order_from_row,
    payment_from_row,
)
from booking.adapters.local.sqlite_db import Tx
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
    ConfirmOutcome,
)
from booking.domain.tickets import Ticket


def tx_release_hold(tx: Tx, hold_id: str) -> Hold:
    row = tx.execute(
        "SELECT doc, status, expires_at_ms FROM holds WHERE id=?", (hold_id,)
    ).fetchone()
    if row is None:
        raise NotFound("hold", hold_id)
    hold = hold_from_row(row)
    hold.require_active(tx.now)
    _end_hold(tx, hold, HoldStatus.RELEASED)
    return msgspec.structs.replace(hold, status=HoldStatus.RELEASED)


def tx_place_order(tx: Tx, order_id: str, hold_id: str, payment_window: timedelta) -> Order:
    row = tx.execute(
        "SELECT doc, status, expires_at_ms FROM holds WHERE id=?", (hold_id,)
    ).fetchone()
    if row is None:
        raise NotFound("hold", hold_id)
    hold = hold_from_row(row)
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
            encode(order),
        ),
    )
    tx.emit(OrderPlaced(order.id, order.performance_id, order.total_krw))
    return order


def tx_close_order(tx: Tx, order_id: str, refund: bool) -> Order:
    row = tx.execute(ORDER_SELECT + " WHERE id=?", (order_id,)).fetchone()
    if row is None:
        raise NotFound("order", order_id)
    order = order_from_row(row)
    if refund:
        if order.status is not OrderStatus.PAID:
            raise Conflict(f"order {order_id} is {order.status}, not paid")
        return _close(tx, order, OrderStatus.REFUNDED, refund=True)
    if order.status is not OrderStatus.PENDING_PAYMENT:
        raise Conflict(f"order {order_id} is {order.status}")
    if to_ms(order.payment_deadline) <= tx.now_ms:
        raise OrderExpired(f"order {order_id} passed its payment deadline")
    return _close(tx, order, OrderStatus.CANCELLED, refund=False)


def tx_add_payment(tx: Tx, payment: Payment) -> Payment:
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
        (payment.order_id, *ACTIVE_PAYMENTS),
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
            encode(payment),
        ),
    )
    return payment


def tx_confirm_order(tx: Tx, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
    payment_row = tx.execute(PAYMENT_SELECT + " WHERE id=?", (payment_id,)).fetchone()
    if payment_row is None:
        raise NotFound("payment", payment_id)
    payment = payment_from_row(payment_row)
    row = tx.execute(ORDER_SELECT + " WHERE id=?", (payment.order_id,)).fetchone()
    order = order_from_row(row)
    if order.status is OrderStatus.PAID and row[PAID_PAYMENT] == payment_id:
        return ConfirmOutcome.ALREADY_PAID
    tx_advance_payment(tx, payment_id, status, None)
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


def tx_issue_tickets(tx: Tx, order_id: str, tickets: list[Ticket]) -> None:
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
                encode(t),
            )
            for t in tickets
        ),
    ).rowcount
    if inserted > 0:  # a repeat inserts nothing and announces nothing
        tx.emit(TicketsIssued(order_id, tickets[0].account_id))


def tx_expire_due(tx: Tx, limit: int) -> int:
    holds = tx.execute(
        "SELECT doc, status FROM holds WHERE status='active' AND expires_at_ms <= ? LIMIT ?",
        (tx.now_ms, limit),
    ).fetchall()
    for row in holds:
        _end_hold(tx, hold_from_row(row), HoldStatus.EXPIRED)
    orders = tx.execute(
        ORDER_SELECT + " WHERE status='pending_payment' AND payment_deadline_ms <= ? LIMIT ?",
        (tx.now_ms, limit),
    ).fetchall()
    for row in orders:
        _close(tx, order_from_row(row), OrderStatus.EXPIRED, refund=False)
    return len(holds) + len(orders)


def tx_place_hold(tx: Tx, request: HoldRequest) -> Hold:
    if not _within_limit(tx, request):
        # Lapsed holds of this fan (not swept yet) stop counting before a refusal.
        for row in tx.execute(
            "SELECT doc, status FROM holds WHERE account_id=? AND performance_id=?"
            " AND status='active' AND expires_at_ms <= ?",
            (request.account_id, request.performance_id, tx.now_ms),
        ).fetchall():
            _end_hold(tx, hold_from_row(row), HoldStatus.EXPIRED)
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
                f" AND kind='seat' AND {CLAIMABLE} RETURNING unit_id, zone_id, grade, price_krw",
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
            f"  AND {CLAIMABLE} LIMIT ?) AND {CLAIMABLE}"
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
            encode(hold),
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
        (order.id, *ACTIVE_PAYMENTS),
    ).fetchone()
    tx.emit(OrderClosed(order.id, status, payment[0] if payment else None, refund))
    return msgspec.structs.replace(order, status=status, closed_at=tx.now)


def _give_back_limit(tx: Tx, performance_id: str, account_id: str, quantity: int) -> None:
    tx.execute(
        "UPDATE ticket_limits SET quantity = MAX(quantity - ?, 0)"
        " WHERE performance_id=? AND account_id=?",
        (quantity, performance_id, account_id),
    )


def tx_advance_payment(
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
