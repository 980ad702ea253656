"""Orders: a converted hold waiting for payment, then paid, cancelled or expired."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from booking.domain.holds import HoldItem


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Order(msgspec.Struct, frozen=True):
    id: str
    performance_id: str
    account_id: str
    hold_id: str
    status: OrderStatus
    items: list[HoldItem]
    total_krw: int
    created_at: datetime
    payment_deadline: datetime
    paid_at: datetime | None = None
    closed_at: datetime | None = None

    def effective_status(self, now: datetime) -> OrderStatus:
        """An unpaid order past its deadline is expired even before a sweeper marks it."""
        if self.status is OrderStatus.PENDING_PAYMENT and self.payment_deadline <= now:
            return OrderStatus.EXPIRED
        return self.status
