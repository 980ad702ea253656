"""docs/ARCHITECTURE.md stays true: every file or folder it names by path exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = frozenset(
    [
        "api",
        "booking",
        "workers",
        "indexer",
        "rehearsal",
        "checker",
        "benchmarks",
        "docs",
        "terraform",
        "tests",
        "tools",
        "docker",
    ]
)


def _exists(named: str) -> bool:
    path = ROOT / named.rstrip("/")
    if path.exists():
        return True
    module, _, _attribute = named.rpartition(".")  # `workers/expiry.handler`
    return bool(module) and (ROOT / f"{module}.py").exists()


def test_every_path_the_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`", text))
    ours = sorted(n for n in named if n.split("/", 1)[0] in TOP)
    assert len(ours) > 50
    assert [n for n in ours if not _exists(n)] == []
