"""The scheduled delivery of the aws runtime (`workers/gateway_webhooks.handler`):
webhooks another process made wait in the table, and an invocation delivers them, signed,
to the API's public URL, retrying one that was refused."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from booking.adapters.aws.dynamodb_gateway_state import DynamoGatewayState
from booking.adapters.aws.dynamodb_table import Dynamo, dynamodb_client
from booking.adapters.payments.simulated_gateway import GatewayBehaviour, SimulatedGateway
from booking.adapters.system_clock import SystemClock
from booking.domain.payments import WebhookEvent, verify_webhook_signature
from booking.settings import Settings, variables
from tests.moto_server import AWS_TEST_ENV, create_table
from tests.support import dynamodb_gateway_payment
from workers import gateway_webhooks

SECRET = b"delivery-test-secret"


class Receiver:
    """Our webhook endpoint as the function sees it: refuses the first delivery (503)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append((self.path, body, self.headers["webhook-signature"]))
                self.send_response(503 if len(receiver.received) == 1 else 204)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        thread.join(10)


class Context:
    """What the function reads of its Lambda context: the time it has left."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._end - time.monotonic()) * 1000)


def test_a_scheduled_invocation_delivers_what_another_process_made(
    moto_endpoint: str,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN an authorization made by another process (its webhook waits in the table) WHEN
    the scheduled function runs THEN it posts the webhook, signed, to the API's public URL;
    refused once, it is delivered again in the same invocation, and is then done."""
    table = asyncio.run(create_table(moto_endpoint, stream=False))
    settings = Settings.of(runtime="aws", table_name=table, aws_endpoint_url=moto_endpoint)

    async def authorize_elsewhere() -> str:
        async with dynamodb_client(AWS_TEST_ENV["AWS_DEFAULT_REGION"], moto_endpoint) as client:
            clock = SystemClock()
            state = DynamoGatewayState(Dynamo(client, table), clock)
            behaviour = GatewayBehaviour(min_delay_ms=0, max_delay_ms=0)
            gateway = SimulatedGateway(state, SECRET, clock, behaviour)
            return (await gateway.create_payment("ord_sched", 88_000, "tok_visa", "k1")).id

    payment_id = asyncio.run(authorize_elsewhere())
    for variable in variables():
        monkeypatch.delenv(variable.name, raising=False)
    for name, value in {
        **AWS_TEST_ENV,
        "CONCERTBOOK_RUNTIME": "aws",
        "CONCERTBOOK_TABLE_NAME": table,
        "CONCERTBOOK_AWS_ENDPOINT_URL": moto_endpoint,
        "CONCERTBOOK_DATA_DIR": str(tmp_path),
        "CONCERTBOOK_WEBHOOK_SECRET": SECRET.decode(),
        "CONCERTBOOK_PUBLIC_URL": receiver.url,
    }.items():
        monkeypatch.setenv(name, value)
    gateway_webhooks.close()
    try:
        result = gateway_webhooks.handler({"source": "aws.events"}, Context(8.0))
    finally:
        gateway_webhooks.close()

    assert result["busy_rounds"] == 2, result  # the refused delivery, then the retry
    assert len(receiver.received) == 2
    for path, body, signature in receiver.received:
        assert path == "/api/v1/payments/webhook"
        verify_webhook_signature(SECRET, signature, body, int(SystemClock().now().timestamp()))
        event = msgspec.json.decode(body, type=WebhookEvent)
        assert (event.type, event.data.payment_id) == ("payment.authorized", payment_id)
    assert dynamodb_gateway_payment(settings, payment_id)["status"] == "authorized"
