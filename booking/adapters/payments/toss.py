"""Toss Payments (토스페이먼츠) behind the `PaymentGateway` port: Korean card payments
through the payment widget, confirmed, cancelled and refunded over its REST API.

The protocol, as published (the pages this follows):
- authentication: HTTP Basic with the secret key as user and no password, i.e.
  `Authorization: Basic base64("<secret key>:")`
  https://docs.tosspayments.com/reference/using-api/authorization
- confirm: `POST /v1/payments/confirm` `{paymentKey, orderId, amount}`; the widget bound
  orderId and amount to the paymentKey when the fan paid, so another amount is refused
  https://docs.tosspayments.com/reference#결제-승인
- cancel: `POST /v1/payments/{paymentKey}/cancel` `{cancelReason, cancelAmount?}` (no
  amount: the whole balance) https://docs.tosspayments.com/reference#결제-취소
- `Idempotency-Key` header (at most 300 characters, kept 15 days): the same key gives the
  first answer again https://docs.tosspayments.com/reference/using-api/idempotency-key
- errors: an HTTP status and `{"code", "message"}`
  https://docs.tosspayments.com/reference/error-codes
- webhooks: `{eventType, createdAt, data}` posted until answered 200 OK, retried up to 7
  times over 3 days 19 hours https://docs.tosspayments.com/guides/webhook. Only
  `payout.changed` and `seller.changed` are signed (`tosspayments-webhook-signature:
  v1:<base64>,v1:<base64>`, HMAC-SHA256 of `{body}:{tosspayments-webhook-transmission-time}`
  with the security key, either value may match)
  https://docs.tosspayments.com/reference/using-api/webhook-events. A
  `PAYMENT_STATUS_CHANGED` event carries no signature, so its body is never believed: the
  payment is read back from the API with our secret key, and that answer is the event.

States, mapped honestly onto ours. A widget payment has no separate authorization:
confirm takes the money (`DONE`), so our payment goes from processing straight to
captured, and `capture` only reads back what confirm did. `void` and `refund` are both
Toss's cancel of the whole balance (the card company reverses an approval not yet
purchased, else refunds it); either way the fan's money went and came back, so both end
`refunded`, never `voided`.

| Toss | ours |
|---|---|
| READY, IN_PROGRESS, WAITING_FOR_DEPOSIT | processing |
| DONE, PARTIAL_CANCELED (some money still taken) | captured |
| CANCELED | refunded |
| ABORTED, EXPIRED, a confirm refused for the card | declined |
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from booking.domain.errors import (
    Conflict,
    InvalidRequest,
    InvalidSignature,
    NotFound,
    PaymentGatewayUnavailable,
)
from booking.domain.payments import (
    GatewayPayment,
    PaymentStatus,
    WebhookEvent,
    WebhookEventType,
    WebhookPayload,
)
from booking.domain.ports import Clock

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.tosspayments.com"

STATUS = {
    "READY": PaymentStatus.PROCESSING,
    "IN_PROGRESS": PaymentStatus.PROCESSING,
    "WAITING_FOR_DEPOSIT": PaymentStatus.PROCESSING,
    "DONE": PaymentStatus.CAPTURED,
    "PARTIAL_CANCELED": PaymentStatus.CAPTURED,
    "CANCELED": PaymentStatus.REFUNDED,
    "ABORTED": PaymentStatus.DECLINED,
    "EXPIRED": PaymentStatus.DECLINED,
}
EVENT_OF = {
    PaymentStatus.CAPTURED: WebhookEventType.CAPTURED,
    PaymentStatus.REFUNDED: WebhookEventType.REFUNDED,
    PaymentStatus.DECLINED: WebhookEventType.DECLINED,
}

# What a confirm refusal says about the request rather than the card: the fan (or a
# tampered widget) must start again; nothing is declined.
REQUEST_ERRORS = frozenset(
    {
        "INVALID_REQUEST",  # includes an orderId or amount other than the widget's
        "NOT_FOUND_PAYMENT",
        "NOT_FOUND_PAYMENT_SESSION",  # the widget's session lapsed before confirm
        "ALREADY_PROCESSED_PAYMENT",  # confirmed before, under another Idempotency-Key
        "DUPLICATED_ORDER_ID",
        "BELOW_MINIMUM_AMOUNT",
    }
)
# Our side or theirs, not the fan's: retry later with the same Idempotency-Key.
UNAVAILABLE_ERRORS = frozenset(
    {
        "UNAUTHORIZED_KEY",
        "INVALID_API_KEY",
        "FORBIDDEN_REQUEST",
        "PROVIDER_ERROR",
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        "UNKNOWN_PAYMENT_ERROR",
    }
)
# A paymentKey goes into URL paths: Toss's are letters and digits (at most 200 characters).
PAYMENT_KEY = re.compile(r"[A-Za-z0-9_-]{1,200}")


class TossError(msgspec.Struct):
    code: str
    message: str


class TossPayment(msgspec.Struct, rename="camel"):
    """The fields of Toss's Payment object that we read (the rest is ignored)."""

    payment_key: str
    order_id: str
    status: str
    total_amount: int
    balance_amount: int | None = None
    last_transaction_key: str | None = None
    failure: TossError | None = None

    def as_gateway_payment(self) -> GatewayPayment:
        status = STATUS.get(self.status)
        if status is None:
            raise PaymentGatewayUnavailable(f"Toss answered an unknown status {self.status!r}")
        return GatewayPayment(
            id=self.payment_key,
            reference=self.order_id,
            amount_krw=self.total_amount,
            status=status,
            decline_reason=self.failure.code if self.failure else None,
        )


