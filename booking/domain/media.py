"""Poster images: accepted by their magic bytes, stored under the hash of their content."""

from __future__ import annotations

import hashlib

from booking.domain.errors import InvalidRequest

MAX_POSTER_BYTES = 5 * 1024 * 1024
_SIGNATURES = {
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
}


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
