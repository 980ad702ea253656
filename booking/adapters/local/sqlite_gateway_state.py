"""The simulator's state in its own SQLite file (embedded runtime): one writer, so every
question is one transaction of the writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.adapters.payments.state import PendingWebhook, Scheduled
from booking.domain.payments import GatewayPayment

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
    # A claim lasts a lease, as on DynamoDB: two deliverers never send one webhook at once.
    "ALTER TABLE gw_webhooks ADD COLUMN leased_until_ms INTEGER NOT NULL DEFAULT 0",
]

_encode = msgspec.json.Encoder().encode
_decode_payment = msgspec.json.Decoder(GatewayPayment).decode


class SqliteGatewayState:
    poll_seconds = 0.05  # a local read: polling often costs nothing

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(
        self, payment: GatewayPayment, idempotency_key: str, webhooks: Sequence[Scheduled]
    ) -> GatewayPayment:
        return await self._db.write(_add, payment, idempotency_key, list(webhooks))

    async def get(self, payment_id: str) -> GatewayPayment | None:
        def find(conn: sqlite3.Connection) -> GatewayPayment | None:
            row = conn.execute("SELECT doc FROM gw_payments WHERE id=?", (payment_id,)).fetchone()
            return None if row is None else _decode_payment(row[0])

        return await self._db.read(find)

    async def replace(
        self, current: GatewayPayment, new: GatewayPayment, webhooks: Sequence[Scheduled]
    ) -> bool:
        return await self._db.write(_replace, current, new, list(webhooks))

    async def claim_due(self, limit: int, lease_ms: int) -> list[PendingWebhook]:
        return await self._db.write(_claim_due, limit, lease_ms)

    async def finish(self, webhook: PendingWebhook, attempts: int, delivered: bool) -> None:
        # `delivered` stays 1 for a webhook given up on too: it is not pending any more.
        await self._db.write(_finish, int(webhook.id), attempts)

    async def retry(self, webhook: PendingWebhook, attempts: int, after_ms: int) -> None:
        await self._db.write(_retry, int(webhook.id), attempts, after_ms)


def _schedule(tx: Tx, webhooks: list[Scheduled]) -> None:
    for webhook in webhooks:
        tx.execute(
            "INSERT INTO gw_webhooks(body, deliver_at_ms) VALUES (?,?)",
            (webhook.body, tx.now_ms + webhook.delay_ms),
        )


def _add(
    tx: Tx, payment: GatewayPayment, idempotency_key: str, webhooks: list[Scheduled]
) -> GatewayPayment:
    row = tx.execute(
        "SELECT doc FROM gw_payments WHERE idempotency_key=?", (idempotency_key,)
    ).fetchone()
    if row is not None:
        return _decode_payment(row[0])
    tx.execute(
        "INSERT INTO gw_payments(id, idempotency_key, doc) VALUES (?,?,?)",
        (payment.id, idempotency_key, _encode(payment)),
    )
    _schedule(tx, webhooks)
    return payment


def _replace(
    tx: Tx, current: GatewayPayment, new: GatewayPayment, webhooks: list[Scheduled]
) -> bool:
    row = tx.execute("SELECT doc FROM gw_payments WHERE id=?", (current.id,)).fetchone()
    if row is None or _decode_payment(row[0]).status is not current.status:
        return False
    tx.execute("UPDATE gw_payments SET doc=? WHERE id=?", (_encode(new), new.id))
    _schedule(tx, webhooks)
    return True


def _claim_due(tx: Tx, limit: int, lease_ms: int) -> list[PendingWebhook]:
    rows = tx.execute(
        "SELECT id, body, attempts FROM gw_webhooks"
        " WHERE delivered=0 AND deliver_at_ms<=? AND leased_until_ms<=?"
        " ORDER BY deliver_at_ms LIMIT ?",
        (tx.now_ms, tx.now_ms, limit),
    ).fetchall()
    tx.executemany(
        "UPDATE gw_webhooks SET leased_until_ms=? WHERE id=?",
        [(tx.now_ms + lease_ms, row[0]) for row in rows],
    )
    return [PendingWebhook(str(row[0]), bytes(row[1]), int(row[2])) for row in rows]


def _finish(tx: Tx, webhook_id: int, attempts: int) -> None:
    tx.execute(
        "UPDATE gw_webhooks SET delivered=1, attempts=?, leased_until_ms=0 WHERE id=?",
        (attempts, webhook_id),
    )


def _retry(tx: Tx, webhook_id: int, attempts: int, after_ms: int) -> None:
    tx.execute(
        "UPDATE gw_webhooks SET attempts=?, deliver_at_ms=?, leased_until_ms=0 WHERE id=?",
        (attempts, tx.now_ms + after_ms, webhook_id),
    )
