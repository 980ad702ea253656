"""Payments through an asynchronous gateway: authorize, then capture, confirmed by webhooks.

Webhooks may come twice, late or out of order, so a payment only ever moves
forward along `PAYMENT_RANK`; an event that would move it back is ignored.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from datetime import datetime

import msgspec

from booking.domain.errors import InvalidRequest, InvalidSignature

SIGNATURE_TOLERANCE_SECONDS = 300


class PaymentStatus(enum.StrEnum):
    PROCESSING = "processing"
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"


PAYMENT_RANK = {
    PaymentStatus.PROCESSING: 0,
    PaymentStatus.AUTHORIZED: 1,
    PaymentStatus.DECLINED: 1,
    PaymentStatus.CAPTURED: 2,
    PaymentStatus.VOIDED: 2,
    PaymentStatus.REFUNDED: 3,
}


def advances(current: PaymentStatus, new: PaymentStatus) -> bool:
    return PAYMENT_RANK[new] > PAYMENT_RANK[current]


class Payment(msgspec.Struct, frozen=True, gc=False):
    id: str
    order_id: str
    account_id: str
    gateway_payment_id: str
    amount_krw: int
    status: PaymentStatus
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime


class GatewayPayment(msgspec.Struct, frozen=True, gc=False):
    """The gateway's view of a payment, as returned by its API."""

    id: str
    reference: str
    amount_krw: int
    status: PaymentStatus
    decline_reason: str | None = None


class WebhookEventType(enum.StrEnum):
    AUTHORIZED = "payment.authorized"
    DECLINED = "payment.declined"
    CAPTURED = "payment.captured"
    VOIDED = "payment.voided"
    REFUNDED = "payment.refunded"


WEBHOOK_STATUS = {
    WebhookEventType.AUTHORIZED: PaymentStatus.AUTHORIZED,
    WebhookEventType.DECLINED: PaymentStatus.DECLINED,
    WebhookEventType.CAPTURED: PaymentStatus.CAPTURED,
    WebhookEventType.VOIDED: PaymentStatus.VOIDED,
    WebhookEventType.REFUNDED: PaymentStatus.REFUNDED,
}


class WebhookPayload(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    payment_id: str
    reference: str
    amount_krw: int
    decline_reason: str | None = None


class WebhookEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    type: WebhookEventType
    created: int
    data: WebhookPayload

    @property
    def status(self) -> PaymentStatus:
        return WEBHOOK_STATUS[self.type]


_webhook_decoder = msgspec.json.Decoder(WebhookEvent)


def decode_webhook_event(body: bytes) -> WebhookEvent:
    """Our own webhook format (the simulator's, and what a provider's events become)."""
    try:
        return _webhook_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"webhook body is not a payment event: {exc}") from exc


def webhook_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex hmac-sha256 of "<t>.<body>">`, the header the gateway sends."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_webhook_signature(secret: bytes, header: str | None, body: bytes, now: int) -> None:
    if not header:
        raise InvalidSignature("the Webhook-Signature header is missing")
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        stamp, given = fields["t"], fields["v1"]
        if not (stamp.isascii() and stamp.isdigit() and given.isascii()):
            raise ValueError  # compare_digest takes ASCII only; int() reads more than digits
        timestamp = int(stamp)
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("the Webhook-Signature header is malformed") from exc
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature("the webhook timestamp is outside the accepted window")
    expected = webhook_signature(secret, timestamp, body).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise InvalidSignature("the webhook signature does not match its body")
