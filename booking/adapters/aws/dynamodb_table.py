"""The single DynamoDB table: its schema, item marshalling, and a thin client.

Keys are overloaded (`pk`, `sk`, plus two generic GSIs); docs/DYNAMODB.md has
the access-pattern table. Every call asks for ReturnConsumedCapacity so the
capacity each operation costs is measured, not guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import random
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, HTTPClientError

from booking.domain.errors import StoreUnavailable

Item = dict[str, Any]
AttributeValue = dict[str, Any]

INVENTORY_SHARDS = 16
"""Partitions a performance's places are spread over (hash of the place id)."""
INDEX_SHARDS = 8
"""Partitions of the expiry and outbox indexes, so no one key is hot."""
FIRST_KEY = "!"
"""Sorts before every id: `sk > FIRST_KEY` means "from the start" (keys cannot be empty)."""


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments: on-demand, two overloaded GSIs, streams with both images."""
    keys = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in ("gsi1", "gsi2")
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def shard_of(value: str, shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=2).digest(), "big") % shards


def pack(doc: bytes) -> bytes:
    """Documents are compressed: a 15,000-seat map is ~1 MB of JSON, items hold 400 KB."""
    return zlib.compress(doc, 6)


def unpack(blob: bytes) -> bytes:
    return zlib.decompress(blob)


def to_av(value: object) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB here")


def from_av(value: AttributeValue) -> object:
    kind, raw = next(iter(value.items()))
    if kind == "N":
        return int(raw)
    if kind == "NULL":
        return None
    return raw


def marshal(item: Mapping[str, object]) -> dict[str, AttributeValue]:
    return {k: to_av(v) for k, v in item.items() if v is not None}


def unmarshal(item: Mapping[str, AttributeValue]) -> Item:
    return {k: from_av(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, AttributeValue]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


CONFLICT_ATTEMPTS = 4
"""Tries of a transaction cancelled only by conflicts with other transactions."""


class TransactionCancelled(Exception):
    """A TransactWriteItems was refused; `reasons[i]` is the code for item i ("None" if fine)."""

    def __init__(self, reasons: list[str], old_items: list[Item | None] | None = None) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons
        self.old_items = old_items or [None] * len(reasons)

    def failed(self) -> list[int]:
        return [i for i, r in enumerate(self.reasons) if r not in ("None", "")]

    @property
    def conflict(self) -> bool:
        return any(r in ("TransactionConflict", "ThrottlingError") for r in self.reasons)


def item_size(item: Mapping[str, AttributeValue]) -> int:
    """DynamoDB's item size: attribute names plus values, in bytes (close enough to bill by)."""
    size = 0
    for name, value in item.items():
        raw = next(iter(value.values()))
        size += len(name) + (len(raw) if isinstance(raw, (bytes, str)) else 8)
    return size


