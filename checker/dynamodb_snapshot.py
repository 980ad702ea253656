"""The aws runtime's table read back whole (strongly consistent scan) as the audit's
`Snapshot`, so the same checks run on both adapter families."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from booking.adapters.aws.dynamodb_table import dynamodb_client, unmarshal, unpack
from rehearsal.audit import (
    HoldRow,
    IdempotencyRow,
    OrderRow,
    PaymentRow,
    PerformanceRow,
    Snapshot,
    TicketRow,
    UnitRow,
)


async def scan(region: str, endpoint: str | None, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async with dynamodb_client(region, endpoint) as client:
        args: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = await client.scan(**args)
            items += [unmarshal(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _doc(item: dict[str, Any], packed: bool = False) -> dict[str, Any]:
    raw = item["doc"]
    raw = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw).encode()
    decoded: dict[str, Any] = json.loads(unpack(raw) if packed else raw)
    return decoded


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def snapshot(items: list[dict[str, Any]]) -> Snapshot:
    """`items` as `scan` returned them."""
    taken_at_ms = int(time.time() * 1000)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_kind.setdefault(str(item["pk"]).split("#", 1)[0], []).append(item)

    def each(kind: str) -> list[dict[str, Any]]:
        return by_kind.get(kind, [])

    capacity = {}
    for item in each("VEN"):
        venue = _doc(item, packed=True)
        seats = sum(len(r["seats"]) for s in venue["seat_map"]["sections"] for r in s["rows"])
        zones = sum(z["capacity"] for z in venue["seat_map"]["ga_zones"])
        capacity[venue["id"]] = seats + zones
    performances = {}
    for item in each("PRF"):
        plan = _doc(item, packed=True)
        performances[plan["id"]] = PerformanceRow(
            plan["id"], plan["ticket_limit"], capacity.get(plan["venue_id"], 0)
        )
    units = [
        UnitRow(
            str(item["pk"]).split("#")[1],
            str(item["sk"]),
            str(item.get("zone_id", "")),
            str(item.get("kind", "")),
            str(item["state"]),
            item.get("hold_id"),
            item.get("order_id"),
            _optional_int(item.get("expires_at_ms")),
        )
        for item in each("INV")
    ]
    holds = {}
    for item in each("HLD"):
        doc = _doc(item)
        holds[doc["id"]] = HoldRow(
            doc["id"],
            str(item["performance_id"]),
            str(item["account_id"]),
            str(item["status"]),
            int(item["expires_at_ms"]),
            int(item["quantity"]),
            tuple(i["unit_id"] for i in doc["items"]),
            _dt(doc["created_at"]),
            _dt(doc["expires_at"]),
        )
    orders = {}
    for item in each("ORD"):
        doc = _doc(item)
        orders[doc["id"]] = OrderRow(
            doc["id"],
            str(item["performance_id"]),
            str(item["account_id"]),
            doc["hold_id"],
            str(item["status"]),
            int(item["payment_deadline_ms"]),
            int(item["quantity"]),
            item.get("paid_payment_id"),
            _optional_int(item.get("paid_at_ms")),
            _optional_int(item.get("closed_at_ms")),
            tuple(i["unit_id"] for i in doc["items"]),
            _dt(doc["created_at"]),
            _dt(doc["payment_deadline"]),
        )
    payments = {
        str(item["pk"])[4:]: PaymentRow(
            str(item["pk"])[4:],
            str(item["order_id"]),
            str(item["account_id"]),
            str(item["gateway_payment_id"]),
            str(item["status"]),
        )
        for item in each("PAY")
    }
    tickets = []
    for item in each("TKT"):
        doc = _doc(item)
        tickets.append(
            TicketRow(
                doc["id"],
                doc["order_id"],
                doc["account_id"],
                doc["performance_id"],
                doc["unit_id"],
                str(item["status"]),
            )
        )
    idempotency = []
    for item in each("IDEM"):
        scope, _, key = str(item["pk"]).removeprefix("IDEM#").partition("#")
        account, _, operation = scope.partition(":")
        result = json.loads(
            bytes(item["result"])
            if isinstance(item["result"], bytes | bytearray)
            else str(item["result"])
        )
        result_id = result.get("id") if isinstance(result, dict) else None
        idempotency.append(IdempotencyRow(account, operation, key, result_id))
    limits = {
        tuple(str(item["pk"]).split("#")[1:3]): int(item.get("quantity", 0)) for item in each("LIM")
    }
    return Snapshot(
        taken_at_ms=taken_at_ms,
        performances=performances,
        units=units,
        holds=holds,
        orders=orders,
        payments=payments,
        tickets=tickets,
        idempotency=idempotency,
        limit_counters=limits,  # type: ignore[arg-type]
        outbox_pending=len(each("OUTBOX")),
        outbox_dead=[],
    )


def loader(region: str, endpoint: str | None, table: str) -> Callable[[], Any]:
    async def load() -> Snapshot:
        return snapshot(await scan(region, endpoint, table))

    return load
