"""Paying on the aws runtime from separate processes, as separate Lambdas would: the API
(`concertbook serve --no-workers`) authorizes and queues the gateway's verified webhooks;
a payments worker (tests/aws_payments_worker.py) applies them (confirm, capture, tickets),
voids and refunds from the outbox, and delivers the gateway's webhooks, which the API
created in its own process. Nothing but the table (single-threaded moto) and SQS is shared.

Fans pay concurrently over HTTP, some retry the same request, some pay again under another
key, some cancel while the payment is in flight, some pay with seconds left on a tight
deadline; the gateway sends half its webhooks twice. Once everything has come to rest the
table is read back whole and audited: no payment lost, one capture per paid order, tickets
issued once, nothing captured (or left authorized) for a cancelled or expired order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from booking.adapters.aws.messaging import aws_client
from checker.dynamodb_snapshot import scan, snapshot
from rehearsal.audit import GatewaySnapshot, audit, unsettled
from tests.live_server import LiveServer, _serve_command, free_port, wait_healthy
from tests.moto_server import AWS_TEST_ENV, create_table
from tests.support import PASSWORD, unique_email, wait_for

pytestmark = pytest.mark.slow

REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
ORDERS = int(os.environ.get("CONCERTBOOK_TEST_PAYMENT_RACE_ORDERS", "40"))
"""Fans of the roomy performance, one order each (moto copies the whole table for every
transaction, so the run's time grows with the square of this)."""
LATE_ORDERS = max(2, ORDERS // 10)
"""Fans of the performance whose orders must be paid within 2 seconds."""
DUPLICATE_RATE = 0.5


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[Any]:
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(15)


async def _webhook_queue(endpoint: str) -> str:
    async with aws_client("sqs", REGION, endpoint) as sqs:
        name = f"webhooks-{uuid.uuid4().hex[:8]}"
        dlq = (await sqs.create_queue(QueueName=f"{name}-dlq"))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 21})
        attributes = {"VisibilityTimeout": "1", "RedrivePolicy": redrive}
        return str((await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"])


async def _setup(client: httpx.AsyncClient) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Two performances (a roomy one and one with a 2 s payment window) and their fans."""
    email = unique_email("organizer")
    r = await client.post(
        "/api/v1/accounts",
        json={"email": email, "password": PASSWORD, "display_name": "org", "role": "organizer"},
    )
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    organizer = {"Authorization": f"Bearer {r.json()['token']}"}
    rows = -(-(ORDERS + LATE_ORDERS) // 25)
    layout = {"blocks": [{"section": "S1", "name": "S1", "rows": rows, "seats_per_row": 25}]}
    venue = await client.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": "Pay Hall", "city": "Seoul", "layout": layout},
    )
    event = await client.post(
        "/api/v1/events",
        headers=organizer,
        json={"title": "Pay Race", "artists": [{"name_ko": "아이유", "name_en": "IU"}]}
        | {"status": "published"},
    )
    now = time.time()

    def at(offset: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + offset))

    performances = {}
    for name, window in (("roomy", 600), ("tight", 2)):
        r = await client.post(
            f"/api/v1/events/{event.json()['id']}/performances",
            headers=organizer,
            json={
                "venue_id": venue.json()["id"],
                "starts_at": at(86400 * 30 + (window == 2) * 86400),
                "sale_opens_at": at(-60),
                "sale_closes_at": at(86400 * 29),
                "grades": [{"code": "R", "name": "R", "price_krw": 132_000}],
                "assignment": {"sections": {"S1": "R"}},
                "ticket_limit": 4,
                "hold_ttl_seconds": 600,
                "payment_window_seconds": window,
            },
        )
        assert r.status_code == 201, r.text
        performances[name] = r.json()["id"]
    r = await client.post(
        "/api/v1/rehearsal/fans", headers=organizer, json={"count": ORDERS + LATE_ORDERS}
    )
    assert r.status_code == 201, r.text
    fans = [{"Authorization": f"Bearer {f['token']}"} for f in r.json()["fans"]]
    return performances, fans


async def _fan(
    client: httpx.AsyncClient,
    fan: dict[str, str],
    performance_id: str,
    seat: str,
    rng: random.Random,
    late: bool,
    seen: dict[str, Any],
) -> None:
    key = uuid.uuid4().hex
    r = await client.post(
        f"/api/v1/performances/{performance_id}/holds",
        headers={**fan, "Idempotency-Key": key},
        json={"seats": [seat]},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/orders",
        headers={**fan, "Idempotency-Key": key + "o"},
        json={"hold_id": r.json()["id"]},
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    seen["orders"].append(order_id)
    if late:
        await asyncio.sleep(rng.uniform(0.5, 3.0))  # the deadline is 2 s after the order
    url = f"/api/v1/orders/{order_id}/payments"
    pay_headers, pay_body = {**fan, "Idempotency-Key": key + "p"}, {"method": "tok_visa"}
    r = await client.post(url, headers=pay_headers, json=pay_body)
    seen["answers"][r.status_code] += 1
    if r.status_code != 202:
        assert (r.status_code, r.json()["type"]) == (410, "/problems/order-expired"), r.text
        return
    seen["payments"].append(r.json()["id"])
    if rng.random() < 0.3:  # the same request again: the same answer
        again = await client.post(url, headers=pay_headers, json=pay_body)
        assert (again.status_code, again.json()["id"]) == (202, r.json()["id"]), again.text
    if rng.random() < 0.1:  # another payment while one is in flight (or done)
        other = await client.post(
            url, headers={**fan, "Idempotency-Key": key + "q"}, json={"method": "tok_visa"}
        )
        seen["answers"][other.status_code] += 1
        if other.status_code == 202:
            seen["payments"].append(other.json()["id"])
    if not late and rng.random() < 0.15:  # the fan changes their mind at once
        cancelled = await client.post(f"/api/v1/orders/{order_id}/cancel", headers=fan)
        seen["cancels"][cancelled.status_code] += 1


def _gateway(items: list[dict[str, Any]]) -> tuple[GatewaySnapshot, dict[str, Any]]:
    """The simulator's own view, and its webhook figures."""
    payments = {str(i["pk"]).removeprefix("SIMPAY#"): i for i in items if i["sk"] == "SIMPAY"}
    hooks = [i for i in items if i["sk"] == "SIMHOOK"]
    pending = [h for h in hooks if "gsi2pk" in h]
    events = Counter(json.loads(bytes(h["body"]))["id"] for h in hooks)
    figures = {
        "webhooks": len(hooks),
        "events": len(events),
        "duplicated_events": sum(1 for n in events.values() if n > 1),
        "delivered": sum(1 for h in hooks if h.get("delivered") is True),
        "deliveries_retried": sum(1 for h in hooks if int(h.get("attempts", 0)) > 1),
        "pending": len(pending),
    }
    gateway = GatewaySnapshot(
        payments={gid: str(p["status"]) for gid, p in payments.items()},
        references={gid: str(p["reference"]) for gid, p in payments.items()},
        undelivered=[str(h["payment_id"]) for h in pending],
    )
    return gateway, figures


def test_payments_race_across_processes_on_the_aws_runtime(
    tmp_path: Path, moto_endpoint: str
) -> None:
    started = time.monotonic()
    table = asyncio.run(create_table(moto_endpoint, stream=False))
    queue = asyncio.run(_webhook_queue(moto_endpoint))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCERTBOOK_")}
    env.update(AWS_TEST_ENV)
    env.update(
        {
            "CONCERTBOOK_RUNTIME": "aws",
            "CONCERTBOOK_TABLE_NAME": table,
            "CONCERTBOOK_AWS_ENDPOINT_URL": moto_endpoint,
            "CONCERTBOOK_DATA_DIR": str(tmp_path / "data"),
            "CONCERTBOOK_WEBHOOK_SECRET": uuid.uuid4().hex,
            "CONCERTBOOK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CONCERTBOOK_QUEUE_URL_WEBHOOKS": queue,
            "CONCERTBOOK_QUEUE_WAIT_SECONDS": "0",
            "CONCERTBOOK_QUEUE_MAX_ATTEMPTS": "20",
            "CONCERTBOOK_GATEWAY_DUPLICATE_RATE": str(DUPLICATE_RATE),
            "CONCERTBOOK_REHEARSAL": "1",
            "CONCERTBOOK_SWEEP_INTERVAL_SECONDS": "5",
            "CONCERTBOOK_AWS_MAX_CONNECTIONS": "8",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    (tmp_path / "data").mkdir()
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    api_command = [*_serve_command(), "--no-workers", "--port", str(port)]
    worker_command = [sys.executable, "-m", "tests.aws_payments_worker"]
    with (
        process(api_command, env, api_log) as api,
        process(worker_command, env, worker_log) as worker,
    ):
        server = LiveServer("aws", f"http://127.0.0.1:{port}", tmp_path, api, api_log)
        wait_healthy(server)

        seen: dict[str, Any] = {
            "orders": [],
            "payments": [],
            "answers": Counter(),
            "cancels": Counter(),
        }

        async def rush() -> None:
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(
                base_url=server.base_url, timeout=600, limits=limits
            ) as client:
                performances, fans = await _setup(client)
                rng = random.Random(20261205)
                seats = [f"S1-{chr(65 + n // 25)}-{n % 25 + 1}" for n in range(ORDERS)]
                await asyncio.gather(
                    *(
                        _fan(
                            client,
                            fan,
                            performances["tight" if late else "roomy"],
                            seats[n] if not late else seats[n - ORDERS],
                            random.Random(rng.random()),
                            late,
                            seen,
                        )
                        for n, fan in enumerate(fans)
                        for late in [n >= ORDERS]
                    )
                )

        asyncio.run(rush())
        rushed = time.monotonic() - started

        still_moving: list[str] = []

        def at_rest() -> tuple[list[dict[str, Any]], GatewaySnapshot, dict[str, Any]] | None:
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            items = asyncio.run(scan(REGION, moto_endpoint, table))
            gateway, figures = _gateway(items)
            still_moving[:] = unsettled(snapshot(items), gateway)
            return (items, gateway, figures) if not still_moving else None

        try:
            items, gateway, figures = wait_for(at_rest, timeout=max(240, 3 * ORDERS), interval=2.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still moving: {still_moving}") from None

    s = snapshot(items)
    results = audit(s, gateway, settled=True)
    paid = {o.id for o in s.orders.values() if o.status == "paid"}
    closed = {o.id for o in s.orders.values() if o.status != "paid"}
    captured = Counter(p.order_id for p in s.payments.values() if p.status == "captured")
    at_gateway = Counter(
        gateway.references[g] for g, st in gateway.payments.items() if st == "captured"
    )
    tickets = Counter(t.order_id for t in s.tickets if t.status == "valid")
    lost = [p for p in seen["payments"] if p not in s.payments]
    double = [o for o in paid if captured[o] != 1 or at_gateway[o] != 1]
    wrongly_taken = [o for o in closed if captured[o] or at_gateway[o]]
    print(
        "\npayments race:",
        json.dumps(
            {
                "orders": len(seen["orders"]),
                "pay_answers": dict(seen["answers"]),
                "cancel_answers": dict(seen["cancels"]),
                "paid": len(paid),
                "closed": len(closed),
                "order_states": dict(Counter(o.status for o in s.orders.values())),
                "payment_states": dict(Counter(p.status for p in s.payments.values())),
                "lost": len(lost),
                "double_captures": len(double),
                "captured_for_closed_orders": len(wrongly_taken),
                **figures,
                "rush_seconds": round(rushed, 1),
                "total_seconds": round(time.monotonic() - started, 1),
            }
        ),
    )
    assert len(seen["orders"]) == ORDERS + LATE_ORDERS
    assert lost == []
    assert double == []
    assert wrongly_taken == []
    assert all(tickets[o] == 1 for o in paid), tickets
    assert sum(tickets.values()) == len(paid)
    assert {k: v for k, v in results.items() if v} == {}
    assert figures["pending"] == 0
    assert figures["delivered"] == figures["webhooks"]  # every copy answered 2xx in the end
    assert figures["duplicated_events"] > 0
    assert len(paid) > ORDERS // 2