def _ceil_div(n: int, d: int) -> int:
    return max(1, -(-n // d))


@dataclass
class CapacityMeter:
    """Capacity per operation name: as the endpoint reported it, and as DynamoDB bills it.

    `units` is what ReturnConsumedCapacity said (emulators report it loosely);
    `modelled` applies DynamoDB's rules to the same calls: a strongly consistent read
    costs 1 RCU per 4 KB, a transactional write 2 WCU per item per 1 KB.
    """

    units: dict[str, float] = field(default_factory=dict)
    modelled: dict[str, dict[str, float]] = field(default_factory=dict)

    def model(self, operation: str, rcu: float = 0.0, wcu: float = 0.0) -> None:
        entry = self.modelled.setdefault(operation, {"rcu": 0.0, "wcu": 0.0})
        entry["rcu"] += rcu
        entry["wcu"] += wcu

    def add(
        self, operation: str, consumed: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> None:
        entries = [consumed] if isinstance(consumed, Mapping) else consumed
        total = sum(float(entry.get("CapacityUnits", 0.0)) for entry in entries)
        self.units[operation] = self.units.get(operation, 0.0) + total


_operation: contextvars.ContextVar[str] = contextvars.ContextVar("operation", default="other")


OVERLOADED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@contextlib.contextmanager
def _shed_when_unavailable() -> Iterator[None]:
    """Timeouts and throttling after the SDK's retries become a typed 503, never a 500."""
    try:
        yield
    except HTTPClientError as exc:
        raise StoreUnavailable(f"the table did not answer: {type(exc).__name__}") from exc
    except ClientError as exc:
        if exc.response["Error"]["Code"] in OVERLOADED:
            raise StoreUnavailable(
                f"the table is throttling: {exc.response['Error']['Code']}"
            ) from exc
        raise


class Dynamo:
    """The few calls the stores make, with items as plain dicts."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.meter = CapacityMeter()

    @property
    def operation(self) -> str:
        return _operation.get()

    @operation.setter
    def operation(self, name: str) -> None:
        """Label the capacity of the calls that follow in this task (a context variable)."""
        _operation.set(name)

    async def get(self, pk: str, sk: str, consistent: bool = True) -> Item | None:
        with _shed_when_unavailable():
            response = await self.client.get_item(
                TableName=self.table,
                Key=key(pk, sk),
                ConsistentRead=consistent,
                ReturnConsumedCapacity="TOTAL",
            )
        self.meter.add(self.operation, response.get("ConsumedCapacity", {}))
        item = response.get("Item")
        rcu = _ceil_div(item_size(item) if item else 1, 4096)
        self.meter.model(self.operation, rcu=rcu if consistent else rcu / 2)
        return None if item is None else unmarshal(item)

    async def query(
        self,
        key_condition: str,
        values: Mapping[str, object],
        index: str | None = None,
        limit: int | None = None,
        forward: bool = True,
        filter_expression: str | None = None,
        names: Mapping[str, str] | None = None,
        consistent: bool = True,
    ) -> list[Item]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": marshal(values),
            "ScanIndexForward": forward,
            "ReturnConsumedCapacity": "TOTAL",
            # GSIs cannot be read consistently; only listings use them, never decisions.
            "ConsistentRead": consistent and index is None,
        }
        if index:
            args["IndexName"] = index
        if filter_expression:
            args["FilterExpression"] = filter_expression
        if names:
            args["ExpressionAttributeNames"] = dict(names)
        items: list[Item] = []
        while True:
            if limit is not None:
                args["Limit"] = limit - len(items) if filter_expression is None else limit
            with _shed_when_unavailable():
                response = await self.client.query(**args)
            self.meter.add(self.operation, response.get("ConsumedCapacity", {}))
            read = sum(item_size(i) for i in response.get("Items", []))
            rcu = _ceil_div(read, 4096)
            self.meter.model(self.operation, rcu=rcu if args["ConsistentRead"] else rcu / 2)
            items.extend(unmarshal(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if last is None or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            args["ExclusiveStartKey"] = last

    async def transact(self, items: list[dict[str, Any]]) -> None:
        """One TransactWriteItems. A cancellation only for conflicts with other transactions
        (nothing was written, no condition failed) is tried again a few times, then shed as
        StoreUnavailable (503): a conflict says nothing about the request itself."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                await self._transact_once(items)
                return
            except TransactionCancelled as exc:
                if not exc.conflict or "ConditionalCheckFailed" in exc.reasons:
                    raise
                if attempt + 1 == CONFLICT_ATTEMPTS:
                    raise StoreUnavailable("the table kept reporting conflicting writes") from exc
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter

    async def _transact_once(self, items: list[dict[str, Any]]) -> None:
        try:
            with _shed_when_unavailable():
                # The token makes the SDK's own retries of this call idempotent for 10 minutes.
                response = await self.client.transact_write_items(
                    TransactItems=items,
                    ReturnConsumedCapacity="TOTAL",
                    ClientRequestToken=uuid.uuid4().hex,
                )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                found = exc.response.get("CancellationReasons", [])
                reasons = [r.get("Code", "None") for r in found]
                old = [unmarshal(dict(r["Item"])) if r.get("Item") else None for r in found]  # type: ignore[arg-type]
                raise TransactionCancelled(reasons or ["Unknown"], old) from exc
            raise
        self.meter.add(self.operation, response.get("ConsumedCapacity", []))
        self.meter.model(self.operation, wcu=sum(2 * _ceil_div(_written(i), 1024) for i in items))

    async def batch_put(self, items: Sequence[Mapping[str, object]]) -> None:
        for start in range(0, len(items), 25):
            pending = [{"PutRequest": {"Item": marshal(i)}} for i in items[start : start + 25]]
            while pending:
                with _shed_when_unavailable():
                    response = await self.client.batch_write_item(
                        RequestItems={self.table: pending}, ReturnConsumedCapacity="TOTAL"
                    )
                self.meter.add(self.operation, response.get("ConsumedCapacity", []))
                pending = response.get("UnprocessedItems", {}).get(self.table, [])

    def put(
        self,
        item: Mapping[str, object],
        condition: str | None = None,
        values: Mapping[str, object] | None = None,
    ) -> dict[str, Any]:
        """A Put for a transaction; `condition` guards it."""
        put: dict[str, Any] = {"TableName": self.table, "Item": marshal(item)}
        if condition:
            put["ConditionExpression"] = condition
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if values:
            put["ExpressionAttributeValues"] = marshal(values)
        return {"Put": put}

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, object] | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": key(pk, sk),
            "UpdateExpression": expression,
        }
        if values:
            update["ExpressionAttributeValues"] = marshal(values)
        if condition:
            update["ConditionExpression"] = condition
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        return {"Update": update}

    def check(
        self, pk: str, sk: str, condition: str, values: Mapping[str, object]
    ) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": key(pk, sk),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": marshal(values),
            }
        }

    def delete(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self.table, "Key": key(pk, sk)}}


def _written(transact_item: Mapping[str, Any]) -> int:
    """Bytes a transaction item touches; updates and checks of our small items count 1 KB."""
    put = transact_item.get("Put")
    return item_size(put["Item"]) if put else 1024


@contextlib.asynccontextmanager
async def dynamodb_client(
    region: str, endpoint_url: str | None, max_connections: int = 64
) -> AsyncIterator[Any]:
    """One client per process, reused: retries in standard mode, keep-alive pool."""
    config = AioConfig(
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=max_connections,
        connect_timeout=5,
        read_timeout=120,  # generous for emulators that queue; DynamoDB answers in ms
    )
    session = get_session()
    async with session.create_client(
        "dynamodb", region_name=region, endpoint_url=endpoint_url, config=config
    ) as client:
        yield client
