"""Handing outbox messages to their handlers, shared by both adapter families: the
SQLite outbox relay (booking/adapters/local/outbox_relay.py) and the DynamoDB one
(booking/adapters/aws/dynamodb_outbox.py), and the SQS consumers (workers/sqs.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from booking.domain.messages import OutboxMessage

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], Awaitable[None]]
# Takes every message of its topics in a batch at once (the search indexer batches its writes).
BatchHandler = Callable[[Sequence[OutboxMessage]], Awaitable[object]]
BatchSubscription = tuple[frozenset[str], BatchHandler]


async def dispatch_batch(
    subscriptions: Sequence[BatchSubscription],
    topics: Sequence[str],
    messages: Sequence[OutboxMessage],
) -> dict[int, str]:
    """Run each batch handler over its share; the positions of messages whose handler failed."""
    failed: dict[int, str] = {}
    for wanted, handle in subscriptions:
        positions = [i for i, topic in enumerate(topics) if topic in wanted]
        if not positions:
            continue
        try:
            await handle([messages[i] for i in positions])
        except Exception as exc:
            log.warning("outbox batch handler failed", extra={"error": repr(exc)})
            failed.update((i, f"{type(exc).__name__}: {exc}") for i in positions)
    return failed
