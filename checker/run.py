"""`concertbook check`: start a stage (or use a running one), run the workload with faults,
let background work settle, read the store back and check the history against it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from checker import report
from checker.checks import check, summary
from checker.history import Fault, History
from checker.planted import SETTINGS as PLANT_SETTINGS
from checker.processes import Redis, Server
from checker.workload import HOLD_TTL_SECONDS, Client, Stage, build_stage, sample_availability
from rehearsal.audit import Snapshot, check_conservation, load_sqlite_snapshot, unsettled
from rehearsal.processes import redis_binary

_log = logging.getLogger("checker")

PROCESS_FAULTS = ("kill", "writer-kill", "redis-flush", "redis-restart", "pause")
DYNAMODB_FAULTS = ("conflict", "throttle", "timeout")
DYNAMODB_FAULT_RATES = {"conflict": 0.05, "throttle": 0.03, "timeout": 0.03}
SETTLE_SECONDS = 45.0


def faults_of(args: argparse.Namespace) -> list[str]:
    if args.faults == "all":
        chosen = list(PROCESS_FAULTS)
        if args.runtime == "aws":
            chosen = [f for f in chosen if f != "writer-kill"] + list(DYNAMODB_FAULTS)
        return chosen
    chosen = [f for f in args.faults.split(",") if f]
    unknown = set(chosen) - set(PROCESS_FAULTS) - set(DYNAMODB_FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults: {sorted(unknown)}")
    if args.runtime != "aws" and set(chosen) & set(DYNAMODB_FAULTS):
        raise SystemExit("DynamoDB faults need --runtime aws")
    return chosen


@contextlib.contextmanager
def _stage(
    args: argparse.Namespace, folder: Path, faults: list[str]
) -> Iterator[tuple[Server | None, Redis | None, str, Callable[[], Snapshot]]]:
    """The server, its Redis (if any), its URL and how to read its store."""
    with contextlib.ExitStack() as cleanup:
        redis: Redis | None = None
        wants_redis = (
            args.runtime == "aws" or args.redis or any(f.startswith("redis") for f in faults)
        )
        if wants_redis and not args.url:
            binary = redis_binary()
            if binary is None:
                raise SystemExit("redis-server is not installed (apt-get install redis-server)")
            redis = Redis(folder / "redis", binary)
            redis.start()
            cleanup.callback(redis.stop)
        if args.url:
            yield None, None, args.url, _attached_reader(args)
            return
        settings: dict[str, object] = {
            "sweep_interval_seconds": 0.5,
            "max_in_flight": 2000,
            # A few fans race for a small stage on purpose, far past what a fan's account
            # may send: a 429 would check nothing. The limits have tests of their own.
            "rate_limit_booking_per_account": "off",
            "rate_limit_booking_per_address": "off",
        }
        env: dict[str, str] = {}
        if redis is not None:
            settings.update(redis_url=redis.url, redis_timeout_seconds=2)
        if args.plant:
            env["CONCERTBOOK_CHECK_PLANT"] = args.plant
            env.update(PLANT_SETTINGS[args.plant])
        reader: Callable[[], Snapshot]
        if args.runtime == "aws":
            endpoint, table = _dynamodb(args, folder, cleanup)
            settings.update(
                runtime="aws",
                table_name=table,
                aws_endpoint_url=endpoint,
                aws_max_connections=8,
                sweep_interval_seconds=2,
            )
            env.update(
                {
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": args.region,
                }
            )
            chosen = [f for f in faults if f in DYNAMODB_FAULTS]
            if chosen:
                env["CONCERTBOOK_CHECK_DYNAMODB_FAULTS"] = ",".join(
                    f"{f}={DYNAMODB_FAULT_RATES[f]}" for f in chosen
                )
                env["CONCERTBOOK_CHECK_FAULTS_FROM"] = str(folder / "faults-on")
            reader = _dynamodb_reader(args.region, endpoint, table)
        else:
            data = folder / "data"
            reader = lambda: load_sqlite_snapshot(data / "concertbook.sqlite3")  # noqa: E731
        server = Server(folder / "data", settings, env)
        server.start()
        cleanup.callback(server.stop)
        yield server, redis, server.url, reader


def _dynamodb(
    args: argparse.Namespace, folder: Path, cleanup: contextlib.ExitStack
) -> tuple[str, str]:
    import os  # noqa: PLC0415

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": args.region,
        }
    )
    endpoint = args.aws_endpoint
    if endpoint is None:
        # The single-threaded moto server, as the tests run it (a stand-in for DynamoDB).
        from tests.moto_server import moto_server  # noqa: PLC0415 - a dev stand-in

        endpoint = cleanup.enter_context(moto_server(folder))
    from tests.moto_server import create_table  # noqa: PLC0415 - the table's definition

    table = args.table or asyncio.run(create_table(endpoint, stream=False))
    return endpoint, table


def _dynamodb_reader(region: str, endpoint: str, table: str) -> Callable[[], Snapshot]:
    from checker.dynamodb_snapshot import loader  # noqa: PLC0415 - the aws extra

    load = loader(region, endpoint, table)
    return lambda: asyncio.run(load())


def _attached_reader(args: argparse.Namespace) -> Callable[[], Snapshot]:
    if args.runtime == "aws":
        if not args.table:
            raise SystemExit("--url on the aws runtime needs --table (and --aws-endpoint)")
        return _dynamodb_reader(args.region, args.aws_endpoint, args.table)
    if args.data is None:
        raise SystemExit("--url needs --data: the server's data folder, to read its store")
    return lambda: load_sqlite_snapshot(args.data / "concertbook.sqlite3")


async def _inject(
    faults: list[str],
    server: Server | None,
    redis: Redis | None,
    history: History,
    deadline: float,
    every: float,
) -> None:
    kinds = [f for f in faults if f in PROCESS_FAULTS]
    n = 0
    while kinds and time.time() + every < deadline:
        await asyncio.sleep(every)
        kind = kinds[n % len(kinds)]
        n += 1
        fault = Fault(kind, time.time())
        history.faults.append(fault)
        _log.info("fault: %s", kind)
        if kind == "kill" and server is not None:
            await asyncio.to_thread(server.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(server.start)
        elif kind == "writer-kill" and server is not None:
            fault.detail = "writer killed" if server.kill_writer() else "no writer process"
        elif kind == "redis-flush" and redis is not None:
            await asyncio.to_thread(redis.flushall)
        elif kind == "redis-restart" and redis is not None:
            await asyncio.to_thread(redis.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(redis.start)
        elif kind == "pause" and server is not None:
            server.pause()
            await asyncio.sleep(HOLD_TTL_SECONDS + 1.5)  # longer than a hold lives
            server.resume()
        fault.ended = time.time()


async def _run(
    args: argparse.Namespace,
    url: str,
    stage: Stage,
    history: History,
    faults: list[str],
    server: Server | None,
    redis: Redis | None,
) -> None:
    deadline = time.time() + args.seconds
    (args.folder / "faults-on").touch()  # the server's DynamoDB faults start now
    for kind in faults:
        if kind in DYNAMODB_FAULTS:
            history.faults.append(Fault(kind, time.time(), deadline, "throughout, in the server"))
    clients = [
        Client(n, url, stage, history, args.seed * 1000 + n).run(deadline)
        for n in range(args.clients)
    ]
    await asyncio.gather(
        *clients,
        sample_availability(url, stage, history, deadline),
        _inject(faults, server, redis, history, deadline, args.fault_every),
        _progress(history, deadline),
    )
    (args.folder / "faults-on").unlink()  # what follows reads the outcome, not a fault


async def _progress(history: History, deadline: float) -> None:
    while time.time() < deadline:
        await asyncio.sleep(5)
        done = [op for op in history.ops if op.outcome is not None]
        counts = {k: sum(1 for op in done if op.outcome == k) for k in ("ok", "fail", "unknown")}
        print(
            f"  {len(done)} operations so far {counts}, {len(history.faults)} faults,"
            f" {max(0, deadline - time.time()):.0f}s left",
            flush=True,
        )


def _settled(read: Callable[[], Snapshot], url: str) -> Snapshot:
    """The store once expiry and payments have caught up (or as it is after the wait)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        snapshot = read()
        if not unsettled(snapshot) or time.monotonic() > deadline:
            return snapshot
        time.sleep(1)