class TossEvent(msgspec.Struct, rename="camel"):
    event_type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


_decode_payment = msgspec.json.Decoder(TossPayment).decode
_decode_error = msgspec.json.Decoder(TossError).decode
_decode_event = msgspec.json.Decoder(TossEvent).decode


def basic_auth(secret_key: str) -> str:
    """`Basic base64("<secret key>:")`: the key is the user, the colon says "no password"."""
    return "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()


def webhook_signature(security_key: bytes, body: bytes, transmission_time: str) -> bytes:
    """HMAC-SHA256 of `{body}:{transmission time}` with the security key (raw bytes)."""
    return hmac.new(security_key, body + b":" + transmission_time.encode(), hashlib.sha256).digest()


def verify_webhook_signature(
    security_key: bytes | None, header: str | None, transmission_time: str | None, body: bytes
) -> None:
    """`tosspayments-webhook-signature: v1:<base64>,v1:<base64>`: one value must be the HMAC
    (two during a key rotation)."""
    if not security_key:
        raise InvalidSignature("a signed Toss webhook arrived, but no security key is set")
    if not header or not transmission_time:
        raise InvalidSignature("the tosspayments-webhook-signature headers are missing")
    if not (header.isascii() and transmission_time.isascii()):
        raise InvalidSignature("the tosspayments-webhook-signature headers are malformed")
    expected = webhook_signature(security_key, body, transmission_time)
    for part in header.split(","):
        version, _, value = part.strip().partition(":")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, given):
            return
    raise InvalidSignature("the Toss webhook signature does not match its body")


