"""Throughput ratios with wrk: Locust cannot generate enough load on one small machine to
find the server's limits (it tops out near a quarter of what wrk drives at a trivial
endpoint), so the ratios — hold attempts against the trivial ceiling, our claims against
the naive designs, overload — come from wrk and its Lua script, in the same run."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.contest import CONTENDERS, seat_groups
from rehearsal.stage import Stage

SCRIPT = Path(__file__).with_name("wrk") / "load.lua"
MARKER = "WRK-JSON "
TRIVIAL_PATH = "/healthz"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: dict[str, int]
    latency_ms: dict[str, float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def rate_of(self, *statuses: int) -> float:
        hits = sum(self.statuses.get(s, 0) for s in statuses)
        return hits / self.seconds if self.seconds else 0.0

    @property
    def timeouts(self) -> int:
        return self.errors.get("timeout", 0)

    @property
    def errors_5xx(self) -> int:
        """Answers of 500 and up other than the overload's 503."""
        return sum(n for s, n in self.statuses.items() if s >= 500 and s != 503)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rate, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "latency_ms": self.latency_ms,
        }


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII ids is a valid Lua string literal


def _stage_file(stage: Stage | None, folder: Path, fans: int = 20_000) -> Path:
    """The stage as Lua tables for the script's `init` (wrk loads one per thread)."""
    path = folder / "stage.lua"
    if stage is None:
        path.write_text(f"TRIVIAL_PATH = {_lua_string(TRIVIAL_PATH)}\n")
        return path
    tokens = [fan.token for fan in random.sample(stage.fans, min(fans, len(stage.fans)))]
    lines = [
        f"PATH = {_lua_string(f'/api/v1/performances/{stage.performance_id}/holds')}",
        f"CONTENDERS = {CONTENDERS}",
        "TOKENS = {" + ",".join(map(_lua_string, tokens)) + "}",
        "GROUPS = {",
        *("{" + ",".join(map(_lua_string, group)) + "}," for group in seat_groups(stage)),
        "}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(
    base_url: str,
    stage: Stage | None,
    seconds: float,
    connections: int,
    threads: int = 1,
    timeout_seconds: float = 5.0,
) -> WrkResult:
    """wrk for `seconds` with `connections` open: hold attempts on `stage`, or the trivial
    endpoint when `stage` is None."""
    binary = wrk_binary()
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="wrk-") as folder:
        stage_file = _stage_file(stage, Path(folder))
        completed = subprocess.run(  # fixed command, no shell
            [
                binary,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={max(1, round(timeout_seconds))}s",
                "-s",
                str(SCRIPT),
                base_url,
                "--",
                str(stage_file),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
    return parse_output(completed.stdout, completed.stderr)


def parse_output(stdout: str, stderr: str = "") -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return WrkResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                statuses={int(k): v for k, v in raw["statuses"].items()},
                errors=raw["errors"],
                latency_ms={k: v / 1000 for k, v in raw["latency_us"].items()},
            )
    raise RuntimeError(f"wrk printed no result: {stdout[-500:]} {stderr[-500:]}")
