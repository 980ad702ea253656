"""Faults DynamoDB has and its emulator never shows, injected through botocore's event hooks:
transaction conflicts are retried, and throttling becomes a typed 503, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap_aws import AwsRuntime
from booking.domain.messages import TicketsIssued, decode_message
from booking.domain.tickets import Ticket
from tests.conftest import build_family
from tests.support import (
    ApiDriver,
    assert_problem,
    counts,
    get_order,
    hold,
    order,
    post_hold,
    post_payment,
    wait_for,
)


class _FakeHttp:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


@pytest.fixture
def aws(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[AwsRuntime, ApiDriver]]:
    runtime = build_family("aws", tmp_path, request)
    assert isinstance(runtime, AwsRuntime)
    with TestClient(create_app(runtime)) as client:
        yield runtime, ApiDriver(client)


def _inject(runtime: AwsRuntime, operation: str, answer: Any) -> list[int]:
    """Answer `operation` with `answer(n)` (None: let the call through); returns the call log."""
    calls: list[int] = []

    def before_call(**_: Any) -> Any:
        calls.append(len(calls))
        return answer(len(calls))

    runtime.dynamo.client.meta.events.register(f"before-call.dynamodb.{operation}", before_call)
    return calls


def test_a_transaction_conflict_is_retried(aws: tuple[AwsRuntime, ApiDriver]) -> None:
    """GIVEN DynamoDB cancels the first hold transaction with TransactionConflict
    WHEN a fan holds THEN the store retries and the hold succeeds once."""
    runtime, api = aws
    _, performance = api.on_sale(rows=1, seats_per_row=4, ga_capacity=0)
    fan = api.account()

    def conflict_once(n: int) -> Any:
        if n > 1:
            return None
        reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * 5
        return _FakeHttp(400), {
            "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
            "CancellationReasons": reasons,
        }

    calls = _inject(runtime, "TransactWriteItems", conflict_once)
    r = post_hold(api.client, fan, performance["id"], seats=["S1-A-1", "S1-A-2"])
    assert r.status_code == 201, r.text
    assert len(calls) == 2
    assert counts(api.client, performance["id"])[1] == 2


def test_throttling_sheds_with_503_and_changes_nothing(aws: tuple[AwsRuntime, ApiDriver]) -> None:
    """GIVEN DynamoDB throttles every write WHEN a fan holds THEN 503 with Retry-After."""
    runtime, api = aws
    _, performance = api.on_sale(rows=1, seats_per_row=4, ga_capacity=0)
    fan = api.account()
    before = counts(api.client, performance["id"])

    def throttled(_: int) -> Any:
        return _FakeHttp(400), {
            "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        }

    _inject(runtime, "TransactWriteItems", throttled)
    r = post_hold(api.client, fan, performance["id"], seats=["S1-A-1"])
    assert_problem(r, 503, "store-unavailable")
    assert r.headers["retry-after"] == "1"
    assert counts(api.client, performance["id"]) == before


def test_two_ticket_issuers_at_once_create_each_ticket_once(
    aws: tuple[AwsRuntime, ApiDriver],
) -> None:
    """GIVEN a paid order whose tickets are not issued yet
    WHEN two issuers run at once (OrderPaid delivered twice, to two workers), both reading
    "not issued" before either writes
    THEN the tickets are created once: both issuers read back the same tickets, which stay
    (the second does not rewrite the first's), the second's transaction is cancelled and
    counted as done (no error), and the tickets are announced once."""
    runtime, api = aws
    _, performance = api.on_sale(rows=1, seats_per_row=4, ga_capacity=0)
    fan = api.account()
    placed = hold(api.client, fan, performance["id"], seats=["S1-A-1", "S1-A-2"])
    order_id = order(api.client, fan, placed["id"])["id"]
    issuing = {"blocked": True, "transactions": 0}

    def ticket_writes(params: dict[str, Any], **_: Any) -> Any:
        """Counts ticket transactions; throttles them while blocked."""
        if b'"TKT#' not in params["body"]:  # the serialized request
            return None
        issuing["transactions"] += 1
        if issuing["blocked"]:
            return _FakeHttp(400), {
                "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}
            }
        return None

    runtime.dynamo.client.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", ticket_writes
    )
    assert post_payment(api.client, fan, order_id).status_code == 202
    portal = api.client.blocking_portal  # type: ignore[attr-defined]

    def delivered_and_paid() -> bool:
        """No workers: the gateway's webhook is delivered by hand; its fast path to the
        tickets fails, the order stays paid."""
        portal.call(runtime.gateway.deliver_due)
        return bool(get_order(api.client, fan, order_id)["status"] == "paid")

    wait_for(delivered_and_paid)
    assert portal.call(runtime.booking.tickets.tickets_for_order, order_id) == []
    issuing.update(blocked=False, transactions=0)

    async def two_issuers() -> list[list[Ticket]]:
        issuers = (runtime.services.tickets.issue(order_id) for _ in range(2))
        return list(await asyncio.gather(*issuers))

    first, second = portal.call(two_issuers)
    stored = portal.call(runtime.booking.tickets.tickets_for_order, order_id)

    assert issuing["transactions"] == 2, "no race: one issuer saw the other's tickets"
    assert len(stored) == 2
    assert first == second == stored  # what each issuer read back is what stays
    assert portal.call(_announcements, runtime, order_id) == 1


async def _announcements(runtime: AwsRuntime, order_id: str) -> int:
    """TicketsIssued messages for the order in the table's outbox."""
    found = 0
    pages = runtime.dynamo.client.get_paginator("scan").paginate(
        TableName=runtime.dynamo.table,
        FilterExpression="topic = :t",
        ExpressionAttributeValues={":t": {"S": "TicketsIssued"}},
    )
    async for page in pages:
        for item in page["Items"]:
            message = decode_message(item["payload"]["B"])
            found += isinstance(message, TicketsIssued) and message.order_id == order_id
    return found
