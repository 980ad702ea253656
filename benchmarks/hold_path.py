"""The hold path's configurations side by side: wrk hold attempts against the trivial ceiling.

Each run starts a fresh local server and a fresh stage (as the rehearsal's wrk part does),
measures the trivial endpoint, then hold attempts, and reads the CPU time of the server and
its SQLite writer process per request. Configurations alternate, so none always meets a
warmer machine; the table at the end gives each one's median ratio and its spread.

Run: `python -m benchmarks.hold_path` (`--runs 3 --seconds 10 --seats 100000
--configs claims,claims:thread:redis,performance-lock,seat-locks --fsync-delay-ms 0`); the
first configuration's held/s is divided by each other's, run by run. A configuration is
`<strategy>[:<writer>[:<pre-claim>]]`: the inventory strategy (`claims` or a naive
baseline), the booking database's writer (`process`, the default, or `thread`) and, for
claims, the pre-claim (`memory`, the default, `redis` or `off`). A configuration ending in
`@<label>` runs the server from another checkout, given as `--code <label>=<path>` (before
and after a change, in one run: `git worktree add /tmp/before <commit>`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from rehearsal.contest import TICKET_LIMIT
from rehearsal.run import local_stage, wait_until_idle
from rehearsal.stage import prepare_sync
from rehearsal.wrk import run_wrk, wrk_binary


def measure(
    config: str,
    seconds: float,
    seats: int,
    connections: int,
    fsync_delay_ms: float = 0.0,
    code: dict[str, Path] | None = None,
) -> dict[str, Any]:
    setup, _, label = config.partition("@")
    checkout = (code or {})[label] if label else None
    parts = setup.split(":")
    defaults = ["claims", "process", "memory"]
    strategy, writer, preclaim = parts + defaults[len(parts) :]
    extra = {"sqlite_writer": writer}
    with (
        tempfile.TemporaryDirectory(prefix="hold-path-") as folder,
        local_stage(
            Path(folder), strategy, preclaim, fsync_delay_ms, extra=extra, code=checkout
        ) as server,
    ):
        stage = prepare_sync(
            server.url,
            seats=seats,
            ga=0,
            fans=min(20_000, seats // 2),
            ticket_limit=TICKET_LIMIT,
            opens_in=timedelta(seconds=-1),
        )
        wait_until_idle(server)  # the new stage's listing work is neither run's load
        before = server.cpu_seconds()
        trivial = run_wrk(server.url, None, seconds, connections)
        between = server.cpu_seconds()
        holds = run_wrk(server.url, stage, seconds, connections)
        after = server.cpu_seconds()
    return {
        "config": config,
        "trivial_rps": round(trivial.rate, 1),
        "attempts_per_s": round(holds.rate, 1),
        "holds_per_s": round(holds.rate_of(201), 1),
        "ratio": round(holds.rate / trivial.rate, 3),
        "hold_p99_ms": holds.latency_ms["p99"],
        "trivial_cpu_us": round(1e6 * (between - before) / max(1, trivial.requests), 1),
        "hold_cpu_us": round(1e6 * (after - between) / max(1, holds.requests), 1),
        "statuses": {str(k): v for k, v in sorted(holds.statuses.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seats", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--configs", default="claims,claims:thread:redis")
    parser.add_argument(
        "--fsync-delay-ms",
        type=float,
        default=0.0,
        help="every server on a disk whose fsync is this much slower (rehearsal/slowdisk.py)",
    )
    parser.add_argument("--out", type=Path, default=Path("reports/hold-path.json"))
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        help="label=path: configurations ending in @label run that checkout's server",
    )
    args = parser.parse_args()
    code = {label: Path(path) for label, _, path in (c.partition("=") for c in args.code)}
    if wrk_binary() is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    configs = args.configs.split(",")
    results: list[dict[str, Any]] = []
    for run in range(args.runs):
        for config in configs if run % 2 == 0 else reversed(configs):
            result = measure(
                config, args.seconds, args.seats, args.connections, args.fsync_delay_ms, code
            )
            results.append({**result, "run": run + 1})
            print(
                f"run {run + 1} {config:16s} trivial {result['trivial_rps']:8,.0f}/s "
                f"attempts {result['attempts_per_s']:6,.0f}/s held {result['holds_per_s']:6,.0f}/s "
                f"ratio {result['ratio']:.3f} p99 {result['hold_p99_ms']:.0f} ms  CPU "
                f"{result['trivial_cpu_us']:.0f} / {result['hold_cpu_us']:.0f} µs",
                flush=True,
            )
    print("\nconfiguration      ratio (median, range)   attempts/s   held/s   CPU µs per attempt")
    for config in configs:
        mine = [r for r in results if r["config"] == config]
        ratios = sorted(r["ratio"] for r in mine)
        print(
            f"{config:18s} {statistics.median(ratios):.3f} ({ratios[0]:.3f}–{ratios[-1]:.3f})"
            f"   {statistics.median(r['attempts_per_s'] for r in mine):10,.0f}"
            f"   {statistics.median(r['holds_per_s'] for r in mine):6,.0f}"
            f"   {statistics.median(r['hold_cpu_us'] for r in mine):8,.0f}"
        )
    first = configs[0]
    for config in configs[1:]:
        # Within each run, so a machine that was slower for a while slows both sides.
        per_run = sorted(
            ours["holds_per_s"] / theirs["holds_per_s"]
            for ours in results
            for theirs in results
            if ours["config"] == first
            and theirs["config"] == config
            and ours["run"] == theirs["run"]
            and theirs["holds_per_s"]
        )
        if per_run:
            print(
                f"{first} ÷ {config}: held/s {statistics.median(per_run):.2f}× in the same run"
                f" ({per_run[0]:.2f}–{per_run[-1]:.2f}×)"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
