"""Capacity consumed per booking step, read from DynamoDB's ReturnConsumedCapacity.

Runs on the aws family (moto here; DynamoDB Local or AWS where an endpoint is set)
and writes reports/dynamodb-capacity.json, the source of the table in
docs/DYNAMODB.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap_aws import AwsRuntime
from tests.conftest import build_family
from tests.support import ApiDriver, hold, order, post_payment, tickets_of, wait_for
from workers.local import background

REPORT = Path(__file__).resolve().parents[2] / "reports" / "dynamodb-capacity.json"


def test_capacity_of_one_hold_and_one_confirmed_order(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runtime = build_family("aws", tmp_path, request)
    assert isinstance(runtime, AwsRuntime)
    with TestClient(create_app(runtime, background=background)) as client:
        api = ApiDriver(client)
        _, performance = api.on_sale(rows=2, seats_per_row=10, ga_capacity=10)
        fan = api.account()
        meter = runtime.dynamo.meter
        meter.units.clear()
        placed = hold(client, fan, performance["id"], seats=["S1-A-1", "S1-A-2"])
        after_hold = {k: dict(v) for k, v in meter.modelled.items()}
        reported_hold = dict(meter.units)
        placed_order = order(client, fan, placed["id"])
        post_payment(client, fan, placed_order["id"])
        # Labels are per task, so the sweeper's and relay's reads are counted apart.
        wait_for(lambda: tickets_of(client, fan, placed_order["id"]), timeout=20)
        measured: dict[str, Any] = {
            "endpoint": runtime.settings.aws.aws_endpoint_url or "aws",
            "hold_2_seats": {k: after_hold[k] for k in ("place_hold",)},
            "order_and_payment_2_seats": {
                k: {u: v[u] - after_hold.get(k, {}).get(u, 0.0) for u in ("rcu", "wcu")}
                for k, v in meter.modelled.items()
                if k in ("place_order", "add_payment", "confirm_order", "issue_tickets")
            },
            "reported_by_endpoint": {"hold": reported_hold, "total": dict(meter.units)},
        }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(measured, indent=2, sort_keys=True))
    assert measured["hold_2_seats"]["place_hold"]["wcu"] >= 2 * 6  # 2 seats + 4 bookkeeping items
    for step in ("place_order", "add_payment", "confirm_order", "issue_tickets"):
        assert measured["order_and_payment_2_seats"][step]["wcu"] > 0, step
