"""A payment gateway simulator that behaves like a real asynchronous one.

It authorizes or declines a payment by its card token, then tells us by a
signed webhook; capture, void and refund send webhooks too. Deliveries are
retried until answered 2xx, and can be configured to arrive late, twice or
out of order, as real gateways' do. Its state lives in its own SQLite file,
so it outlives a restart of our process like a remote service would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable

import msgspec

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.domain.errors import Conflict, InvalidRequest, NotFound
from booking.domain.ids import new_id
from booking.domain.payments import (
    GatewayPayment,
    PaymentStatus,
    WebhookEvent,
    WebhookEventType,
    WebhookPayload,
    webhook_signature,
)

log = logging.getLogger(__name__)

GATEWAY_MIGRATIONS = [
    """
CREATE TABLE gw_payments (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    doc BLOB NOT NULL
);
CREATE TABLE gw_webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    deliver_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX gw_webhooks_due ON gw_webhooks(deliver_at_ms) WHERE delivered = 0
""",
]

# Card tokens as test gateways document them: anything else is refused.
APPROVING_TOKENS = frozenset({"tok_visa", "tok_mastercard", "tok_kbcard", "tok_shinhan"})
DECLINING_TOKENS = {
    "tok_declined": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
    "tok_expired_card": "expired_card",
}
MAX_DELIVERY_ATTEMPTS = 8

_encode = msgspec.json.Encoder().encode
_decode_payment = msgspec.json.Decoder(GatewayPayment).decode


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
        self, db: SqliteDatabase, secret: bytes, behaviour: GatewayBehaviour | None = None
    ) -> None:
        self._db = db
        self._secret = secret
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

        created = await self._db.write(
            _create_payment, reference, amount_krw, method, idempotency_key, self._delays()
        )
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
        def find(conn: sqlite3.Connection) -> GatewayPayment:
            row = conn.execute(
                "SELECT doc FROM gw_payments WHERE id=?", (gateway_payment_id,)
            ).fetchone()
            if row is None:
                raise NotFound("gateway payment", gateway_payment_id)
            return _decode_payment(row[0])

        return await self._db.read(find)

    async def _move(
        self,
        gateway_payment_id: str,
        allowed_from: set[PaymentStatus],
        target: PaymentStatus,
        kind: WebhookEventType,
    ) -> GatewayPayment:
        moved = await self._db.write(
            _move_payment, gateway_payment_id, allowed_from, target, kind, self._delays()
        )
        self._wake.set()
        return moved

    def _delays(self) -> list[int]:
        """When the webhook of the next change goes out: its copies' delays in ms (drawn here,
        so the write itself is a plain function of its arguments)."""
        copies = 2 if self._random.random() < self._behaviour.duplicate_rate else 1
        delays = []
        for _ in range(copies):
            delay = self._random.randint(self._behaviour.min_delay_ms, self._behaviour.max_delay_ms)
            if self._random.random() < self._behaviour.late_rate:
                delay += self._behaviour.late_delay_ms
            delays.append(delay)
        return delays

    async def run_deliveries(self, poll_seconds: float = 0.05) -> None:
        """Deliver due webhooks until cancelled; each is retried with backoff until 2xx."""
        while True:
            delivered_any = await self.deliver_due()
            if not delivered_any:
                self._wake.clear()
                # Not wait_for: on 3.11 it can swallow a cancellation that arrives as the
                # event is set, and the stopped task would then poll forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_seconds):
                        await self._wake.wait()

    async def deliver_due(self, limit: int = 50) -> bool:
        send = self._send
        if send is None:
            return False

        batch = await self._db.write(_deliver_due, limit)
        if not batch:
            return False
        results = await asyncio.gather(*(self._deliver(send, body) for _, body, _ in batch))
        await self._db.write(_record, batch, results)
        return True

    async def _deliver(self, send: WebhookSender, body: bytes) -> int:
        now = int(self._db.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-signature": webhook_signature(self._secret, now, body),
        }
        try:
            return await send(body, headers)
        except Exception as exc:
            log.warning("webhook delivery failed", extra={"error": repr(exc)})
            return 0


def _create_payment(
    tx: Tx, reference: str, amount_krw: int, method: str, idempotency_key: str, delays: list[int]
) -> GatewayPayment:
    row = tx.execute(
        "SELECT doc FROM gw_payments WHERE idempotency_key=?", (idempotency_key,)
    ).fetchone()
    if row is not None:
        return _decode_payment(row[0])
    reason = DECLINING_TOKENS.get(method)
    payment = GatewayPayment(
        id=new_id("gwp"),
        reference=reference,
        amount_krw=amount_krw,
        status=PaymentStatus.DECLINED if reason else PaymentStatus.AUTHORIZED,
        decline_reason=reason,
    )
    tx.execute(
        "INSERT INTO gw_payments(id, idempotency_key, doc) VALUES (?,?,?)",
        (payment.id, idempotency_key, _encode(payment)),
    )
    kind = WebhookEventType.DECLINED if reason else WebhookEventType.AUTHORIZED
    _schedule(tx, kind, payment, delays)
    return payment


def _move_payment(
    tx: Tx,
    gateway_payment_id: str,
    allowed_from: set[PaymentStatus],
    target: PaymentStatus,
    kind: WebhookEventType,
    delays: list[int],
) -> GatewayPayment:
    row = tx.execute("SELECT doc FROM gw_payments WHERE id=?", (gateway_payment_id,)).fetchone()
    if row is None:
        raise NotFound("gateway payment", gateway_payment_id)
    payment = _decode_payment(row[0])
    if payment.status is target:
        return payment  # repeating a call is safe, as with real gateways
    if payment.status not in allowed_from:
        raise Conflict(f"cannot {target} a {payment.status} payment")
    payment = msgspec.structs.replace(payment, status=target)
    tx.execute("UPDATE gw_payments SET doc=? WHERE id=?", (_encode(payment), payment.id))
    _schedule(tx, kind, payment, delays)
    return payment


def _schedule(tx: Tx, kind: WebhookEventType, payment: GatewayPayment, delays: list[int]) -> None:
    event = WebhookEvent(
        id=new_id("whe"),
        type=kind,
        created=int(tx.now.timestamp()),
        data=WebhookPayload(
            payment_id=payment.id,
            reference=payment.reference,
            amount_krw=payment.amount_krw,
            decline_reason=payment.decline_reason,
        ),
    )
    body = _encode(event)
    for delay in delays:
        tx.execute(
            "INSERT INTO gw_webhooks(body, deliver_at_ms) VALUES (?,?)", (body, tx.now_ms + delay)
        )


def _record(tx: Tx, batch: list[tuple[int, bytes, int]], results: list[int]) -> None:
    for (webhook_id, _, attempts), status in zip(batch, results, strict=True):
        if 200 <= status < 300 or attempts + 1 >= MAX_DELIVERY_ATTEMPTS:
            tx.execute(
                "UPDATE gw_webhooks SET delivered=1, attempts=? WHERE id=?",
                (attempts + 1, webhook_id),
            )
        else:
            backoff_ms = 250 * 2**attempts
            tx.execute(
                "UPDATE gw_webhooks SET attempts=?, deliver_at_ms=? WHERE id=?",
                (attempts + 1, tx.now_ms + backoff_ms, webhook_id),
            )


def http_sender(url: str) -> WebhookSender:
    """Deliver to our webhook endpoint over HTTP, as a remote gateway would."""
    import httpx  # noqa: PLC0415 - only the serving process needs it

    client = httpx.AsyncClient(timeout=10.0)

    async def send(body: bytes, headers: dict[str, str]) -> int:
        response = await client.post(url, content=body, headers=headers)
        return response.status_code

    return send


def _deliver_due(tx: Tx, limit: int) -> list[tuple[int, bytes, int]]:
    return tx.execute(
        "SELECT id, body, attempts FROM gw_webhooks WHERE delivered=0 AND deliver_at_ms<=?"
        " ORDER BY deliver_at_ms LIMIT ?",
        (tx.now_ms, limit),
    ).fetchall()
