"""Observability on a live `concertbook serve`: the Prometheus page, JSON logs, request ids.

Real requests move the catalogue's counters on `GET /metrics` (parsed with
prometheus-client's own parser); the server's stderr is JSON lines that carry the request
id a client sent (or the one the server made and echoed) and the account's keyed hash,
never the account id or e-mail address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from booking.observability import catalogue
from booking.observability.context import sane_request_id
from tests.live_server import LiveServer, live_server
from tests.support import (
    ApiDriver,
    assert_problem,
    get_order,
    new_key,
    order,
    post_hold,
    post_payment,
    wait_for,
)

HOLDS_ROUTE = "/api/v1/performances/{performance_id}/holds"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client, **headers: str) -> tuple[Samples, str]:
    page = client.get("/metrics", headers=headers)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, page.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server("local", tmp_path / "data", sweep_interval_seconds=0.2) as running:
        yield running


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


def test_metrics_page_counts_real_requests_by_route_template(
    server: LiveServer, client: httpx.Client
) -> None:
    api = ApiDriver(client)
    _, performance = api.on_sale(ticket_limit=2)
    pid = performance["id"]
    fan, rival = api.account(), api.account()
    before, page = scrape(client)
    for metric in catalogue.CATALOGUE:  # every metric listed, with its help, from the start
        assert f"# HELP {metric.prometheus_name} " in page, metric

    key = new_key()
    held = post_hold(client, fan, pid, ["S1-A-1"], key=key)
    assert held.status_code == 201, held.text
    assert post_hold(client, fan, pid, ["S1-A-1"], key=key).json() == held.json()  # replay
    assert_problem(post_hold(client, rival, pid, ["S1-A-1"]), 409, "seats-unavailable")
    over_limit = post_hold(client, rival, pid, ["S1-B-1", "S1-B-2", "S1-B-3"])
    assert_problem(over_limit, 409, "ticket-limit-exceeded")
    placed = order(client, fan, held.json()["id"])
    assert post_payment(client, fan, placed["id"]).status_code == 202
    wait_for(lambda: get_order(client, fan, placed["id"])["status"] == "paid")
    assert client.get("/api/v1/no-such-thing").status_code == 404

    after, page = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = catalogue.HTTP_REQUESTS.prometheus_name
    hold_route = {"route": HOLDS_ROUTE, "method": "POST"}
    assert moved(requests, **hold_route, status_class="2xx") == 2
    assert moved(requests, **hold_route, status_class="4xx") == 2
    assert moved(requests, route="unmatched", method="GET", status_class="4xx") == 1
    assert moved(f"{catalogue.REQUEST_LATENCY.prometheus_name}_count", **hold_route) == 4
    assert moved(catalogue.HOLDS_PLACED.prometheus_name) == 1  # the replay is no new hold
    refused = catalogue.HOLDS_REFUSED.prometheus_name
    assert moved(refused, reason="pre-claim") == 1
    assert moved(refused, reason="limit") == 1
    assert moved(refused, reason="taken") == 0
    assert moved(catalogue.PRECLAIM_GUARD_HITS.prometheus_name, reason="replay") == 1
    assert moved(catalogue.TICKETS_SOLD.prometheus_name) == 1
    # The relay keeps up: the backlog and its age are reported, and small.
    backlog = catalogue.OUTBOX_BACKLOG.prometheus_name
    wait_for(lambda: value(scrape(client)[0], backlog) == 0)
    assert (catalogue.OUTBOX_LAG.prometheus_name, ()) in after

    me = client.get("/api/v1/me", headers=fan).json()
    for private in (pid, me["id"], me["email"], held.json()["id"]):
        assert private not in page  # route templates and reasons only


def test_metrics_page_is_for_loopback_scrapers_unless_a_token_is_set(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    scrape(client)
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404
    assert proxied.json()["type"] == "/problems/route-not-found"
    with (
        live_server("local", tmp_path / "token", metrics_token="scrape-secret-1") as guarded,
        httpx.Client(base_url=guarded.base_url, timeout=10) as other,
    ):
        assert other.get("/metrics").status_code == 404  # loopback alone is not enough now
        wrong = {"Authorization": "Bearer scrape-secret-2"}
        assert other.get("/metrics", headers=wrong).status_code == 404
        right = {"Authorization": "Bearer scrape-secret-1"}
        scrape(other, **right)
        assert other.post("/metrics", headers=right).status_code == 405


def json_lines(server: LiveServer) -> list[dict[str, Any]]:
    # Every line the server wrote is one JSON object.
    return [json.loads(line) for line in server.log_text().splitlines() if line.strip()]


def test_log_lines_are_json_with_request_id_and_hashed_account(
    server: LiveServer, client: httpx.Client
) -> None:
    api = ApiDriver(client)
    _, performance = api.on_sale()
    fan = api.account()
    me = client.get("/api/v1/me", headers=fan).json()
    placed = order(client, fan, post_hold(client, fan, performance["id"], ["S1-C-1"]).json()["id"])
    cancelled = client.post(
        f"/api/v1/orders/{placed['id']}/cancel", headers={**fan, "X-Request-Id": "trace-42.a"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.headers["x-request-id"] == "trace-42.a"

    lines = wait_for(
        lambda: [e for e in json_lines(server) if e.get("message") == "order cancelled"]
    )
    [line] = lines
    assert line["request_id"] == "trace-42.a"
    assert line["order_id"] == placed["id"]
    assert re.fullmatch(r"[0-9a-f]{16}", line["account_hash"])
    assert {"time", "level", "logger"} <= set(line)
    text = server.log_text()
    assert me["id"] not in text and me["email"] not in text
    assert any(e.get("logger", "").startswith("uvicorn") for e in json_lines(server))

    # Another request of the same account: the same hash; the server's own request id.
    again = client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan)
    assert again.status_code == 409
    made = again.headers["x-request-id"]
    assert made != "trace-42.a" and sane_request_id(made.encode()) == made


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("-starts-with-dash", False),
        ('quote"d', False),
        ("", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_sane(sent: str, kept: bool) -> None:
    assert (sane_request_id(sent.encode()) == sent) is kept
