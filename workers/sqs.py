"""A generic SQS consumer: Lambda batches (partial batch response) and a long-poll loop.

Both run the same handler over each message and settle each outcome the same way:

- success: the message is deleted (by Lambda itself for an event-source mapping
  with `ReportBatchItemFailures`, by `QueueConsumer` explicitly);
- failure: the message stays, hidden for a backoff that grows with its
  `ApproximateReceiveCount` (ChangeMessageVisibility), and is retried;
- failure at the last attempt (`ApproximateReceiveCount >= max_attempts`): the
  message is sent to the queue's dead-letter queue with its reason (message
  attributes `error`, `attempts`, `source_queue`, besides its own) and deleted
  from the source. The queue's redrive policy (maxReceiveCount = max_attempts + 1)
  stays as the backstop for a consumer that crashes before it could do so.

Handlers must be idempotent: SQS delivers at least once, and a batch may be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from booking.adapters.aws.messaging import string_attributes
from booking.adapters.outbox_dispatch import Handler
from booking.domain.messages import decode_message
from booking.observability.context import working_on

log = logging.getLogger(__name__)

MAX_VISIBILITY_SECONDS = 43_200
"""SQS refuses a visibility timeout above 12 hours."""
MAX_MESSAGE_ATTRIBUTES = 10
"""SQS allows ten attributes per message; the DLQ copy keeps the reason first."""


@dataclass(frozen=True)
class Received:
    """One delivery of a queue message, from the SQS API or a Lambda event alike."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    attributes: Mapping[str, str] = field(default_factory=dict)
    """String message attributes (ours: `topic`, `outbox_id`, `kind`)."""

    @classmethod
    def from_api(cls, message: Mapping[str, Any]) -> Received:
        """A message as ReceiveMessage returns it (AttributeNames and attribute names: All)."""
        return cls(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message["Body"],
            receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            attributes={
                name: value["StringValue"]
                for name, value in message.get("MessageAttributes", {}).items()
                if "StringValue" in value
            },
        )

    @classmethod
    def from_lambda(cls, record: Mapping[str, Any]) -> Received:
        """A record of a Lambda SQS event (camel-cased keys, `stringValue` attributes)."""
        return cls(
            message_id=record["messageId"],
            receipt_handle=record["receiptHandle"],
            body=record["body"],
            receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)),
            attributes={
                name: value["stringValue"]
                for name, value in record.get("messageAttributes", {}).items()
                if value.get("stringValue") is not None
            },
        )


MessageHandler = Callable[[Received], Awaitable[None]]


def outbox_handler(handlers: Mapping[str, Sequence[Handler]]) -> MessageHandler:
    """Decode an outbox message (the body the forwarder sent) and run its topic's handlers."""

    async def handle(received: Received) -> None:
        message = decode_message(received.body.encode())
        topic = type(message).__name__
        for handler in handlers.get(topic, ()):
            await handler(message)

    return handle


def backoff_seconds(receive_count: int, base_seconds: float, max_seconds: int) -> int:
    """Hidden this long after failed delivery n: base, 2 x base, 4 x base, ... up to max."""
    return int(min(max_seconds, MAX_VISIBILITY_SECONDS, base_seconds * 2 ** (receive_count - 1)))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


class Settler:
    """What happens to a message after its handler ran: the policy both consumers share."""

    def __init__(
        self,
        sqs: Any,
        max_attempts: int = 5,
        backoff_base_seconds: float = 2.0,
        max_backoff_seconds: int = 900,
    ) -> None:
        self.sqs = sqs
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._dlq: dict[str, str | None] = {}
        self._urls: dict[str, str] = {}

    async def queue_url(self, arn: str) -> str:
        """A queue's URL from its ARN (`arn:aws:sqs:<region>:<account>:<name>`), cached."""
        if arn not in self._urls:
            *_, account, name = arn.split(":")
            response = await self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._urls[arn] = response["QueueUrl"]
        return self._urls[arn]

    async def dead_letter_url(self, queue_url: str) -> str | None:
        """The dead-letter queue named by the queue's redrive policy (cached), if any."""
        if queue_url not in self._dlq:
            response = await self.sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
            )
            policy = response.get("Attributes", {}).get("RedrivePolicy")
            target = json.loads(policy)["deadLetterTargetArn"] if policy else None
            self._dlq[queue_url] = None if target is None else await self.queue_url(target)
        return self._dlq[queue_url]

    async def failed(self, queue_url: str, received: Received, reason: str) -> bool:
        """Settle a failed delivery; True if it went to the dead-letter queue (and is gone
        from the source), False if it stays to be retried after a backoff."""
        if received.receive_count >= self.max_attempts and await self._park(
            queue_url, received, reason
        ):
            return True
        delay = backoff_seconds(
            received.receive_count, self.backoff_base_seconds, self.max_backoff_seconds
        )
        try:
            await self.sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=received.receipt_handle, VisibilityTimeout=delay
            )
        except (ClientError, BotoCoreError) as exc:  # the visibility timeout applies instead
            log.warning("could not delay a failed message", extra={"error": repr(exc)})
        return False

    async def _park(self, queue_url: str, received: Received, reason: str) -> bool:
        try:
            dlq = await self.dead_letter_url(queue_url)
            if dlq is None:
                log.error("no dead-letter queue for %s; the message stays", queue_url)
                return False
            ours = {"error": reason, "attempts": str(received.receive_count)}
            ours["source_queue"] = queue_url
            kept = dict(list(received.attributes.items())[: MAX_MESSAGE_ATTRIBUTES - len(ours)])
            await self.sqs.send_message(
                QueueUrl=dlq,
                MessageBody=received.body,
                MessageAttributes=string_attributes({**kept, **ours}),
            )
            await self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=received.receipt_handle)
        except (ClientError, BotoCoreError) as exc:
            # The redrive policy moves it on its next receive: nothing is lost.
            log.warning("could not dead-letter a message", extra={"error": repr(exc)})
            return False
        log.error(
            "message dead-lettered",
            extra={"message_id": received.message_id, "queue": queue_url, "reason": reason},
        )
        return True


