"""SQS and SES clients of the aws runtime, and the queue that verified webhooks wait in.

Clients are created inside the event loop that uses them (`AwsClients.open`, from
`AwsRuntime.start`) and reused for the life of the process, like the DynamoDB one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from booking.domain.errors import StoreUnavailable


@contextlib.asynccontextmanager
async def aws_client(service: str, region: str, endpoint_url: str | None) -> AsyncIterator[Any]:
    """A client with standard-mode retries; `endpoint_url` for emulators (moto)."""
    config = AioConfig(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30
    )
    session: Any = get_session()  # one client per named service; the stubs want literals
    async with session.create_client(
        service, region_name=region, endpoint_url=endpoint_url, config=config
    ) as client:
        yield client


@dataclass
class AwsClients:
    """The runtime's SQS and SES clients (set by `open`; adapters hold this, not a client)."""

    sqs: Any = None
    ses: Any = None

    async def open(
        self, stack: contextlib.AsyncExitStack, region: str, endpoint_url: str | None
    ) -> None:
        self.sqs = await stack.enter_async_context(aws_client("sqs", region, endpoint_url))
        self.ses = await stack.enter_async_context(aws_client("ses", region, endpoint_url))


def string_attributes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """SQS message attributes from plain strings (empty values are not allowed: dropped)."""
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items() if v}


@contextlib.contextmanager
def _queue_unavailable(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise StoreUnavailable(f"{what} did not accept the message: {type(exc).__name__}") from exc


class SqsWebhookQueue:
    """Verified payment webhooks, sent to the `webhooks` queue for a worker to apply.

    `enqueue` returns only once SQS has stored the message, so the API answers the
    gateway 204 only for events that cannot be lost; if SQS refuses, the API answers
    503 and the gateway sends the event again.
    """

    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self.queue_url = queue_url

    async def enqueue(self, body: bytes) -> None:
        with _queue_unavailable("the webhook queue"):
            await self._clients.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body.decode(),
                MessageAttributes=string_attributes({"kind": "payment-webhook"}),
            )
