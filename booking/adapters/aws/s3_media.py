"""Media in S3 behind a CDN (CloudFront), and direct browser uploads with presigned POSTs.

One bucket, two prefixes: `posters/` holds immutable, content-addressed images
(the CDN's origin, cached forever), `uploads/<event>/<token>` receives
unchecked uploads (private; its ObjectCreated events feed `workers/images.py`,
and a lifecycle rule may expire leftovers). `S3MediaStore` reads and writes
only `posters/` keys of the content-addressed shape, so `GET /media/...` can
never hand out a raw upload (or any other object of the bucket). The client
is created in the runtime's `start()`, inside the event loop that uses it,
like DynamoDB's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, HTTPClientError

from booking.domain.errors import InvalidRequest, StoreUnavailable
from booking.domain.ports import StoredMedia, UploadForm

IMMUTABLE = "public, max-age=31536000, immutable"
_MISSING = {"NoSuchKey", "404", "NotFound"}
# `posters/<sha256>.<ext>` (originals) and `posters/<sha256>-<width>.<ext>` (variants): the
# only keys served; the CDN's origin is this prefix too.
_SERVED_KEY = re.compile(r"^posters/[0-9a-f]{64}(-[0-9]{1,5})?\.(jpg|png|webp)$")


@contextlib.asynccontextmanager
async def s3_client(region: str, endpoint_url: str | None) -> AsyncIterator[Any]:
    """One client per process; path-style addressing against an endpoint override (moto)."""
    config = AioConfig(
        signature_version="s3v4",
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path" if endpoint_url else "virtual"},
        connect_timeout=5,
        read_timeout=30,
    )
    async with get_session().create_client(
        "s3", region_name=region, endpoint_url=endpoint_url, config=config
    ) as client:
        yield client


@contextlib.contextmanager
def _shed_when_unavailable() -> Iterator[None]:
    """S3 not answering after the SDK's retries is a typed 503 (and a retry), never a 500."""
    try:
        yield
    except HTTPClientError as exc:
        raise StoreUnavailable(f"S3 did not answer: {type(exc).__name__}") from exc
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"SlowDown", "ServiceUnavailable", "InternalError"}:
            raise StoreUnavailable(f"S3 is busy: {exc.response['Error']['Code']}") from exc
        raise


class S3Bucket:
    """The bucket and the client the runtime opened for it (None until started)."""

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self.client = client


class S3MediaStore:
    """The MediaStore port on S3: objects are written once and cached forever by the CDN."""

    def __init__(self, bucket: S3Bucket, base_url: str) -> None:
        self._bucket = bucket
        self._base_url = base_url.rstrip("/")

    def url(self, key: str) -> str:
        return f"{self._base_url}/{key}"

    async def put(self, key: str, content_type: str, data: bytes) -> None:
        if not _SERVED_KEY.match(key):
            raise ValueError(f"not a media key: {key!r}")
        with _shed_when_unavailable():
            await self._bucket.client.put_object(
                Bucket=self._bucket.name,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=IMMUTABLE,
            )

    async def get(self, key: str) -> StoredMedia | None:
        if not _SERVED_KEY.match(key):
            return None  # `uploads/` and anything else in the bucket are not media
        try:
            with _shed_when_unavailable():
                response = await self._bucket.client.get_object(Bucket=self._bucket.name, Key=key)
                async with response["Body"] as body:
                    data = await body.read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                return None
            raise
        return StoredMedia(key, response.get("ContentType", "application/octet-stream"), data)


class S3PosterUploads:
    """The PosterUploads port: presigned POST forms into `uploads/`, then read and delete."""

    def __init__(self, bucket: S3Bucket) -> None:
        self._bucket = bucket

    async def presign(self, key: str, max_bytes: int, expires_in: timedelta) -> UploadForm:
        seconds = int(expires_in.total_seconds())
        # The policy S3 enforces: this exact key (added by the SDK), a size of 1..max_bytes,
        # and a Content-Type field of image/*; the bytes themselves are checked afterwards.
        form = await self._bucket.client.generate_presigned_post(
            Bucket=self._bucket.name,
            Key=key,
            Conditions=[
                ["content-length-range", 1, max_bytes],
                ["starts-with", "$Content-Type", "image/"],
            ],
            ExpiresIn=seconds,
        )
        return UploadForm(
            url=form["url"],
            fields={str(k): str(v) for k, v in form["fields"].items()},
            key=key,
            max_bytes=max_bytes,
            expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
        )

    async def read(self, key: str, max_bytes: int) -> bytes | None:
        try:
            with _shed_when_unavailable():
                response = await self._bucket.client.get_object(Bucket=self._bucket.name, Key=key)
                async with response["Body"] as body:
                    if int(response.get("ContentLength", 0)) > max_bytes:
                        raise InvalidRequest(
                            f"the upload is {response['ContentLength']} bytes;"
                            f" at most {max_bytes} are accepted"
                        )
                    return bytes(await body.read())
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                return None
            raise

    async def discard(self, key: str) -> None:
        with _shed_when_unavailable():
            await self._bucket.client.delete_object(Bucket=self._bucket.name, Key=key)
