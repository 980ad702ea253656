"""Outbox items of the DynamoDB table, relayed to handlers by a long-running process.

On AWS the table's stream carries the same items to the worker Lambdas; this
relay serves `docker run` parity and tests, where no stream consumer runs.
Several processes may relay at once: handlers are idempotent, and an item is
deleted only after its handlers succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence

import msgspec

from booking.adapters.aws.dynamodb_table import (
    INDEX_SHARDS,
    Dynamo,
    Item,
    TransactionCancelled,
    shard_of,
)
from booking.adapters.outbox_dispatch import BatchSubscription, Handler, dispatch_batch
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.messages import OutboxMessage, decode_message, encode_message, topic_of
from booking.domain.ports import Clock
from booking.domain.telemetry import TELEMETRY, Telemetry

log = logging.getLogger(__name__)


def outbox_item(message: OutboxMessage, now_ms: int) -> Item:
    """An outbox entry, written in the same transaction as the change it announces."""
    ident = uuid.uuid4().hex
    return {
        "pk": f"OUTBOX#{shard_of(ident, INDEX_SHARDS)}",
        "sk": f"{now_ms:013d}#{ident}",
        "topic": topic_of(message),
        "payload": encode_message(message),
        "attempts": 0,
        "available_at_ms": now_ms,
    }


class DynamoOutboxRelay:
    def __init__(
        self,
        dynamo: Dynamo,
        clock: Clock,
        handlers: Mapping[str, Sequence[Handler]],
        batch_handlers: Sequence[BatchSubscription] = (),
        max_attempts: int = 5,
        poll_seconds: float = 0.2,
        telemetry: Telemetry = TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._db = dynamo
        self._clock = clock
        self._handlers = handlers
        self._batch_handlers = batch_handlers
        self._max_attempts = max_attempts
        self._poll = poll_seconds

    async def run(self) -> None:
        while True:
            try:
                busy = await self.drain_once()
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                busy = False
            if not busy:
                await asyncio.sleep(self._poll)

    async def drain_once(self) -> bool:
        now_ms = to_ms(self._clock.now())
        shards = await asyncio.gather(
            *(
                self._db.query(
                    "pk = :p",
                    {":p": f"OUTBOX#{shard}", ":now": now_ms},
                    filter_expression="available_at_ms <= :now",
                    limit=50,
                )
                for shard in range(INDEX_SHARDS)
            )
        )
        due = sorted((item for shard in shards for item in shard), key=lambda i: str(i["sk"]))
        # What this pass sees (at most 50 a shard): the sort key starts with the write's ms.
        oldest = from_ms(int(str(due[0]["sk"]).partition("#")[0])) if due else None
        self._telemetry.outbox_backlog(len(due), oldest)
        batch_failures = await self._dispatch_batch(due)
        for position, item in enumerate(due):
            await self._deliver(item, batch_failures.get(position))
        return bool(due)

    async def _dispatch_batch(self, due: list[Item]) -> dict[int, str]:
        if not self._batch_handlers:
            return {}
        decodable: list[tuple[int, str, OutboxMessage]] = []
        for position, item in enumerate(due):
            with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                decodable.append((position, str(item["topic"]), decode_message(item["payload"])))
        failed = await dispatch_batch(
            self._batch_handlers, [t for _, t, _ in decodable], [m for _, _, m in decodable]
        )
        return {decodable[i][0]: error for i, error in failed.items()}

    async def _deliver(self, item: Item, batch_error: str | None) -> None:
        topic = str(item["topic"])
        try:
            if batch_error is not None:
                raise RuntimeError(batch_error)
            message = decode_message(item["payload"])
            for handler in self._handlers.get(topic, ()):
                await handler(message)
        except Exception as exc:
            await self._retry_later(item, f"{type(exc).__name__}: {exc}")
            return
        with contextlib.suppress(TransactionCancelled):  # another relay finished it first
            await self._db.transact(
                [
                    {
                        "Delete": {
                            **self._db.delete(str(item["pk"]), str(item["sk"]))["Delete"],
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    }
                ]
            )

    async def _retry_later(self, item: Item, error: str) -> None:
        attempts = int(item.get("attempts", 0)) + 1
        now_ms = to_ms(self._clock.now())
        if attempts >= self._max_attempts:
            log.error(
                "outbox message dead-lettered",
                extra={"outbox_key": item["sk"], "topic": item["topic"], "reason": error},
            )
            dead = {
                **item,
                "pk": str(item["pk"]).replace("OUTBOX#", "OUTBOX_DEAD#"),
                "attempts": attempts,
                "last_error": error,
            }
            with contextlib.suppress(TransactionCancelled):
                await self._db.transact(
                    [self._db.put(dead), self._db.delete(str(item["pk"]), str(item["sk"]))]
                )
            return
        with contextlib.suppress(TransactionCancelled):
            await self._db.transact(
                [
                    self._db.update(
                        str(item["pk"]),
                        str(item["sk"]),
                        "SET attempts = :a, available_at_ms = :t, last_error = :e",
                        {":a": attempts, ":t": now_ms + 200 * 2**attempts, ":e": error},
                        "attribute_exists(pk)",
                    )
                ]
            )
