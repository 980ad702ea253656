"""Idempotency records written in the same TransactWriteItems as the change they guard."""

from __future__ import annotations

import time
from typing import Any, TypeVar

import msgspec

from booking.adapters.aws.dynamodb_table import Dynamo, TransactionCancelled
from booking.domain.errors import IdempotencyKeyReused
from booking.domain.ports import Idempotency

T = TypeVar("T")
RECORD_TTL_SECONDS = 24 * 3600
_encode = msgspec.json.Encoder().encode


def _pk(idem: Idempotency) -> str:
    return f"IDEM#{idem.scope}#{idem.key}"


async def stored_result(dynamo: Dynamo, idem: Idempotency, result_type: type[T]) -> T | None:
    """The first result for this key, or None; another request under the key is an error."""
    item = await dynamo.get(_pk(idem), "IDEM")
    if item is None:
        return None
    if item["fingerprint"] != idem.fingerprint:
        raise IdempotencyKeyReused(f"Idempotency-Key {idem.key!r} was used for a different request")
    return msgspec.json.decode(item["result"], type=result_type)


async def run_idempotent(
    dynamo: Dynamo,
    idem: Idempotency | None,
    result_type: type[T],
    result: T,
    items: list[dict[str, Any]],
) -> T:
    """Write `items` and the key's record atomically; a repeat returns the first result.

    Raises TransactionCancelled for the caller to map when the change itself was refused.
    """
    if idem is None:
        await dynamo.transact(items)
        return result
    record = dynamo.put(
        {
            "pk": _pk(idem),
            "sk": "IDEM",
            "fingerprint": idem.fingerprint,
            "result": _encode(result),
            "ttl": int(time.time()) + RECORD_TTL_SECONDS,
        },
        "attribute_not_exists(pk)",
    )
    try:
        # No read first: a new key costs one call; a repeated key is told by the refusal.
        await dynamo.transact([*items, record])
    except TransactionCancelled as exc:
        if exc.reasons[-1] == "ConditionalCheckFailed":
            earlier = await stored_result(dynamo, idem, result_type)
            if earlier is not None:
                return earlier
        raise
    return result
