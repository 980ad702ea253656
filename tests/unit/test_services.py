"""The services' own rules on in-memory fakes of their ports (tests/unit/fakes.py): what a
service decides before, around and after the store, with no I/O."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from booking.domain.errors import NotFound, OrderExpired, PaymentInProgress
from booking.domain.holds import Hold, HoldStatus
from booking.domain.payments import WebhookEvent, WebhookEventType, WebhookPayload
from booking.domain.ports import Idempotency
from booking.services.orders import OrderService
from booking.services.payments import PaymentService
from tests.unit.fakes import (
    NOW,
    FakeGateway,
    FakeHolds,
    FakeOrders,
    FakePayments,
    FixedClock,
    fan,
    pending_order,
)

UNUSED: Any = None
"""A collaborator the calls under test never reach (the catalogue, ticket issuing)."""
KEY = Idempotency("acc_fan:pay", "k-1", "fingerprint")


def payment_service(
    orders: FakeOrders, payments: FakePayments, gateway: FakeGateway, clock: FixedClock
) -> PaymentService:
    order_service = OrderService(orders, FakeHolds(), UNUSED, clock)
    return PaymentService(payments, orders, order_service, UNUSED, gateway, clock, b"secret")


def authorized(gateway_payment_id: str, order_id: str) -> bytes:
    payload = WebhookPayload(gateway_payment_id, order_id, 150_000)
    return msgspec.json.encode(
        WebhookEvent("evt_1", WebhookEventType.AUTHORIZED, int(NOW.timestamp()), payload)
    )


def test_a_lost_race_after_the_gateway_said_yes_gives_the_authorization_back() -> None:
    me = fan()
    orders = FakeOrders({"ord_1": pending_order(me)})
    payments = FakePayments(refuse=PaymentInProgress("another payment is processing"))
    gateway = FakeGateway()
    service = payment_service(orders, payments, gateway, FixedClock())
    with pytest.raises(PaymentInProgress):
        asyncio.run(service.pay(me, "ord_1", "tok_visa", KEY))
    assert gateway.created == ["ord_1"]
    assert gateway.voided == ["gwp_1"]


def test_an_order_past_its_deadline_is_not_sent_to_the_gateway() -> None:
    me = fan()
    orders = FakeOrders({"ord_1": pending_order(me, deadline_in=60)})
    clock = FixedClock()
    clock.advance(61)
    gateway = FakeGateway()
    service = payment_service(orders, FakePayments(), gateway, clock)
    with pytest.raises(OrderExpired):
        asyncio.run(service.pay(me, "ord_1", "tok_visa", KEY))
    assert gateway.created == []


def test_paying_another_fans_order_is_not_found_and_charges_nothing() -> None:
    orders = FakeOrders({"ord_1": pending_order(fan("acc_owner"))})
    gateway = FakeGateway()
    service = payment_service(orders, FakePayments(), gateway, FixedClock())
    with pytest.raises(NotFound):
        asyncio.run(service.pay(fan("acc_other"), "ord_1", "tok_visa", KEY))
    assert gateway.created == []


@pytest.mark.parametrize(
    ("order_state", "retried", "voided"),
    [
        ("pending", True, []),  # our own write may still land: the queue retries
        ("cancelled", False, ["gwp_9"]),  # nothing can pay it now: the money goes back
        ("expired", False, ["gwp_9"]),
        ("unknown", False, []),  # not an order of ours: dropped, nothing to give back
    ],
)
def test_an_authorization_for_no_payment_of_ours(
    order_state: str, retried: bool, voided: list[str]
) -> None:
    me = fan()
    orders = FakeOrders()
    clock = FixedClock()
    if order_state != "unknown":
        orders.orders["ord_1"] = pending_order(me, deadline_in=60)
    if order_state == "cancelled":
        asyncio.run(orders.close_order("ord_1", refund=False))
    if order_state == "expired":
        clock.advance(61)
    gateway = FakeGateway()
    service = payment_service(orders, FakePayments(), gateway, clock)
    body = authorized("gwp_9", "ord_1")
    if retried:
        with pytest.raises(NotFound):
            asyncio.run(service.apply_queued_webhook(body))
    else:
        asyncio.run(service.apply_queued_webhook(body))
    assert gateway.voided == voided


def test_ordering_another_fans_hold_is_not_found_and_orders_nothing() -> None:
    theirs = Hold("hld_1", "prf_1", "acc_owner", HoldStatus.ACTIVE, [], NOW, NOW.replace(hour=13))
    orders = FakeOrders()
    service = OrderService(orders, FakeHolds({"hld_1": theirs}), UNUSED, FixedClock())
    with pytest.raises(NotFound):
        asyncio.run(service.place(fan("acc_other"), "hld_1", KEY))
    assert orders.placed == []