async def _outcome(handle: MessageHandler, received: Received) -> str | None:
    try:
        # Each message runs in a task of its own (gather): its log lines name it.
        with working_on(f"sqs:{received.message_id}"):
            await handle(received)
    except Exception as exc:
        log.warning(
            "queue message handler failed",
            extra={"message_id": received.message_id, "error": repr(exc)},
        )
        return _reason(exc)
    return None


class LambdaBatch:
    """The body of an SQS-triggered Lambda: an event in, a partial batch response out.

    Configure the event-source mapping with `FunctionResponseTypes=["ReportBatchItemFailures"]`:
    Lambda then deletes every message not listed in `batchItemFailures`, which are
    the ones that failed and stay for a retry. A message that failed its last attempt
    is moved to the dead-letter queue here and so is not listed (it is done with).
    """

    def __init__(self, handle: MessageHandler, settler: Settler) -> None:
        self._handle = handle
        self._settler = settler

    async def __call__(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        records = event.get("Records", [])
        batch = [Received.from_lambda(record) for record in records]
        outcomes = await asyncio.gather(*(_outcome(self._handle, r) for r in batch))
        failures: list[dict[str, str]] = []
        for record, received, error in zip(records, batch, outcomes, strict=True):
            if error is None:
                continue
            queue_url = await self._settler.queue_url(record["eventSourceARN"])
            if not await self._settler.failed(queue_url, received, error):
                failures.append({"itemIdentifier": received.message_id})
        return {"batchItemFailures": failures}


class QueueConsumer:
    """Long-polls one queue and settles each message itself (long-running processes, tests)."""

    def __init__(
        self,
        settler: Settler,
        queue_url: str,
        handle: MessageHandler,
        batch_size: int = 10,
        wait_seconds: int = 20,
        idle_seconds: float = 0.2,
    ) -> None:
        self._settler = settler
        self._sqs = settler.sqs
        self.queue_url = queue_url
        self._handle = handle
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._idle_seconds = idle_seconds

    async def poll_once(self) -> int:
        """Receive one batch (waiting up to `wait_seconds` for it), handle and settle it."""
        response = await self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        batch = [Received.from_api(m) for m in response.get("Messages", [])]
        if not batch:
            return 0
        outcomes = await asyncio.gather(*(_outcome(self._handle, r) for r in batch))
        done = [r for r, error in zip(batch, outcomes, strict=True) if error is None]
        if done:
            await self._delete(done)
        for received, error in zip(batch, outcomes, strict=True):
            if error is not None:
                await self._settler.failed(self.queue_url, received, error)
        return len(batch)

    async def _delete(self, done: list[Received]) -> None:
        response = await self._sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": r.receipt_handle} for n, r in enumerate(done)],
        )
        for failed in response.get("Failed", []):
            # Handled but not deleted: it comes back, and the handler is idempotent.
            log.warning("could not delete a handled message", extra={"failure": failed})

    async def run(self) -> None:
        while True:
            try:
                received = await self.poll_once()
            except Exception:
                log.exception("queue poll failed; retrying", extra={"queue": self.queue_url})
                await asyncio.sleep(1.0)
                continue
            if not received and self._wait_seconds == 0:
                await asyncio.sleep(self._idle_seconds)  # short polling: do not spin


@contextlib.asynccontextmanager
async def consuming(consumers: Sequence[QueueConsumer]) -> Any:
    """Run the consumers as tasks for the lifetime of the block."""
    tasks = [asyncio.create_task(c.run(), name=f"sqs:{c.queue_url}") for c in consumers]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
