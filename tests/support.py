"""Test helpers that drive the API the way a client would (over HTTP, never around it)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

PASSWORD = "correct-horse-battery"
_counter = itertools.count()


def unique_email(prefix: str) -> str:
    return f"{prefix}{next(_counter)}-{time.time_ns()}@test.concertbook"


class ApiDriver:
    """Sets up accounts and catalog through a sync httpx-compatible client."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def account(self, role: str = "fan") -> dict[str, str]:
        email = unique_email(role)
        r = self.client.post(
            "/api/v1/accounts",
            json={"email": email, "password": PASSWORD, "display_name": role, "role": role},
        )
        assert r.status_code == 201, r.text
        r = self.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def venue(
        self,
        organizer: dict[str, str],
        sections: int = 1,
        rows: int = 5,
        seats_per_row: int = 10,
        ga_capacity: int = 20,
    ) -> dict[str, Any]:
        layout = {
            "blocks": [
                {
                    "section": f"S{n}",
                    "name": f"Section {n}",
                    "rows": rows,
                    "seats_per_row": seats_per_row,
                }
                for n in range(1, sections + 1)
            ],
            "ga_zones": [{"id": "FLOOR", "name": "Floor", "capacity": ga_capacity}]
            if ga_capacity
            else [],
        }
        r = self.client.post(
            "/api/v1/venues",
            headers=organizer,
            json={"name": "Test Arena", "city": "Seoul", "layout": layout},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def event(self, organizer: dict[str, str], published: bool = True) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/events",
            headers=organizer,
            json={
                "title": "Test Concert",
                "artists": [{"name_ko": "아이유", "name_en": "IU"}],
                "status": "published" if published else "draft",
            },
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def performance(
        self,
        organizer: dict[str, str],
        venue: dict[str, Any],
        event: dict[str, Any],
        **overrides: Any,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        sections = [s["id"] for s in venue["seat_map"]["sections"]]
        zones = [z["id"] for z in venue["seat_map"]["ga_zones"]]
        body: dict[str, Any] = {
            "venue_id": venue["id"],
            "starts_at": (now + timedelta(days=30)).isoformat(),
            "sale_opens_at": (now - timedelta(minutes=1)).isoformat(),
            "sale_closes_at": (now + timedelta(days=29)).isoformat(),
            "grades": [
                {"code": "VIP", "name": "VIP", "price_krw": 198_000},
                {"code": "R", "name": "R", "price_krw": 154_000},
            ],
            "assignment": {
                "sections": dict.fromkeys(sections, "VIP"),
                "ga_zones": dict.fromkeys(zones, "R"),
            },
        }
        body.update(overrides)
        r = self.client.post(
            f"/api/v1/events/{event['id']}/performances", headers=organizer, json=body
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def on_sale(self, **overrides: Any) -> tuple[dict[str, str], dict[str, Any]]:
        """An organizer and a published, on-sale performance."""
        organizer = self.account("organizer")
        venue = self.venue(
            organizer,
            **{
                k: overrides.pop(k)
                for k in ("sections", "rows", "seats_per_row", "ga_capacity")
                if k in overrides
            },
        )
        event = self.event(organizer)
        return organizer, self.performance(organizer, venue, event, **overrides)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate` returns something truthy (asynchronous webhooks and workers)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# -- helpers for the HTTP scenario and bad-input tests ------------------------------------
PROBLEM_JSON = "application/problem+json"


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return f"key-{next(_counter)}-{time.time_ns()}"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status and `type` /problems/<code>."""
    assert response.status_code == status, (response.status_code, response.text)
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type == PROBLEM_JSON, media_type
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{code}", body
    assert body["status"] == status, body
    return body


def availability(client: httpx.Client, performance_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/performances/{performance_id}/availability")
    assert r.status_code == 200, r.text
    counts: dict[str, Any] = r.json()
    assert (
        counts["available"] + counts["held"] + counts["sold"] + counts["blocked"]
        == counts["capacity"]
    ), counts
    return counts


def counts(client: httpx.Client, performance_id: str) -> tuple[int, int, int, int]:
    """(available, held, sold, blocked) of a performance, for before/after comparisons."""
    a = availability(client, performance_id)
    return a["available"], a["held"], a["sold"], a["blocked"]


def seat_states(client: httpx.Client, performance_id: str) -> dict[str, str]:
    r = client.get(f"/api/v1/performances/{performance_id}/seats")
    assert r.status_code == 200, r.text
    return {p["unit_id"]: p["state"] for p in r.json()}


def post_hold(
    client: httpx.Client,
    fan: dict[str, str],
    performance_id: str,
    seats: list[str] | None = None,
    ga: list[dict[str, Any]] | None = None,
    key: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {}
    if seats is not None:
        body["seats"] = seats
    if ga is not None:
        body["ga"] = ga
    return client.post(
        f"/api/v1/performances/{performance_id}/holds",
        headers={**fan, "Idempotency-Key": key or new_key()},
        json=body,
    )


def hold(
    client: httpx.Client,
    fan: dict[str, str],
    performance_id: str,
    seats: list[str] | None = None,
    ga: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    r = post_hold(client, fan, performance_id, seats, ga)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def post_order(
    client: httpx.Client, fan: dict[str, str], hold_id: str, key: str | None = None
) -> httpx.Response:
    return client.post(
        "/api/v1/orders",
        headers={**fan, "Idempotency-Key": key or new_key()},
        json={"hold_id": hold_id},
    )


def order(client: httpx.Client, fan: dict[str, str], hold_id: str) -> dict[str, Any]:
    r = post_order(client, fan, hold_id)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def post_payment(
    client: httpx.Client,
    fan: dict[str, str],
    order_id: str,
    method: str = "tok_visa",
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        f"/api/v1/orders/{order_id}/payments",
        headers={**fan, "Idempotency-Key": key or new_key()},
        json={"method": method},
    )


def get_order(client: httpx.Client, fan: dict[str, str], order_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/orders/{order_id}", headers=fan)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def payments_of(client: httpx.Client, fan: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/orders/{order_id}/payments", headers=fan)
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()
    return body


def tickets_of(client: httpx.Client, fan: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/orders/{order_id}/tickets", headers=fan)
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()
    return body


def query(db_path: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read rows straight from a SQLite file of the runtime (never to change it)."""
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def gateway_payment(runtime: Any, gateway_payment_id: str) -> dict[str, Any]:
    """The simulated gateway's own record of a payment: its SQLite file, or on the aws
    runtime its item in the stage's table."""
    import json

    if not hasattr(runtime, "gateway_db"):
        return dynamodb_gateway_payment(runtime.settings, gateway_payment_id)
    rows = query(
        runtime.gateway_db.path, "SELECT doc FROM gw_payments WHERE id=?", (gateway_payment_id,)
    )
    assert rows, gateway_payment_id
    doc: dict[str, Any] = json.loads(rows[0][0])
    return doc


def dynamodb_gateway_payment(settings: Any, gateway_payment_id: str) -> dict[str, Any]:
    """The simulator's `SIMPAY#` item (booking/adapters/aws/dynamodb_gateway_state.py)."""
    import json

    import botocore.session

    # botocore's stubs type every client as BaseClient, without the service's operations.
    client: Any = botocore.session.get_session().create_client(
        "dynamodb", region_name=settings.aws.aws_region, endpoint_url=settings.aws.aws_endpoint_url
    )
    try:
        item = client.get_item(
            TableName=settings.aws.table_name,
            Key={"pk": {"S": f"SIMPAY#{gateway_payment_id}"}, "sk": {"S": "SIMPAY"}},
            ConsistentRead=True,
        ).get("Item")
    finally:
        client.close()
    assert item, gateway_payment_id
    doc: dict[str, Any] = json.loads(item["doc"]["B"])
    return doc


class WebhookTap:
    """Takes the simulated gateway's webhook deliveries (answering 204) instead of the app.

    Attach it after the app has started (`runtime.gateway.attach(tap)`); a test then
    decides itself when, how often and in which order the events reach the webhook.
    """

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        self.bodies.append(body)
        return 204

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        import json

        found = [json.loads(b) for b in list(self.bodies)]
        return [e for e in found if event_type is None or e["type"] == event_type]

    def wait_event(self, event_type: str, reference: str, timeout: float = 10.0) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for event in self.events(event_type):
                if event["data"]["reference"] == reference:
                    return event
            return None

        event: dict[str, Any] = wait_for(find, timeout=timeout)
        return event


def webhook_event(
    event_type: str,
    gateway_payment_id: str,
    reference: str,
    amount_krw: int,
    decline_reason: str | None = None,
) -> bytes:
    """A gateway event body as the gateway would send it."""
    import json

    data: dict[str, Any] = {
        "payment_id": gateway_payment_id,
        "reference": reference,
        "amount_krw": amount_krw,
    }
    if decline_reason is not None:
        data["decline_reason"] = decline_reason
    return json.dumps(
        {
            "id": f"whe_test{next(_counter)}",
            "type": event_type,
            "created": int(time.time()),
            "data": data,
        }
    ).encode()


def send_webhook(
    client: httpx.Client, secret: bytes, body: bytes, timestamp: int | None = None
) -> httpx.Response:
    """POST a webhook body signed with `secret` (at `timestamp`, default now)."""
    from booking.domain.payments import webhook_signature

    stamp = int(time.time()) if timestamp is None else timestamp
    return client.post(
        "/api/v1/payments/webhook",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-signature": webhook_signature(secret, stamp, body),
        },
    )


def skip_unless_available(available: bool, reason: str) -> None:
    """Skip a test whose service or tool is absent, except in CI, where it must fail."""
    if available:
        return
    if os.environ.get("CONCERTBOOK_REQUIRE_SERVICES"):
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)
