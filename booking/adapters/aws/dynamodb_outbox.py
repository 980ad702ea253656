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
from collections.abc import Mapping, Sequence

from booking.adapters.aws.dynamodb_table import INDEX_SHARDS, Dynamo, Item, TransactionCancelled
from booking.adapters.local.outbox_relay import Handler
from booking.adapters.timestamps import to_ms
from booking.domain.messages import decode_message
from booking.domain.ports import Clock

log = logging.getLogger(__name__)


class DynamoOutboxRelay:
    def __init__(
        self,
        dynamo: Dynamo,
        clock: Clock,
        handlers: Mapping[str, Sequence[Handler]],
        max_attempts: int = 5,
        poll_seconds: float = 0.2,
    ) -> None:
        self._db = dynamo
        self._clock = clock
        self._handlers = handlers
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
        for item in due:
            await self._deliver(item)
        return bool(due)

    async def _deliver(self, item: Item) -> None:
        topic = str(item["topic"])
        try:
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
