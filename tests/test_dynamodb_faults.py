"""Faults DynamoDB has and its emulator never shows, injected through botocore's event hooks:
transaction conflicts are retried, and throttling becomes a typed 503, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap_aws import AwsRuntime
from tests.conftest import build_family
from tests.support import ApiDriver, assert_problem, counts, post_hold


class _FakeHttp:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


@pytest.fixture
def aws(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[AwsRuntime, ApiDriver]]:
    runtime = build_family("aws", tmp_path, request)
    assert isinstance(runtime, AwsRuntime)
    with TestClient(create_app(runtime, run_background=False)) as client:
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
