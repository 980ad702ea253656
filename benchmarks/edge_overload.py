"""Ten-fold overload through the edge, with the generator and the edge ahead of the server
and at its priority, in alternating runs.

The rehearsal's overload (vegeta at ten times the hold capacity, through HAProxy) on one
machine shares its cores between the fans' stand-in, the edge and the server. This runs
the same overload on a fresh local server and stage each time, alternating the two ways of
sharing, and prints each run's served requests a second, served p50/p99, shed, timeouts and
5xx, then the served p99s of each way side by side.

Run: `python -m benchmarks.edge_overload` (`--runs 3 --rate 6700 --seconds 10 --seats 50000`).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

from rehearsal import processes
from rehearsal.contest import TICKET_LIMIT
from rehearsal.run import local_stage
from rehearsal.stage import prepare_sync
from rehearsal.vegeta import SHED, RateResult, run_vegeta, vegeta_binary

P99_TARGET_MS = 200.0


def overload_once(rate: float, seconds: float, seats: int, ahead: bool) -> RateResult:
    with (
        tempfile.TemporaryDirectory(prefix="edge-overload-") as folder,
        local_stage(Path(folder), "claims") as server,
    ):
        stage = prepare_sync(
            server.url,
            seats=seats,
            ga=0,
            fans=min(20_000, seats // 2),
            ticket_limit=TICKET_LIMIT,
            opens_in=timedelta(seconds=-1),
        )
        with processes.edge(server.url, Path(folder) / "edge", ahead=ahead) as front:
            return run_vegeta(front.url, stage, rate, seconds, ahead=ahead)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each way")
    parser.add_argument("--rate", type=float, default=6700.0, help="hold attempts a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seats", type=int, default=50_000)
    args = parser.parse_args()
    if vegeta_binary() is None or processes.haproxy_binary() is None:
        raise SystemExit("needs vegeta (tools/build-vegeta.sh) and haproxy (apt-get install)")
    if not processes.ahead_granted():
        raise SystemExit("raising a priority needs root or CAP_SYS_NICE")
    p99s: dict[bool, list[float]] = {True: [], False: []}
    for run in range(args.runs):
        # Alternate which way goes first, so neither always meets a warmer machine.
        for ahead in (True, False) if run % 2 == 0 else (False, True):
            result = overload_once(args.rate, args.seconds, args.seats, ahead)
            p99 = result.served_ms.get("p99", float("nan"))
            p99s[ahead].append(p99)
            print(
                f"run {run + 1} {'ahead  ' if ahead else 'sharing'}: served "
                f"{result.served_rps:,.0f}/s p50 {result.served_ms.get('p50')} ms p99 {p99} ms, "
                f"shed {result.rate_of(*SHED):,.0f}/s, timeouts {result.errors.get('timeout', 0)}, "
                f"5xx {result.errors_5xx}",
                flush=True,
            )
    for ahead, values in p99s.items():
        within = sum(v <= P99_TARGET_MS for v in values)
        listed = ", ".join(f"{v:.0f}" for v in sorted(values))
        print(
            f"{'ahead of the server' if ahead else 'at its priority   '}: served p99 {listed} ms; "
            f"{within} of {len(values)} within {P99_TARGET_MS:.0f} ms"
        )


if __name__ == "__main__":
    main()
