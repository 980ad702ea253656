"""The simulator's state in the stage's DynamoDB table (aws runtime), beside our own items.

Its items have prefixes of their own (docs/DYNAMODB.md), so no query of ours ever meets
them and the outbox forwarder's stream filter (`OUTBOX#`) skips them:

- a payment at the gateway: `SIMPAY#<id>` / `SIMPAY`, its `status` compared and set;
- an idempotency key: `SIMKEY#<key>` / `SIMKEY` → the payment, `attribute_not_exists(pk)`;
- a webhook to deliver: `SIMHOOK#<id>` / `SIMHOOK`, on gsi2 as `SIMHOOKS#<shard 0–3>` /
  `<due ms>#<id>` while it is pending, claimed through `lease_until_ms`.

A payment, its key and the webhooks of one change are written in one transaction, so a
webhook exists exactly when its change does, whichever process made it. Deliverers find
due webhooks on gsi2 (candidates only, as everywhere in this table) and claim each with
a conditional update that lasts a lease; a deliverer that dies mid-delivery leaves a
lease that lapses, and another delivers again (webhooks may come twice anyway). A
delivered webhook leaves the index and expires a week later (`ttl`).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from booking.adapters.aws.dynamodb_table import (
    Dynamo,
    TransactionCancelled,
    _shed_when_unavailable,
    key,
    marshal,
)
from booking.adapters.payments.state import PendingWebhook, Scheduled
from booking.adapters.timestamps import to_ms
from booking.domain.errors import StoreUnavailable
from booking.domain.payments import GatewayPayment
from booking.domain.ports import Clock

DELIVERY_SHARDS = 4
"""Partitions of the due-webhook index: an onsale's webhooks do not all land on one key."""
KEEP_DELIVERED = timedelta(days=7)

_encode = msgspec.json.Encoder().encode
_decode_payment = msgspec.json.Decoder(GatewayPayment).decode


