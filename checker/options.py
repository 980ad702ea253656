"""The options of `concertbook check`, apart from the checker so the CLI can offer them
without loading it on every start."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

PLANTS = ("check-then-act", "sticky-preclaim", "ack-before-commit", "replay-reruns")


def parser(commands: Any | None = None) -> argparse.ArgumentParser:
    description = (
        "run a concurrent workload against a server with faults injected, then check the "
        "history against the store (docs/RELIABILITY.md); exits 1 on any violation"
    )
    p = (
        commands.add_parser("check", help=description, description=description)
        if commands is not None
        else argparse.ArgumentParser(prog="concertbook check", description=description)
    )
    p.add_argument("--runtime", choices=("local", "aws"), default="local")
    p.add_argument("--url", help="a running server (default: start one here); no process faults")
    p.add_argument("--data", type=Path, help="with --url, local runtime: its data folder")
    p.add_argument("--aws-endpoint", help="aws runtime: DynamoDB endpoint (default: a moto server)")
    p.add_argument("--table", help="aws runtime: the table (default: a new one)")
    p.add_argument("--region", default="ap-northeast-2")
    p.add_argument("--redis", action="store_true", help="local runtime: pre-claim in Redis")
    p.add_argument("--seconds", type=float, default=20.0, help="how long the workload runs")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients")
    p.add_argument("--fans", type=int, default=10, help="fan accounts the clients share")
    p.add_argument("--seed", type=int, default=1, help="the clients' random choices")
    p.add_argument(
        "--faults",
        default="",
        help="comma-separated: kill, writer-kill, pause, redis-flush, redis-restart; aws "
        "runtime also conflict, throttle, timeout (DynamoDB, through botocore); or 'all'",
    )
    p.add_argument("--fault-every", type=float, default=3.0, help="seconds between faults")
    p.add_argument("--plant", choices=PLANTS, help="test builds: plant a bug to be caught")
    p.add_argument("--out", type=Path, help="report folder (default reports/check-...)")
    return p
