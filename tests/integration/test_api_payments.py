"""Payments over HTTP: card tokens, the asynchronous gateway, and webhooks that come twice,
out of order or too late."""

from __future__ import annotations

import json
import time
from typing import Any

from booking.adapters.shifted_clock import ShiftedClock
from booking.bootstrap import LocalRuntime
from tests.support import (
    ApiDriver,
    WebhookTap,
    assert_problem,
    availability,
    counts,
    gateway_payment,
    get_order,
    hold,
    order,
    payments_of,
    post_payment,
    query,
    seat_states,
    send_webhook,
    tickets_of,
    wait_for,
    webhook_event,
)


def _tap(runtime: LocalRuntime) -> WebhookTap:
    """From now on the gateway's webhooks reach the test, not the app."""
    tap = WebhookTap()
    runtime.gateway.attach(tap)
    return tap


def _secret(runtime: LocalRuntime) -> bytes:
    return runtime.settings.resolved_webhook_secret()


def _gateway_payments_for(runtime: LocalRuntime, order_id: str) -> list[dict[str, Any]]:
    docs = [
        json.loads(doc) for (doc,) in query(runtime.gateway_db.path, "SELECT doc FROM gw_payments")
    ]
    return [d for d in docs if d["reference"] == order_id]


def _our_gateway_ids(runtime: LocalRuntime, order_id: str) -> set[str]:
    rows = query(
        runtime.db.path, "SELECT gateway_payment_id FROM payments WHERE order_id=?", (order_id,)
    )
    return {gid for (gid,) in rows}


def _pending_order(
    api: ApiDriver, **performance: Any
) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """A fan, its performance and its unpaid order for seat S1-A-1 and one FLOOR place."""
    _, perf = api.on_sale(**performance)
    fan = api.account()
    placed = order(
        api.client,
        fan,
        hold(api.client, fan, perf["id"], ["S1-A-1"], [{"zone": "FLOOR", "quantity": 1}])["id"],
    )
    return fan, perf, placed


# -- the happy path and declines ----------------------------------------------------------
def test_tok_visa_pays_the_order_and_issues_tickets(api: ApiDriver) -> None:
    """GIVEN an unpaid order WHEN paid with tok_visa THEN 202 processing, then paid, one valid
    ticket per place with a verifiable code, the seats sold and the payment captured."""
    c = api.client
    fan, perf, placed = _pending_order(api)
    r = post_payment(c, fan, placed["id"], "tok_visa")
    assert r.status_code == 202, r.text
    payment = r.json()
    assert payment["status"] == "processing"
    assert payment["order_id"] == placed["id"]
    assert payment["amount_krw"] == placed["total_krw"] == 198_000 + 154_000

    tickets = wait_for(lambda: tickets_of(c, fan, placed["id"]))
    assert sorted(t["unit_id"] for t in tickets) == ["FLOOR#00001", "S1-A-1"]
    assert {t["status"] for t in tickets} == {"valid"}
    paid = get_order(c, fan, placed["id"])
    assert paid["status"] == "paid"
    assert paid["paid_at"] is not None
    for ticket in tickets:
        r = c.post("/api/v1/tickets/verify", json={"code": ticket["code"]})
        assert r.status_code == 200, r.text
        assert r.json()["unit_id"] == ticket["unit_id"]
    counted = availability(c, perf["id"])
    assert (counted["sold"], counted["held"]) == (2, 0)
    assert seat_states(c, perf["id"])["S1-A-1"] == "sold"
    wait_for(lambda: payments_of(c, fan, placed["id"])[0]["status"] == "captured")
    assert len(payments_of(c, fan, placed["id"])) == 1
    # A paid order takes no further payment.
    assert_problem(post_payment(c, fan, placed["id"]), 409, "order-not-payable")
    assert len(payments_of(c, fan, placed["id"])) == 1


def test_declined_card_keeps_order_payable_with_another_card(api: ApiDriver) -> None:
    """GIVEN an unpaid order WHEN tok_declined is used THEN the payment is declined and the
    order still pending; WHEN paid again with tok_visa under a new key THEN paid."""
    c = api.client
    fan, perf, placed = _pending_order(api)
    r = post_payment(c, fan, placed["id"], "tok_declined")
    assert r.status_code == 202, r.text
    declined_id = r.json()["id"]

    declined = wait_for(
        lambda: [p for p in payments_of(c, fan, placed["id"]) if p["status"] == "declined"]
    )
    assert declined[0]["id"] == declined_id
    assert declined[0]["decline_reason"] == "card_declined"
    assert get_order(c, fan, placed["id"])["status"] == "pending_payment"
    assert tickets_of(c, fan, placed["id"]) == []
    counted = availability(c, perf["id"])
    assert (counted["held"], counted["sold"]) == (2, 0)

    r = post_payment(c, fan, placed["id"], "tok_visa")
    assert r.status_code == 202, r.text
    assert r.json()["id"] != declined_id
    assert len(wait_for(lambda: tickets_of(c, fan, placed["id"]))) == 2
    assert get_order(c, fan, placed["id"])["status"] == "paid"
    statuses = {p["id"]: p["status"] for p in payments_of(c, fan, placed["id"])}
    assert statuses[declined_id] == "declined"
    assert availability(c, perf["id"])["sold"] == 2


