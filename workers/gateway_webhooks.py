"""The payment gateway simulator's webhook deliveries on AWS, where no API process runs a
background loop: `handler` is the `gateway-webhooks` function, which an EventBridge
schedule invokes every minute on a stage that pays with the simulator (Terraform's
`payment_provider = "simulated"`; a real provider sends its own webhooks).

Webhooks wait in the stage's table (`SIMHOOK#` items,
booking/adapters/aws/dynamodb_gateway_state.py), written by whichever Lambda authorized,
captured, voided or refunded the payment. Each invocation delivers what is due, claiming
each webhook with a lease, to `CONCERTBOOK_PUBLIC_URL` + `/api/v1/payments/webhook`,
signed, and keeps looking (every `poll_seconds`) until its time is nearly used up, so with
a timeout close to the schedule's minute one invocation follows the other and a webhook
waits about a second.
A failed delivery is retried with backoff by a later round; one whose deliverer died
is claimed again once its lease lapses (a duplicate, which webhooks may be anyway).
`concertbook work` runs the same deliveries as a loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from booking.adapters.payments.simulated_gateway import http_sender
from booking.bootstrap import ManagedGateway, Runtime
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/v1/payments/webhook"
RESERVE_SECONDS = 5.0
"""Time left unused for the last round to finish before the function's timeout."""
DEFAULT_BUDGET_SECONDS = 50.0
"""Budget when there is no Lambda context to ask (tools, tests)."""


class DeliveryRun(msgspec.Struct, frozen=True):
    rounds: int
    busy_rounds: int
    """Rounds that found something due."""


async def deliver_until(
    gateway: ManagedGateway,
    remaining_seconds: Callable[[], float],
    poll_seconds: float = 1.0,
    reserve_seconds: float = RESERVE_SECONDS,
) -> DeliveryRun:
    rounds = busy = 0
    while remaining_seconds() > reserve_seconds:
        rounds += 1
        if await gateway.deliver_due():
            busy += 1
            continue
        await asyncio.sleep(max(0.0, min(poll_seconds, remaining_seconds() - reserve_seconds)))
    return DeliveryRun(rounds, busy)


def _remaining(context: Any) -> Callable[[], float]:
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float(context.get_remaining_time_in_millis()) / 1000
    deadline = time.monotonic() + DEFAULT_BUDGET_SECONDS
    return lambda: deadline - time.monotonic()


_environment = LambdaEnvironment()
_attached: set[int] = set()


@lambda_function("gateway-webhooks")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An EventBridge scheduled event in (its content is not used), a summary out."""
    remaining = _remaining(context)

    async def work(runtime: Runtime) -> DeliveryRun:
        url = runtime.settings.public_url
        if not url:
            raise RuntimeError("CONCERTBOOK_PUBLIC_URL must name the API the webhooks go to")
        if id(runtime.gateway) not in _attached:  # one HTTP client per execution environment
            runtime.gateway.attach(http_sender(url + WEBHOOK_PATH))
            _attached.add(id(runtime.gateway))
        poll = getattr(getattr(runtime.gateway, "state", None), "poll_seconds", 1.0)
        return await deliver_until(runtime.gateway, remaining, poll_seconds=poll)

    result = _environment.run(work)
    log.info("gateway webhooks delivered", extra={"busy_rounds": result.busy_rounds})
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]


def close() -> None:
    """Tests: forget this execution environment's runtime."""
    _environment.close()
    _attached.clear()
