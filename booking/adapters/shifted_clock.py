"""A clock that is the system's plus an offset kept in a small file, read by every process
given the file: a test moves time forward in the API process and in its SQLite writer
process at once, so expiry is tested without sleeping. A stage runs on `SystemClock`."""

from __future__ import annotations

import mmap
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

_OFFSET = struct.Struct("<d")


class ShiftedClock:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_OFFSET.pack(0.0))
        with path.open("r+b") as file:
            self._offset = mmap.mmap(file.fileno(), _OFFSET.size)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=_OFFSET.unpack_from(self._offset)[0])

    def advance(self, seconds: float) -> None:
        """Every process reading the file is `seconds` later from now on."""
        _OFFSET.pack_into(self._offset, 0, _OFFSET.unpack_from(self._offset)[0] + seconds)
