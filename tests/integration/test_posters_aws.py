"""Posters on the aws runtime, against moto's S3 and DynamoDB: presigned POST → S3 event → variants,
and PUT → outbox → stream → forwarder → `images` queue (moto's SQS) → variants.

moto accepts a presigned POST without checking its policy (size, Content-Type,
expiry), so these tests check the policy document the API signs, and that what
gets past a lax store anyway (an oversize or non-image object) is refused by
the S3 event worker, deleted, and never retried.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import botocore.session
import httpx
import pytest
from botocore.config import Config
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap_aws import build_aws
from booking.domain.media import MAX_POSTER_BYTES
from booking.settings import Settings
from tests.moto_server import AWS_TEST_ENV, create_table, moto_server
from tests.posters import (
    BLUE,
    RED,
    assert_no_metadata,
    close_to,
    decoded,
    photo,
    pixel,
    two_tone_jpeg,
)
from tests.support import ApiDriver, assert_problem
from workers import forwarder, images, queues

REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
CDN = "https://d111111abcdef8.cloudfront.net"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def s3_endpoint(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3: the session's server when that is moto (not DynamoDB Local), else our own."""
    with contextlib.suppress(httpx.HTTPError):
        if httpx.get(moto_endpoint + "/moto-api/", timeout=2).status_code == 200:
            yield moto_endpoint
            return
    with moto_server(tmp_path_factory.mktemp("moto-s3")) as own:
        yield own


