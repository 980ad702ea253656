"""The aws workers against moto's server: SQS consumers and their dead-letter queues, the
stream → SQS forwarder, the SES mailer, the scheduled expiry sweep, queued webhooks."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import Dynamo, marshal
from booking.adapters.aws.messaging import AwsClients, aws_client
from booking.adapters.aws.ses_mailer import MailInProgress, SesMailer
from booking.adapters.system_clock import SystemClock
from booking.bootstrap_aws import build_aws
from booking.domain.messages import (
    HoldPlaced,
    OrderClosed,
    OrderPaid,
    OrderPlaced,
    OutboxMessage,
    TicketsIssued,
    encode_message,
)
from booking.services.notifications import confirmation_key
from booking.settings import Settings
from tests.moto_server import AWS_TEST_ENV, create_table, own_moto_server
from tests.support import (
    ApiDriver,
    WebhookTap,
    gateway_payment,
    hold,
    order,
    post_payment,
    send_webhook,
    tickets_of,
    wait_for,
)
from workers import expiry
from workers.forwarder import Forwarder
from workers.local import background
from workers.queues import QUEUES, consumers
from workers.sqs import LambdaBatch, QueueConsumer, Received, Settler, outbox_handler

REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
ATTEMPTS = 3
SENDER = "tickets@concertbook.example"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server for SQS, SES and DynamoDB Streams, this module's own (the mail checks
    read moto's whole state)."""
    with own_moto_server(tmp_path_factory.mktemp("moto-workers")) as own:
        yield own


@contextlib.asynccontextmanager
async def clients(endpoint: str, *services: str) -> AsyncIterator[list[Any]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(aws_client(s, REGION, endpoint)) for s in services]


async def make_queue(sqs: Any, name: str, visibility: int = 0) -> tuple[str, str]:
    """A queue and its dead-letter queue (redrive after ATTEMPTS + 1 receives, the backstop)."""
    name = f"{name}-{uuid.uuid4().hex[:8]}"
    dlq = (await sqs.create_queue(QueueName=f"{name}-dlq"))["QueueUrl"]
    dlq_arn = await queue_arn(sqs, dlq)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": ATTEMPTS + 1}
    url = (
        await sqs.create_queue(
            QueueName=name,
            Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(redrive)},
        )
    )["QueueUrl"]
    return url, dlq


async def queue_arn(sqs: Any, url: str) -> str:
    attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


