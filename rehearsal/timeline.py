"""From the workers' request logs and the server samples to the report's figures: one row
per second since the opening, totals, latency percentiles per endpoint."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

PERCENTILES = (50, 75, 90, 99)
CONFLICT = frozenset({409, 410})
SHED = frozenset({429, 503})


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def classify(status: int, error: bool) -> str:
    if status in CONFLICT:
        return "conflicts"
    if status in SHED:
        return "shed"
    if 200 <= status < 300 and not error:
        return "ok"
    return "errors"


def _timed_out(cause: object) -> bool:
    """An unanswered request's cause names a timeout (gevent's Timeout, socket.timeout,
    TimeoutError); a log without causes counts every unanswered request as one."""
    return not isinstance(cause, str) or "timeout" in cause.lower()


def _latencies(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    figures = {f"p{p}": round(percentile(ordered, p), 2) for p in PERCENTILES}
    figures["max"] = round(ordered[-1], 2) if ordered else 0.0
    return figures


def summarize(
    requests: Sequence[dict[str, Any]], samples: Sequence[dict[str, Any]], opens_at: float
) -> dict[str, Any]:
    """`requests`: {"t", "name", "ms", "status", "error"}, and "cause" where nothing came
    back; `samples`: {"at", "cpu_percent", "rss_mib", "sold", "held", "available"}; times
    in epoch seconds."""
    seconds: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "ok": 0, "conflicts": 0, "shed": 0, "errors": 0, "ms": []}
    )
    by_name: dict[str, list[float]] = defaultdict(list)
    totals = {
        "requests": 0,
        "ok": 0,
        "conflicts": 0,
        "shed": 0,
        "errors": 0,
        "unanswered": 0,
        "timeouts": 0,
    }
    for r in requests:
        row = seconds[math.floor(r["t"] - opens_at)]
        kind = classify(int(r["status"]), bool(r["error"]))
        row["requests"] += 1
        row[kind] += 1
        row["ms"].append(float(r["ms"]))
        totals["requests"] += 1
        totals[kind] += 1
        if int(r["status"]) == 0:
            totals["unanswered"] += 1
            totals["timeouts"] += _timed_out(r.get("cause"))
        by_name[r["name"]].append(float(r["ms"]))
    for sample in samples:
        row = seconds[math.floor(sample["at"] - opens_at)]
        for key in ("cpu_percent", "rss_mib", "sold", "held"):
            if key in sample:
                row[key] = sample[key]
    timeline = []
    for t in sorted(seconds):
        row = seconds[t]
        ordered = sorted(row.pop("ms"))
        if ordered:
            row.update({f"p{p}_ms": round(percentile(ordered, p), 2) for p in PERCENTILES})
        timeline.append({"t": t, **row})
    sold_out = next(
        (s["at"] - opens_at for s in samples if s.get("available") == 0 and s["at"] >= opens_at),
        None,
    )
    sold = [s["sold"] for s in samples if "sold" in s]
    cpu = [s["cpu_percent"] for s in samples if "cpu_percent" in s]
    rss = [s["rss_mib"] for s in samples if "rss_mib" in s]
    return {
        "timeline": timeline,
        "sold_out_at_s": round(sold_out, 1) if sold_out is not None else None,
        "totals": {**totals, "tickets_sold": max(sold, default=0)},
        "latency_ms": {name: _latencies(values) for name, values in sorted(by_name.items())},
        "server": {
            "peak_rss_mib": max(rss, default=0.0),
            "mean_cpu_percent": round(sum(cpu) / len(cpu), 1) if cpu else 0.0,
            "peak_cpu_percent": max(cpu, default=0.0),
        },
    }
