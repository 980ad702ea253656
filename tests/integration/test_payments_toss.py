"""Toss Payments through its adapter, over real HTTP against a stand-in that follows the
published protocol (tests/toss_standin.py): confirm, cancel, idempotency, errors and
webhooks; then a fan paying with the widget's paymentKey on a served app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from booking.adapters.payments.toss import TossPaymentsGateway, verify_webhook_signature
from booking.adapters.system_clock import SystemClock
from booking.domain.errors import (
    Conflict,
    InvalidRequest,
    InvalidSignature,
    NotFound,
    PaymentGatewayUnavailable,
)
from booking.domain.payments import PaymentStatus, WebhookEventType
from booking.settings import ConfigError, Settings
from tests.live_server import LiveServer, start_local
from tests.support import ApiDriver, get_order, hold, order, payments_of, tickets_of, wait_for
from tests.toss_standin import TossStandIn, toss_standin

SECRET_KEY = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
SECURITY_KEY = b"toss-security-key-for-tests"
T = TypeVar("T")


@pytest.fixture
def standin() -> Iterator[TossStandIn]:
    with toss_standin(SECRET_KEY, SECURITY_KEY) as running:
        yield running


def on_gateway(
    standin: TossStandIn, use: Callable[[TossPaymentsGateway], Awaitable[T]], key: str = SECRET_KEY
) -> T:
    async def run() -> T:
        gateway = TossPaymentsGateway(
            key, SystemClock(), api_url=standin.url, security_key=SECURITY_KEY
        )
        try:
            return await use(gateway)
        finally:
            await gateway.aclose()

    return asyncio.run(run())


def test_confirm_takes_the_money_once_per_idempotency_key(standin: TossStandIn) -> None:
    """GIVEN a widget payment WHEN confirmed twice with one Idempotency-Key THEN it is
    captured, Toss confirmed it once and answered the second from its record; confirmed
    under another key THEN a typed 422 (already processed), never a second payment."""
    key = standin.widget_payment("ord_toss1", 154_000)

    async def use(gateway: TossPaymentsGateway) -> None:
        first = await gateway.create_payment("ord_toss1", 154_000, key, "pay_abc")
        again = await gateway.create_payment("ord_toss1", 154_000, key, "pay_abc")
        assert first == again
        assert (first.id, first.reference, first.amount_krw) == (key, "ord_toss1", 154_000)
        assert first.status is PaymentStatus.CAPTURED
        assert standin.confirms == 1
        with pytest.raises(InvalidRequest, match="ALREADY_PROCESSED_PAYMENT"):
            await gateway.create_payment("ord_toss1", 154_000, key, "pay_other")
        # Confirm already took it: capture reads that back and changes nothing.
        assert (await gateway.capture(key)).status is PaymentStatus.CAPTURED

    on_gateway(standin, use)
    assert standin.idempotency_keys[:2] == ["pay_abc", "pay_abc"]


def test_another_amount_or_order_is_refused_and_nothing_is_charged(standin: TossStandIn) -> None:
    """GIVEN a widget payment of 154,000 for one order WHEN confirmed for another amount or
    another order THEN a typed 422 and the payment stays unconfirmed; an unknown paymentKey
    (the widget's session lapsed) is a 422 too."""
    key = standin.widget_payment("ord_toss2", 154_000)

    async def use(gateway: TossPaymentsGateway) -> None:
        with pytest.raises(InvalidRequest, match="INVALID_REQUEST"):
            await gateway.create_payment("ord_toss2", 1_000, key, "pay_1")
        with pytest.raises(InvalidRequest, match="INVALID_REQUEST"):
            await gateway.create_payment("ord_other", 154_000, key, "pay_2")
        with pytest.raises(InvalidRequest, match="NOT_FOUND_PAYMENT_SESSION"):
            await gateway.create_payment("ord_toss2", 154_000, "tvivaNoSuchKey", "pay_3")
        with pytest.raises(InvalidRequest, match="paymentKey"):
            await gateway.create_payment("ord_toss2", 154_000, "../../v1/admin", "pay_4")

    on_gateway(standin, use)
    assert key not in standin.payments


def test_a_refused_card_is_declined_and_a_wrong_secret_key_is_unavailable(
    standin: TossStandIn,
) -> None:
    """GIVEN a card the issuer refuses WHEN confirmed THEN declined with Toss's code; GIVEN
    the wrong secret key THEN Toss's 401 is our 503 (our configuration, not the fan's)."""
    rejected = standin.widget_payment("ord_toss3", 99_000, card="reject")
    fine = standin.widget_payment("ord_toss4", 99_000)

    async def declined(gateway: TossPaymentsGateway) -> None:
        payment = await gateway.create_payment("ord_toss3", 99_000, rejected, "pay_r")
        assert payment.status is PaymentStatus.DECLINED
        assert payment.decline_reason == "REJECT_CARD_PAYMENT"
        assert (await gateway.get(rejected)).status is PaymentStatus.DECLINED  # ABORTED

    async def wrong_key(gateway: TossPaymentsGateway) -> None:
        with pytest.raises(PaymentGatewayUnavailable, match="UNAUTHORIZED_KEY"):
            await gateway.create_payment("ord_toss4", 99_000, fine, "pay_f")

    on_gateway(standin, declined)
    on_gateway(standin, wrong_key, key="test_sk_not_ours")
    assert fine not in standin.payments


def test_cancels_whole_and_partial_are_idempotent(standin: TossStandIn) -> None:
    """GIVEN a confirmed payment WHEN part is cancelled twice under one key THEN once (the
    balance drops once, the payment stays captured); more than the balance is refused
    (409); a full refund ends refunded, repeating it is safe; an unknown key is 404."""
    key = standin.widget_payment("ord_toss5", 200_000)

    async def use(gateway: TossPaymentsGateway) -> None:
        await gateway.create_payment("ord_toss5", 200_000, key, "pay_c")
        for _ in range(2):
            part = await gateway.cancel(key, "one seat returned", 50_000, "seat-1")
            assert part.status is PaymentStatus.CAPTURED
        assert standin.payments[key]["balanceAmount"] == 150_000
        assert standin.payments[key]["status"] == "PARTIAL_CANCELED"
        with pytest.raises(Conflict, match="NOT_CANCELABLE_AMOUNT"):
            await gateway.cancel(key, "too much", 500_000, "seat-2")
        assert (await gateway.refund(key)).status is PaymentStatus.REFUNDED
        assert (await gateway.void(key)).status is PaymentStatus.REFUNDED
        with pytest.raises(NotFound):
            await gateway.refund("tvivaNoSuchKey")

    on_gateway(standin, use)
    assert standin.payments[key]["balanceAmount"] == 0
    assert len(standin.payments[key]["cancels"]) == 2


def test_webhook_signature_as_published() -> None:
    """`v1:` values are base64 HMAC-SHA256 of `{body}:{transmission time}` with the security
    key; any one of them matching is enough; anything else is refused."""
    body = b'{"eventType":"payout.changed"}'
    sent_at = "2024-09-05T12:19:21+09:00"
    mac = hmac.new(SECURITY_KEY, body + b":" + sent_at.encode(), hashlib.sha256).digest()
    good = base64.b64encode(mac).decode()
    verify_webhook_signature(SECURITY_KEY, f"v1:{good}", sent_at, body)
    verify_webhook_signature(SECURITY_KEY, f"v1:AAAA,v1:{good}", sent_at, body)
    for header, at, signed in [
        (f"v1:{good}", "2024-09-05T12:19:22+09:00", body),  # another transmission time
        (f"v1:{good}", sent_at, body + b" "),  # another body
        (f"v2:{good}", sent_at, body),  # an unknown version
        ("v1:not base64!", sent_at, body),
        ("v1:한글", sent_at, body),
    ]:
        with pytest.raises(InvalidSignature):
            verify_webhook_signature(SECURITY_KEY, header, at, signed)
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(None, f"v1:{good}", sent_at, body)


def test_payment_webhooks_are_believed_only_as_the_api_tells_them(standin: TossStandIn) -> None:
    """GIVEN a refunded payment WHEN a PAYMENT_STATUS_CHANGED body claims it is DONE THEN the
    event is what Toss's API says (refunded); a paymentKey Toss does not know is refused;
    events about no payment are nothing to apply."""
    key = standin.widget_payment("ord_toss6", 10_000)

    async def use(gateway: TossPaymentsGateway) -> None:
        await gateway.create_payment("ord_toss6", 10_000, key, "pay_w")
        await gateway.refund(key)
        forged = json.dumps(
            {"eventType": "PAYMENT_STATUS_CHANGED", "data": {"paymentKey": key, "status": "DONE"}}
        ).encode()
        event = await gateway.read_webhook({}, forged)
        assert event is not None
        assert event.type is WebhookEventType.REFUNDED
        assert (event.data.payment_id, event.data.reference) == (key, "ord_toss6")
        unknown = forged.replace(key.encode(), b"tvivaNoSuchKey")
        with pytest.raises(InvalidSignature):
            await gateway.read_webhook({}, unknown)
        other = b'{"eventType":"METHOD_UPDATED","createdAt":"2024-01-01T00:00:00","data":{}}'
        assert await gateway.read_webhook({}, other) is None
        with pytest.raises(InvalidRequest):
            await gateway.read_webhook({}, b"[1,2")

    on_gateway(standin, use)


def test_toss_needs_its_secret_key() -> None:
    with pytest.raises(ConfigError, match="TOSS_SECRET_KEY"):
        Settings.from_env({"CONCERTBOOK_PAYMENT_PROVIDER": "toss"})
    with pytest.raises(ConfigError, match="simulated or toss"):
        Settings.from_env({"CONCERTBOOK_PAYMENT_PROVIDER": "paypal"})


# -- served: a fan pays with the widget's paymentKey ------------------------------------------


@pytest.fixture
def toss_server(standin: TossStandIn, tmp_path: Path) -> Iterator[LiveServer]:
    live = start_local(
        tmp_path / "data",
        {
            "payment_provider": "toss",
            "toss_api_url": standin.url,
            "toss_secret_key": SECRET_KEY,
            "toss_security_key": SECURITY_KEY.decode(),
            "sweep_interval_seconds": 0.2,
        },
    )
    standin.webhook_url = live.base_url + "/api/v1/payments/provider-webhook"
    try:
        yield live
    finally:
        live.stop()


def _pending(api: ApiDriver) -> tuple[dict[str, str], dict[str, Any]]:
    _, performance = api.on_sale()
    fan = api.account()
    held = hold(api.client, fan, performance["id"], ["S1-A-1"], [{"zone": "FLOOR", "quantity": 1}])
    return fan, order(api.client, fan, held["id"])


def _pay(client: httpx.Client, fan: dict[str, str], order_id: str, key: str) -> httpx.Response:
    return client.post(
        f"/api/v1/orders/{order_id}/payments",
        headers={**fan, "Idempotency-Key": f"widget-{key}"},
        json={"method": key},
    )


def test_a_fan_pays_with_the_widget_and_a_refund_comes_back_by_webhook(
    standin: TossStandIn, toss_server: LiveServer
) -> None:
    """GIVEN `CONCERTBOOK_PAYMENT_PROVIDER=toss` WHEN the widget's paymentKey for the order's
    id and total is sent as the payment method THEN once answered the payment is captured,
    the order paid and ticketed; Toss's webhook is answered 200 and changes nothing; a signed payout
    event is answered 200, a badly signed one 401; WHEN the fan cancels the paid order THEN
    Toss cancels the whole payment and its webhook makes our payment refunded."""
    with httpx.Client(base_url=toss_server.base_url, timeout=30) as client:
        api = ApiDriver(client)
        fan, placed = _pending(api)
        key = standin.widget_payment(placed["id"], placed["total_krw"])
        r = _pay(client, fan, placed["id"], key)
        assert r.status_code == 202, r.text
        assert _pay(client, fan, placed["id"], key).json() == r.json()  # a replay
        assert standin.confirms == 1
        # Confirm answered at once: paid before the answer, no webhook waited for.
        assert payments_of(client, fan, placed["id"])[0]["status"] == "captured"
        assert get_order(client, fan, placed["id"])["status"] == "paid"
        assert len(wait_for(lambda: tickets_of(client, fan, placed["id"]))) == 2
        wait_for(lambda: standin.webhook_answers == [200])

        assert standin.post_signed_event("payout.changed") == 200
        forged = TossStandIn(SECRET_KEY, b"someone else's key")
        forged.webhook_url = standin.webhook_url
        assert forged.post_signed_event("payout.changed") == 401

        r = client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan)
        assert r.status_code == 200, r.text
        wait_for(lambda: standin.payments[key]["status"] == "CANCELED")
        wait_for(lambda: payments_of(client, fan, placed["id"])[0]["status"] == "refunded")
        assert standin.webhook_answers == [200, 200]


