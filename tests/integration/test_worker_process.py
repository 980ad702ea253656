"""`concertbook work` beside `concertbook serve --no-workers`, the two processes of
docker/compose.yaml, against moto's server (DynamoDB with its stream, SQS, SES): the API
only answers; everything after the request happens in the worker process, through the
table's stream and the queues, as on AWS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from booking.adapters.aws.dynamodb_table import dynamodb_client
from booking.adapters.aws.messaging import aws_client
from tests.moto_server import AWS_TEST_ENV, create_table, own_moto_server
from tests.posters import two_tone_jpeg
from tests.support import ApiDriver, hold, order, post_payment, tickets_of, wait_for

ROOT = Path(__file__).resolve().parents[2]
REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
QUEUES = ("payments", "notifications", "images", "webhooks")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server for SQS, SES and DynamoDB Streams, this module's own (the mail checks
    read moto's whole state)."""
    with own_moto_server(tmp_path_factory.mktemp("moto-work")) as own:
        yield own


async def _queues(endpoint: str) -> dict[str, str]:
    """Each queue with its dead-letter queue, as Terraform and the compose file make them."""
    urls = {}
    async with (
        aws_client("sqs", REGION, endpoint) as sqs,
        aws_client("ses", REGION, endpoint) as ses,
    ):
        await ses.verify_domain_identity(Domain="concertbook.example")
        for name in QUEUES:
            name_ = f"{name}-{uuid.uuid4().hex[:8]}"
            dlq = (await sqs.create_queue(QueueName=f"{name_}-dlq"))["QueueUrl"]
            arn = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
                "Attributes"
            ]["QueueArn"]
            redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 6})
            urls[name] = (
                await sqs.create_queue(
                    QueueName=name_,
                    Attributes={"VisibilityTimeout": "30", "RedrivePolicy": redrive},
                )
            )["QueueUrl"]
    return urls


async def _outbox_left(endpoint: str, table: str) -> int:
    async with dynamodb_client(REGION, endpoint) as client:
        scanned = await client.scan(
            TableName=table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "OUTBOX#"}},
        )
    return int(scanned["Count"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: IO[bytes]) -> Iterator[Any]:
    """`concertbook ARGS`, stopped by its PID (SIGTERM, then SIGKILL) afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def sent_mail(endpoint: str) -> list[dict[str, Any]]:
    data = httpx.get(endpoint + "/moto-api/data.json", timeout=30).json()
    return list(data.get("ses", {}).get("RawMessage", []))


@pytest.mark.slow
def test_the_worker_process_does_what_the_worker_functions_do(
    endpoint: str, tmp_path: Path
) -> None:
    """GIVEN `concertbook serve --no-workers` and `concertbook work` on one table, its stream
    and the queues WHEN a fan pays and an organizer uploads a poster THEN the worker delivers
    the gateway's webhook to the API, which queues it; the worker applies it, forwards the
    outbox through the stream to the queues, captures and issues the tickets, mails them
    once, indexes the concert for search, makes the poster's variants and leaves no outbox
    item behind; and it stops cleanly on SIGTERM."""
    urls = asyncio.run(_queues(endpoint))
    table = asyncio.run(create_table(endpoint))
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CONCERTBOOK_")},
        **AWS_TEST_ENV,
        "CONCERTBOOK_RUNTIME": "aws",
        "CONCERTBOOK_TABLE_NAME": table,
        "CONCERTBOOK_AWS_REGION": REGION,
        "CONCERTBOOK_AWS_ENDPOINT_URL": endpoint,
        "CONCERTBOOK_DATA_DIR": str(tmp_path / "data"),
        "CONCERTBOOK_PUBLIC_URL": base_url,
        "CONCERTBOOK_QUEUE_WAIT_SECONDS": "0",  # moto's server answers one request at a time
        "CONCERTBOOK_SWEEP_INTERVAL_SECONDS": "1",
        **{f"CONCERTBOOK_QUEUE_URL_{name.upper()}": url for name, url in urls.items()},
    }
    api_log = (tmp_path / "api.log").open("wb")
    worker_log = (tmp_path / "worker.log").open("wb")
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-workers"]
    with (
        api_log,
        worker_log,
        _process(serve, env, api_log),
        _process(["work"], env, worker_log) as worker,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):

        def up() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return client.get("/healthz").status_code == 200
            return False

        wait_for(up, timeout=30, interval=0.2)
        api = ApiDriver(client)
        organizer, performance = api.on_sale()
        fan = api.account()
        email = client.get("/api/v1/me", headers=fan).json()["email"]
        placed = order(client, fan, hold(client, fan, performance["id"], ["S1-A-1"])["id"])
        assert post_payment(client, fan, placed["id"]).status_code == 202
        poster = client.put(
            f"/api/v1/events/{performance['event_id']}/poster",
            headers=organizer,
            content=two_tone_jpeg(800, 450),
        )
        assert poster.status_code in {200, 201, 202}, poster.text

        def log_tail() -> str:
            return (tmp_path / "worker.log").read_text(errors="replace")[-3000:]

        try:
            (ticket,) = wait_for(lambda: tickets_of(client, fan, placed["id"]), timeout=60)
            assert ticket["unit_id"] == "S1-A-1"
            mailed = wait_for(
                lambda: [m for m in sent_mail(endpoint) if email in m["destinations"]],
                timeout=60,
            )
            hits = wait_for(
                lambda: client.get("/api/v1/search/concerts", params={"q": "아이유"}).json()[
                    "hits"
                ],
                timeout=60,
            )
            variants = wait_for(
                lambda: (
                    client.get(f"/api/v1/events/{performance['event_id']}")
                    .json()
                    .get("poster", {})
                    .get("variants")
                ),
                timeout=60,
            )
            wait_for(lambda: asyncio.run(_outbox_left(endpoint, table)) == 0, timeout=60)
        except AssertionError:
            print(log_tail())
            raise
        assert len(mailed) == 1
        assert [h["listing"]["performance_id"] for h in hits] == [performance["id"]]
        assert variants
        assert client.get(f"/api/v1/orders/{placed['id']}", headers=fan).json()["status"] == (
            "paid"
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0, log_tail()