def _availability(url: str, performance_id: str) -> dict[str, Any]:
    for _ in range(30):
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(f"{url}/api/v1/performances/{performance_id}/availability", timeout=30)
            if r.status_code == 200:
                answer: dict[str, Any] = r.json()
                return answer
        time.sleep(1)
    raise RuntimeError("the server did not answer the availability after the run")


def check_command(args: argparse.Namespace) -> int:
    logging.getLogger().setLevel(logging.WARNING)  # one line per request is not progress
    faults = faults_of(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = (args.out or Path("reports") / f"check-{args.runtime}-{stamp}").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "data").exists():
        raise SystemExit(f"{folder} holds an earlier check's data: give another --out")
    title = f"concertbook check: {args.runtime} runtime" + (
        f", planted bug {args.plant}" if args.plant else ""
    )
    print(f"{title}; faults: {', '.join(faults) or 'none'}; {args.seconds:.0f}s; in {folder}")
    history = History()
    args.folder = folder
    (folder / "faults-on").unlink(missing_ok=True)
    with _stage(args, folder, faults) as (server, redis, url, read):
        stage = asyncio.run(build_stage(url, args.fans))
        asyncio.run(_run(args, url, stage, history, faults, server, redis))
        if server is not None and (server.process is None or server.process.poll() is not None):
            server.start()
        snapshot = _settled(read, url)
        availability = _availability(url, stage.performance_id)
    results = check(history, snapshot, stage.capacity)
    results["store: conservation"] += check_conservation(snapshot, availability)
    total, counts = summary(results)
    history.dump(folder / "history.jsonl")
    report.write(folder / "report.html", history, results, title)
    outcomes = {
        k: sum(1 for op in history.ops if op.outcome == k) for k in ("ok", "fail", "unknown")
    }
    false_refusals = counts["no false refusal"]
    line = {
        "runtime": args.runtime,
        "plant": args.plant,
        "operations": len(history.ops),
        "outcomes": outcomes,
        "faults": len(history.faults),
        "fault_kinds": faults,
        "violations": total,
        "false_refusals": false_refusals,
    }
    (folder / "summary.json").write_text(json.dumps({**line, "checks": counts}, indent=2))
    print(
        f"{'FAIL' if total else 'PASS'}: {len(history.ops)} operations {outcomes},"
        f" {len(history.faults)} faults, {total} violations ({false_refusals} false refusals);"
        f" report {folder / 'report.html'}"
    )
    for name, found in results.items():
        for violation in found[:10]:
            print(f"  [{name}] {violation}")
    return 1 if total else 0


def run_from_cli(args: Any) -> int:
    return check_command(args)
