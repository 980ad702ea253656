"""Latency at a fixed request rate, with vegeta: an open-loop generator sends on schedule
whether or not earlier answers came back, so queueing shows in its latencies (wrk keeps a
fixed number of connections busy and waits for each answer, which hides it). The rehearsal
asks two things of it: the hold latency at 0.3 × the trivial ceiling, and, at ten times
the hold capacity wrk found, how fast the served requests still are and what was shed.

vegeta is built by tools/build-vegeta.sh into .cache/bin (or found on PATH). It runs ahead of
the server (processes.AHEAD_NICE): it stands for the fans' phones, which in production do not
wait for the server's cores to send or to read the clock.
"""

from __future__ import annotations

import base64
import csv
import json
import random
import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.contest import attempts, seat_groups
from rehearsal.processes import ahead_of_server
from rehearsal.stage import Stage
from rehearsal.wrk import TRIVIAL_PATH

SHED = (429, 503)
_BUILT = Path(__file__).resolve().parent.parent / ".cache" / "bin" / "vegeta"


def vegeta_binary() -> str | None:
    return str(_BUILT) if _BUILT.is_file() else shutil.which("vegeta")


def percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    if not latencies_ms:
        return {}
    ordered = sorted(latencies_ms)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)

    return {"p50": at(0.5), "p75": at(0.75), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}


@dataclass(frozen=True)
class RateResult:
    offered_rps: float
    seconds: float
    statuses: dict[int, int]
    errors: dict[str, int]
    """Requests without an HTTP answer, by kind (timeout, connection)."""
    served_ms: dict[str, float]
    """Latency of the requests the server answered with anything but 429/503."""
    shed_ms: dict[str, float]

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def rate_of(self, *statuses: int) -> float:
        hits = sum(self.statuses.get(s, 0) for s in statuses)
        return hits / self.seconds if self.seconds else 0.0

    @property
    def served_rps(self) -> float:
        served = sum(n for s, n in self.statuses.items() if s not in SHED)
        return served / self.seconds if self.seconds else 0.0

    @property
    def errors_5xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500 and s not in SHED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered_rps": round(self.offered_rps, 1),
            "sent": self.sent,
            "seconds": round(self.seconds, 2),
            "served_rps": round(self.served_rps, 1),
            "shed_rps": round(self.rate_of(*SHED), 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "served_latency_ms": self.served_ms,
            "served_p99_ms": self.served_ms.get("p99"),
            "shed_latency_ms": self.shed_ms,
            "timeouts": self.errors.get("timeout", 0),
            "errors_5xx": self.errors_5xx,
        }


def _hold_targets(base_url: str, stage: Stage, count: int) -> Iterator[dict[str, Any]]:
    """Hold attempts as wrk's script makes them (rehearsal/contest.py: each seat group asked
    for by two fans at once), each by a random fan with a key of its own (a replayed key
    would be answered from storage)."""
    url = f"{base_url}/api/v1/performances/{stage.performance_id}/holds"
    rng = random.Random()  # noqa: S311 - choices of simulated fans
    for seats in attempts(seat_groups(stage), count):
        body = json.dumps({"seats": seats}).encode()
        yield {
            "method": "POST",
            "url": url,
            "header": {
                "Authorization": [f"Bearer {rng.choice(stage.fans).token}"],
                "Idempotency-Key": [f"vegeta-{uuid.uuid4().hex}"],
                "Content-Type": ["application/json"],
            },
            "body": base64.b64encode(body).decode(),
        }


def run_vegeta(
    base_url: str,
    stage: Stage | None,
    rate: float,
    seconds: float,
    timeout_seconds: float = 5.0,
    ahead: bool = True,
) -> RateResult:
    """`rate` requests a second for `seconds`: hold attempts on `stage`, or the trivial
    endpoint when `stage` is None. Every request is sent on schedule (no worker cap);
    `ahead=False` leaves vegeta at the usual priority (for comparison)."""
    binary = vegeta_binary()
    if binary is None:
        raise RuntimeError("vegeta is not built (tools/build-vegeta.sh)")
    rate = max(1, round(rate))
    seconds = max(1, round(seconds))
    count = rate * seconds + rate  # a second to spare: the lazy reader must not run dry
    with tempfile.TemporaryDirectory(prefix="vegeta-") as folder:
        targets = Path(folder) / "targets.jsonl"
        with targets.open("w") as out:
            if stage is None:
                line = json.dumps({"method": "GET", "url": base_url + TRIVIAL_PATH})
                out.writelines(line + "\n" for _ in range(count))
            else:
                out.writelines(json.dumps(t) + "\n" for t in _hold_targets(base_url, stage, count))
        results = Path(folder) / "results.bin"
        attack = [
            binary,
            "attack",
            "-format=json",
            "-lazy",
            f"-targets={targets}",
            f"-rate={rate}/s",
            f"-duration={seconds}s",
            f"-timeout={max(1, round(timeout_seconds))}s",
            "-http2=false",
            f"-output={results}",
        ]
        subprocess.run(  # fixed commands, no shell
            ahead_of_server(attack) if ahead else attack,
            check=True,
            capture_output=True,
            timeout=seconds + timeout_seconds + 60,
        )
        encoded = subprocess.run(
            [binary, "encode", "--to", "csv", str(results)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    return parse_csv(encoded.splitlines(), rate, seconds)


def parse_csv(lines: Sequence[str], rate: float, seconds: float) -> RateResult:
    """vegeta's CSV: timestamp, code, latency (ns), bytes out, bytes in, error, body, ..."""
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    served: list[float] = []
    shed: list[float] = []
    for row in csv.reader(lines):
        code, latency_ms, error = int(row[1]), int(row[2]) / 1e6, row[5]
        if code == 0:
            timed_out = "timeout" in error.lower() or "deadline exceeded" in error.lower()
            errors["timeout" if timed_out else "connection"] += 1
            continue
        statuses[code] += 1
        (shed if code in SHED else served).append(latency_ms)
    return RateResult(
        offered_rps=rate,
        seconds=seconds,
        statuses=dict(statuses),
        errors=dict(errors),
        served_ms=percentiles(served),
        shed_ms=percentiles(shed),
    )
