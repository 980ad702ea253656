"""The outbox forwarder: a Lambda on the table's stream that moves outbox items to SQS.

For each INSERT of an `OUTBOX#` item, in stream order, its payload (the message's
msgspec JSON) is sent to the queue of its topic (`workers.queues.TOPIC_QUEUES`),
with the outbox id and topic as message attributes; then the item is deleted, its
work done (deleting twice is harmless). Standard queues have no deduplication, so
a retried batch may send a message twice: consumers are idempotent, and the
`outbox_id` attribute names the duplicate.

On a failure the function stops and reports that record's SequenceNumber in
`batchItemFailures`: with `FunctionResponseTypes=["ReportBatchItemFailures"]` the
stream retries from there, so nothing after it is skipped. A topic with a queue
whose URL is not configured is such a failure (held in the stream, not dropped).
Event-source mapping: filter `{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk":
{"S": [{"prefix": "OUTBOX#"}]}}}}`, so item deletions and other items never invoke it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from booking.adapters.aws.dynamodb_stream import OutboxEntry, outbox_entries, report_lag
from booking.adapters.aws.messaging import string_attributes
from booking.bootstrap import Runtime
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function
from workers.queues import TOPIC_QUEUES, queue_urls

log = logging.getLogger(__name__)


class QueueNotConfigured(RuntimeError):
    pass


def _table_of(stream_arn: str) -> str:
    """`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>` → `<name>`."""
    return stream_arn.split(":table/", 1)[1].split("/", 1)[0]


class Forwarder:
    def __init__(
        self,
        sqs: Any,
        dynamodb: Any,
        urls: Mapping[str, str],
        topic_queues: Mapping[str, str] = TOPIC_QUEUES,
    ) -> None:
        self._sqs = sqs
        self._dynamodb = dynamodb
        self._urls = urls
        self._topic_queues = topic_queues

    async def __call__(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        records = event.get("Records", [])
        entries = outbox_entries(records)
        report_lag(entries)
        for entry in entries:
            try:
                await self._forward(entry, _table_of(records[0]["eventSourceARN"]))
            except Exception:
                log.exception(
                    "outbox forwarding failed", extra={"sequence_number": entry.sequence_number}
                )
                return {"batchItemFailures": [{"itemIdentifier": entry.sequence_number}]}
        return {"batchItemFailures": []}

    async def _forward(self, entry: OutboxEntry, table: str) -> None:
        queue = self._topic_queues.get(entry.topic)
        if queue is not None:
            url = self._urls.get(queue)
            if url is None:
                raise QueueNotConfigured(
                    f"{entry.topic} goes to the {queue} queue, which has no URL"
                )
            await self._sqs.send_message(
                QueueUrl=url,
                MessageBody=entry.payload.decode(),
                MessageAttributes=string_attributes({"topic": entry.topic, "outbox_id": entry.sk}),
            )
        await self._dynamodb.delete_item(
            TableName=table, Key={"pk": {"S": entry.pk}, "sk": {"S": entry.sk}}
        )


_environment = LambdaEnvironment()
_forwarder: Forwarder | None = None


@lambda_function("forwarder")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A DynamoDB Streams event in, the partial batch response (by SequenceNumber) out."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        global _forwarder  # noqa: PLW0603 - cached per execution environment on purpose
        if _forwarder is None:
            from booking.bootstrap_aws import AwsRuntime  # noqa: PLC0415 - aws dependencies

            assert isinstance(runtime, AwsRuntime), "the forwarder needs the aws runtime"
            _forwarder = Forwarder(
                runtime.clients.sqs, runtime.dynamo.client, queue_urls(runtime.settings)
            )
        return await _forwarder(event)

    return _environment.run(work)


def close() -> None:
    """Stop the runtime, close the loop and forget the forwarder built on it (tests, tools);
    Lambda never calls this."""
    global _forwarder  # noqa: PLW0603 - the per-environment cache, reset with it
    _environment.close()
    _forwarder = None
