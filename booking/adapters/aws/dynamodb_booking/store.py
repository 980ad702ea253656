"""The whole booking table: every booking port, each aggregate's part in its own module,
each building on the one before (common → inventory → holds → tickets → orders →
payments), and the expiry sweep that ends lapsed holds and orders."""

from __future__ import annotations

from booking.adapters.aws.dynamodb_booking.common import _ignore_refusal
from booking.adapters.aws.dynamodb_booking.payments import DynamoPayments
from booking.adapters.aws.dynamodb_table import INDEX_SHARDS
from booking.domain.holds import HoldStatus
from booking.domain.orders import OrderStatus


class DynamoBookingStore(DynamoPayments):
    async def expire_due(self, limit: int) -> int:
        """Mark what has lapsed; the claim conditions never needed this to stay correct."""
        self._db.operation = "expire_due"
        now_ms = self._now_ms()
        swept = 0
        for shard in range(INDEX_SHARDS):
            due = await self._db.query(
                "gsi2pk = :s AND gsi2sk < :now",
                {":s": f"EXPIRY#{shard}", ":now": f"{now_ms:013d}~"},
                index="gsi2",
                limit=limit,
            )
            for entry in due:
                kind, ident = str(entry["gsi2sk"]).split("#")[1:3]
                if kind == "HLD":
                    await self._end_hold(ident, HoldStatus.EXPIRED)
                    swept += 1
                    continue
                order = await self.get_order(ident)
                if order is not None and order.status is OrderStatus.PENDING_PAYMENT:
                    with _ignore_refusal():
                        await self._close(order, OrderStatus.EXPIRED, refund=False)
                        swept += 1
        return swept
