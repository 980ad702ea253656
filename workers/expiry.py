"""The scheduled expiry sweep: an EventBridge schedule (every minute) invokes `handler`.

Claims never wait on it: every write's own condition already treats a lapsed hold
or order as gone. The sweep marks them expired, gives back limit counters and,
through the OrderClosed messages it writes, voids money that was authorized. It
catches what the Redis marks and the items' TTL did not tidy. It works in bounded
batches until a pass finds nothing or the invocation's time is nearly used up;
the next schedule picks up the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from booking.bootstrap import Runtime
from booking.domain.ports import ExpirySweep
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function

log = logging.getLogger(__name__)

BATCH = 200
"""Holds and orders per `expire_due` call (per index shard on DynamoDB)."""
RESERVE_SECONDS = 5.0
"""Time left unused for the last call to finish before the function's timeout."""
DEFAULT_BUDGET_SECONDS = 50.0
"""Budget when there is no Lambda context to ask (tools, tests)."""


class ExpiryRun(msgspec.Struct, frozen=True):
    expired: int
    passes: int
    done: bool
    """True if the last pass found nothing left to expire."""


async def expire_until_done(
    store: ExpirySweep,
    remaining_seconds: Callable[[], float],
    batch: int = BATCH,
    reserve_seconds: float = RESERVE_SECONDS,
) -> ExpiryRun:
    expired = passes = 0
    while remaining_seconds() > reserve_seconds:
        swept = await store.expire_due(limit=batch)
        passes += 1
        expired += swept
        if swept == 0:
            return ExpiryRun(expired, passes, done=True)
    return ExpiryRun(expired, passes, done=False)


def _remaining(context: Any) -> Callable[[], float]:
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float(context.get_remaining_time_in_millis()) / 1000
    deadline = time.monotonic() + DEFAULT_BUDGET_SECONDS
    return lambda: deadline - time.monotonic()


_environment = LambdaEnvironment()


@lambda_function("expiry")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An EventBridge scheduled event in (its content is not used), a summary out."""
    remaining = _remaining(context)

    async def work(runtime: Runtime) -> ExpiryRun:
        return await expire_until_done(runtime.booking.expiry, remaining)

    result = _environment.run(work)
    log.info("expiry sweep", extra={"expired": result.expired, "done": result.done})
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]
