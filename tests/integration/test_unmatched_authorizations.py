"""An authorization the gateway made for no payment of ours (the gateway said yes, then our
own write of the payment failed) is retried while its order can still be paid, and voided
once it cannot, on both adapter families: the fan's money is not held for nothing."""

from __future__ import annotations

import functools
import json

from litestar.testing import TestClient

from booking.bootstrap import Runtime
from booking.domain.payments import GatewayPayment
from tests.support import (
    ApiDriver,
    WebhookTap,
    assert_problem,
    gateway_payment,
    get_order,
    hold,
    order,
    send_webhook,
)


def test_an_unmatched_authorization_is_retried_then_voided_once_the_order_closes(
    family_api: ApiDriver, family_runtime: Runtime
) -> None:
    c = family_api.client
    assert isinstance(c, TestClient)  # its blocking portal calls the gateway below
    tap = WebhookTap()
    family_runtime.gateway.attach(tap)
    secret = family_runtime.settings.resolved_webhook_secret()
    _, perf = family_api.on_sale()
    fan = family_api.account()
    placed = order(c, fan, hold(c, fan, perf["id"], ["S1-A-1"])["id"])
    # The gateway authorizes, and no payment of ours is ever written for it.
    authorize = functools.partial(
        family_runtime.gateway.create_payment,
        reference=placed["id"],
        amount_krw=placed["total_krw"],
        method="tok_visa",
        idempotency_key="pay_never_written",
    )
    charge: GatewayPayment = c.blocking_portal.call(authorize)
    authorized = tap.wait_event("payment.authorized", placed["id"])
    body = json.dumps(authorized).encode()

    # While the order can be paid, our write may still land: the gateway is asked to retry.
    assert_problem(send_webhook(c, secret, body), 404, "not-found")
    assert gateway_payment(family_runtime, charge.id)["status"] == "authorized"

    assert c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan).status_code == 200
    answer = send_webhook(c, secret, body)
    assert 200 <= answer.status_code < 300, answer.text
    assert gateway_payment(family_runtime, charge.id)["status"] == "voided"
    assert get_order(c, fan, placed["id"])["status"] == "cancelled"
    # A repeat changes nothing more.
    again = send_webhook(c, secret, body)
    assert 200 <= again.status_code < 300, again.text
    assert gateway_payment(family_runtime, charge.id)["status"] == "voided"
