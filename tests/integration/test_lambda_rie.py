"""The API as a container-image Lambda, driven by real API Gateway events.

`api.lambda_handler.handler` gets API Gateway HTTP API events (payload format 2.0, built
from the templates in `tests/events/`) and answers with the dicts API Gateway turns back
into HTTP responses. Two ways in, one scenario:

- under the AWS Lambda Runtime Interface Emulator (RIE): the binary that
  `tools/build-rie.sh` builds runs `python -m awslambdaric api.lambda_handler.handler`
  exactly as the image's ENTRYPOINT/CMD do, and each request is one
  `POST /2015-03-31/functions/function/invocations`;
- in process (fast): the same events handed to `handler` directly, JSON round-tripped
  as the runtime interface client would.

An httpx transport turns each request into an event and the function's answer into a
response, so the scenario uses the same helpers as the HTTP tests; the raw Lambda
response stays in `response.extensions["lambda"]` for assertions on its shape.

The payment gateway's webhook is not delivered by the gateway here (a Lambda runs no
background work): the test reads the payment the simulated gateway recorded, builds and
signs the `payment.authorized` event itself and posts it as one more API Gateway event.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import botocore.session
import httpx
import msgspec
import pytest
from mangum.types import LambdaCognitoIdentity, LambdaMobileClientContext

from api import lambda_handler
from booking.domain.payments import (
    WebhookEvent,
    WebhookEventType,
    WebhookPayload,
    webhook_signature,
)
from booking.settings import variables
from tests.live_server import free_port, settings_env
from tests.moto_server import AWS_TEST_ENV, create_table
from tests.support import (
    ApiDriver,
    assert_problem,
    get_order,
    hold,
    new_key,
    order,
    post_payment,
    query,
    skip_unless_available,
    tickets_of,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "tests" / "events"
RIE_BINARY = ROOT / ".cache" / "bin" / "aws-lambda-rie"
HANDLER = "api.lambda_handler.handler"

# The runtime behind the function, as CONCERTBOOK_RUNTIME. Adding "aws" here (with its
# variables in `function_env`) runs every test below on it too.
RUNTIMES = ["local", "aws"]

FUNCTION_TIMEOUT_SECONDS = 60
"""The function's timeout inside the RIE (AWS_LAMBDA_FUNCTION_TIMEOUT)."""
INVOKE_TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS + 10.0
"""How long the test waits for one invocation (the first one also imports and builds)."""
RIE_START_TIMEOUT_SECONDS = 15.0
RIE_STOP_TIMEOUT_SECONDS = 10.0