class DynamoGatewayState:
    poll_seconds = 1.0
    """A deliverer with nothing due queries again after this long (four queries a second
    across the shards); webhooks made in its own process wake it at once."""

    def __init__(self, dynamo: Dynamo, clock: Clock) -> None:
        self._db = dynamo
        self._clock = clock

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    def _webhook_puts(self, payment_id: str, webhooks: Sequence[Scheduled]) -> list[Any]:
        now_ms = self._now_ms()
        puts = []
        for webhook in webhooks:
            webhook_id = uuid.uuid4().hex
            puts.append(
                self._db.put(
                    {
                        "pk": f"SIMHOOK#{webhook_id}",
                        "sk": "SIMHOOK",
                        "body": webhook.body,
                        "payment_id": payment_id,
                        "attempts": 0,
                        "gsi2pk": f"SIMHOOKS#{random.randrange(DELIVERY_SHARDS)}",  # noqa: S311
                        "gsi2sk": f"{now_ms + webhook.delay_ms:013d}#{webhook_id}",
                    }
                )
            )
        return puts

    async def add(
        self, payment: GatewayPayment, idempotency_key: str, webhooks: Sequence[Scheduled]
    ) -> GatewayPayment:
        self._db.operation = "gateway_add"
        try:
            await self._db.transact(
                [
                    self._db.put(
                        {"pk": f"SIMKEY#{idempotency_key}", "sk": "SIMKEY", "payment": payment.id},
                        "attribute_not_exists(pk)",
                    ),
                    self._db.put(_payment_item(payment), "attribute_not_exists(pk)"),
                    *self._webhook_puts(payment.id, webhooks),
                ]
            )
        except TransactionCancelled as exc:
            if exc.reasons[0] != "ConditionalCheckFailed":
                raise
            # The key was used before: its payment, written in the same transaction as it.
            known = exc.old_items[0] or await self._db.get(f"SIMKEY#{idempotency_key}", "SIMKEY")
            stored = await self.get(str(known["payment"])) if known else None
            if stored is None:
                raise StoreUnavailable("the gateway's payment for a known key is missing") from exc
            return stored
        return payment

    async def get(self, payment_id: str) -> GatewayPayment | None:
        self._db.operation = "gateway_get"
        item = await self._db.get(f"SIMPAY#{payment_id}", "SIMPAY")
        return None if item is None else _decode_payment(bytes(item["doc"]))

    async def replace(
        self, current: GatewayPayment, new: GatewayPayment, webhooks: Sequence[Scheduled]
    ) -> bool:
        self._db.operation = "gateway_move"
        try:
            await self._db.transact(
                [
                    self._db.update(
                        f"SIMPAY#{current.id}",
                        "SIMPAY",
                        "SET #doc = :doc, #status = :new",
                        {":doc": _encode(new), ":new": new.status.value, ":old": current.status},
                        "#status = :old",
                        {"#doc": "doc", "#status": "status"},
                    ),
                    *self._webhook_puts(current.id, webhooks),
                ]
            )
        except TransactionCancelled as exc:
            if exc.reasons[0] != "ConditionalCheckFailed":
                raise
            return False
        return True

    async def claim_due(self, limit: int, lease_ms: int) -> list[PendingWebhook]:
        self._db.operation = "gateway_deliveries"
        now_ms = self._now_ms()
        found = await asyncio.gather(
            *(
                self._db.query(
                    "gsi2pk = :shard AND gsi2sk <= :due",
                    {":shard": f"SIMHOOKS#{shard}", ":due": f"{now_ms:013d}#~", ":now": now_ms},
                    index="gsi2",
                    limit=limit,
                    filter_expression="attribute_not_exists(lease_until_ms)"
                    " OR lease_until_ms <= :now",
                )
                for shard in range(DELIVERY_SHARDS)
            )
        )
        candidates = sorted((i for items in found for i in items), key=lambda i: i["gsi2sk"])
        claimed = []
        for item in candidates[:limit]:
            # The index only nominates: the conditional update decides who delivers.
            if await self._update(
                item["pk"],
                "SET lease_until_ms = :until",
                {":until": now_ms + lease_ms, ":now": now_ms},
                "attribute_exists(gsi2pk) AND (attribute_not_exists(lease_until_ms)"
                " OR lease_until_ms <= :now)",
            ):
                webhook_id = str(item["pk"]).removeprefix("SIMHOOK#")
                claimed.append(PendingWebhook(webhook_id, bytes(item["body"]), item["attempts"]))
        return claimed

    async def finish(self, webhook: PendingWebhook, attempts: int, delivered: bool) -> None:
        self._db.operation = "gateway_deliveries"
        now = self._clock.now()
        await self._update(
            f"SIMHOOK#{webhook.id}",
            "SET attempts = :attempts, delivered = :delivered, finished_at_ms = :now, #ttl = :ttl"
            " REMOVE gsi2pk, gsi2sk, lease_until_ms",
            {
                ":attempts": attempts,
                ":delivered": delivered,
                ":now": to_ms(now),
                ":ttl": int((now + KEEP_DELIVERED).timestamp()),
            },
            names={"#ttl": "ttl"},
        )

    async def retry(self, webhook: PendingWebhook, attempts: int, after_ms: int) -> None:
        self._db.operation = "gateway_deliveries"
        due = self._now_ms() + after_ms
        await self._update(
            f"SIMHOOK#{webhook.id}",
            "SET attempts = :attempts, gsi2sk = :due REMOVE lease_until_ms",
            {":attempts": attempts, ":due": f"{due:013d}#{webhook.id}"},
            # Another deliverer whose lease overlapped may have finished it: leave it so.
            "attribute_exists(gsi2pk)",
        )

    async def _update(
        self,
        pk: str,
        expression: str,
        values: dict[str, object],
        condition: str | None = None,
        names: dict[str, str] | None = None,
    ) -> bool:
        """One conditional UpdateItem (one item needs no transaction); False if refused."""
        args: dict[str, Any] = {
            "TableName": self._db.table,
            "Key": key(pk, pk.split("#", 1)[0]),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": marshal(values),
        }
        if condition:
            args["ConditionExpression"] = condition
        if names:
            args["ExpressionAttributeNames"] = names
        try:
            with _shed_when_unavailable():
                await self._db.client.update_item(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _payment_item(payment: GatewayPayment) -> dict[str, object]:
    return {
        "pk": f"SIMPAY#{payment.id}",
        "sk": "SIMPAY",
        "doc": _encode(payment),
        "status": payment.status.value,
        "reference": payment.reference,
    }