def test_a_tampered_amount_or_a_refused_card_leaves_the_order_payable(
    standin: TossStandIn, toss_server: LiveServer
) -> None:
    """GIVEN a widget payment made for less than the order's total WHEN sent THEN 422 and
    nothing recorded; GIVEN a card the issuer refuses THEN the payment is declined and the
    order still payable; a new widget payment then pays it."""
    with httpx.Client(base_url=toss_server.base_url, timeout=30) as client:
        api = ApiDriver(client)
        fan, placed = _pending(api)
        cheap = standin.widget_payment(placed["id"], 100)
        r = _pay(client, fan, placed["id"], cheap)
        assert r.status_code == 422, r.text
        assert r.json()["type"] == "/problems/invalid-request"
        assert payments_of(client, fan, placed["id"]) == []

        refused = standin.widget_payment(placed["id"], placed["total_krw"], card="reject")
        r = _pay(client, fan, placed["id"], refused)
        assert r.status_code == 202, r.text
        (declined,) = payments_of(client, fan, placed["id"])
        assert (declined["status"], declined["decline_reason"]) == (
            "declined",
            "REJECT_CARD_PAYMENT",
        )
        assert get_order(client, fan, placed["id"])["status"] == "pending_payment"

        good = standin.widget_payment(placed["id"], placed["total_krw"])
        assert _pay(client, fan, placed["id"], good).status_code == 202
        assert get_order(client, fan, placed["id"])["status"] == "paid"