APIGW_BASE64 = "apigw_base64"
"""httpx request extension: deliver this request's body base64-encoded (isBase64Encoded)."""
LAMBDA_RESPONSE_KEYS = {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def function_env(
    runtime: str, data_dir: Path, webhook_secret: bytes, request: pytest.FixtureRequest
) -> dict[str, str]:
    """The function's configuration for `runtime`; `aws` gets its own table on moto."""
    if runtime == "local":
        return settings_env(
            runtime="local", data_dir=data_dir, webhook_secret=webhook_secret.decode()
        )
    endpoint: str = request.getfixturevalue("moto_endpoint")
    table = asyncio.run(create_table(endpoint))
    return {
        **AWS_TEST_ENV,
        **settings_env(
            runtime="aws",
            data_dir=data_dir,
            webhook_secret=webhook_secret.decode(),
            table_name=table,
            aws_endpoint_url=endpoint,
        ),
    }


# -- API Gateway HTTP API events (payload format 2.0) ---------------------------------------
def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


_TEMPLATES = {"get": load_event("apigw_v2_get.json"), "post": load_event("apigw_v2_post.json")}


def apigw_event(
    method: str,
    path: str,
    query_string: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An event as API Gateway sends it for this request: the template with its request."""
    event = copy.deepcopy(_TEMPLATES["post" if body else "get"])
    merged: dict[str, str] = {
        k: v for k, v in event["headers"].items() if k not in {"content-type", "content-length"}
    }
    given: dict[str, list[str]] = {}
    for name, value in headers or []:
        given.setdefault(name.lower(), []).append(value)
    cookies = [c.strip() for v in given.pop("cookie", []) for c in v.split(";") if c.strip()]
    for name in ("host", "content-length", "connection", "accept-encoding", "user-agent"):
        given.pop(name, None)  # API Gateway's own values (from the template) stand
    merged.update({name: ",".join(values) for name, values in given.items()})
    if body:
        merged["content-length"] = str(len(body))
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
        event["isBase64Encoded"] = base64_body
    else:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    event["headers"] = merged
    if cookies:
        event["cookies"] = cookies
    event["rawPath"] = path
    event["rawQueryString"] = query_string
    if query_string:
        params: dict[str, list[str]] = {}
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            params.setdefault(key, []).append(value)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    now = datetime.now(UTC)
    context = event["requestContext"]
    context["http"]["method"] = method
    context["http"]["path"] = path
    context["requestId"] = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
    context["time"] = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    context["timeEpoch"] = int(now.timestamp() * 1000)
    return event


def lambda_response(request: httpx.Request, result: dict[str, Any]) -> httpx.Response:
    """The HTTP response API Gateway makes of the function's answer (format 2.0)."""
    if "statusCode" not in result:
        raise AssertionError(f"the function did not answer with a response: {result}")
    assert set(result) <= LAMBDA_RESPONSE_KEYS, result
    assert isinstance(result["statusCode"], int), result
    headers = result.get("headers", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()), headers
    body = result.get("body", "")
    assert isinstance(body, str), result
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return httpx.Response(
        result["statusCode"],
        headers=[*headers.items(), *(("set-cookie", c) for c in result.get("cookies", []))],
        content=content,
        request=request,
        extensions={"lambda": result},
    )


class LambdaTransport(httpx.BaseTransport):
    """Sends each httpx request to a Lambda function as an API Gateway event."""

    def __init__(self, invoke: Invoke) -> None:
        self.invoke = invoke
        self.invocations = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        event = apigw_event(
            request.method,
            request.url.path,
            request.url.query.decode(),
            list(request.headers.multi_items()),
            request.read(),
            base64_body=bool(request.extensions.get(APIGW_BASE64)),
        )
        self.invocations += 1
        return lambda_response(request, self.invoke(event))


def api_client(transport: LambdaTransport) -> httpx.Client:
    host = _TEMPLATES["get"]["headers"]["host"]
    return httpx.Client(transport=transport, base_url=f"https://{host}")


# -- the function, under the RIE or in this process -----------------------------------------
@dataclass
class LambdaFunction:
    invoke: Invoke
    data_dir: Path
    webhook_secret: bytes
    log_tail: Callable[[], str] = field(default=lambda: "")
    env: dict[str, str] = field(default_factory=dict)
    """The function's configuration (where the aws variant's table is)."""


def _children(pid: int) -> list[int]:
    """PIDs of a process's children (Linux /proc), e.g. the RIE's runtime process."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in children.read_text().split()]
    return found


@dataclass
class RieProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    runtime_pids: set[int] = field(default_factory=set)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.poll() is None, f"the RIE exited:\n{self.log_tail()}"
        r = httpx.post(
            self.url, content=json.dumps(event), timeout=INVOKE_TIMEOUT_SECONDS, trust_env=False
        )
        self.runtime_pids.update(_children(self.process.pid))
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{self.log_tail()}"
        result: dict[str, Any] = r.json()
        assert "errorType" not in result, f"the function failed: {result}\n{self.log_tail()}"
        return result

    def stop(self) -> None:
        """SIGTERM the RIE by its PID (it terminates its runtime), then SIGKILL whatever
        of the two is left."""
        self.runtime_pids.update(_children(self.process.pid))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(RIE_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(RIE_STOP_TIMEOUT_SECONDS)
        for pid in self.runtime_pids:  # only if the RIE left one behind
            with contextlib.suppress(OSError):
                if HANDLER in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)


def _wait_listening(rie: RieProcess, port: int) -> None:
    deadline = time.monotonic() + RIE_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if rie.process.poll() is not None:
            raise RuntimeError(f"the RIE exited with {rie.process.returncode}:\n{rie.log_tail()}")
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the RIE did not listen within {RIE_START_TIMEOUT_SECONDS}s")


def start_rie(env: dict[str, str], log_dir: Path) -> RieProcess:
    """The RIE on a free port of 127.0.0.1, running the handler as the image does."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONCERTBOOK_", "AWS_LAMBDA_", "_LAMBDA_")) and k != "PYTHONPATH"
    }
    base.update(env)
    base["PYTHONPATH"] = str(ROOT)
    base["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(FUNCTION_TIMEOUT_SECONDS)
    base["AWS_LAMBDA_FUNCTION_NAME"] = "concertbook-api"
    last_error: Exception | None = None
    for attempt in range(3):  # a port taken between probing and binding: try others
        port, api_port = free_port(), free_port()
        while api_port == port:
            api_port = free_port()
        log_path = log_dir / f"rie-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # fixed command, no shell
                [
                    str(RIE_BINARY),
                    "--log-level",
                    "error",
                    "--runtime-interface-emulator-address",
                    f"127.0.0.1:{port}",
                    "--runtime-api-address",  # the Runtime API the RIE serves awslambdaric
                    f"127.0.0.1:{api_port}",
                    sys.executable,
                    "-m",
                    "awslambdaric",
                    HANDLER,
                ],
                cwd=ROOT,
                env=base,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        rie = RieProcess(
            process, f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations", log_path
        )
        try:
            _wait_listening(rie, port)
        except RuntimeError as exc:
            rie.stop()
            last_error = exc
            continue
        return rie
    raise RuntimeError(f"could not start the RIE: {last_error}")


@pytest.fixture(params=RUNTIMES)
def function_runtime(request: pytest.FixtureRequest) -> str:
    runtime: str = request.param
    return runtime


@pytest.fixture
def rie_function(
    function_runtime: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[LambdaFunction, RieProcess]]:
    """The handler under the RIE, stopped by its PID afterwards."""
    skip_unless_available(
        RIE_BINARY.exists(), f"{RIE_BINARY} is missing: run tools/build-rie.sh (needs Go)"
    )
    data_dir = tmp_path / "data"
    secret = secrets.token_hex(32).encode()
    env = function_env(function_runtime, data_dir, secret, request)
    rie = start_rie(env, tmp_path)
    try:
        yield LambdaFunction(rie.invoke, data_dir, secret, rie.log_tail, env), rie
    finally:
        rie.stop()


class _Context:
    """The parts of the Lambda context object the handler and Mangum read."""

    function_name = "concertbook-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:concertbook-api"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/concertbook-api"
    log_stream_name = "2025/11/25/[$LATEST]0123456789abcdef"
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return FUNCTION_TIMEOUT_SECONDS * 1000


@pytest.fixture
def in_process_function(
    function_runtime: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[LambdaFunction]:
    """`lambda_handler.handler` called directly, configured like the function."""
    data_dir = tmp_path / "data"
    secret = secrets.token_hex(32).encode()
    for variable in variables():
        monkeypatch.delenv(variable.name, raising=False)
    env = function_env(function_runtime, data_dir, secret, request)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lambda_handler.close()  # a fresh execution environment

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        # JSON both ways, as the runtime interface client (de)serializes them.
        result = lambda_handler.handler(json.loads(json.dumps(event)), _Context())
        decoded: dict[str, Any] = json.loads(json.dumps(result))
        return decoded

    try:
        yield LambdaFunction(invoke, data_dir, secret, env=env)
    finally:
        lambda_handler.close()


def _dynamodb_gateway_payments(table: str, endpoint: str) -> list[dict[str, Any]]:
    # botocore's stubs type every client as BaseClient, without the service's operations.
    client: Any = botocore.session.get_session().create_client(
        "dynamodb", region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"], endpoint_url=endpoint
    )
    try:
        items = client.scan(
            TableName=table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "SIMPAY#"}},
            ConsistentRead=True,
        )["Items"]
    finally:
        client.close()
    return [json.loads(item["doc"]["B"]) for item in items]