async def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (received with all attributes, then deleted)."""
    found: list[dict[str, Any]] = []
    while True:
        response = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = response.get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(message)
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


async def queue_size(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]
    return sum(int(attributes[n]) for n in names)


def attribute(message: dict[str, Any], name: str) -> str:
    return str(message["MessageAttributes"][name]["StringValue"])


class Recorder:
    """Outbox handlers that record what they were given; OrderClosed for `boom` raises."""

    def __init__(self) -> None:
        self.handled: list[OutboxMessage] = []
        self.tries: collections.Counter[str] = collections.Counter()

    async def __call__(self, message: OutboxMessage) -> None:
        key = getattr(message, "order_id", "")
        self.tries[key] += 1
        if isinstance(message, OrderClosed) and message.order_id == "boom":
            raise RuntimeError("the gateway said no")
        self.handled.append(message)

    def handlers(self) -> dict[str, list[Any]]:
        return {"OrderPlaced": [self], "OrderClosed": [self]}


GOOD = [OrderPlaced(f"ord_{n}", "prf_1", 1000 * n) for n in (1, 2, 3)]
POISON = OrderClosed("boom", "cancelled", None, refund=False)


async def send_outbox(sqs: Any, url: str, message: OutboxMessage, body: str | None = None) -> str:
    response = await sqs.send_message(
        QueueUrl=url,
        MessageBody=body if body is not None else encode_message(message).decode(),
        MessageAttributes={"topic": {"DataType": "String", "StringValue": type(message).__name__}},
    )
    return str(response["MessageId"])


def test_consumer_deletes_good_messages_and_parks_the_poison_one_with_its_reason(
    endpoint: str,
) -> None:
    """GIVEN a queue holding three good messages, one whose handler raises and one that
    does not decode WHEN the long-poll consumer runs (visibility 0 s, 3 attempts) THEN the
    good ones are handled once and deleted, and both poison messages are in the DLQ after
    exactly 3 attempts, with the reason, the attempts and the source queue as attributes."""

    async def scenario() -> None:
        async with clients(endpoint, "sqs") as (sqs,):
            url, dlq = await make_queue(sqs, "payments")
            recorder = Recorder()
            undecodable = "{not an outbox message"
            for message in GOOD:
                await send_outbox(sqs, url, message)
            await send_outbox(sqs, url, POISON)
            bad_id = await send_outbox(sqs, url, POISON, body=undecodable)
            handle = outbox_handler(recorder.handlers())
            deliveries: collections.Counter[str] = collections.Counter()

            async def counting(received: Received) -> None:
                deliveries[received.message_id] += 1
                await handle(received)

            settler = Settler(sqs, max_attempts=ATTEMPTS, backoff_base_seconds=0)
            consumer = QueueConsumer(settler, url, counting, wait_seconds=0)
            for _ in range(20):
                await consumer.poll_once()
                if await queue_size(sqs, url) == 0:
                    break
            assert await queue_size(sqs, url) == 0

            assert sorted(recorder.handled, key=repr) == sorted(GOOD, key=repr)
            assert recorder.tries["boom"] == ATTEMPTS
            assert deliveries[bad_id] == ATTEMPTS
            parked = await drain(sqs, dlq)
            assert len(parked) == 2
            by_body = {m["Body"]: m for m in parked}
            raised = by_body[encode_message(POISON).decode()]
            assert attribute(raised, "error") == "RuntimeError: the gateway said no"
            assert attribute(raised, "attempts") == str(ATTEMPTS)
            assert attribute(raised, "source_queue") == url
            assert attribute(raised, "topic") == "OrderClosed"
            broken = by_body[undecodable]
            assert attribute(broken, "error").startswith(("DecodeError", "ValidationError"))
            assert attribute(broken, "attempts") == str(ATTEMPTS)

    asyncio.run(scenario())


def lambda_sqs_event(messages: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    """Received messages in the shape of the SQS event Lambda hands a function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def test_lambda_batch_reports_exactly_the_failed_messages(endpoint: str) -> None:
    """GIVEN a batch of good messages and one whose handler raises WHEN the SQS Lambda body
    handles it (Lambda deleting what it does not list) THEN each partial batch response
    lists exactly the poison message until its last attempt, when it is moved to the DLQ
    with its reason and listed no more; the good messages were handled once."""

    async def scenario() -> None:
        async with clients(endpoint, "sqs") as (sqs,):
            url, dlq = await make_queue(sqs, "payments")
            arn = await queue_arn(sqs, url)
            recorder = Recorder()
            for message in GOOD:
                await send_outbox(sqs, url, message)
            poison_id = await send_outbox(sqs, url, POISON)
            batch = LambdaBatch(
                outbox_handler(recorder.handlers()),
                Settler(sqs, max_attempts=ATTEMPTS, backoff_base_seconds=0),
            )
            responses = []
            for _ in range(ATTEMPTS):
                received = (
                    await sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=10,
                        WaitTimeSeconds=0,
                        MessageSystemAttributeNames=["All"],
                        MessageAttributeNames=["All"],
                    )
                )["Messages"]
                response = await batch(lambda_sqs_event(received, arn))
                responses.append(response)
                listed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
                for message in received:  # what the event source mapping does
                    if message["MessageId"] not in listed:
                        with contextlib.suppress(Exception):
                            await sqs.delete_message(
                                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                            )
            assert responses == [
                {"batchItemFailures": [{"itemIdentifier": poison_id}]},
                {"batchItemFailures": [{"itemIdentifier": poison_id}]},
                {"batchItemFailures": []},
            ]
            assert sorted(recorder.handled, key=repr) == sorted(GOOD, key=repr)
            assert await queue_size(sqs, url) == 0
            (parked,) = await drain(sqs, dlq)
            assert parked["MessageId"] != poison_id  # a new message, with the reason
            assert attribute(parked, "error") == "RuntimeError: the gateway said no"
            assert attribute(parked, "attempts") == str(ATTEMPTS)
            assert attribute(parked, "source_queue") == url

    asyncio.run(scenario())


