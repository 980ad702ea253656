"""AWS Lambda entry point: the table's stream → the search index, one bulk write per batch.

The event source mapping delivers batches of stream records in order per
shard. Outbox entries of the indexed topics become one `ListingIndexer.apply`
(one rebuild per performance touched, one bulk request). On failure the batch
reports its first unindexed record in `batchItemFailures`, so Lambda retries
from there (bisecting on error); after the mapping's retry limit the records
go to its on-failure destination. Repeats are harmless: listings are rebuilt
from the store and carry versions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec

from booking.adapters.aws.dynamodb_stream import StreamRecord, outbox_entries, report_lag
from booking.bootstrap import Runtime
from booking.domain.messages import OutboxMessage, decode_message
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function
from booking.services.listing_indexer import INDEXED_TOPICS

log = logging.getLogger(__name__)

_environment = LambdaEnvironment()


async def index_stream_batch(runtime: Runtime, records: Sequence[StreamRecord]) -> dict[str, Any]:
    """Index a batch; the partial batch response names where a retry must start."""
    relayed = outbox_entries(records)
    report_lag(relayed)
    entries = [e for e in relayed if e.topic in INDEXED_TOPICS]
    messages: list[OutboxMessage] = []
    poisoned: str | None = None
    for entry in entries:
        try:
            messages.append(decode_message(entry.payload))
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.error("undecodable outbox entry", extra={"sequence": entry.sequence_number})
            poisoned = entry.sequence_number  # index what came before it, then stop there
            break
    try:
        await runtime.indexer.apply(messages)
    except Exception:
        log.exception("indexing a stream batch failed")
        first = entries[0].sequence_number if entries else None
        return {"batchItemFailures": [{"itemIdentifier": first}] if first else []}
    return {"batchItemFailures": [{"itemIdentifier": poisoned}] if poisoned else []}


@lambda_function("indexer")
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """A DynamoDB Streams event in, a partial batch response out."""
    records = event.get("Records", [])
    return _environment.run(lambda runtime: index_stream_batch(runtime, records))


def close() -> None:
    """Stop the runtime and close the loop (tests, tools); Lambda never calls this."""
    _environment.close()