# -- the scenario -----------------------------------------------------------------------------
def _gateway_payment(function: LambdaFunction, order_id: str) -> dict[str, Any]:
    """The payment as the simulated gateway recorded it: its own SQLite file, or on the aws
    runtime its `SIMPAY#` items in the function's table."""
    table = function.env.get("CONCERTBOOK_TABLE_NAME")
    if table:
        docs = _dynamodb_gateway_payments(table, function.env["CONCERTBOOK_AWS_ENDPOINT_URL"])
    else:
        path = function.data_dir / "payment-gateway.sqlite3"
        docs = [json.loads(doc) for (doc,) in query(path, "SELECT doc FROM gw_payments")]
    found: list[dict[str, Any]] = [d for d in docs if d["reference"] == order_id]
    assert len(found) == 1, docs
    return found[0]


def post_webhook(client: httpx.Client, secret: bytes, body: bytes) -> httpx.Response:
    """The gateway's delivery: signed over the exact bytes, sent base64-encoded by API
    Gateway (isBase64Encoded), so the signature is checked on the decoded body."""
    return client.post(
        "/api/v1/payments/webhook",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-signature": webhook_signature(secret, int(time.time()), body),
        },
        extensions={APIGW_BASE64: True},
    )


def run_booking_flow(function: LambdaFunction) -> None:
    """Sign up, set up a concert, hold, order, pay, deliver the webhook, get the tickets."""
    transport = LambdaTransport(function.invoke)
    with api_client(transport) as client:
        r = client.get("/healthz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok"}
        raw = r.extensions["lambda"]
        assert raw["statusCode"] == 200
        assert raw["headers"]["content-type"] == "application/json"
        assert raw["isBase64Encoded"] is False

        api = ApiDriver(client)
        _, perf = api.on_sale(sections=1, rows=2, seats_per_row=5, ga_capacity=10)
        fan = api.account("fan")

        # A bad request is an RFC 9457 problem, as text (not base64) in the Lambda response.
        r = client.post(
            f"/api/v1/performances/{perf['id']}/holds",
            headers={**fan, "Idempotency-Key": new_key()},
            json={"seats": ["S1-A-1"], "sofa": True},
        )
        problem = assert_problem(r, 400, "invalid-body")
        raw = r.extensions["lambda"]
        assert raw["statusCode"] == 400
        assert raw["headers"]["content-type"].startswith("application/problem+json"), raw
        assert raw["isBase64Encoded"] is False
        assert json.loads(raw["body"]) == problem

        held = hold(
            client, fan, perf["id"], ["S1-A-1", "S1-A-2"], [{"zone": "FLOOR", "quantity": 1}]
        )
        placed = order(client, fan, held["id"])
        assert placed["total_krw"] == 2 * 198_000 + 154_000
        r = post_payment(client, fan, placed["id"], "tok_visa")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "processing"

        # The gateway authorized the payment; nothing delivers its webhook in a Lambda.
        gateway = _gateway_payment(function, placed["id"])
        assert gateway["status"] == "authorized", gateway
        assert gateway["amount_krw"] == placed["total_krw"]
        assert get_order(client, fan, placed["id"])["status"] == "pending_payment"

        event = WebhookEvent(
            id=f"whe_rie{time.time_ns()}",
            type=WebhookEventType.AUTHORIZED,
            created=int(time.time()),
            data=WebhookPayload(
                payment_id=gateway["id"],
                reference=gateway["reference"],
                amount_krw=gateway["amount_krw"],
            ),
        )
        body = msgspec.json.encode(event)
        assert_problem(post_webhook(client, b"not-the-secret", body), 401, "invalid-signature")
        assert get_order(client, fan, placed["id"])["status"] == "pending_payment"

        r = post_webhook(client, function.webhook_secret, body)
        assert r.status_code == 204, r.text
        raw = r.extensions["lambda"]
        assert raw["statusCode"] == 204
        assert raw.get("body", "") == ""

        paid = get_order(client, fan, placed["id"])
        assert paid["status"] == "paid", paid
        tickets = tickets_of(client, fan, placed["id"])
        # Which standing place a fan gets is the store's choice (DynamoDB picks at random).
        units = sorted(t["unit_id"] for t in tickets)
        assert units[0].startswith("FLOOR#")
        assert units[1:] == ["S1-A-1", "S1-A-2"]
        assert {t["status"] for t in tickets} == {"valid"}
        r = client.post("/api/v1/tickets/verify", json={"code": tickets[0]["code"]})
        assert r.status_code == 200, r.text
        assert r.json()["unit_id"] == tickets[0]["unit_id"]
        # The webhook captured the money inline.
        assert _gateway_payment(function, placed["id"])["status"] == "captured"

        # The gateway delivering twice changes nothing.
        assert post_webhook(client, function.webhook_secret, body).status_code == 204
        assert tickets_of(client, fan, placed["id"]) == tickets
    assert transport.invocations > 15


