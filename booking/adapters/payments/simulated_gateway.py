"""A payment gateway simulator that behaves like a real asynchronous one.

It authorizes or declines a payment by its card token, then tells us by a
signed webhook; capture, void and refund send webhooks too. Deliveries are
retried until answered 2xx, and can be configured to arrive late, twice or
out of order, as real gateways' do. Its state lives behind a small port
(`state.py`): its own SQLite file in the embedded runtime, the stage's DynamoDB
table on AWS, so it outlives our processes like a remote service would, and any
process can move a payment or deliver a webhook that another one made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping

import msgspec

from booking.adapters.payments.state import GatewayState, PendingWebhook, Scheduled
from booking.domain.errors import Conflict, InvalidRequest, NotFound
from booking.domain.ids import new_id
from booking.domain.payments import (
    GatewayPayment,
    PaymentStatus,
    WebhookEvent,
    WebhookEventType,
    WebhookPayload,
    decode_webhook_event,
    verify_webhook_signature,
    webhook_signature,
)
from booking.domain.ports import Clock

log = logging.getLogger(__name__)

# Card tokens as test gateways document them: anything else is refused.
APPROVING_TOKENS = frozenset({"tok_visa", "tok_mastercard", "tok_kbcard", "tok_shinhan"})
DECLINING_TOKENS = {
    "tok_declined": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
    "tok_expired_card": "expired_card",
}
MAX_DELIVERY_ATTEMPTS = 8
DELIVERY_LEASE_MS = 30_000
"""How long a claimed delivery is left to its deliverer before another may try it."""

_encode = msgspec.json.Encoder().encode


WebhookSender = Callable[[bytes, dict[str, str]], Awaitable[int]]
"""Posts one webhook body with its headers; returns the HTTP status received."""


class GatewayBehaviour(msgspec.Struct, frozen=True):
    """How webhook delivery misbehaves: delay range, duplicate and reorder chances."""

    min_delay_ms: int = 20
    max_delay_ms: int = 200
    duplicate_rate: float = 0.0
    late_rate: float = 0.0
    late_delay_ms: int = 2_000
    seed: int | None = None


class SimulatedGateway:
    def __init__(
        self,
        state: GatewayState,
        secret: bytes,
        clock: Clock,
        behaviour: GatewayBehaviour | None = None,
    ) -> None:
        self.state = state
        self._secret = secret
        self._clock = clock
        self._behaviour = behaviour or GatewayBehaviour()
        self._random = random.Random(self._behaviour.seed)  # noqa: S311 - simulation, not security
        self._send: WebhookSender | None = None
        self._wake = asyncio.Event()

    def attach(self, send: WebhookSender) -> None:
        self._send = send

    async def create_payment(
        self, reference: str, amount_krw: int, method: str, idempotency_key: str
    ) -> GatewayPayment:
        if method not in APPROVING_TOKENS and method not in DECLINING_TOKENS:
            raise InvalidRequest(
                f"unknown payment method {method!r}; use one of "
                + ", ".join(sorted(APPROVING_TOKENS | set(DECLINING_TOKENS)))
            )
        reason = DECLINING_TOKENS.get(method)
        payment = GatewayPayment(
            id=new_id("gwp"),
            reference=reference,
            amount_krw=amount_krw,
            status=PaymentStatus.DECLINED if reason else PaymentStatus.AUTHORIZED,
            decline_reason=reason,
        )
        kind = WebhookEventType.DECLINED if reason else WebhookEventType.AUTHORIZED
        created = await self.state.add(payment, idempotency_key, self._webhooks(kind, payment))
        self._wake.set()
        # What the API answers at once: the outcome comes later, by webhook.
        return msgspec.structs.replace(created, status=PaymentStatus.PROCESSING)

    async def capture(self, gateway_payment_id: str) -> GatewayPayment:
        return await self._move(
            gateway_payment_id,
            {PaymentStatus.AUTHORIZED},
            PaymentStatus.CAPTURED,
            WebhookEventType.CAPTURED,
        )

    async def void(self, gateway_payment_id: str) -> GatewayPayment:
        return await self._move(
            gateway_payment_id,
            {PaymentStatus.AUTHORIZED},
            PaymentStatus.VOIDED,
            WebhookEventType.VOIDED,
        )

    async def refund(self, gateway_payment_id: str) -> GatewayPayment:
        payment = await self.get(gateway_payment_id)
        if payment.status is PaymentStatus.AUTHORIZED:
            return await self.void(gateway_payment_id)
        return await self._move(
            gateway_payment_id,
            {PaymentStatus.CAPTURED},
            PaymentStatus.REFUNDED,
            WebhookEventType.REFUNDED,
        )

    async def get(self, gateway_payment_id: str) -> GatewayPayment:
        payment = await self.state.get(gateway_payment_id)
        if payment is None:
            raise NotFound("gateway payment", gateway_payment_id)
        return payment

    async def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        """Our own protocol: `Webhook-Signature` over the exact body (domain/payments.py)."""
        now = int(self._clock.now().timestamp())
        verify_webhook_signature(self._secret, headers.get("webhook-signature"), body, now)
        return decode_webhook_event(body)

    async def _move(
        self,
        gateway_payment_id: str,
        allowed_from: set[PaymentStatus],
        target: PaymentStatus,
        kind: WebhookEventType,
    ) -> GatewayPayment:
        while True:  # compare and set: another process may move the payment meanwhile
            payment = await self.get(gateway_payment_id)
            if payment.status is target:
                return payment  # repeating a call is safe, as with real gateways
            if payment.status not in allowed_from:
                raise Conflict(f"cannot {target} a {payment.status} payment")
            moved = msgspec.structs.replace(payment, status=target)
            if await self.state.replace(payment, moved, self._webhooks(kind, moved)):
                self._wake.set()
                return moved

    def _webhooks(self, kind: WebhookEventType, payment: GatewayPayment) -> list[Scheduled]:
        """The event of a change and when its copies go out (drawn here, so the state's
        write is a plain function of its arguments)."""
        event = WebhookEvent(
            id=new_id("whe"),
            type=kind,
            created=int(self._clock.now().timestamp()),
            data=WebhookPayload(
                payment_id=payment.id,
                reference=payment.reference,
                amount_krw=payment.amount_krw,
                decline_reason=payment.decline_reason,
            ),
        )
        body = _encode(event)
        copies = 2 if self._random.random() < self._behaviour.duplicate_rate else 1
        scheduled = []
        for _ in range(copies):
            delay = self._random.randint(self._behaviour.min_delay_ms, self._behaviour.max_delay_ms)
            if self._random.random() < self._behaviour.late_rate:
                delay += self._behaviour.late_delay_ms
            scheduled.append(Scheduled(body, delay))
        return scheduled

    async def run_deliveries(self, poll_seconds: float | None = None) -> None:
        """Deliver due webhooks until cancelled; each is retried with backoff until 2xx."""
        poll = self.state.poll_seconds if poll_seconds is None else poll_seconds
        while True:
            try:
                delivered_any = await self.deliver_due()
            except Exception:
                # The state's store did not answer (throttling, a timeout): try again later.
                log.exception("webhook delivery round failed; retrying")
                delivered_any = False
            if not delivered_any:
                self._wake.clear()
                # Not wait_for: on 3.11 it can swallow a cancellation that arrives as the
                # event is set, and the stopped task would then poll forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll):
                        await self._wake.wait()

    async def deliver_due(self, limit: int = 50) -> bool:
        send = self._send
        if send is None:
            return False
        batch = await self.state.claim_due(limit, DELIVERY_LEASE_MS)
        if not batch:
            return False
        results = await asyncio.gather(*(self._deliver(send, w.body) for w in batch))
        await asyncio.gather(*(self._record(w, s) for w, s in zip(batch, results, strict=True)))
        return True

    async def _record(self, webhook: PendingWebhook, status: int) -> None:
        attempts = webhook.attempts + 1
        delivered = 200 <= status < 300
        if delivered or attempts >= MAX_DELIVERY_ATTEMPTS:
            await self.state.finish(webhook, attempts, delivered)
        else:
            await self.state.retry(webhook, attempts, 250 * 2**webhook.attempts)

    async def _deliver(self, send: WebhookSender, body: bytes) -> int:
        now = int(self._clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-signature": webhook_signature(self._secret, now, body),
        }
        try:
            return await send(body, headers)
        except Exception as exc:
            log.warning("webhook delivery failed", extra={"error": repr(exc)})
            return 0


def http_sender(url: str) -> WebhookSender:
    """Deliver to our webhook endpoint over HTTP, as a remote gateway would."""
    import httpx  # noqa: PLC0415 - only the serving process needs it

    client = httpx.AsyncClient(timeout=10.0)

    async def send(body: bytes, headers: dict[str, str]) -> int:
        response = await client.post(url, content=body, headers=headers)
        return response.status_code

    return send
