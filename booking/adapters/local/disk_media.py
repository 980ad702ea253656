"""Media on local disk, the embedded stand-in for S3."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from booking.domain.ports import StoredMedia

# `posters/<sha256>.<ext>` (originals) and `posters/<sha256>-<width>.<ext>` (variants).
_SAFE_KEY = re.compile(r"^[a-z]+/[0-9a-f]{64}(-[0-9]{1,5})?\.[a-z]{3,4}$")
_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class DiskMediaStore:
    def __init__(self, root: Path, base_url: str = "/media") -> None:
        self._root = root
        self._base_url = base_url.rstrip("/")

    def url(self, key: str) -> str:
        """Served by `GET /media/<key>` of this API, or by whatever `base_url` names."""
        return f"{self._base_url}/{key}"

    def _path(self, key: str) -> Path | None:
        return self._root / key if _SAFE_KEY.match(key) else None

    async def put(self, key: str, content_type: str, data: bytes) -> None:
        path = self._path(key)
        if path is None:
            raise ValueError(f"not a media key: {key!r}")
        await asyncio.to_thread(_write_atomically, path, data)

    async def get(self, key: str) -> StoredMedia | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        data = await asyncio.to_thread(path.read_bytes)
        return StoredMedia(key, _TYPES.get(path.suffix[1:], "application/octet-stream"), data)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(path.suffix + ".part")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)
