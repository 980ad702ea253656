"""A slower disk for the side-by-side runs: `tools/slow-fsync/slow_fsync.c`, preloaded into
the server, makes each fsync wait as a cloud block volume's does (milliseconds, where this
machine's takes a quarter of one). The naive designs commit once per hold and feel every
millisecond; group commit shares one fsync among the holds waiting for it. Built with the
system's C compiler on first use into .cache/lib (gitignored)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tools" / "slow-fsync" / "slow_fsync.c"
LIBRARY = ROOT / ".cache" / "lib" / "slow_fsync.so"


def library() -> Path:
    """The shim, compiled when missing or older than its source."""
    if LIBRARY.exists() and LIBRARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return LIBRARY
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("a C compiler is needed for --fsync-delay-ms (Debian: gcc)")
    LIBRARY.parent.mkdir(parents=True, exist_ok=True)
    # Built aside under a name of its own, then moved into place: builds may race.
    handle, name = tempfile.mkstemp(dir=LIBRARY.parent, suffix=".so")
    os.close(handle)
    built = Path(name)
    compiled = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(built), str(SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if compiled.returncode != 0:
        built.unlink(missing_ok=True)
        raise RuntimeError(f"building the slow-fsync shim failed: {compiled.stderr.strip()}")
    built.replace(LIBRARY)
    return LIBRARY


def environment(delay_ms: float) -> dict[str, str]:
    """Variables that give a process started with them an fsync `delay_ms` slower."""
    if delay_ms <= 0:
        return {}
    preloaded = " ".join(filter(None, [str(library()), os.environ.get("LD_PRELOAD")]))
    return {"LD_PRELOAD": preloaded, "SLOW_FSYNC_US": str(round(delay_ms * 1000))}
