"""The queues of the aws runtime: which messages each carries, which handler drains it.

| queue           | carries                      | handler                                  |
|-----------------|------------------------------|------------------------------------------|
| `payments`      | OrderPaid, OrderClosed       | capture + issue tickets / void or refund |
| `notifications` | TicketsIssued                | confirmation mail                        |
| `images`        | PosterUploaded               | `PosterService.make_variants`            |
| `webhooks`      | verified gateway webhooks    | `PaymentService.apply_queued_webhook`    |

The outbox forwarder (`workers/forwarder.py`) fills the first three from the table's
stream; the API fills `webhooks`. On AWS each queue triggers its Lambda below
(`payments_handler`, ...); a long-running process drains them with `QueueConsumer`s.
`images` carries the posters uploaded through `PUT /events/{id}/poster`: their variants
are decoding and resizing work, so its function gets more time and memory (see
docs/ARCHITECTURE.md). Presigned direct uploads do not use it: the S3 event worker
(`workers/images.handler`) makes their variants itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from booking.bootstrap import Runtime
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function
from booking.settings import Settings
from workers.handlers import handlers
from workers.sqs import (
    LambdaBatch,
    MessageHandler,
    QueueConsumer,
    Received,
    Settler,
    outbox_handler,
)

TOPIC_QUEUES: Mapping[str, str] = {
    "OrderPaid": "payments",
    "OrderClosed": "payments",
    "TicketsIssued": "notifications",
    "PosterUploaded": "images",
}
"""Outbox topic → queue. Topics not listed have no consumer on AWS and are not forwarded."""

OUTBOX_QUEUES = ("payments", "notifications", "images")
"""The queues the outbox forwarder fills (one outbox handler each)."""
QUEUES = (*OUTBOX_QUEUES, "webhooks")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def queue_urls(settings: Settings) -> dict[str, str]:
    """The configured queues by name (`CONCERTBOOK_QUEUE_URL_<NAME>`)."""
    urls = {
        "payments": settings.queues.queue_url_payments,
        "notifications": settings.queues.queue_url_notifications,
        "images": settings.queues.queue_url_images,
        "webhooks": settings.queues.queue_url_webhooks,
    }
    return {name: url for name, url in urls.items() if url}


def queue_handlers(runtime: Runtime) -> dict[str, MessageHandler]:
    """The handler of each queue, on the runtime's services (the same as the local relay's)."""
    by_topic = handlers(runtime)
    drains: dict[str, MessageHandler] = {
        queue: outbox_handler({t: hs for t, hs in by_topic.items() if TOPIC_QUEUES.get(t) == queue})
        for queue in OUTBOX_QUEUES
    }
    payments = runtime.services.payments

    async def webhook(received: Received) -> None:
        await payments.apply_queued_webhook(received.body.encode())

    drains["webhooks"] = webhook
    return drains


def settler(runtime: Runtime) -> Settler:
    """The shared failure policy on the runtime's SQS client (aws runtime only)."""
    from booking.bootstrap_aws import AwsRuntime  # noqa: PLC0415 - aws dependencies

    assert isinstance(runtime, AwsRuntime), "SQS needs the aws runtime"
    return Settler(runtime.clients.sqs, max_attempts=runtime.settings.queues.queue_max_attempts)


def consumers(runtime: Runtime, names: tuple[str, ...] = QUEUES) -> list[QueueConsumer]:
    """Long-poll consumers of the named queues that are configured."""
    urls = queue_urls(runtime.settings)
    drains = queue_handlers(runtime)
    shared = settler(runtime)
    wait = runtime.settings.queues.queue_wait_seconds
    return [
        QueueConsumer(shared, urls[name], drains[name], wait_seconds=wait)
        for name in names
        if name in urls
    ]


# -- Lambda entry points (one function per queue) -----------------------------------------
_environment = LambdaEnvironment()
_batches: dict[str, LambdaBatch] = {}


def _entry_point(queue: str) -> LambdaHandler:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """An SQS event in, the partial batch response out."""

        async def work(runtime: Runtime) -> dict[str, Any]:
            if queue not in _batches:
                _batches[queue] = LambdaBatch(queue_handlers(runtime)[queue], settler(runtime))
            return await _batches[queue](event)

        return _environment.run(work)

    handler.__name__ = f"{queue}_handler"
    return lambda_function(queue)(handler)


payments_handler = _entry_point("payments")
notifications_handler = _entry_point("notifications")
images_handler = _entry_point("images")
webhooks_handler = _entry_point("webhooks")


def close() -> None:
    """Stop the runtime, close the loop and forget the batches built on it (tests, tools);
    Lambda never calls this."""
    _environment.close()
    _batches.clear()
