"""The overload's smaller stage: a process put on a CPU quota, and taken off it again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rehearsal import cpu_limit


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def _groups_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_a_process_gets_the_quota_and_leaves_it_afterwards(
    sleeper: subprocess.Popen[bytes],
) -> None:
    with cpu_limit.confined([sleeper.pid], 0.5, "test") as group:
        if group is None:
            pytest.skip("no writable CPU controller here (cgroups need root)")
        assert str(sleeper.pid) in (group / "cgroup.procs").read_text().split()
        assert group.name in _groups_of(sleeper.pid)
        if (group / "cpu.max").exists():
            assert (group / "cpu.max").read_text().split() == ["5000", "10000"]
        else:
            assert (group / "cpu.cfs_quota_us").read_text().strip() == "5000"
            assert (group / "cpu.cfs_period_us").read_text().strip() == "10000"
        assert cpu_limit.throttled_seconds(group) >= 0.0
    assert group.name not in _groups_of(sleeper.pid)
    assert not group.exists()


def test_no_quota_asked_for_is_no_group(sleeper: subprocess.Popen[bytes]) -> None:
    with cpu_limit.confined([sleeper.pid], 0, "test") as group:
        assert group is None
