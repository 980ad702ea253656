"""A server on a fraction of a core: a CPU-controller group with a bandwidth quota.

Ten times a stage's capacity must be a rate the load generator can offer. On a machine
whose cores the generator shares with the server, a server with the whole machine serves
more than a tenth of what the generator can send; the overload runs against a smaller
stage instead — the same server on a quota of a core — whose capacity is measured just
before. cgroup v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us`); where neither may be written
(no root, no CPU controller) `confined` yields None and the caller says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 10_000
"""The quota's period: short, so a server that spent its share waits at most a few ms
(the default 100 ms period would put whole-period stalls into every p99)."""


def _group_folder() -> tuple[Path, str] | None:
    """Where a new group goes and which file takes its quota, or None."""
    if "cpu" in _read(ROOT / "cgroup.controllers").split():  # v2, the unified hierarchy
        with contextlib.suppress(OSError):
            (ROOT / "cgroup.subtree_control").write_text("+cpu")
        return ROOT, "cpu.max"
    if (ROOT / "cpu" / "cpu.cfs_quota_us").exists():  # v1, a CPU controller of its own
        return ROOT / "cpu", "cpu.cfs_quota_us"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@contextlib.contextmanager
def confined(pids: Iterable[int], cores: float, name: str) -> Iterator[Path | None]:
    """The processes `pids` (and what they start later) limited to `cores` of CPU time a
    second until the block ends; yields the group's folder, or None where that cannot be
    done here. The processes must have ended, or be moved back, before the group is
    removed: they are moved back to the root group at the end."""
    where = _group_folder()
    if where is None or cores <= 0:
        yield None
        return
    parent, quota_file = where
    group = parent / f"concertbook-{name}-{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        quota_us = max(1_000, round(cores * PERIOD_US))
        if quota_file == "cpu.max":
            (group / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota_us))
        for pid in pids:
            (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        yield None
        return
    try:
        yield group
    finally:
        for member in _read(group / "cgroup.procs").split():
            with contextlib.suppress(OSError):
                (parent / "cgroup.procs").write_text(member)
        with contextlib.suppress(OSError):
            group.rmdir()


def throttled_seconds(group: Path) -> float:
    """How long the group's processes waited for their quota so far."""
    for line in _read(group / "cpu.stat").splitlines():
        key, _, value = line.partition(" ")
        if key == "throttled_usec":
            return int(value) / 1e6
        if key == "throttled_time":  # v1, in ns
            return int(value) / 1e9
    return 0.0
