"""Posters on the aws runtime, against moto's S3 and DynamoDB: presigned POST → S3 event → variants.

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
from tests.posters import BLUE, RED, assert_no_metadata, close_to, decoded, photo, two_tone_jpeg
from tests.support import ApiDriver, assert_problem
from workers import images

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
        assert self.settings.media_bucket
        return self.settings.media_bucket

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
    settings = Settings(
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
        with TestClient(create_app(build_aws(settings), run_background=False)) as client:
            yield Aws(ApiDriver(client), settings, s3)
    finally:
        images.close()


def test_presigned_upload_becomes_immutable_variants_on_the_cdn(aws: Aws) -> None:
    organizer = aws.api.account("organizer")
    event = aws.api.event(organizer)
    form = aws.form(organizer, event["id"])
    assert form["method"] == "POST"
    assert form["url"] == f"{aws.settings.s3_endpoint_url}/{aws.bucket}"
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
    assert close_to(image.getpixel((450, 5)), RED) and close_to(image.getpixel((450, 1595)), BLUE)
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
