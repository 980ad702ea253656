"""The DynamoDB stand-in keeps TransactWriteItems all or nothing: a cancelled transaction
leaves every item it named as it was (tests/moto_server.py backs up only those items, not
the whole table), on tables with and without a stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from booking.adapters.aws.dynamodb_table import dynamodb_client
from tests.moto_server import AWS_TEST_ENV, create_table

REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "X"}}


@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_a_cancelled_transaction_changes_no_item(moto_endpoint: str, stream: bool) -> None:
    async def run() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        table = await create_table(moto_endpoint, stream=stream)
        async with dynamodb_client(REGION, moto_endpoint) as client:
            await client.put_item(TableName=table, Item={**_key("a"), "n": {"N": "1"}})
            await client.put_item(TableName=table, Item={**_key("b"), "n": {"N": "1"}})
            await client.put_item(TableName=table, Item={**_key("z"), "n": {"N": "1"}})
            with pytest.raises(ClientError) as cancelled:
                await client.transact_write_items(
                    TransactItems=[
                        {  # applied first, then rolled back
                            "Update": {
                                "TableName": table,
                                "Key": _key("a"),
                                "UpdateExpression": "SET n = :two, extra = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}},
                            }
                        },
                        {"Put": {"TableName": table, "Item": {**_key("c"), "n": {"N": "1"}}}},
                        {"Delete": {"TableName": table, "Key": _key("b")}},
                        {
                            "ConditionCheck": {
                                "TableName": table,
                                "Key": _key("z"),
                                "ConditionExpression": "n = :nine",
                                "ExpressionAttributeValues": {":nine": {"N": "9"}},
                            }
                        },
                    ]
                )
            error = cancelled.value.response["Error"]["Code"]
            items = (await client.scan(TableName=table, ConsistentRead=True))["Items"]
            # and a transaction that passes still applies every write
            await client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {**_key("d"), "n": {"N": "4"}}}},
                    {"Delete": {"TableName": table, "Key": _key("b")}},
                ]
            )
            after = (await client.scan(TableName=table, ConsistentRead=True))["Items"]
        return {"error": error}, items, {"keys": sorted(i["pk"]["S"] for i in after)}

    outcome, items, after = asyncio.run(run())
    assert outcome == {"error": "TransactionCanceledException"}
    assert sorted((i["pk"]["S"], i["n"]["N"], "extra" in i) for i in items) == [
        ("a", "1", False),
        ("b", "1", False),
        ("z", "1", False),
    ]
    assert after == {"keys": ["a", "d", "z"]}