@pytest.fixture
def s3(s3_endpoint: str) -> Iterator[Any]:
    client: Any = botocore.session.get_session().create_client(
        "s3",
        region_name=REGION,
        endpoint_url=s3_endpoint,
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        yield client
    finally:
        client.close()


class Aws:
    """The API (as its Lambda runs it: no background workers) and the worker's settings."""

    def __init__(self, api: ApiDriver, settings: Settings, s3: Any) -> None:
        self.api = api
        self.settings = settings
        self.s3 = s3

    @property
    def bucket(self) -> str:
        assert self.settings.aws.media_bucket
        return self.settings.aws.media_bucket

    def form(self, organizer: dict[str, str], event_id: str) -> dict[str, Any]:
        r = self.api.client.post(f"/api/v1/events/{event_id}/poster-uploads", headers=organizer)
        assert r.status_code == 201, r.text
        form: dict[str, Any] = r.json()
        return form

    def post(self, form: dict[str, Any], body: bytes, content_type: str) -> httpx.Response:
        """What a browser does with the form: its fields, Content-Type, then the file."""
        return httpx.post(
            form["url"],
            data={**form["fields"], "Content-Type": content_type},
            files={"file": ("poster", body, content_type)},
        )

    def s3_event(self, key: str, at: datetime | None = None, bucket: str | None = None) -> Any:
        """What S3 sends the worker for one created object (keys arrive URL-encoded)."""
        stamp = (at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return images.handler(
            {
                "Records": [
                    {
                        "eventVersion": "2.1",
                        "eventSource": "aws:s3",
                        "awsRegion": REGION,
                        "eventTime": stamp,
                        "eventName": "ObjectCreated:Post",
                        "s3": {
                            "s3SchemaVersion": "1.0",
                            "bucket": {"name": bucket or self.bucket},
                            "object": {"key": quote_plus(key), "size": 1},
                        },
                    }
                ]
            },
            None,
        )["outcomes"]

    def keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def event(self, event_id: str) -> dict[str, Any]:
        r = self.api.client.get(f"/api/v1/events/{event_id}")
        assert r.status_code == 200, r.text
        event: dict[str, Any] = r.json()
        return event


@pytest.fixture
def aws(
    moto_endpoint: str,
    s3_endpoint: str,
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Aws]:
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    table = asyncio.run(create_table(moto_endpoint))
    settings = Settings.of(
        runtime="aws",
        table_name=table,
        aws_endpoint_url=moto_endpoint,
        s3_endpoint_url=s3_endpoint,
        media_bucket=bucket,
        media_base_url=CDN,
        data_dir=tmp_path / "api",
    )
    # The worker is its own Lambda: it builds its runtime from the environment.
    for name, value in {
        "RUNTIME": "aws",
        "TABLE_NAME": table,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "S3_ENDPOINT_URL": s3_endpoint,
        "MEDIA_BUCKET": bucket,
        "MEDIA_BASE_URL": CDN,
        "DATA_DIR": str(tmp_path / "worker"),
    }.items():
        monkeypatch.setenv(f"CONCERTBOOK_{name}", value)
    try:
        with TestClient(create_app(build_aws(settings))) as client:
            yield Aws(ApiDriver(client), settings, s3)
    finally:
        images.close()


def test_presigned_upload_becomes_immutable_variants_on_the_cdn(aws: Aws) -> None:
    organizer = aws.api.account("organizer")
    event = aws.api.event(organizer)
    form = aws.form(organizer, event["id"])
    assert form["method"] == "POST"
    assert form["url"] == f"{aws.settings.aws.s3_endpoint_url}/{aws.bucket}"
    key = form["key"]
    assert re.fullmatch(rf"uploads/{event['id']}/[0-9a-f]{{32}}", key)
    assert form["fields"]["key"] == key and form["max_bytes"] == MAX_POSTER_BYTES
    assert {"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-signature"} <= set(
        form["fields"]
    )
    expires = datetime.fromisoformat(form["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    # What S3 enforces (moto does not): this key, 1 byte to 5 MiB, a Content-Type of image/*.
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, MAX_POSTER_BYTES] in policy["conditions"]
    assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]
    assert {"key": key} in policy["conditions"] and {"bucket": aws.bucket} in policy["conditions"]
    assert datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) <= expires

    poster = two_tone_jpeg(1600, 900, orientation=6)
    uploaded = aws.post(form, poster, "image/jpeg")
    assert uploaded.status_code in (201, 204), uploaded.text
    assert aws.keys("uploads/") == [key]

    (outcome,) = aws.s3_event(key)
    assert outcome["status"] == "accepted", outcome

    shown = aws.event(event["id"])
    original = shown["poster_ref"]
    assert shown["poster"]["original"] == f"{CDN}/{original}"
    variants = shown["poster"]["variants"]
    assert set(variants) == {"320", "640", "900"}  # upright 900 wide: no 1280 by upscaling
    for width, url in variants.items():
        assert url.startswith(f"{CDN}/posters/") and url.endswith(f"-{width}.webp")
    stored = aws.keys("posters/")
    assert stored == sorted([original, *(u.removeprefix(f"{CDN}/") for u in variants.values())])
    for stored_key in stored:
        head = aws.s3.head_object(Bucket=aws.bucket, Key=stored_key)
        assert head["CacheControl"] == IMMUTABLE
        assert head["ContentType"] == ("image/jpeg" if stored_key == original else "image/webp")
    variant = aws.s3.get_object(Bucket=aws.bucket, Key=variants["320"].removeprefix(f"{CDN}/"))
    image = decoded(variant["Body"].read())
    assert image.width == 320 and dict(image.getexif()) == {}
    assert aws.keys("uploads/") == []  # checked and stored: the upload is gone

    # S3 delivers at least once: the same event again changes nothing.
    (again,) = aws.s3_event(key)
    assert again["status"] == "ignored"
    assert aws.event(event["id"]) == shown
    # The API serves the same bytes (its GET /media reads the bucket) with the same headers.
    served = aws.api.client.get(f"/media/{original}")
    stored_original = aws.s3.get_object(Bucket=aws.bucket, Key=original)["Body"].read()
    assert served.status_code == 200 and served.content == stored_original != poster
    assert served.headers["cache-control"] == IMMUTABLE


def test_the_published_original_is_reencoded_without_metadata_and_upright(aws: Aws) -> None:
    """GIVEN a phone photo (EXIF with GPS and orientation 6, XMP with GPS, ICC, a comment)
    posted with a presigned form WHEN it waits in `uploads/` THEN `GET /media/` does not
    serve it; WHEN the S3 event worker accepts it THEN the original on the CDN prefix is a
    JPEG re-encoded from the pixels alone, upright, keyed by the hash of those bytes, no
    object of the bucket holds the uploaded bytes, and the same file uploaded again
    changes nothing."""
    organizer = aws.api.account("organizer")
    event = aws.api.event(organizer)
    upload = photo(1600, 900, "JPEG", orientation=6)
    form = aws.form(organizer, event["id"])
    assert aws.post(form, upload, "image/jpeg").status_code in (201, 204)
    # Waiting to be checked: private, and not reachable through the API's media route.
    assert aws.api.client.get(f"/media/{form['key']}").status_code == 404
    assert aws.api.client.get(f"/media/{form['key'].replace('/', '%2F')}").status_code == 404

    (outcome,) = aws.s3_event(form["key"])
    assert outcome["status"] == "accepted", outcome
    shown = aws.event(event["id"])
    original = shown["poster_ref"]
    assert shown["poster"]["original"] == f"{CDN}/{original}"
    head = aws.s3.head_object(Bucket=aws.bucket, Key=original)
    assert head["ContentType"] == "image/jpeg" and head["CacheControl"] == IMMUTABLE
    published = aws.s3.get_object(Bucket=aws.bucket, Key=original)["Body"].read()
    assert original == f"posters/{hashlib.sha256(published).hexdigest()}.jpg"
    image = assert_no_metadata(published)
    assert image.format == "JPEG" and image.size == (900, 1600)  # upright
    assert close_to(pixel(image, (450, 5)), RED) and close_to(pixel(image, (450, 1595)), BLUE)
    assert aws.api.client.get(f"/media/{original}").content == published

    everything = aws.keys("")
    assert aws.keys("uploads/") == [] and everything
    for key in everything:
        data = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
        assert data != upload
        assert_no_metadata(data)

    again = aws.form(organizer, event["id"])
    aws.post(again, upload, "image/jpeg")
    assert aws.s3_event(again["key"])[0]["status"] == "accepted"
    assert aws.event(event["id"]) == shown
    assert aws.keys("") == everything


def test_bad_uploads_are_deleted_and_never_retried(aws: Aws) -> None:
    organizer = aws.api.account("organizer")
    event = aws.api.event(organizer)
    whole = two_tone_jpeg(800, 600)
    for body, content_type in (
        (b"<?php system($_GET['c']); ?>", "image/png"),  # a script calling itself an image
        (whole[: len(whole) // 2], "image/jpeg"),  # truncated
        (b"\xff\xd8\xff" + b"\x00" * MAX_POSTER_BYTES, "image/jpeg"),  # past the policy's size
    ):
        form = aws.form(organizer, event["id"])
        assert aws.post(form, body, content_type).status_code in (201, 204)  # moto takes it
        (outcome,) = aws.s3_event(form["key"])  # returns normally: Lambda will not retry
        assert outcome["status"] == "rejected", outcome
        assert aws.keys("uploads/") == []
    assert aws.event(event["id"])["poster"] is None
    assert aws.keys("posters/") == []

    # Not ours: another bucket, or a key outside uploads/ (the worker's own variants).
    assert aws.s3_event("posters/whatever.jpg")[0]["status"] == "ignored"
    assert aws.s3_event(f"uploads/{event['id']}/{'0' * 32}", bucket="other")[0]["status"] == (
        "ignored"
    )


def test_an_older_upload_does_not_replace_a_newer_one(aws: Aws) -> None:
    organizer = aws.api.account("organizer")
    event = aws.api.event(organizer)
    older, newer = aws.form(organizer, event["id"]), aws.form(organizer, event["id"])
    aws.post(older, two_tone_jpeg(500, 300, None, "red", "red"), "image/jpeg")
    aws.post(newer, two_tone_jpeg(500, 300, None, "blue", "blue"), "image/jpeg")
    now = datetime.now(UTC)
    assert aws.s3_event(newer["key"], at=now)[0]["status"] == "accepted"
    shown = aws.event(event["id"])
    late = aws.s3_event(older["key"], at=now - timedelta(seconds=5))[0]
    assert late["status"] == "ignored" and "newer" in late["detail"]
    assert aws.event(event["id"]) == shown


def test_poster_uploads_are_for_the_events_organizer_only(aws: Aws) -> None:
    organizer = aws.api.account("organizer")
    event = aws.api.event(organizer)
    path = f"/api/v1/events/{event['id']}/poster-uploads"
    assert_problem(aws.api.client.post(path), 401, "authentication-required")
    for someone in (aws.api.account("fan"), aws.api.account("organizer")):
        assert_problem(aws.api.client.post(path, headers=someone), 404, "not-found")


class Queued:
    """The aws runtime as deployed with the `images` queue, all of it on moto: the API's
    Lambda (no background workers), the outbox forwarder and the `images` function, each
    its own runtime built from the environment, as Lambda builds them."""

    def __init__(self, api: ApiDriver, settings: Settings, clients: dict[str, Any]) -> None:
        self.api = api
        self.settings = settings
        self.s3, self.sqs, self.streams = clients["s3"], clients["sqs"], clients["streams"]
        assert settings.queues.queue_url_images and settings.aws.media_bucket
        self.queue: str = settings.queues.queue_url_images
        self.bucket: str = settings.aws.media_bucket

    def forward(self) -> dict[str, Any]:
        """Run the forwarder Lambda over everything the table's stream holds."""
        arn = self.streams.list_streams(TableName=self.settings.aws.table_name)["Streams"][0][
            "StreamArn"
        ]
        records: list[dict[str, Any]] = []
        for shard in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records += self.streams.get_records(ShardIterator=iterator)["Records"]
        event = {"Records": [_lambda_json({**r, "eventSourceARN": arn}) for r in records]}
        return forwarder.handler(event, None)

    def receive(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=queue_url or self.queue,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def deliver(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """What the event source mapping does: the `images` Lambda gets the batch, then
        every message its partial batch response does not list is deleted."""
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        response = queues.images_handler(_lambda_sqs_event(messages, arn), None)
        listed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in listed:
                with contextlib.suppress(Exception):
                    self.sqs.delete_message(
                        QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"]
                    )
        return response

    def size(self, queue_url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        return sum(int(found["Attributes"][n]) for n in names)

    def keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))


def _lambda_json(value: Any) -> Any:
    """A Streams API record in the JSON shape Lambda delivers (binary as base64 text)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    return value


def _lambda_sqs_event(messages: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    """Received messages in the shape of the SQS event Lambda hands a function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


QUEUE_ATTEMPTS = 2


@pytest.fixture
def queued(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queued]:
    # Everything on moto (DynamoDB Local, where the session uses it, has no SQS or Streams).
    endpoint = s3_endpoint
    session = botocore.session.get_session()
    made: dict[str, Any] = {
        "s3": session.create_client(
            "s3",
            region_name=REGION,
            endpoint_url=endpoint,
            config=Config(s3={"addressing_style": "path"}),
        ),
        "sqs": session.create_client("sqs", region_name=REGION, endpoint_url=endpoint),
        "streams": session.create_client(
            "dynamodbstreams", region_name=REGION, endpoint_url=endpoint
        ),
    }
    suffix = uuid.uuid4().hex[:8]
    bucket = f"media-{suffix}"
    made["s3"].create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    sqs = made["sqs"]
    dlq = sqs.create_queue(QueueName=f"images-{suffix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": QUEUE_ATTEMPTS + 1}
    queue = sqs.create_queue(
        QueueName=f"images-{suffix}",
        Attributes={"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    table = asyncio.run(create_table(endpoint))
    settings = Settings.of(
        runtime="aws",
        table_name=table,
        aws_endpoint_url=endpoint,
        s3_endpoint_url=endpoint,
        media_bucket=bucket,
        media_base_url=CDN,
        data_dir=tmp_path / "api",
        queue_url_images=queue,
        queue_max_attempts=QUEUE_ATTEMPTS,
    )
    for name, value in {
        "RUNTIME": "aws",
        "TABLE_NAME": table,
        "AWS_ENDPOINT_URL": endpoint,
        "S3_ENDPOINT_URL": endpoint,
        "MEDIA_BUCKET": bucket,
        "MEDIA_BASE_URL": CDN,
        "DATA_DIR": str(tmp_path / "worker"),
        "QUEUE_URL_IMAGES": queue,
        "QUEUE_MAX_ATTEMPTS": str(QUEUE_ATTEMPTS),
    }.items():
        monkeypatch.setenv(f"CONCERTBOOK_{name}", value)
    try:
        with TestClient(create_app(build_aws(settings))) as client:
            yield Queued(ApiDriver(client), settings, made)
    finally:
        forwarder.close()
        queues.close()
        for client in made.values():
            client.close()


def test_a_put_poster_gets_its_variants_through_the_images_queue_once(queued: Queued) -> None:
    """GIVEN the aws runtime with the `images` queue WHEN an organizer PUTs a poster THEN the
    API stores its clean original at once, the forwarder moves PosterUploaded from the
    table's stream to `images` (twice over, as a retried stream batch does), and the
    `images` Lambda, handed both copies in one batch, records the variants once: one more
    revision, one set of objects, an empty queue; a copy delivered later changes nothing."""
    organizer = queued.api.account("organizer")
    event = queued.api.event(organizer)
    upload = photo(1600, 900, "JPEG", orientation=6)
    r = queued.api.client.put(
        f"/api/v1/events/{event['id']}/poster", headers=organizer, content=upload
    )
    assert r.status_code == 200, r.text
    put = r.json()
    assert put["poster"]["variants"] == {}
    assert queued.keys() == [put["poster_ref"]]
    assert_no_metadata(
        queued.s3.get_object(Bucket=queued.bucket, Key=put["poster_ref"])["Body"].read()
    )

    assert queued.forward() == {"batchItemFailures": []}
    assert queued.forward() == {"batchItemFailures": []}  # a retried stream batch: sent twice
    messages = queued.receive()
    assert [m["MessageAttributes"]["topic"]["StringValue"] for m in messages] == [
        "PosterUploaded",
        "PosterUploaded",
    ]
    assert len({m["MessageAttributes"]["outbox_id"]["StringValue"] for m in messages}) == 1
    assert queued.deliver(messages) == {"batchItemFailures": []}

    shown = queued.api.client.get(f"/api/v1/events/{event['id']}").json()
    assert shown["revision"] == put["revision"] + 1  # the variants, recorded once
    variants = shown["poster"]["variants"]
    assert set(variants) == {"320", "640", "900"}
    keys = [v.removeprefix(f"{CDN}/") for v in variants.values()]
    assert queued.keys() == sorted([put["poster_ref"], *keys])
    for key in keys:
        head = queued.s3.head_object(Bucket=queued.bucket, Key=key)
        assert head["ContentType"] == "image/webp" and head["CacheControl"] == IMMUTABLE
        assert_no_metadata(queued.s3.get_object(Bucket=queued.bucket, Key=key)["Body"].read())
    assert queued.size(queued.queue) == 0

    # The same message once more, later: nothing changes.
    queued.sqs.send_message(
        QueueUrl=queued.queue,
        MessageBody=messages[0]["Body"],
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value["StringValue"]}
            for name, value in messages[0]["MessageAttributes"].items()
        },
    )
    assert queued.deliver(queued.receive()) == {"batchItemFailures": []}
    assert queued.api.client.get(f"/api/v1/events/{event['id']}").json() == shown
    assert queued.keys() == sorted([put["poster_ref"], *keys])
    assert queued.size(queued.queue) == 0


def test_a_poison_images_message_is_retried_then_dead_lettered_with_its_reason(
    queued: Queued,
) -> None:
    """GIVEN a message on `images` that is no outbox message WHEN the `images` Lambda gets it
    THEN the partial batch response lists it for a retry, and at the last attempt it is
    moved to the queue's DLQ with its reason and listed no more."""
    sent = queued.sqs.send_message(
        QueueUrl=queued.queue,
        MessageBody="{not an outbox message",
        MessageAttributes={"topic": {"DataType": "String", "StringValue": "PosterUploaded"}},
    )
    first = queued.deliver(queued.receive())
    assert first == {"batchItemFailures": [{"itemIdentifier": sent["MessageId"]}]}
    deadline = time.monotonic() + 10  # hidden 2 s after the first failure
    while not (again := queued.receive()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert queued.deliver(again) == {"batchItemFailures": []}
    attributes = queued.sqs.get_queue_attributes(
        QueueUrl=queued.queue, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    dlq_name = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
    dlq = queued.sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    (parked,) = queued.receive(dlq)
    assert parked["Body"] == "{not an outbox message"
    found = {k: v["StringValue"] for k, v in parked["MessageAttributes"].items()}
    assert found["error"].startswith(("DecodeError", "ValidationError"))
    assert found["attempts"] == str(QUEUE_ATTEMPTS)
    assert found["source_queue"] == queued.queue and found["topic"] == "PosterUploaded"
    assert queued.size(queued.queue) == 0