def test_unknown_payment_method_is_422_and_charges_nothing(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN an unpaid order WHEN paid with an unknown token THEN 422, no payment anywhere."""
    c = api.client
    fan, perf, placed = _pending_order(api)
    before = counts(c, perf["id"])
    assert_problem(post_payment(c, fan, placed["id"], "tok_monopoly_money"), 422, "invalid-request")
    assert payments_of(c, fan, placed["id"]) == []
    assert _gateway_payments_for(runtime, placed["id"]) == []
    assert get_order(c, fan, placed["id"])["status"] == "pending_payment"
    assert counts(c, perf["id"]) == before


# -- a second payment while the first is processing ----------------------------------------
def test_payment_retry_with_same_key_is_a_replay(api: ApiDriver, runtime: LocalRuntime) -> None:
    """GIVEN a payment still processing WHEN the same request is retried with its key THEN
    the identical 202 body, one payment here and one at the gateway."""
    c = api.client
    _tap(runtime)  # webhooks held back: the payment stays processing
    fan, _, placed = _pending_order(api)
    first = post_payment(c, fan, placed["id"], "tok_visa", key="pay-once")
    assert first.status_code == 202, first.text
    second = post_payment(c, fan, placed["id"], "tok_visa", key="pay-once")
    assert second.status_code == 202, second.text
    assert second.json() == first.json()
    assert len(payments_of(c, fan, placed["id"])) == 1
    assert len(_gateway_payments_for(runtime, placed["id"])) == 1
    assert_problem(
        post_payment(c, fan, placed["id"], "tok_mastercard", key="pay-once"),
        422,
        "idempotency-key-reused",
    )
    assert len(payments_of(c, fan, placed["id"])) == 1


def test_second_payment_while_one_is_processing_is_409_and_leaves_no_charge(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a payment still processing WHEN another is started under a new key THEN 409
    payment-in-progress, and no authorization is left at the gateway that we do not track
    (it must not be made, or must be voided)."""
    c = api.client
    _tap(runtime)  # webhooks held back: the payment stays processing
    fan, _, placed = _pending_order(api)
    assert post_payment(c, fan, placed["id"], "tok_visa").status_code == 202

    assert_problem(post_payment(c, fan, placed["id"], "tok_visa"), 409, "payment-in-progress")
    assert len(payments_of(c, fan, placed["id"])) == 1
    assert get_order(c, fan, placed["id"])["status"] == "pending_payment"

    ours = _our_gateway_ids(runtime, placed["id"])

    def no_untracked_authorization() -> bool:
        return all(
            p["id"] in ours or p["status"] not in ("authorized", "captured")
            for p in _gateway_payments_for(runtime, placed["id"])
        )

    try:
        wait_for(no_untracked_authorization, timeout=2.0)
    except AssertionError:
        untracked = [p for p in _gateway_payments_for(runtime, placed["id"]) if p["id"] not in ours]
        raise AssertionError(f"gateway authorizations nobody will void: {untracked}") from None


# -- webhooks that misbehave --------------------------------------------------------------
def test_duplicated_authorized_webhook_has_one_effect(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a payment's `payment.authorized` WHEN it is delivered twice (and again later) THEN
    the order is paid once: one set of tickets, sold count unchanged."""
    c = api.client
    tap = _tap(runtime)
    fan, perf, placed = _pending_order(api)
    assert post_payment(c, fan, placed["id"], "tok_visa").status_code == 202
    authorized = tap.wait_event("payment.authorized", placed["id"])
    body = json.dumps(authorized).encode()

    assert send_webhook(c, _secret(runtime), body).status_code == 204
    assert send_webhook(c, _secret(runtime), body).status_code == 204
    tickets = wait_for(lambda: tickets_of(c, fan, placed["id"]))
    assert len(tickets) == 2
    assert availability(c, perf["id"])["sold"] == 2

    assert send_webhook(c, _secret(runtime), body).status_code == 204
    time.sleep(0.3)  # give the outbox relay the chance to do anything twice
    assert tickets_of(c, fan, placed["id"]) == tickets
    assert len(c.get("/api/v1/tickets", headers=fan).json()) == 2
    counted = availability(c, perf["id"])
    assert (counted["sold"], counted["held"]) == (2, 0)
    assert get_order(c, fan, placed["id"])["status"] == "paid"
    outbox_paid = query(runtime.db.path, "SELECT COUNT(*) FROM outbox WHERE topic='OrderPaid'")
    assert outbox_paid[0][0] == 1


def test_captured_before_authorized_confirms_once(api: ApiDriver, runtime: LocalRuntime) -> None:
    """GIVEN `payment.captured` arriving before `payment.authorized` WHEN both are delivered
    THEN the order is paid once and the payment stays captured (never moves back)."""
    c = api.client
    tap = _tap(runtime)
    fan, perf, placed = _pending_order(api)
    assert post_payment(c, fan, placed["id"], "tok_visa").status_code == 202
    authorized = tap.wait_event("payment.authorized", placed["id"])
    gateway_id = authorized["data"]["payment_id"]
    captured = webhook_event("payment.captured", gateway_id, placed["id"], placed["total_krw"])

    assert send_webhook(c, _secret(runtime), captured).status_code == 204
    tickets = wait_for(lambda: tickets_of(c, fan, placed["id"]))
    assert get_order(c, fan, placed["id"])["status"] == "paid"
    assert payments_of(c, fan, placed["id"])[0]["status"] == "captured"

    late = json.dumps(authorized).encode()
    assert send_webhook(c, _secret(runtime), late).status_code == 204
    time.sleep(0.3)
    assert tickets_of(c, fan, placed["id"]) == tickets
    assert len(tickets) == 2
    assert payments_of(c, fan, placed["id"])[0]["status"] == "captured"
    assert availability(c, perf["id"])["sold"] == 2
    assert query(runtime.db.path, "SELECT COUNT(*) FROM outbox WHERE topic='OrderPaid'")[0][0] == 1


def test_authorized_after_the_deadline_leaves_order_expired_and_voids(
    api: ApiDriver, runtime: LocalRuntime, clock: ShiftedClock
) -> None:
    """GIVEN a 1 s payment window WHEN `payment.authorized` arrives after it THEN the order
    stays expired, its seats are available, no tickets, and the gateway voids the money."""
    c = api.client
    tap = _tap(runtime)
    fan, perf, placed = _pending_order(api, payment_window_seconds=1)
    assert post_payment(c, fan, placed["id"], "tok_visa").status_code == 202
    authorized = tap.wait_event("payment.authorized", placed["id"])
    gateway_id = authorized["data"]["payment_id"]
    clock.advance(1.3)

    r = send_webhook(c, _secret(runtime), json.dumps(authorized).encode())
    assert 200 <= r.status_code < 300, r.text

    assert get_order(c, fan, placed["id"])["status"] == "expired"
    assert tickets_of(c, fan, placed["id"]) == []
    counted = availability(c, perf["id"])
    assert (counted["held"], counted["sold"]) == (0, 0)
    assert seat_states(c, perf["id"])["S1-A-1"] == "available"
    wait_for(lambda: gateway_payment(runtime, gateway_id)["status"] == "voided", timeout=5)
    other = api.account()
    assert hold(c, other, perf["id"], ["S1-A-1"])["quantity"] == 1


def test_cancel_while_payment_is_processing_gives_the_money_back(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a payment still processing WHEN the fan cancels the order and the gateway's
    `payment.authorized` arrives afterwards THEN the order stays cancelled, no tickets, the
    seats are free and the gateway voids the authorization."""
    c = api.client
    tap = _tap(runtime)
    fan, perf, placed = _pending_order(api)
    assert post_payment(c, fan, placed["id"], "tok_visa").status_code == 202
    authorized = tap.wait_event("payment.authorized", placed["id"])
    gateway_id = authorized["data"]["payment_id"]

    r = c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    r = send_webhook(c, _secret(runtime), json.dumps(authorized).encode())
    assert 200 <= r.status_code < 300, r.text

    assert get_order(c, fan, placed["id"])["status"] == "cancelled"
    assert tickets_of(c, fan, placed["id"]) == []
    counted = availability(c, perf["id"])
    assert (counted["held"], counted["sold"]) == (0, 0)
    wait_for(lambda: gateway_payment(runtime, gateway_id)["status"] == "voided", timeout=5)
    time.sleep(0.2)
    assert get_order(c, fan, placed["id"])["status"] == "cancelled"
    assert tickets_of(c, fan, placed["id"]) == []
