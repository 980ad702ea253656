"""DynamoDB Streams: outbox entries out of stream records, and a long-running stream reader.

Lambda delivers stream records as JSON (binary attributes base64-encoded); the
Streams API through the SDK gives bytes. Both shapes are read here, so the
Lambda handlers and the long-running consumers share one parser.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from booking.adapters.timestamps import from_ms
from booking.domain.messages import OutboxMessage, decode_message
from booking.domain.telemetry import TELEMETRY, Telemetry

log = logging.getLogger(__name__)

StreamRecord = Mapping[str, Any]


class OutboxEntry(msgspec.Struct, frozen=True):
    sequence_number: str
    pk: str
    sk: str
    topic: str
    payload: bytes


def outbox_entries(records: Sequence[StreamRecord]) -> list[OutboxEntry]:
    """The outbox items a batch of stream records inserted, in stream order."""
    entries = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue  # an outbox item's removal (delivered) says nothing new
        change = record["dynamodb"]
        image = change.get("NewImage", {})
        pk = str(image.get("pk", {}).get("S", ""))
        if not pk.startswith("OUTBOX#"):
            continue
        payload = image["payload"]["B"]
        entries.append(
            OutboxEntry(
                sequence_number=str(change["SequenceNumber"]),
                pk=pk,
                sk=str(image["sk"]["S"]),
                topic=str(image["topic"]["S"]),
                payload=base64.b64decode(payload) if isinstance(payload, str) else bytes(payload),
            )
        )
    return entries


def written_at(entry: OutboxEntry) -> datetime:
    """When the entry was written: its sort key starts with that instant's epoch ms."""
    return from_ms(int(entry.sk.partition("#")[0]))


def report_lag(entries: Sequence[OutboxEntry], telemetry: Telemetry = TELEMETRY) -> None:
    """The outbox lag a stream consumer sees: the age of the oldest entry it relays now."""
    if entries:
        telemetry.outbox_backlog(None, min(written_at(e) for e in entries))


def outbox_messages(records: Sequence[StreamRecord], topics: frozenset[str]) -> list[OutboxMessage]:
    return [decode_message(e.payload) for e in outbox_entries(records) if e.topic in topics]


BatchConsumer = Callable[[Sequence[StreamRecord]], Awaitable[object]]


class StreamReader:
    """Reads every shard of a table's stream and hands batches of records to `consume`.

    For long-running processes (docker run, tests), where no Lambda event source
    mapping exists. A batch whose consumer fails is retried from its first record
    after a pause, as a mapping does. New shards are picked up as the stream splits.
    """

    def __init__(
        self,
        client: Any,
        stream_arn: str,
        consume: BatchConsumer,
        batch_size: int = 100,
        idle_seconds: float = 0.25,
        start_at: str = "TRIM_HORIZON",
    ) -> None:
        self._client = client
        self._stream_arn = stream_arn
        self._consume = consume
        self._batch_size = batch_size
        self._idle = idle_seconds
        self._start_at = start_at
        self._iterators: dict[str, str | None] = {}

    async def run(self) -> None:
        while True:
            try:
                busy = await self.poll_once()
            except Exception:
                log.exception("stream read failed; retrying")
                busy = False
            if not busy:
                await asyncio.sleep(self._idle)

    async def poll_once(self) -> bool:
        """One read of every open shard; True when some records were consumed."""
        await self._discover_shards()
        busy = False
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue  # closed and drained
            response = await self._client.get_records(
                ShardIterator=iterator, Limit=self._batch_size
            )
            records = response.get("Records", [])
            if records:
                await self._consume(records)  # raises: the same iterator is read again
                busy = True
            self._iterators[shard_id] = response.get("NextShardIterator")
        return busy

    async def _discover_shards(self) -> None:
        description = await self._client.describe_stream(StreamArn=self._stream_arn)
        for shard in description["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            response = await self._client.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType=self._start_at
            )
            self._iterators[shard_id] = response["ShardIterator"]
