"""Payments, and the confirmation that sells an order's places."""

from __future__ import annotations

from booking.adapters.aws.dynamodb_booking.common import (
    GA_ATTEMPTS,
    STATE,
    STATUS,
    _encode,
    _ignore_refusal,
    _order_of,
    _payment_of,
)
from booking.adapters.aws.dynamodb_booking.orders import DynamoOrders
from booking.adapters.aws.dynamodb_catalog import inventory_pk
from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import (
    TransactionCancelled,
)
from booking.adapters.aws.idempotent import run_idempotent
from booking.domain.errors import (
    NotFound,
    OrderExpired,
    OrderNotPayable,
    PaymentInProgress,
)
from booking.domain.messages import (
    OrderClosed,
    OrderPaid,
)
from booking.domain.orders import OrderStatus
from booking.domain.payments import PAYMENT_RANK, Payment, PaymentStatus
from booking.domain.ports import (
    ConfirmOutcome,
    Idempotency,
)


class DynamoPayments(DynamoOrders):
    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment:
        self._db.operation = "add_payment"
        now_ms = self._now_ms()
        items = [
            self._db.update(
                f"ORD#{payment.order_id}",
                "ORD",
                "SET active_payment_id = :p",
                {":p": payment.id, ":pending": "pending_payment", ":now": now_ms},
                "#s = :pending AND payment_deadline_ms > :now"
                " AND attribute_not_exists(active_payment_id)",
                STATUS,
            ),
            self._db.put(
                {
                    "pk": f"PAY#{payment.id}",
                    "sk": "PAY",
                    "order_id": payment.order_id,
                    "account_id": payment.account_id,
                    "gateway_payment_id": payment.gateway_payment_id,
                    "status": payment.status.value,
                    "updated_at_ms": now_ms,
                    "doc": _encode(payment),
                    "gsi1pk": f"PAYMENTS#{payment.order_id}",
                    "gsi1sk": payment.id,
                },
                "attribute_not_exists(pk)",
            ),
            self._db.put(
                {
                    "pk": f"GWPAY#{payment.gateway_payment_id}",
                    "sk": "GWPAY",
                    "payment_id": payment.id,
                },
                "attribute_not_exists(pk)",
            ),
        ]
        try:
            return await run_idempotent(self._db, idem, Payment, payment, items)
        except TransactionCancelled as exc:
            order = await self._db.get(f"ORD#{payment.order_id}", "ORD")
            if order is None:
                raise NotFound("order", payment.order_id) from exc
            if order["status"] != "pending_payment":
                raise OrderNotPayable(f"order {payment.order_id} is {order['status']}") from exc
            if int(order["payment_deadline_ms"]) <= now_ms:
                raise OrderExpired(f"order {payment.order_id} passed its payment deadline") from exc
            raise PaymentInProgress(
                f"payment {order.get('active_payment_id')} for this order is still in progress"
            ) from exc

    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None:
        link = await self._db.get(f"GWPAY#{gateway_payment_id}", "GWPAY")
        return None if link is None else await self.get_payment(str(link["payment_id"]))

    async def payments_for_order(self, order_id: str) -> list[Payment]:
        items = await self._db.query("gsi1pk = :o", {":o": f"PAYMENTS#{order_id}"}, index="gsi1")
        return [_payment_of(i) for i in items]

    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool:
        """Move a payment forward only: a late or repeated event changes nothing."""
        lower = [s.value for s, rank in PAYMENT_RANK.items() if rank < PAYMENT_RANK[status]]
        marks = {f":l{i}": v for i, v in enumerate(lower)}
        expression = "SET #s = :to, updated_at_ms = :now"
        values: dict[str, object] = {":to": status.value, ":now": self._now_ms(), **marks}
        if decline_reason is not None:
            expression += ", decline_reason = :why"
            values[":why"] = decline_reason
        try:
            await self._db.transact(
                [
                    self._db.update(
                        f"PAY#{payment_id}",
                        "PAY",
                        expression,
                        values,
                        f"#s IN ({', '.join(marks)})",
                        STATUS,
                    )
                ]
            )
        except TransactionCancelled:
            return False
        if status is PaymentStatus.DECLINED:
            payment = await self.get_payment(payment_id)
            if payment is not None:
                # The order may be paid again with another card.
                with _ignore_refusal():
                    await self._db.transact(
                        [
                            self._db.update(
                                f"ORD#{payment.order_id}",
                                "ORD",
                                "REMOVE active_payment_id",
                                {":p": payment_id},
                                "active_payment_id = :p",
                            )
                        ]
                    )
        return True

    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
        self._db.operation = "confirm_order"
        payment = await self.get_payment(payment_id)
        if payment is None:
            raise NotFound("payment", payment_id)
        for _ in range(GA_ATTEMPTS):
            item = await self._db.get(f"ORD#{payment.order_id}", "ORD")
            if item is None:
                raise NotFound("order", payment.order_id)
            order = _order_of(item)
            if order.status is OrderStatus.PAID and item.get("paid_payment_id") == payment_id:
                return ConfirmOutcome.ALREADY_PAID
            await self.advance_payment(payment_id, status, None)
            refund = status is PaymentStatus.CAPTURED
            now_ms = self._now_ms()
            if order.status is not OrderStatus.PENDING_PAYMENT:
                await self._db.transact(
                    [
                        self._db.put(
                            outbox_item(
                                OrderClosed(
                                    order.id, order.status, payment.gateway_payment_id, refund
                                ),
                                now_ms,
                            )
                        )
                    ]
                )
                return ConfirmOutcome.CLOSED
            items = [
                self._db.update(
                    inventory_pk(order.performance_id, i.unit_id),
                    i.unit_id,
                    "SET #s = :sold, version = version + :one REMOVE expires_at_ms",
                    {
                        ":sold": "sold",
                        ":reserved": "reserved",
                        ":o": order.id,
                        ":now": now_ms,
                        ":one": 1,
                    },
                    "#s = :reserved AND order_id = :o AND expires_at_ms > :now",
                    STATE,
                )
                for i in order.items
            ]
            items.append(
                self._db.update(
                    f"ORD#{order.id}",
                    "ORD",
                    "SET #s = :paid, paid_payment_id = :p, paid_at_ms = :now REMOVE gsi2pk, gsi2sk",
                    {
                        ":paid": "paid",
                        ":p": payment_id,
                        ":pending": "pending_payment",
                        ":now": now_ms,
                    },
                    "#s = :pending AND payment_deadline_ms > :now",
                    STATUS,
                )
            )
            items.append(
                self._db.put(
                    outbox_item(OrderPaid(order.id, payment_id, payment.gateway_payment_id), now_ms)
                )
            )
            try:
                await self._db.transact(items)
            except TransactionCancelled as exc:
                if exc.conflict:
                    continue
                current = _order_of(await self._db.get(f"ORD#{order.id}", "ORD") or item)
                if current.status is OrderStatus.PENDING_PAYMENT:
                    # Past the deadline: the order ends and the money goes back.
                    await self._close(current, OrderStatus.EXPIRED, refund=refund)
                    return ConfirmOutcome.EXPIRED
                continue
            return ConfirmOutcome.CONFIRMED
        return ConfirmOutcome.CLOSED
