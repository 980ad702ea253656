"""Holds, orders, payments and tickets in SQLite: every claim a conditional UPDATE.

A place can be taken only if it is available or its hold/order has expired,
checked in the UPDATE's WHERE clause at the moment of the write; an order is
confirmed only while every place it reserved is still reserved for it and
before its deadline. All of a hold's places change in one transaction or none.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from booking.adapters.local.sqlite_booking_rows import (
    CLAIMABLE,
    ORDER_SELECT,
    PAYMENT_SELECT,
    hold_from_row,
    order_from_row,
    payment_from_row,
    payment_where,
    tickets_where,
)
from booking.adapters.local.sqlite_booking_writes import (
    tx_add_payment,
    tx_advance_payment,
    tx_close_order,
    tx_confirm_order,
    tx_expire_due,
    tx_issue_tickets,
    tx_place_hold,
    tx_place_order,
    tx_release_hold,
)
from booking.adapters.local.sqlite_db import SqliteDatabase
from booking.adapters.timestamps import to_ms
from booking.domain.holds import Hold, HoldRequest
from booking.domain.orders import Order
from booking.domain.payments import Payment, PaymentStatus
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
from booking.domain.tickets import Ticket


class SqliteBookingStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    # -- holds -------------------------------------------------------------------------
    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        return await self._db.write_idempotent(idem, Hold, tx_place_hold, request)

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return await self._db.stored_result(idem, Hold)

    async def get_hold(self, hold_id: str) -> Hold | None:
        def find(conn: sqlite3.Connection) -> Hold | None:
            row = conn.execute("SELECT doc, status FROM holds WHERE id=?", (hold_id,)).fetchone()
            return None if row is None else hold_from_row(row)

        return self._db.point_read(find)

    async def release_hold(self, hold_id: str) -> Hold:
        return await self._db.write(tx_release_hold, hold_id)

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
                f" WHEN {CLAIMABLE} THEN 'available'"
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
            idem, Order, tx_place_order, order_id, hold_id, payment_window
        )

    async def get_order(self, order_id: str) -> Order | None:
        def find(conn: sqlite3.Connection) -> Order | None:
            row = conn.execute(ORDER_SELECT + " WHERE id=?", (order_id,)).fetchone()
            return None if row is None else order_from_row(row)

        return self._db.point_read(find)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        def rows(conn: sqlite3.Connection) -> list[Order]:
            cursor = conn.execute(
                ORDER_SELECT + " WHERE account_id=? AND id > ? ORDER BY id LIMIT ?",
                (account_id, after or "", limit),
            )
            return [order_from_row(row) for row in cursor]

        return await self._db.read(rows)

    async def close_order(self, order_id: str, refund: bool) -> Order:
        return await self._db.write(tx_close_order, order_id, refund)

    # -- payments ----------------------------------------------------------------------
    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment:
        return await self._db.write_idempotent(idem, Payment, tx_add_payment, payment)

    async def get_payment(self, payment_id: str) -> Payment | None:
        return self._db.point_read(lambda c: payment_where(c, "id", payment_id))

    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None:
        return await self._db.read(
            lambda c: payment_where(c, "gateway_payment_id", gateway_payment_id)
        )

    async def payments_for_order(self, order_id: str) -> list[Payment]:
        def rows(conn: sqlite3.Connection) -> list[Payment]:
            cursor = conn.execute(PAYMENT_SELECT + " WHERE order_id=? ORDER BY id", (order_id,))
            return [payment_from_row(row) for row in cursor]

        return await self._db.read(rows)

    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool:
        return await self._db.write(tx_advance_payment, payment_id, status, decline_reason)

    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
        return await self._db.write(tx_confirm_order, payment_id, status)

    # -- tickets -----------------------------------------------------------------------
    async def issue_tickets(self, order_id: str, tickets: list[Ticket]) -> None:
        await self._db.write(tx_issue_tickets, order_id, tickets)

    async def tickets_for_order(self, order_id: str) -> list[Ticket]:
        return await self._db.read(
            lambda c: tickets_where(c, "order_id=? ORDER BY id", (order_id,))
        )

    async def list_tickets(self, account_id: str, limit: int, after: str | None) -> list[Ticket]:
        return await self._db.read(
            lambda c: tickets_where(
                c, "account_id=? AND id > ? ORDER BY id LIMIT ?", (account_id, after or "", limit)
            )
        )

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        def find(conn: sqlite3.Connection) -> Ticket | None:
            found = tickets_where(conn, "id=?", (ticket_id,))
            return found[0] if found else None

        return await self._db.read(find)

    # -- expiry ------------------------------------------------------------------------
    async def expire_due(self, limit: int) -> int:
        """Mark what has lapsed; the claim conditions never needed this to stay correct."""

        return await self._db.write(tx_expire_due, limit)
