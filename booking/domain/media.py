"""Poster images: accepted by their magic bytes, stored under the hash of their content.

An upload is never published as it came: it is re-encoded at full size in its
own format (the original) and into a few WebP widths (the variants, never
upscaled), both with EXIF orientation applied and every metadata block (EXIF
with GPS, XMP, ICC, comments) gone. Every key is derived from the bytes it
names (the re-encoded ones), so a key's bytes never change and caches may keep
them forever.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import msgspec

from booking.domain.errors import InvalidRequest

MAX_POSTER_BYTES = 5 * 1024 * 1024
# A 5 MiB PNG of one colour can decode to gigabytes: refuse more pixels than this
# before decoding (a 48-megapixel phone photo is 8000 × 6000).
MAX_POSTER_PIXELS = 50_000_000
POSTER_WIDTHS = (320, 640, 1280)
_SIGNATURES = {
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
}
_UPLOAD_KEY = re.compile(r"^uploads/(?P<event_id>[A-Za-z0-9_-]{1,64})/[0-9a-f]{32}$")


class Poster(msgspec.Struct, frozen=True):
    """An event's poster as clients load it: URLs of the original and of its variants."""

    original: str
    # Width in pixels (as text, a JSON object key) → URL; empty until the variants are made.
    variants: dict[str, str] = {}
    uploaded_at: datetime | None = None


class ImageVariant(msgspec.Struct, frozen=True):
    """One re-encoded width of an image, without metadata."""

    width: int
    height: int
    content_type: str
    extension: str
    data: bytes


def sniff_image(data: bytes) -> tuple[str, str]:
    """(content type, extension) from the bytes themselves, never from the client's header."""
    if len(data) > MAX_POSTER_BYTES:
        raise InvalidRequest(f"a poster may be at most {MAX_POSTER_BYTES // (1024 * 1024)} MiB")
    for magic, kind in _SIGNATURES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("image/webp", "webp")
    raise InvalidRequest("a poster must be a JPEG, PNG or WebP image")


def poster_key(data: bytes, extension: str) -> str:
    """Content-addressed, so a key's bytes never change and caches may keep them forever."""
    return f"posters/{hashlib.sha256(data).hexdigest()}.{extension}"


def variant_key(variant: ImageVariant) -> str:
    """`posters/<sha256 of the variant's bytes>-<width>.<ext>`: content-addressed too."""
    digest = hashlib.sha256(variant.data).hexdigest()
    return f"posters/{digest}-{variant.width}.{variant.extension}"


def upload_key(event_id: str, token: str) -> str:
    """Where a direct (presigned) upload for `event_id` lands before it is checked."""
    key = f"uploads/{event_id}/{token}"
    if not _UPLOAD_KEY.match(key):
        raise InvalidRequest(f"no upload key for event {event_id!r}")
    return key


def event_of_upload(key: str) -> str | None:
    """The event an upload key was issued for, or None for any other key."""
    match = _UPLOAD_KEY.match(key)
    return match["event_id"] if match else None
