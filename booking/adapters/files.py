"""Files written once by whichever of several starting processes gets there first."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def create_once(path: Path, content: bytes, mode: int = 0o600) -> bool:
    """Create `path` with `content` unless it exists; never leaves a partial file.

    True if this call created it, False if it was there already.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    created = False
    with contextlib.suppress(FileExistsError):
        os.link(temp, path)
        created = True
    os.unlink(temp)
    return created
