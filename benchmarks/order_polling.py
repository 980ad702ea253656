"""A fan polling its order while the payment is confirmed: wrk on GET /api/v1/orders/{id}.

Every fan in an onsale's checkout asks for its order about once a second until it is
paid, so this read's cost per request is part of the sale's capacity. It starts a
fresh local server (as the rehearsal does), places one fan's hold and order, then runs
wrk against that order and prints the requests a second and the server's CPU per
request (user + system, all threads).

Run: `python -m benchmarks.order_polling` (`--seconds 8 --connections 64`).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from rehearsal.run import local_stage
from rehearsal.stage import prepare_sync
from rehearsal.wrk import wrk_binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    binary = wrk_binary()
    if binary is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with (
        tempfile.TemporaryDirectory(prefix="order-polling-") as folder,
        local_stage(Path(folder), "claims") as server,
    ):
        stage = prepare_sync(server.url, seats=200, ga=0, fans=10, opens_in=timedelta(seconds=-1))
        fan = {"Authorization": f"Bearer {stage.fans[0].token}"}
        seat = next(iter(stage.sections.values()))[0][0]
        with httpx.Client(base_url=server.url, headers=fan) as client:
            hold = client.post(
                f"/api/v1/performances/{stage.performance_id}/holds",
                json={"seats": [seat]},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            hold.raise_for_status()
            order = client.post(
                "/api/v1/orders/",
                json={"hold_id": hold.json()["id"]},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            order.raise_for_status()
        script = Path(folder) / "fan.lua"
        script.write_text(f'wrk.headers["Authorization"] = {fan["Authorization"]!r}\n')
        before = server.cpu_seconds()
        output = subprocess.run(  # noqa: S603 - a fixed command, no shell
            [
                binary,
                "-t1",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "-s",
                str(script),
                f"{server.url}/api/v1/orders/{order.json()['id']}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        used = server.cpu_seconds() - before
    requests = int(next(line for line in output.splitlines() if "requests in" in line).split()[0])
    failed = "Non-2xx" in output
    print(
        f"GET /api/v1/orders/{{id}}: {requests / args.seconds:,.0f} requests/s, "
        f"server CPU {1e6 * used / requests:,.0f} µs per request"
        + (" (some answers were not 2xx)" if failed else "")
    )


if __name__ == "__main__":
    main()