def lambda_stream_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """Stream records as the Streams API returns them, in the JSON shape Lambda delivers:
    binary attributes base64-encoded, the creation time in epoch seconds."""

    def jsonable(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, dict):
            return {k: jsonable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [jsonable(v) for v in value]
        return value

    return {"Records": [{**jsonable(record), "eventSourceARN": stream_arn} for record in records]}


async def stream_records(endpoint: str, table: str) -> tuple[list[dict[str, Any]], str]:
    async with clients(endpoint, "dynamodb", "dynamodbstreams") as (dynamodb, streams):
        arn = (await dynamodb.describe_table(TableName=table))["Table"]["LatestStreamArn"]
        shards = (await streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
        records: list[dict[str, Any]] = []
        for shard in shards:
            iterator = (
                await streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            records += (await streams.get_records(ShardIterator=iterator))["Records"]
        return records, arn


def test_forwarder_sends_outbox_inserts_to_the_queue_of_their_topic(endpoint: str) -> None:
    """GIVEN outbox items written to a table with a stream (and an item that is no outbox
    entry) WHEN the forwarder gets the stream's records as a Lambda event THEN OrderPaid and
    OrderClosed land in `payments`, TicketsIssued in `notifications`, each with its topic and
    outbox id; a topic no queue carries is not sent; the forwarded items are deleted.
    With the notifications queue unconfigured, the batch fails at that record's
    SequenceNumber, after the records before it were forwarded."""
    messages: list[OutboxMessage] = [
        OrderPaid("ord_1", "pay_1", "gw_1"),
        HoldPlaced("hld_1", "prf_1", 2),
        TicketsIssued("ord_1", "acc_1"),
        OrderClosed("ord_2", "expired", "gw_2", refund=False),
    ]

    async def scenario() -> None:
        table = await create_table(endpoint)
        async with clients(endpoint, "sqs", "dynamodb") as (sqs, dynamodb):
            payments, _ = await make_queue(sqs, "payments")
            notifications, _ = await make_queue(sqs, "notifications")
            items = [outbox_item(m, 1_700_000_000_000 + n) for n, m in enumerate(messages)]
            for item in [*items, {"pk": "ORD#ord_1", "sk": "ORD", "status": "paid"}]:
                await dynamodb.put_item(TableName=table, Item=marshal(item))
            records, arn = await stream_records(endpoint, table)
            event = lambda_stream_event(records, arn)
            assert len(event["Records"]) == 5

            misconfigured = Forwarder(sqs, dynamodb, {"payments": payments})
            response = await misconfigured(event)
            tickets_record = next(
                r
                for r in event["Records"]
                if r["dynamodb"]["NewImage"].get("topic", {}).get("S") == "TicketsIssued"
            )
            assert response == {
                "batchItemFailures": [
                    {"itemIdentifier": tickets_record["dynamodb"]["SequenceNumber"]}
                ]
            }
            assert [attribute(m, "topic") for m in await drain(sqs, payments)] == ["OrderPaid"]

            forwarder = Forwarder(
                sqs, dynamodb, {"payments": payments, "notifications": notifications}
            )
            assert await forwarder(event) == {"batchItemFailures": []}
            sent = {
                "payments": await drain(sqs, payments),
                "notifications": await drain(sqs, notifications),
            }
            by_id = {
                str(item["sk"]): message for item, message in zip(items, messages, strict=True)
            }
            routed = {
                queue: [(attribute(m, "topic"), by_id[attribute(m, "outbox_id")]) for m in found]
                for queue, found in sent.items()
            }
            assert routed == {
                "payments": [("OrderPaid", messages[0]), ("OrderClosed", messages[3])],
                "notifications": [("TicketsIssued", messages[2])],
            }
            for found in sent.values():
                for m in found:
                    assert m["Body"] == encode_message(by_id[attribute(m, "outbox_id")]).decode()
            left = await dynamodb.scan(TableName=table)
            assert [i["pk"]["S"] for i in left["Items"]] == ["ORD#ord_1"]

    asyncio.run(scenario())


def sent_mail(endpoint: str) -> list[dict[str, Any]]:
    """What moto's SES recorded as sent (raw messages), from its state endpoint."""
    data = httpx.get(endpoint + "/moto-api/data.json", timeout=10).json()
    return list(data.get("ses", {}).get("RawMessage", []))


def mail(to: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"K-ConcertBook <{SENDER}>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("your tickets")
    return message


def test_ses_mailer_sends_once_per_key(endpoint: str) -> None:
    """GIVEN a verified sender WHEN the same mail key is sent twice THEN SES got one message
    (moto records it) and the marker says sent; a fresh claim by another worker makes a
    duplicate wait (MailInProgress), a stale one is taken over; an SES refusal (unverified
    sender) releases the claim so the retry sends."""

    async def scenario() -> None:
        table = await create_table(endpoint, stream=False)
        async with contextlib.AsyncExitStack() as stack:
            aws = AwsClients()
            await aws.open(stack, REGION, endpoint)
            dynamo = Dynamo(
                await stack.enter_async_context(aws_client("dynamodb", REGION, endpoint)), table
            )
            mailer = SesMailer(aws, dynamo, SystemClock(), lease=timedelta(minutes=5))
            await aws.ses.verify_email_identity(EmailAddress=SENDER)
            to = f"fan-{uuid.uuid4().hex[:8]}@test.concertbook"

            assert await mailer.send("order-1", mail(to, "Your tickets for A")) is True
            assert await mailer.send("order-1", mail(to, "Your tickets for A")) is False
            ours = [m for m in sent_mail(endpoint) if to in m["destinations"]]
            assert len(ours) == 1
            assert "Subject: Your tickets for A" in ours[0]["raw_data"]
            marker = await dynamo.get("MAIL#order-1", "MAIL")
            assert marker is not None and marker["mail_state"] == "sent"

            now_ms = int(datetime.now().timestamp() * 1000)
            for key, claimed_at in (("order-2", now_ms), ("order-3", now_ms - 10 * 60_000)):
                await dynamo.client.put_item(
                    TableName=table,
                    Item=marshal(
                        {
                            "pk": f"MAIL#{key}",
                            "sk": "MAIL",
                            "mail_state": "sending",
                            "claim": "another-worker",
                            "claimed_at_ms": claimed_at,
                        }
                    ),
                )
            with pytest.raises(MailInProgress):
                await mailer.send("order-2", mail(to, "Your tickets for B"))
            assert await mailer.send("order-3", mail(to, "Your tickets for C")) is True

            unverified = mail(to, "Your tickets for D")
            del unverified["From"]
            unverified["From"] = "nobody@unverified.example"
            with pytest.raises(Exception, match=r"not verified|MessageRejected"):
                await mailer.send("order-4", unverified)
            assert await dynamo.get("MAIL#order-4", "MAIL") is None
            assert await mailer.send("order-4", mail(to, "Your tickets for D")) is True
            subjects = sorted(
                line
                for m in sent_mail(endpoint)
                if to in m["destinations"]
                for line in m["raw_data"].splitlines()
                if line.startswith("Subject:")
            )
            assert subjects == [
                "Subject: Your tickets for A",
                "Subject: Your tickets for C",
                "Subject: Your tickets for D",
            ]

    asyncio.run(scenario())


class FakeStore:
    """`expire_due` answers from a script (the sweep's loop, not the store, is under test)."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.limits: list[int] = []

    async def expire_due(self, limit: int) -> int:
        self.limits.append(limit)
        return self.answers.pop(0) if self.answers else 0


def test_expiry_sweeps_in_batches_until_nothing_is_left_or_time_runs_out() -> None:
    store = FakeStore([200, 200, 13, 0])
    run = asyncio.run(expiry.expire_until_done(store, lambda: 60.0, batch=200))
    assert (run.expired, run.passes, run.done) == (413, 4, True)
    assert store.limits == [200] * 4

    clock = iter([30.0, 20.0, 4.0])
    store = FakeStore([200] * 10)
    run = asyncio.run(expiry.expire_until_done(store, lambda: next(clock), batch=200))
    assert (run.expired, run.passes, run.done) == (400, 2, False)


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_scheduled_expiry_handler_runs_on_the_aws_runtime(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the aws runtime configured from the environment WHEN the EventBridge schedule
    invokes the expiry handler twice THEN it sweeps on the same runtime and reports done."""
    table = asyncio.run(create_table(endpoint, stream=False))
    for name, value in {
        "CONCERTBOOK_RUNTIME": "aws",
        "CONCERTBOOK_TABLE_NAME": table,
        "CONCERTBOOK_AWS_ENDPOINT_URL": endpoint,
        "CONCERTBOOK_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    try:
        for _ in range(2):
            assert expiry.handler(scheduled, LambdaContext()) == {
                "expired": 0,
                "passes": 1,
                "done": True,
            }
    finally:
        expiry._environment.close()


@pytest.fixture
def queued_webhooks(endpoint: str, tmp_path: Path) -> Iterator[tuple[ApiDriver, Any, str]]:
    """The aws runtime with a `webhooks` queue: the API queues verified webhooks and the
    process's own consumer applies them; mail goes through SES (sender verified)."""

    async def setup() -> tuple[dict[str, str], str]:
        async with clients(endpoint, "sqs", "ses") as (sqs, ses):
            await ses.verify_domain_identity(Domain="concertbook.example")
            urls = {q: (await make_queue(sqs, q, visibility=30))[0] for q in QUEUES}
            return urls, await create_table(endpoint)

    urls, table = asyncio.run(setup())
    runtime = build_aws(
        Settings.of(
            runtime="aws",
            table_name=table,
            aws_endpoint_url=endpoint,
            data_dir=tmp_path,
            sweep_interval_seconds=0.2,
            queue_url_webhooks=urls["webhooks"],
            queue_url_payments=urls["payments"],
            queue_url_notifications=urls["notifications"],
            queue_max_attempts=ATTEMPTS,
            queue_wait_seconds=0,  # moto's server here answers one request at a time
        )
    )
    with TestClient(create_app(runtime, background=background)) as client:
        yield ApiDriver(client), runtime, urls["webhooks"]


def test_webhooks_are_queued_after_verification_and_applied_once_by_the_worker(
    queued_webhooks: tuple[ApiDriver, Any, str], endpoint: str
) -> None:
    """GIVEN `CONCERTBOOK_QUEUE_URL_WEBHOOKS` WHEN a fan pays THEN the gateway's webhook is
    answered 204 once SQS holds it, the worker confirms the order, tickets are issued and one
    confirmation mail goes out through SES; a badly signed webhook is refused (401) and never
    queued; the same event queued three more times changes nothing."""
    api, runtime, url = queued_webhooks
    c = api.client
    _, performance = api.on_sale()
    fan = api.account()
    me = c.get("/api/v1/me", headers=fan).json()
    placed = order(c, fan, hold(c, fan, performance["id"], ["S1-A-1", "S1-A-2"])["id"])
    tap = WebhookTap()
    runtime.gateway.attach(tap)
    assert post_payment(c, fan, placed["id"]).status_code == 202
    body = json.dumps(tap.wait_event("payment.authorized", placed["id"])).encode()

    refused = send_webhook(c, b"not the secret", body)
    assert refused.status_code == 401, refused.text
    assert c.get(f"/api/v1/orders/{placed['id']}", headers=fan).json()["status"] != "paid"

    secret = runtime.settings.resolved_webhook_secret()
    for _ in range(4):
        assert send_webhook(c, secret, body).status_code == 204
    tickets = wait_for(lambda: tickets_of(c, fan, placed["id"]), timeout=30)
    assert len(tickets) == 2
    assert c.get(f"/api/v1/orders/{placed['id']}", headers=fan).json()["status"] == "paid"

    def mailed() -> list[dict[str, Any]]:
        return [m for m in sent_mail(endpoint) if me["email"] in m["destinations"]]

    (confirmation,) = wait_for(mailed, timeout=30)
    for ticket in tickets:
        assert ticket["code"] in confirmation["raw_data"].replace("=\r\n", "").replace("=\n", "")

    async def settled() -> int:
        async with clients(endpoint, "sqs") as (sqs,):
            return await queue_size(sqs, url)

    wait_for(lambda: asyncio.run(settled()) == 0, timeout=30)
    assert tickets_of(c, fan, placed["id"]) == tickets
    assert len(mailed()) == 1
    marker = asyncio.run(_marker(endpoint, runtime.settings.aws.table_name, placed["id"]))
    assert marker == "sent"


async def _marker(endpoint: str, table: str, order_id: str) -> str | None:
    async with clients(endpoint, "dynamodb") as (dynamodb,):
        item = await Dynamo(dynamodb, table).get(f"MAIL#{confirmation_key(order_id)}", "MAIL")
        return None if item is None else str(item["mail_state"])


def test_duplicate_and_early_queue_deliveries_have_one_effect(
    queued_webhooks: tuple[ApiDriver, Any, str], endpoint: str
) -> None:
    """GIVEN the payments and notifications queues WHEN a TicketsIssued overtakes its order's
    payment, and after payment OrderPaid and TicketsIssued are each delivered twice more
    THEN the early one mails nothing, and the order has one set of tickets, a captured
    payment and exactly one confirmation mail; every queue ends empty."""
    api, runtime, _ = queued_webhooks
    c = api.client
    assert isinstance(c, TestClient)  # its blocking portal runs the queue work below
    _, performance = api.on_sale()
    fan = api.account()
    me = c.get("/api/v1/me", headers=fan).json()
    placed = order(c, fan, hold(c, fan, performance["id"], ["S1-B-1"])["id"])
    settings = runtime.settings
    queue_consumers = consumers(runtime, ("payments", "notifications"))

    async def deliver(queue_url: str, message: OutboxMessage) -> None:
        await runtime.clients.sqs.send_message(
            QueueUrl=queue_url, MessageBody=encode_message(message).decode()
        )

    async def drain_queues() -> None:
        for consumer in queue_consumers:
            while await consumer.poll_once():
                pass

    def mailed() -> list[dict[str, Any]]:
        return [m for m in sent_mail(endpoint) if me["email"] in m["destinations"]]

    c.blocking_portal.call(
        deliver, settings.queues.queue_url_notifications, TicketsIssued(placed["id"])
    )
    c.blocking_portal.call(drain_queues)
    assert mailed() == []

    assert post_payment(c, fan, placed["id"]).status_code == 202
    tickets = wait_for(lambda: tickets_of(c, fan, placed["id"]), timeout=30)
    wait_for(mailed, timeout=30)
    (payment,) = c.get(f"/api/v1/orders/{placed['id']}/payments", headers=fan).json()
    stored = c.blocking_portal.call(runtime.booking.payments.get_payment, payment["id"])
    paid = OrderPaid(placed["id"], stored.id, stored.gateway_payment_id)
    for _ in range(2):
        c.blocking_portal.call(deliver, settings.queues.queue_url_payments, paid)
        c.blocking_portal.call(
            deliver, settings.queues.queue_url_notifications, TicketsIssued(placed["id"])
        )
    c.blocking_portal.call(drain_queues)

    assert tickets_of(c, fan, placed["id"]) == tickets
    assert len(mailed()) == 1
    assert gateway_payment(runtime, paid.gateway_payment_id)["status"] == "captured"

    async def sizes() -> list[int]:
        return [await queue_size(runtime.clients.sqs, q.queue_url) for q in queue_consumers]

    assert c.blocking_portal.call(sizes) == [0, 0]