@pytest.mark.slow
def test_booking_flow_under_the_runtime_interface_emulator(
    rie_function: tuple[LambdaFunction, RieProcess],
) -> None:
    """GIVEN the handler under the RIE, started as the image starts it WHEN a fan books and
    pays through API Gateway events and the gateway's webhook arrives THEN the order is paid
    and ticketed, all in one warm execution environment."""
    function, rie = rie_function
    run_booking_flow(function)
    # One runtime process answered every invocation: initialized once, never restarted.
    assert len(rie.runtime_pids) == 1, (rie.runtime_pids, rie.log_tail())
    assert rie.process.poll() is None


def test_booking_flow_in_process(in_process_function: LambdaFunction) -> None:
    """The same scenario with the handler called directly (fast, same events)."""
    run_booking_flow(in_process_function)


def _cached() -> tuple[object, asyncio.AbstractEventLoop | None, object]:
    """What the handler module keeps between invocations: runtime, loop, adapter."""
    environment = lambda_handler._environment
    return environment._runtime, environment._loop, lambda_handler._adapter


def test_handler_builds_once_and_keeps_its_loop_across_invocations(
    in_process_function: LambdaFunction,
) -> None:
    """Importing builds nothing; the first invocation builds and starts the runtime; later
    ones reuse it and the same event loop, even if something in between unset the loop."""
    assert _cached() == (None, None, None)
    with api_client(LambdaTransport(in_process_function.invoke)) as client:
        assert client.get("/healthz").status_code == 200
        runtime, loop, adapter = _cached()
        assert runtime is not None
        assert adapter is not None
        assert loop is not None
        assert not loop.is_closed()
        asyncio.run(asyncio.sleep(0))  # leaves no current event loop behind
        r = client.get("/api/v1/events", params={"limit": "5"})
        assert r.status_code == 200, r.text
        assert r.json() == []
        assert _cached() == (runtime, loop, adapter)
