"""What one durable commit costs on this disk: the same single-row transactions with
synchronous=FULL (an fsync per commit, as the store runs) and with synchronous=OFF. The
gap is the fsync; it tells how our group commit's advantage over one-commit-per-hold
designs grows on slower disks (cloud volumes fsync in milliseconds, not microseconds)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rehearsal import slowdisk


def _commits_per_second(path: Path, synchronous: str, seconds: float) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER)")
        done = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t(v) VALUES (?)", (done,))
            conn.execute("COMMIT")
            done += 1
        return done / elapsed
    finally:
        conn.close()


def measure(folder: Path, seconds: float = 2.0, delay_ms: float = 0.0) -> dict[str, Any]:
    """Commits/s both ways in a scratch database inside `folder` (the data's disk); with a
    delay, in a process whose fsync is made that much slower, as the servers' are."""
    folder.mkdir(parents=True, exist_ok=True)
    if delay_ms > 0:
        measured = subprocess.run(
            [sys.executable, "-m", "rehearsal.fsync", str(folder), str(seconds)],
            env={**os.environ, **slowdisk.environment(delay_ms)},
            cwd=slowdisk.ROOT,
            capture_output=True,
            text=True,
            timeout=seconds * 2 + 60,
            check=False,
        )
        if measured.returncode != 0:
            raise RuntimeError(f"the fsync measurement failed: {measured.stderr.strip()}")
        result = {**json.loads(measured.stdout), "fsync_delay_ms": delay_ms}
        if result["fsync_ms"] < delay_ms * 0.9:  # the loader ignores a shim it cannot load
            raise RuntimeError(f"the slow-fsync shim did not slow the disk: {result}")
        return result
    with tempfile.TemporaryDirectory(dir=folder, prefix="fsync-") as scratch:
        full = _commits_per_second(Path(scratch) / "full.sqlite3", "FULL", seconds)
        off = _commits_per_second(Path(scratch) / "off.sqlite3", "OFF", seconds)
    return {
        "commits_per_s_sync_full": round(full, 1),
        "commits_per_s_sync_off": round(off, 1),
        "fsync_ms": round(max(0.0, 1000 / full - 1000 / off), 3),
    }


if __name__ == "__main__":  # the measurement in a process of its own (a slower disk's)
    print(json.dumps(measure(Path(sys.argv[1]), float(sys.argv[2]))))
