"""A slower disk for the side-by-side runs: `tools/slow-fsync/slow_fsync.c`, preloaded into
the server, makes each fsync wait as a cloud block volume's does (milliseconds, where this
machine's takes a quarter of one). The naive designs commit once per hold and feel every
millisecond; group commit shares one fsync among the holds waiting for it. Built with the
system's C compiler on first use into .cache/lib (gitignored)."""

from __future__ import annotations

import shutil
import subprocess
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
    built = LIBRARY.with_suffix(".so.tmp")
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(built), str(SOURCE), "-ldl"],
        check=True,
        capture_output=True,
    )
    built.replace(LIBRARY)
    return LIBRARY


def environment(delay_ms: float) -> dict[str, str]:
    """Variables that give a process started with them an fsync `delay_ms` slower."""
    if delay_ms <= 0:
        return {}
    return {"LD_PRELOAD": str(library()), "SLOW_FSYNC_US": str(round(delay_ms * 1000))}
