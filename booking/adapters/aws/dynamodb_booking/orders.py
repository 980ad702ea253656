"""Orders: a hold turned into something to pay for, closed by the fan, the deadline or a refund."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from booking.adapters.aws.dynamodb_booking.common import (
    ACTIVE_PAYMENTS,
    GA_ATTEMPTS,
    STATE,
    STATUS,
    _encode,
    _hold_of,
    _order_of,
    expiry_keys,
)
from booking.adapters.aws.dynamodb_booking.tickets import DynamoTickets
from booking.adapters.aws.dynamodb_catalog import inventory_pk
from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import (
    FIRST_KEY,
    Item,
    TransactionCancelled,
)
from booking.adapters.aws.idempotent import run_idempotent, stored_result
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.errors import (
    Conflict,
    HoldExpired,
    NotFound,
    OrderExpired,
)
from booking.domain.holds import HoldStatus
from booking.domain.messages import (
    OrderClosed,
    OrderPlaced,
)
from booking.domain.orders import Order, OrderStatus
from booking.domain.payments import Payment
from booking.domain.ports import (
    Idempotency,
)
from booking.domain.tickets import TicketStatus


class DynamoOrders(DynamoTickets):
    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        self._db.operation = "place_order"
        item = await self._db.get(f"HLD#{hold_id}", "HLD")
        if item is None:
            raise NotFound("hold", hold_id)
        hold = _hold_of(item)
        earlier = await stored_result(self._db, idem, Order)
        if earlier is not None:
            return earlier
        now_ms = self._now_ms()
        hold.require_active(from_ms(now_ms))
        deadline_ms = now_ms + int(payment_window.total_seconds() * 1000)
        # The hold's expiry is part of the condition of the confirming write.
        items = [
            self._db.update(
                inventory_pk(hold.performance_id, i.unit_id),
                i.unit_id,
                "SET #s = :reserved, order_id = :o, expires_at_ms = :d, version = version + :one",
                {
                    ":reserved": "reserved",
                    ":held": "held",
                    ":o": order_id,
                    ":d": deadline_ms,
                    ":h": hold_id,
                    ":now": now_ms,
                    ":one": 1,
                },
                "#s = :held AND hold_id = :h AND expires_at_ms > :now",
                STATE,
            )
            for i in hold.items
        ]
        items.append(
            self._db.update(
                f"HLD#{hold_id}",
                "HLD",
                "SET #s = :ordered REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk",
                {":ordered": "ordered", ":active": "active", ":now": now_ms},
                "#s = :active AND expires_at_ms > :now",
                STATUS,
            )
        )
        order = Order(
            id=order_id,
            performance_id=hold.performance_id,
            account_id=hold.account_id,
            hold_id=hold_id,
            status=OrderStatus.PENDING_PAYMENT,
            items=hold.items,
            total_krw=hold.total_krw,
            created_at=from_ms(now_ms),
            payment_deadline=from_ms(deadline_ms),
        )
        items.append(
            self._db.put(
                {
                    "pk": f"ORD#{order.id}",
                    "sk": "ORD",
                    "status": order.status.value,
                    "payment_deadline_ms": deadline_ms,
                    "quantity": hold.quantity,
                    "account_id": order.account_id,
                    "performance_id": order.performance_id,
                    "doc": _encode(order),
                    "gsi1pk": f"ORDERS#{order.account_id}",
                    "gsi1sk": order.id,
                    **expiry_keys("ORD", order.id, deadline_ms),
                }
            )
        )
        items.append(
            self._db.put(
                outbox_item(OrderPlaced(order.id, order.performance_id, order.total_krw), now_ms)
            )
        )
        try:
            return await run_idempotent(self._db, idem, Order, order, items)
        except TransactionCancelled as exc:
            current = _hold_of(await self._db.get(f"HLD#{hold_id}", "HLD") or item)
            if (
                current.effective_status(from_ms(self._now_ms())) is HoldStatus.ACTIVE
                and exc.conflict
            ):
                raise Conflict("the hold changed while ordering; try again") from exc
            raise HoldExpired(f"hold {hold_id} expired at {hold.expires_at.isoformat()}") from exc

    async def get_order(self, order_id: str) -> Order | None:
        item = await self._db.get(f"ORD#{order_id}", "ORD")
        return None if item is None else _order_of(item)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        items = await self._db.query(
            "gsi1pk = :a AND gsi1sk > :after",
            {":a": f"ORDERS#{account_id}", ":after": after or FIRST_KEY},
            index="gsi1",
            limit=limit,
        )
        return [_order_of(i) for i in items]

    async def close_order(self, order_id: str, refund: bool) -> Order:
        self._db.operation = "close_order"
        order = await self.get_order(order_id)
        if order is None:
            raise NotFound("order", order_id)
        if refund:
            if order.status is not OrderStatus.PAID:
                raise Conflict(f"order {order_id} is {order.status}, not paid")
            return await self._close(order, OrderStatus.REFUNDED, refund=True)
        if order.status is not OrderStatus.PENDING_PAYMENT:
            raise Conflict(f"order {order_id} is {order.status}")
        if to_ms(order.payment_deadline) <= self._now_ms():
            raise OrderExpired(f"order {order_id} passed its payment deadline")
        return await self._close(order, OrderStatus.CANCELLED, refund=False)

    async def _close(self, order: Order, status: OrderStatus, refund: bool) -> Order:
        """End an order: places back on sale, tickets void, money returned (by a message)."""
        for _ in range(GA_ATTEMPTS):
            item = await self._db.get(f"ORD#{order.id}", "ORD")
            if item is None or item["status"] != order.status.value:
                current = None if item is None else _order_of(item)
                if current is not None and current.status is status:
                    return current
                raise Conflict(f"order {order.id} changed meanwhile")
            now_ms = self._now_ms()
            units = await self._units_of(order.performance_id, [i.unit_id for i in order.items])
            items = [
                self._db.update(
                    str(u["pk"]),
                    str(u["sk"]),
                    "SET #s = :available, version = version + :one"
                    " REMOVE order_id, hold_id, expires_at_ms",
                    {
                        ":available": "available",
                        ":o": order.id,
                        ":r": "reserved",
                        ":sold": "sold",
                        ":one": 1,
                    },
                    "order_id = :o AND #s IN (:r, :sold)",
                    STATE,
                )
                for u in units
                if u.get("order_id") == order.id and u.get("state") in ("reserved", "sold")
            ]
            items.append(
                self._db.update(
                    f"ORD#{order.id}",
                    "ORD",
                    "SET #s = :to, closed_at_ms = :now REMOVE gsi2pk, gsi2sk",
                    {":to": status.value, ":from": order.status.value, ":now": now_ms},
                    "#s = :from",
                    STATUS,
                )
            )
            tickets = await self.tickets_for_order(order.id)
            for ticket in tickets:
                if ticket.status is TicketStatus.VALID:
                    items.append(
                        self._db.update(
                            f"TKT#{ticket.id}",
                            "TKT",
                            "SET #s = :void",
                            {":void": "void"},
                            names=STATUS,
                        )
                    )
                    items.append(
                        self._db.delete(
                            f"TKTUNIT#{ticket.performance_id}#{ticket.unit_id}", "TKTUNIT"
                        )
                    )
            items.append(self._give_back(order.performance_id, order.account_id, len(order.items)))
            payment = await self._active_payment(item)
            items.append(
                self._db.put(
                    outbox_item(
                        OrderClosed(
                            order.id,
                            status,
                            payment.gateway_payment_id if payment else None,
                            refund,
                        ),
                        now_ms,
                    )
                )
            )
            try:
                await self._db.transact(items)
            except TransactionCancelled:
                continue
            return msgspec.structs.replace(order, status=status, closed_at=from_ms(now_ms))
        raise Conflict(f"order {order.id} is too busy to close; try again")

    async def _active_payment(self, order_item: Item) -> Payment | None:
        ident = order_item.get("paid_payment_id") or order_item.get("active_payment_id")
        if not ident:
            return None
        payment = await self.get_payment(str(ident))
        return payment if payment and payment.status.value in ACTIVE_PAYMENTS else None
