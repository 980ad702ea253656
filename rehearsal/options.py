"""The options of `concertbook rehearse`, apart from the rehearsal itself so the CLI can
offer them without loading the rehearsal's dependencies on every start."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from booking.settings import INVENTORY_STRATEGIES


def parser(commands: Any | None = None) -> argparse.ArgumentParser:
    description = "flood a stage like a K-pop onsale, then audit it (see docs/PERFORMANCE.md)"
    p = (
        commands.add_parser("rehearse", help=description, description=description)
        if commands is not None
        else argparse.ArgumentParser(prog="concertbook rehearse", description=description)
    )
    p.add_argument("--url", help="a running stage in rehearsal mode (default: start one here)")
    p.add_argument("--data", type=Path, help="with --url: its data folder, for the audit")
    p.add_argument("--seats", type=int, default=50_000, help="numbered seats (default 50,000)")
    p.add_argument("--ga", type=int, default=None, help="standing places (default seats/10)")
    p.add_argument("--fans", type=int, default=200_000, help="fans arriving (default 200,000)")
    p.add_argument("--before", type=float, default=20.0, help="s of arrivals before opening")
    p.add_argument("--after", type=float, default=40.0, help="s of arrivals after opening")
    p.add_argument("--workers", type=int, default=2, help="Locust worker processes")
    p.add_argument(
        "--connections",
        type=_positive,
        default=64,
        help="keep-alive connections each Locust worker's fans share (default 64)",
    )
    p.add_argument(
        "--strategy", choices=INVENTORY_STRATEGIES, default="claims", help="for the onsale"
    )
    p.add_argument(
        "--compare",
        default=",".join(INVENTORY_STRATEGIES),
        help="strategies measured with wrk, comma-separated ('' skips the wrk part)",
    )
    p.add_argument(
        "--fsync-delay-ms",
        type=float,
        default=0.0,
        help="make the compared servers' fsync this much slower, as on a cloud volume",
    )
    p.add_argument("--wrk-seconds", type=float, default=10.0)
    p.add_argument("--wrk-connections", type=int, default=64)
    p.add_argument(
        "--wrk-seats",
        type=int,
        default=100_000,
        help="seats of each wrk and vegeta stage (default 100,000: a stadium, which the"
        " generators do not sell out within their runs)",
    )
    p.add_argument(
        "--overload-cores",
        type=float,
        default=0.25,
        help="CPU cores the overload's server gets (a cgroup quota; 0: all), so that ten"
        " times its capacity is a rate this machine's generator can send (default 0.25)",
    )
    p.add_argument("--time-limit", type=float, default=600.0, help="s the onsale may take")
    p.add_argument("--out", type=Path, default=None, help="report folder (default reports/)")
    p.add_argument(
        "--preclaim",
        choices=PRECLAIMS,
        default="memory",
        help="how claims turns losers away before the store: in the server's memory "
        "(default), in a Redis it starts, or off",
    )
    return p


PRECLAIMS = ("memory", "redis", "off")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value
