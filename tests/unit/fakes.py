"""In-memory fakes of the ports the services use, for the unit tier: each keeps what it is
given in a dict and records the calls a test asks about. They keep no invariants of
their own (the contract suites test the real adapters); a test sets the state it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from booking.domain.accounts import Account, Role
from booking.domain.errors import NotFound
from booking.domain.holds import Hold
from booking.domain.orders import Order, OrderStatus
from booking.domain.payments import GatewayPayment, Payment, PaymentStatus, WebhookEvent
from booking.domain.ports import ConfirmOutcome, Idempotency

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


class FixedClock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def fan(ident: str = "acc_fan") -> Account:
    return Account(ident, f"{ident}@example.com", "Fan", Role.FAN, NOW)


def pending_order(owner: Account, ident: str = "ord_1", deadline_in: float = 600) -> Order:
    return Order(
        id=ident,
        performance_id="prf_1",
        account_id=owner.id,
        hold_id="hld_1",
        status=OrderStatus.PENDING_PAYMENT,
        items=[],
        total_krw=150_000,
        created_at=NOW,
        payment_deadline=NOW + timedelta(seconds=deadline_in),
    )


@dataclass
class FakeHolds:
    holds: dict[str, Hold] = field(default_factory=dict)

    async def place_hold(self, request: object, idem: Idempotency) -> Hold:
        raise NotImplementedError

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return None

    async def get_hold(self, hold_id: str) -> Hold | None:
        return self.holds.get(hold_id)

    async def release_hold(self, hold_id: str) -> Hold:
        raise NotImplementedError


@dataclass
class FakeOrders:
    orders: dict[str, Order] = field(default_factory=dict)
    placed: list[str] = field(default_factory=list)
    closed: list[tuple[str, bool]] = field(default_factory=list)

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        self.placed.append(hold_id)
        raise NotImplementedError

    async def get_order(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        return [o for o in self.orders.values() if o.account_id == account_id][:limit]

    async def close_order(self, order_id: str, refund: bool) -> Order:
        self.closed.append((order_id, refund))
        order = self.orders[order_id]
        status = OrderStatus.REFUNDED if refund else OrderStatus.CANCELLED
        self.orders[order_id] = msgspec.structs.replace(order, status=status)
        return self.orders[order_id]


@dataclass
class FakePayments:
    """Payments by id; `refuse` makes the next add_payment raise it (a lost race)."""

    payments: dict[str, Payment] = field(default_factory=dict)
    refuse: Exception | None = None

    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment:
        if self.refuse is not None:
            raise self.refuse
        self.payments[payment.id] = payment
        return payment

    async def get_payment(self, payment_id: str) -> Payment | None:
        return self.payments.get(payment_id)

    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None:
        found = [p for p in self.payments.values() if p.gateway_payment_id == gateway_payment_id]
        return found[0] if found else None

    async def payments_for_order(self, order_id: str) -> list[Payment]:
        return [p for p in self.payments.values() if p.order_id == order_id]

    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool:
        raise NotImplementedError

    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
        raise NotImplementedError


@dataclass
class FakeGateway:
    """Authorizes every card; records what it was asked to do."""

    created: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    captured: list[str] = field(default_factory=list)

    async def create_payment(
        self, reference: str, amount_krw: int, method: str, idempotency_key: str
    ) -> GatewayPayment:
        self.created.append(reference)
        return GatewayPayment(
            f"gwp_{len(self.created)}", reference, amount_krw, PaymentStatus.PROCESSING
        )

    async def capture(self, gateway_payment_id: str) -> GatewayPayment:
        self.captured.append(gateway_payment_id)
        return GatewayPayment(gateway_payment_id, "", 0, PaymentStatus.CAPTURED)

    async def void(self, gateway_payment_id: str) -> GatewayPayment:
        self.voided.append(gateway_payment_id)
        return GatewayPayment(gateway_payment_id, "", 0, PaymentStatus.VOIDED)

    async def refund(self, gateway_payment_id: str) -> GatewayPayment:
        self.refunded.append(gateway_payment_id)
        return GatewayPayment(gateway_payment_id, "", 0, PaymentStatus.REFUNDED)

    async def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        raise NotFound("webhook", "none")
