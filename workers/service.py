"""`concertbook work`: the aws runtime's worker functions as one long-running process.

Where no Lambda runs them (docker/compose.yaml, a container or a VM next to
`concertbook serve --no-workers`), the same code does the same work:

| Lambda function (docker/functions.json)   | here                                              |
|-------------------------------------------|---------------------------------------------------|
| forwarder: table stream → SQS             | a `StreamReader` on the table's stream, `Forwarder` |
| indexer: table stream → search index      | a second `StreamReader`, `index_stream_batch`     |
| payments, notifications, images, webhooks | a `QueueConsumer` per configured queue            |
| expiry: EventBridge schedule              | the sweep every `CONCERTBOOK_SWEEP_INTERVAL_SECONDS` |
| gateway-webhooks: EventBridge schedule    | the gateway simulator's delivery loop             |

Its figures (outbox lag, tickets sold by queued webhooks, ...) are written as CloudWatch EMF
lines on stdout once a minute, as the functions write theirs per invocation; a container's
log agent (the CloudWatch agent, Fluent Bit) turns them into the same metrics.

Each stream reader starts at the oldest record the stream keeps (TRIM_HORIZON), as a
new event-source mapping does, so nothing written before the process started is missed;
after a restart records are read again, which the forwarder's consumers and the indexer
absorb (they are idempotent, listings carry versions). A batch that fails is read again
after a pause, like a mapping's retry, and never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from booking.adapters.aws.dynamodb_stream import StreamReader, StreamRecord
from booking.adapters.aws.messaging import aws_client
from booking.bootstrap import Runtime
from booking.domain.telemetry import TELEMETRY
from booking.observability.emf import EmfRecorder
from booking.observability.meter import CatalogueTelemetry
from indexer.lambda_handler import index_stream_batch
from workers.forwarder import Forwarder
from workers.local import sweep_expired
from workers.queues import consumers, queue_urls
from workers.sqs import consuming

log = logging.getLogger(__name__)

METRICS_INTERVAL_SECONDS = 60.0


class BatchFailed(RuntimeError):
    """A stream batch that reported failed records: the reader reads it again."""


def _succeeded(consumer: str, result: Mapping[str, Any]) -> None:
    failures = result.get("batchItemFailures") or []
    if failures:
        raise BatchFailed(f"{consumer}: failed from record {failures[0]['itemIdentifier']}")


async def table_stream_arn(dynamodb: Any, table: str) -> str:
    """The table's current stream (Terraform and `table_definition()` enable it)."""
    described = await dynamodb.describe_table(TableName=table)
    arn = described["Table"].get("LatestStreamArn")
    if not arn:
        raise RuntimeError(f"table {table} has no stream: the workers read the outbox from it")
    return str(arn)


async def write_metrics(recorder: EmfRecorder, interval: float = METRICS_INTERVAL_SECONDS) -> None:
    """The figures as EMF lines every `interval` seconds, and what is left when stopped."""
    try:
        while True:
            await asyncio.sleep(interval)
            recorder.flush()
    finally:
        recorder.flush()


@contextlib.asynccontextmanager
async def working(runtime: Runtime) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run every worker on a started aws runtime for the lifetime of the block."""
    from booking.bootstrap_aws import AwsRuntime  # noqa: PLC0415 - aws dependencies

    assert isinstance(runtime, AwsRuntime), "concertbook work needs the aws runtime"
    settings = runtime.settings
    async with contextlib.AsyncExitStack() as stack:
        streams = await stack.enter_async_context(
            aws_client("dynamodbstreams", settings.aws.aws_region, settings.aws.aws_endpoint_url)
        )
        arn = await table_stream_arn(runtime.dynamo.client, runtime.dynamo.table)
        forwarder = Forwarder(runtime.clients.sqs, runtime.dynamo.client, queue_urls(settings))

        async def forward(records: Sequence[StreamRecord]) -> None:
            # Records from the Streams API lack the ARN that a Lambda event carries.
            event = {"Records": [{**record, "eventSourceARN": arn} for record in records]}
            _succeeded("forwarder", await forwarder(event))

        async def index(records: Sequence[StreamRecord]) -> None:
            _succeeded("indexer", await index_stream_batch(runtime, records))

        queues = consumers(runtime)
        log.info(
            "workers started",
            extra={"stream": arn, "queues": [c.queue_url for c in queues]},
        )
        recorder = EmfRecorder()
        TELEMETRY.install(CatalogueTelemetry(recorder))
        tasks = [
            asyncio.create_task(write_metrics(recorder), name="metrics"),
            asyncio.create_task(StreamReader(streams, arn, forward).run(), name="forwarder"),
            asyncio.create_task(StreamReader(streams, arn, index).run(), name="indexer"),
            asyncio.create_task(
                sweep_expired(runtime.booking.expiry, settings.local.sweep_interval_seconds),
                name="expiry",
            ),
        ]
        try:
            async with consuming(queues) as queue_tasks:
                yield [*tasks, *queue_tasks]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
