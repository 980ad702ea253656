"""The aws indexer path: real DynamoDB Stream records (moto) → indexer Lambda logic → OpenSearch.

The catalogue is written over HTTP on the aws runtime with no background work,
so nothing but the records read from the table's stream feeds the index. The
records are then delivered again, out of order and with a poison record, as a
retrying event source mapping might.
"""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from booking.adapters.aws.dynamodb_stream import StreamReader, StreamRecord
from booking.adapters.aws.opensearch_index import OpenSearchIndex
from booking.bootstrap_aws import AwsRuntime, build_aws
from booking.domain.search import SearchQuery
from booking.settings import Settings
from indexer.lambda_handler import index_stream_batch
from tests.moto_server import AWS_TEST_ENV, create_table

PASSWORD = "correct horse battery staple"


class StreamTap:
    """Everything the table's stream holds beyond what was taken before."""

    def __init__(self, runtime: AwsRuntime, endpoint: str) -> None:
        self._runtime = runtime
        self._endpoint = endpoint
        self._reader: StreamReader | None = None
        self._taken: list[StreamRecord] = []

    async def take(self, client: Any) -> list[StreamRecord]:
        if self._reader is None:
            table = await self._runtime.dynamo.client.describe_table(
                TableName=self._runtime.dynamo.table
            )
            arn = table["Table"]["LatestStreamArn"]

            async def keep(records: list[StreamRecord]) -> None:
                self._taken.extend(records)

            self._reader = StreamReader(client, arn, keep)  # type: ignore[arg-type]
        before = len(self._taken)
        while await self._reader.poll_once():
            pass
        return self._taken[before:]


async def search_titles(index: OpenSearchIndex, text: str) -> list[str]:
    await index.refresh()
    page = await index.search(SearchQuery(text=text))
    return [hit.listing.title for hit in page.hits]


def lambda_shaped(records: list[StreamRecord]) -> list[dict[str, Any]]:
    """As Lambda delivers them: binary attributes base64 text, not bytes."""

    def encode(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    return [encode(dict(r)) for r in records]


def test_stream_records_feed_opensearch_in_any_order(
    moto_endpoint: str, opensearch_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    table = asyncio.run(create_table(moto_endpoint, stream=True))
    runtime = build_aws(
        Settings.of(
            runtime="aws",
            table_name=table,
            aws_endpoint_url=moto_endpoint,
            data_dir=tmp_path,
            opensearch_url=opensearch_url,
            opensearch_index=f"concerts-streams-{uuid.uuid4().hex[:8]}",
        )
    )
    assert isinstance(runtime.search_index, OpenSearchIndex)
    index = runtime.search_index

    async def scenario() -> None:
        from aiobotocore.session import get_session

        # One loop for the app, the runtime's clients and the indexer: no lifespan thread.
        await runtime.start()
        app = create_app(runtime)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://api.test") as http,
            get_session().create_client(
                "dynamodbstreams",
                region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
                endpoint_url=moto_endpoint,
            ) as streams,
        ):
            tap = StreamTap(runtime, moto_endpoint)
            email = f"org-{uuid.uuid4().hex[:8]}@test.concertbook"
            await http.post(
                "/api/v1/accounts",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "display_name": "o",
                    "role": "organizer",
                },
            )
            token = (
                await http.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
            ).json()["token"]
            organizer = {"Authorization": f"Bearer {token}"}
            r = await http.post(
                "/api/v1/venues",
                headers=organizer,
                json={
                    "name": "Gocheok Sky Dome",
                    "city": "Seoul",
                    "layout": {
                        "blocks": [{"section": "A", "name": "A", "rows": 1, "seats_per_row": 4}]
                    },
                },
            )
            assert r.status_code == 201, r.text
            venue = r.json()
            r = await http.post(
                "/api/v1/events",
                headers=organizer,
                json={
                    "title": "방탄소년단 ARIRANG",
                    "artists": [{"name_ko": "방탄소년단", "name_en": "BTS"}],
                    "status": "published",
                },
            )
            assert r.status_code == 201, r.text
            event = r.json()
            r = await http.post(
                f"/api/v1/events/{event['id']}/performances",
                headers=organizer,
                json={
                    "venue_id": venue["id"],
                    "starts_at": "2031-06-13T19:00:00+09:00",
                    "sale_opens_at": "2031-05-01T20:00:00+09:00",
                    "sale_closes_at": "2031-06-13T18:00:00+09:00",
                    "grades": [{"code": "R", "name": "R", "price_krw": 198_000}],
                    "assignment": {"sections": {"A": "R"}},
                },
            )
            assert r.status_code == 201, r.text
            performance = r.json()

            created = await tap.take(streams)
            assert await search_titles(index, "BTS") == []  # only the stream feeds the index
            assert await index_stream_batch(runtime, lambda_shaped(created)) == {
                "batchItemFailures": []
            }
            assert await search_titles(index, "방탄소년단") == ["방탄소년단 ARIRANG"]

            r = await http.patch(
                f"/api/v1/events/{event['id']}", headers=organizer, json={"title": "BTS 월드투어"}
            )
            assert r.status_code == 200, r.text
            renamed = await tap.take(streams)
            assert await index_stream_batch(runtime, renamed) == {"batchItemFailures": []}
            # The older batch again, then everything twice in a shuffled order.
            await index_stream_batch(runtime, created)
            replay = (created + renamed) * 2
            random.Random(7).shuffle(replay)
            await index_stream_batch(runtime, replay)
            assert await search_titles(index, "BTS") == ["BTS 월드투어"]
            assert await search_titles(index, "ARIRANG") == []

            r = await http.delete(f"/api/v1/performances/{performance['id']}", headers=organizer)
            assert r.status_code == 204, r.text
            deleted = await tap.take(streams)
            await index_stream_batch(runtime, deleted)
            await index_stream_batch(runtime, created + renamed)  # late: must not bring it back
            assert await search_titles(index, "BTS") == []

            # A poison record: what came before it is indexed, the failure names it.
            poison = dict(created[-1])
            poison["dynamodb"] = {
                **poison["dynamodb"],
                "SequenceNumber": "999999999999",
                "NewImage": {
                    **poison["dynamodb"]["NewImage"],
                    "topic": {"S": "CatalogChanged"},
                    "payload": {"B": b"not an outbox message"},
                },
            }
            assert await index_stream_batch(runtime, [*renamed, poison]) == {
                "batchItemFailures": [{"itemIdentifier": "999999999999"}]
            }

    async def run() -> None:
        try:
            await scenario()
        finally:
            await runtime.stop()

    asyncio.run(run())
