"""Poster uploads from S3: a Lambda for the media bucket's ObjectCreated events.

The bucket notifies this function for objects created under `uploads/` (the
presigned POST of `POST /api/v1/events/{id}/poster-uploads` put them there).
Each object is read, checked (magic bytes, size, a full decode with a pixel
limit), re-encoded (a metadata-free, upright original in its own format and
WebP variants made from it) and stored under `posters/` with an immutable
Cache-Control, and the event is pointed at it; the upload, never published
itself, is then deleted.

Failures are sorted: a bad object (not an image, too large, truncated, a
decompression bomb) is deleted and logged with its reason, and the invocation
succeeds, so it is never retried; a storage or table failure raises, so Lambda
retries the event (asynchronous invocation) and finally hands it to its
on-failure destination. Recording is idempotent, so a retried or duplicated
event has one effect. Image: the API's, run as
`python -m awslambdaric workers.images.handler`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from booking.bootstrap import Runtime
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function
from booking.services.posters import UploadOutcome

log = logging.getLogger(__name__)


def object_created(event: Mapping[str, Any]) -> Iterator[tuple[str, str, datetime]]:
    """(bucket, key, time) of each ObjectCreated record, direct or wrapped in SQS messages."""
    for record in event.get("Records") or ():
        if "body" in record:  # S3 → SQS → Lambda: the S3 event is the message body
            yield from object_created(json.loads(record["body"]))
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3") or {}
        bucket = str((s3.get("bucket") or {}).get("name", ""))
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))  # keys come URL-encoded
        stamp = str(record.get("eventTime", ""))
        try:
            at = datetime.fromisoformat(stamp)
        except ValueError:
            at = datetime.now(UTC)
        yield bucket, key, at if at.tzinfo else at.replace(tzinfo=UTC)


async def handle_s3_event(runtime: Runtime, event: Mapping[str, Any]) -> list[UploadOutcome]:
    """The core, on a started runtime: every upload of the event, in order."""
    outcomes = []
    for bucket, key, at in object_created(event):
        if bucket != runtime.settings.aws.media_bucket:
            outcomes.append(UploadOutcome(key, "ignored", f"not the media bucket: {bucket}"))
            continue
        outcome = await runtime.services.posters.accept_upload(key, at)
        log.info(
            "poster upload %s",
            outcome.status,
            extra={"key": key, "event_id": outcome.event_id, "detail": outcome.detail},
        )
        outcomes.append(outcome)
    return outcomes


_environment = LambdaEnvironment()


@lambda_function("images")
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point for S3 event notifications (or SQS messages carrying them)."""
    outcomes = _environment.run(lambda runtime: handle_s3_event(runtime, event))
    return {"outcomes": [{"key": o.key, "status": o.status, "detail": o.detail} for o in outcomes]}


def close() -> None:
    """Stop the runtime and close the loop (tests, tools); Lambda never calls this."""
    _environment.close()
