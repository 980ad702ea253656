"""Observability of the Lambda functions, called in this process as the runtime would call
them: EMF lines on stdout in the catalogue's namespace, names and dimensions, and
Powertools' JSON log lines with the request id and the hashed account.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from api import lambda_handler
from booking.domain.messages import HoldReleased
from booking.domain.telemetry import TELEMETRY
from booking.observability import catalogue, lambda_functions
from booking.settings import variables
from indexer import lambda_handler as indexer_handler
from tests.integration.test_lambda_rie import LambdaTransport, _Context, api_client
from tests.live_server import settings_env
from tests.support import ApiDriver, order, post_hold

HOLDS_ROUTE = "/api/v1/performances/{performance_id}/holds"


@pytest.fixture
def function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """The API function on the local runtime, in a fresh execution environment; the
    process's logging and telemetry as they were afterwards."""
    for variable in variables():
        monkeypatch.delenv(variable.name, raising=False)
    for name, value in settings_env(runtime="local", data_dir=tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    root = logging.getLogger()
    handlers, level, telemetry = list(root.handlers), root.level, TELEMETRY.target
    lambda_handler.close()
    indexer_handler.close()
    lambda_functions._environment = None
    transport = LambdaTransport(
        lambda event: lambda_handler.handler(json.loads(json.dumps(event)), _Context())
    )
    try:
        with api_client(transport) as client:
            yield client
    finally:
        lambda_handler.close()
        indexer_handler.close()
        lambda_functions._environment = None
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        TELEMETRY.install(telemetry)


def stdout_objects(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def emf_lines(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if "_aws" in o]


def emf_values(lines: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    """Every value written for the metric with exactly these dimensions."""
    found: list[float] = []
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == catalogue.NAMESPACE
            names = {m["Name"] for m in directive["Metrics"]}
            if name not in names:
                continue
            for dimension_set in directive["Dimensions"]:
                if set(dimension_set) == set(dimensions) and all(
                    line[k] == v for k, v in dimensions.items()
                ):
                    value = line[name]
                    found += value if isinstance(value, list) else [value]
    return found


def test_the_api_function_writes_emf_and_json_logs_per_invocation(
    function: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    api = ApiDriver(function)
    _, performance = api.on_sale()
    fan = api.account()
    capfd.readouterr()

    held = post_hold(function, fan, performance["id"], ["S1-A-1"])
    assert held.status_code == 201, held.text
    request_id = held.headers["x-request-id"]
    assert request_id and request_id == held.extensions["lambda"]["headers"]["x-request-id"]
    lines = emf_lines(stdout_objects(capfd.readouterr().out))
    assert lines, "the invocation wrote its EMF lines before it returned"
    route = {"route": HOLDS_ROUTE, "method": "POST"}
    assert emf_values(lines, "HttpRequests", **route, status_class="2xx") == [1.0]
    assert len(emf_values(lines, "RequestLatency", **route)) == 1
    assert emf_values(lines, "HttpRequests") == [1.0]  # the stage's total, no dimensions
    assert len(emf_values(lines, "RequestLatency")) == 1
    assert emf_values(lines, "HoldsPlaced") == [1.0]
    for line in lines:  # units as the catalogue says
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                known = {m.name: m for m in catalogue.CATALOGUE}[metric["Name"]]
                assert metric["Unit"] == known.unit

    rival = api.account()
    capfd.readouterr()
    assert post_hold(function, rival, performance["id"], ["S1-A-1"]).status_code == 409
    lines = emf_lines(stdout_objects(capfd.readouterr().out))
    assert emf_values(lines, "HoldsRefused", reason="pre-claim") == [1.0]
    assert emf_values(lines, "HttpRequests", **route, status_class="4xx") == [1.0]

    placed = order(function, fan, held.json()["id"])
    capfd.readouterr()
    cancelled = function.post(
        f"/api/v1/orders/{placed['id']}/cancel", headers={**fan, "X-Request-Id": "lambda-7"}
    )
    assert cancelled.status_code == 200, cancelled.text
    objects = stdout_objects(capfd.readouterr().out)
    [logged] = [o for o in objects if o.get("message") == "order cancelled"]
    assert logged["request_id"] == "lambda-7"
    assert len(logged["account_hash"]) == 16
    assert logged["service"] == "concertbook-api"
    assert logged["function_request_id"]  # Powertools' Lambda context keys
    me = function.get("/api/v1/me", headers=fan).json()
    assert me["id"] not in json.dumps(objects)


def test_api_gateway_request_id_names_a_request_without_its_own(
    function: httpx.Client,
) -> None:
    answered = function.get("/healthz")
    assert answered.status_code == 200
    sent = answered.extensions["lambda"]
    assert sent["headers"]["x-request-id"]  # API Gateway's id of this event
    assert function.get("/healthz", headers={"X-Request-Id": "mine-1"}).headers["x-request-id"] == (
        "mine-1"
    )


def test_the_indexer_function_reports_the_outbox_lag(
    function: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    written = int(time.time() * 1000) - 4_000  # an entry written four seconds ago
    payload = msgspec.json.encode(HoldReleased("hld_x", "prf_x", "released"))
    record = {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventSourceARN": "arn:aws:dynamodb:ap-northeast-2:123456789012:table/t/stream/s",
        "dynamodb": {
            "SequenceNumber": "100",
            "NewImage": {
                "pk": {"S": "OUTBOX#3"},
                "sk": {"S": f"{written:013d}#{uuid.uuid4().hex}"},
                "topic": {"S": "Unindexed"},
                "payload": {"B": base64.b64encode(payload).decode()},
            },
        },
    }
    capfd.readouterr()
    result = indexer_handler.handler({"Records": [record]}, _Context())
    assert result == {"batchItemFailures": []}
    [lag] = emf_values(emf_lines(stdout_objects(capfd.readouterr().out)), "OutboxLag")
    assert lag >= 4.0