class TossPaymentsGateway:
    def __init__(
        self,
        secret_key: str,
        clock: Clock,
        api_url: str = DEFAULT_API_URL,
        security_key: bytes | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._secret_key = secret_key
        self._security_key = security_key
        self._clock = clock
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Made on first use, inside the event loop that uses it (a Lambda keeps it warm).
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._api_url,
                headers={"Authorization": basic_auth(self._secret_key)},
                timeout=self._timeout,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- what the simulator also offers its entry points: Toss delivers its own webhooks

    def attach(self, send: object) -> None:
        """Nothing to attach: Toss posts its webhooks to the URL registered with it."""

    async def run_deliveries(self, poll_seconds: float | None = None) -> None:
        return None

    async def deliver_due(self, limit: int = 50) -> bool:
        return False

    # -- the PaymentGateway port

    async def create_payment(
        self, reference: str, amount_krw: int, method: str, idempotency_key: str
    ) -> GatewayPayment:
        """Confirm the widget's payment: `method` is its paymentKey, `reference` our order id
        (the widget's orderId), `idempotency_key` follows from the fan's own key."""
        if not PAYMENT_KEY.fullmatch(method):
            raise InvalidRequest("method must be the payment widget's paymentKey")
        response = await self._call(
            "POST",
            "/v1/payments/confirm",
            {"paymentKey": method, "orderId": reference, "amount": amount_krw},
            idempotency_key,
        )
        if response.status_code == 200:
            return _decode_payment(response.content).as_gateway_payment()
        error = _error_of(response)
        if error.code in REQUEST_ERRORS:
            raise InvalidRequest(f"the payment provider refused: {error.code}: {error.message}")
        if response.status_code >= 500 or error.code in UNAVAILABLE_ERRORS:
            raise _unavailable(response, error)
        # Any other refusal is about the card (limit, balance, stolen, expired...).
        log.info("Toss declined a payment", extra={"order_id": reference, "code": error.code})
        return GatewayPayment(
            id=method,
            reference=reference,
            amount_krw=amount_krw,
            status=PaymentStatus.DECLINED,
            decline_reason=error.code,
        )

    async def capture(self, gateway_payment_id: str) -> GatewayPayment:
        """Confirm took the money already: read back that it is still taken."""
        payment = await self.get(gateway_payment_id)
        if payment.status is not PaymentStatus.CAPTURED:
            raise Conflict(f"cannot capture a {payment.status} Toss payment")
        return payment

    async def void(self, gateway_payment_id: str) -> GatewayPayment:
        return await self.cancel(gateway_payment_id, "order not fulfilled", None, "void")

    async def refund(self, gateway_payment_id: str) -> GatewayPayment:
        return await self.cancel(gateway_payment_id, "order refunded", None, "refund")

    async def cancel(
        self, gateway_payment_id: str, reason: str, amount_krw: int | None, idempotency_key: str
    ) -> GatewayPayment:
        """Cancel the whole balance (`amount_krw` None) or a part of it; the same
        `idempotency_key` for the same payment gives the first answer again."""
        if not PAYMENT_KEY.fullmatch(gateway_payment_id):
            raise NotFound("gateway payment", gateway_payment_id)
        body: dict[str, Any] = {"cancelReason": reason}
        if amount_krw is not None:
            body["cancelAmount"] = amount_krw
        response = await self._call(
            "POST",
            f"/v1/payments/{gateway_payment_id}/cancel",
            body,
            f"{gateway_payment_id}:{idempotency_key}",
        )
        if response.status_code == 200:
            return _decode_payment(response.content).as_gateway_payment()
        error = _error_of(response)
        if error.code == "ALREADY_CANCELED_PAYMENT" and amount_krw is None:
            return await self.get(gateway_payment_id)  # repeating a full cancel is safe
        if error.code == "NOT_FOUND_PAYMENT":
            raise NotFound("gateway payment", gateway_payment_id)
        if response.status_code >= 500 or error.code in UNAVAILABLE_ERRORS:
            raise _unavailable(response, error)
        raise Conflict(f"Toss refused the cancel: {error.code}: {error.message}")

    async def get(self, gateway_payment_id: str) -> GatewayPayment:
        return (await self._payment(gateway_payment_id)).as_gateway_payment()

    async def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        """A Toss webhook as our event, or None when it is not about a payment's state."""
        signature = headers.get("tosspayments-webhook-signature")
        if signature is not None:
            # Signed events (payout.changed, seller.changed) are checked as documented;
            # none of them changes a payment, so there is nothing more to do.
            verify_webhook_signature(
                self._security_key,
                signature,
                headers.get("tosspayments-webhook-transmission-time"),
                body,
            )
            return None
        try:
            event = _decode_event(body)
        except msgspec.DecodeError as exc:
            raise InvalidRequest(f"not a Toss webhook: {exc}") from exc
        if event.event_type != "PAYMENT_STATUS_CHANGED":
            return None
        payment_key = event.data.get("paymentKey")
        if not isinstance(payment_key, str) or not PAYMENT_KEY.fullmatch(payment_key):
            raise InvalidRequest("a PAYMENT_STATUS_CHANGED event without a paymentKey")
        try:
            # Unsigned: what Toss's API says about the payment is the event, not the body.
            payment = await self._payment(payment_key)
        except NotFound as exc:
            raise InvalidSignature("Toss knows no such payment: the event is not theirs") from exc
        ours = payment.as_gateway_payment()
        kind = EVENT_OF.get(ours.status)
        if kind is None:
            return None  # still in progress: nothing to apply
        return WebhookEvent(
            id=f"toss_{payment.payment_key}_{payment.last_transaction_key or payment.status}",
            type=kind,
            created=int(self._clock.now().timestamp()),
            data=WebhookPayload(
                payment_id=ours.id,
                reference=ours.reference,
                amount_krw=ours.amount_krw,
                decline_reason=ours.decline_reason,
            ),
        )

    async def _payment(self, payment_key: str) -> TossPayment:
        if not PAYMENT_KEY.fullmatch(payment_key):
            raise NotFound("gateway payment", payment_key)
        response = await self._call("GET", f"/v1/payments/{payment_key}")
        if response.status_code == 200:
            return _decode_payment(response.content)
        error = _error_of(response)
        if response.status_code == 404:
            raise NotFound("gateway payment", payment_key)
        raise _unavailable(response, error)

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        try:
            return await self._http().request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PaymentGatewayUnavailable(
                f"Toss did not answer {method} {path}: {type(exc).__name__}"
            ) from exc


def _error_of(response: httpx.Response) -> TossError:
    try:
        return _decode_error(response.content)
    except msgspec.DecodeError:
        return TossError("UNKNOWN", f"HTTP {response.status_code} without an error object")


def _unavailable(response: httpx.Response, error: TossError) -> PaymentGatewayUnavailable:
    log.error(
        "Toss refused our request",
        extra={"status": response.status_code, "code": error.code, "detail": error.message},
    )
    return PaymentGatewayUnavailable(f"the payment provider answered {error.code}")
