"""The history: every operation a client invoked, with when it was invoked and when (and
how) it completed, as the checker reads it afterwards.

An operation is `ok` (the API acknowledged it: 2xx), `fail` (a definite refusal: a 4xx
whose problem type says nothing was done) or `unknown` (no answer, a 5xx, a timeout, a
dropped connection: it may or may not have taken effect). Times are the client's wall
clock in seconds, the same clock the store stamps its records with on this machine.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]


@dataclass
class Op:
    id: int
    client: int
    kind: str
    """place-hold, replay-hold, reuse-key, release, place-order, replay-order, cancel, pay,
    availability"""
    fan: str
    key: str | None
    body: dict[str, Any]
    target: str | None
    """The hold or order the operation acts on, if any."""
    invoked: float
    completed: float | None = None
    outcome: Outcome | None = None
    status: int | None = None
    answer: Any = None
    """The decoded JSON body of the answer, or why there was none."""
    replay_of: int | None = None
    """For a replay: the operation whose key it repeats."""

    @property
    def problem(self) -> str | None:
        if isinstance(self.answer, dict) and isinstance(self.answer.get("type"), str):
            return str(self.answer["type"]).removeprefix("/problems/")
        return None


@dataclass
class Fault:
    kind: str
    started: float
    ended: float | None = None
    detail: str = ""


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def invoke(self, op: Op) -> Op:
        op.id = next(self._ids)
        self.ops.append(op)
        return op

    def dump(self, path: Path) -> None:
        """One JSON object per line: the operations, then the faults."""
        with path.open("w") as out:
            for op in self.ops:
                out.write(json.dumps({"op": asdict(op)}, default=str) + "\n")
            for fault in self.faults:
                out.write(json.dumps({"fault": asdict(fault)}) + "\n")
