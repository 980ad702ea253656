"""`concertbook rehearse`: flood a stage like a K-pop onsale, measure it, audit it.

Two parts, one run:
1. ratios (wrk, local runs only): for each inventory strategy a fresh server and
   stage; the trivial endpoint's ceiling, then hold attempts at the same load — all
   side by side; for claims, hold attempts at fixed rates (vegeta), then ten times
   the capacity of a server on half a core (overload, through the edge and
   alone);
2. the onsale (Locust, distributed: a master and workers): fans arrive on an open
   schedule around the opening and buy; the server's CPU, memory and sales are
   sampled each second; afterwards the store is audited and the report written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from rehearsal import cpu_limit, fsync, processes, slowdisk
from rehearsal.audit import audit_anytime, check_acknowledged_exist, load_sqlite_snapshot
from rehearsal.contest import TICKET_LIMIT
from rehearsal.report import write_html
from rehearsal.schedule import ArrivalSchedule
from rehearsal.stage import Stage, open_sale, prepare_sync
from rehearsal.timeline import summarize
from rehearsal.vegeta import SHED, run_vegeta, vegeta_binary
from rehearsal.wrk import WrkResult, run_wrk, wrk_binary

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
Acks = dict[str, dict[tuple[str, str], str]]
"""Per operation, the (account, Idempotency-Key) pairs the API answered 2xx, with the id."""


def quiet_libraries() -> None:
    """The rehearsal prints its own progress; per-request logs of its clients would drown it."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


@contextlib.contextmanager
def local_stage(
    folder: Path,
    strategy: str,
    preclaim: str = "memory",
    fsync_delay_ms: float = 0.0,
    extra: Mapping[str, object] | None = None,
    code: Path | None = None,
) -> Iterator[processes.Process]:
    """A fresh server (and its Redis when the strategy uses one) in `folder`; `preclaim`
    (memory, redis or off) for claims; with a delay, on a disk whose fsync is that much
    slower (rehearsal/slowdisk.py); `extra` settings as CONCERTBOOK_* variables; `code`:
    the server from another checkout."""
    with contextlib.ExitStack() as stack:
        settings: dict[str, object] = {"inventory_strategy": strategy, **(extra or {})}
        if strategy == "claims":
            settings["preclaim"] = int(preclaim != "off")
        if strategy == "seat-locks" or (strategy == "claims" and preclaim == "redis"):
            settings["redis_url"] = stack.enter_context(processes.redis(folder / "redis")).url
        slower = slowdisk.environment(fsync_delay_ms)
        yield stack.enter_context(
            processes.server(folder / "data", settings, environment=slower, code=code)
        )


# -- part 1: ratios with wrk ------------------------------------------------------------
def measure_strategy(args: argparse.Namespace, strategy: str, folder: Path) -> dict[str, Any]:
    with local_stage(folder, strategy, args.preclaim, args.fsync_delay_ms) as server:
        stage = _fresh_stage(args, server.url)
        wait_until_idle(server)  # the new stage's listing work is neither run's load
        since = server.cpu_seconds()
        trivial = run_wrk(server.url, None, args.wrk_seconds, args.wrk_connections)
        trivial_cpu_us = _cpu_us_per_request(server, since, trivial)
        sampler = ServerSampler(server.pid, None)
        with sampler.running():
            since = server.cpu_seconds()
            holds = run_wrk(server.url, stage, args.wrk_seconds, args.wrk_connections)
            hold_cpu_us = _cpu_us_per_request(server, since, holds)
        result: dict[str, Any] = {
            "strategy": strategy,
            "trivial_rps": round(trivial.rate, 1),
            "attempts_per_s": round(holds.rate, 1),
            "holds_per_s": round(holds.rate_of(201), 1),
            "p99_ms": holds.latency_ms["p99"],
            "ratio_to_trivial": round(holds.rate / trivial.rate, 3) if trivial.rate else None,
            # The server's CPU per request, all its threads: what the ratio comes down to.
            "trivial_cpu_us": trivial_cpu_us,
            "hold_cpu_us": hold_cpu_us,
            "timeouts": holds.timeouts,
            "errors_5xx": holds.errors_5xx,
            "peak_rss_mib": sampler.peak_rss_mib,
            "trivial": trivial.as_dict(),
            "holds": holds.as_dict(),
        }
        if strategy == "claims":
            result.update(measure_concurrency(args, server, trivial, holds))
            result.update(measure_paced(args, server, trivial, holds))
        say(
            f"{strategy}: trivial {trivial.rate:,.0f}/s, hold attempts {holds.rate:,.0f}/s "
            f"({holds.rate_of(201):,.0f} held/s), p99 {holds.latency_ms['p99']:.1f} ms; "
            f"server CPU {trivial_cpu_us or 0:,.0f} µs per trivial request, "
            f"{hold_cpu_us or 0:,.0f} µs per hold attempt"
        )
    if strategy == "claims":
        result.update(measure_overload(args, folder / "overload"))
    return result


def _cpu_us_per_request(server: processes.Process, since: float, run: WrkResult) -> float | None:
    used = server.cpu_seconds() - since
    return round(1e6 * used / run.requests, 1) if run.requests else None


PACED_SHARE = 0.3
"""The hold rate asked of the server, as a share of the trivial ceiling (issue target)."""
PACED_P99_MS = 100.0
FEWER_CONNECTIONS = (4, 2)
"""The hold run repeated with a quarter and half the connections: closed loop, a wait is
connections ÷ rate, so fewer of them show the rate the server serves at a shorter wait."""
OVERLOAD_FACTOR = 10


def settle(url: str, seconds: float = 120.0) -> None:
    """Until the server has worked off what an overload left queued: /healthz (never shed)
    answers promptly three times in a row."""
    deadline = time.monotonic() + seconds
    prompt = 0
    while prompt < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + "/healthz", timeout=10)
        prompt = prompt + 1 if time.monotonic() - started < 0.05 else 0
        time.sleep(0.5)


def _fresh_stage(args: argparse.Namespace, url: str) -> Stage:
    """A stage on sale for the generators: `--wrk-seats` seats, fans enough to race."""
    return prepare_sync(
        url,
        seats=args.wrk_seats,
        ga=0,
        fans=min(20_000, max(1_000, args.wrk_seats // 2)),
        opens_in=timedelta(seconds=-1),
        ticket_limit=TICKET_LIMIT,
    )


def measure_concurrency(
    args: argparse.Namespace, server: processes.Process, trivial: WrkResult, holds: WrkResult
) -> dict[str, Any]:
    """Hold attempts with wrk at fewer connections, each on a fresh stage (the run at
    `--wrk-connections` is the last row): the rate against the trivial ceiling and the p99
    at each, and the best ratio served within PACED_P99_MS at p99, with nothing shed."""

    def row(connections: int, run: WrkResult) -> dict[str, Any]:
        clean = not run.rate_of(*SHED) and not run.timeouts and not run.errors_5xx
        p99 = run.latency_ms["p99"]
        return {
            "connections": connections,
            "attempts_per_s": round(run.rate, 1),
            "holds_per_s": round(run.rate_of(201), 1),
            "ratio_to_trivial": round(run.rate / trivial.rate, 3) if trivial.rate else None,
            "p50_ms": run.latency_ms["p50"],
            "p99_ms": p99,
            "within_target": clean and p99 <= PACED_P99_MS,
        }

    ladder = []
    for divisor in FEWER_CONNECTIONS:
        connections = max(1, args.wrk_connections // divisor)
        stage = _fresh_stage(args, server.url)
        wait_until_idle(server)
        ladder.append(row(connections, run_wrk(server.url, stage, args.wrk_seconds, connections)))
        say(
            f"hold attempts with {connections} connections: {ladder[-1]['attempts_per_s']:,.0f}/s"
            f" ({ladder[-1]['ratio_to_trivial']} × trivial), p99 {ladder[-1]['p99_ms']:.1f} ms"
        )
    ladder.append(row(args.wrk_connections, holds))
    served = [r for r in ladder if r["within_target"] and r["ratio_to_trivial"] is not None]
    best = max(served, key=lambda r: r["ratio_to_trivial"], default=None)
    return {"concurrency": ladder, "best_within_target": best}


def measure_paced(
    args: argparse.Namespace, server: processes.Process, trivial: WrkResult, holds: WrkResult
) -> dict[str, Any]:
    """With vegeta (open loop), each on a fresh stage: hold attempts at 0.3 × the trivial
    ceiling — and, if the server cannot serve that within 100 ms at p99, at lower shares of
    the capacity wrk found, to show the rate it does serve so."""
    if vegeta_binary() is None:
        say("vegeta is not built (tools/build-vegeta.sh): latency at a fixed rate is skipped")
        return {}

    def paced(rate: float) -> dict[str, Any]:
        stage = _fresh_stage(args, server.url)
        wait_until_idle(server)  # the stage's listing work is not the holds' latency
        run = run_vegeta(server.url, stage, rate, args.wrk_seconds)
        p99 = run.served_ms.get("p99")
        within = (
            not run.rate_of(*SHED) and not run.errors and p99 is not None and p99 <= PACED_P99_MS
        )
        say(
            f"paced holds at {rate:,.0f}/s: served {run.served_rps:,.0f}/s, shed "
            f"{run.rate_of(*SHED):,.0f}/s, p99 {p99} ms"
        )
        return {**run.as_dict(), "within_target": within}

    if not processes.ahead_granted():
        say(
            "the load generator and the edge cannot run ahead of the server here (raising a"
            " priority needs root or CAP_SYS_NICE): their own wait for a core counts as latency"
        )
    capacity = holds.rate - holds.rate_of(*SHED)
    ladder = [paced(PACED_SHARE * trivial.rate)]
    for share in (0.75, 0.5, 0.25):
        if ladder[-1]["within_target"]:
            break
        ladder.append(paced(share * capacity))
    return {"paced": ladder}


def measure_overload(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Ten times a stage's hold capacity, where the excess must be turned away quickly and
    the rest served as fast as before: through the edge (HAProxy) when it is installed, then
    at the server alone. The stage is a fresh server on `--overload-cores` of CPU
    (rehearsal/cpu_limit.py) — ten times the whole machine's capacity is more than its own
    generator can send — and its capacity is measured with wrk just before."""
    if vegeta_binary() is None:
        return {}
    with local_stage(folder, "claims", args.preclaim, args.fsync_delay_ms) as server:
        # Every stage made first, with the whole machine: building a stadium (and the
        # listing work it sets off) on the quota would take minutes and eat into the runs.
        stages = [_fresh_stage(args, server.url) for _ in range(3)]
        wait_until_idle(server)
        with cpu_limit.confined(
            [p.pid for p in processes.server_processes(server.pid)],
            args.overload_cores,
            "overload",
        ) as group:
            return _overload_runs(args, folder, server, stages, group)


def wait_until_idle(server: processes.Process, seconds: float = 120.0) -> None:
    """Until the server's background work (outbox, listings) is done: less than 5 % of a
    core used over a second."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(1.0)
        if server.cpu_seconds() - before < 0.05:
            return


def _overload_runs(
    args: argparse.Namespace,
    folder: Path,
    server: processes.Process,
    stages: list[Stage],
    group: Path | None,
) -> dict[str, Any]:
    cores = args.overload_cores if group is not None else None
    if group is None and args.overload_cores > 0:
        say(
            "the overload's server cannot be given a CPU quota here (cgroups need root):"
            " it runs on the whole machine, and the generator may not reach ten times it"
        )
    measured = run_wrk(server.url, stages.pop(), args.wrk_seconds, args.wrk_connections)
    capacity = measured.rate - measured.rate_of(*SHED)
    say(f"overload stage on {cores or 'all the'} cores: hold capacity {capacity:,.0f}/s (wrk)")

    def overload(front: str, via: str) -> dict[str, Any]:
        stage = stages.pop()
        throttled = cpu_limit.throttled_seconds(group) if group is not None else 0.0
        run = run_vegeta(front, stage, OVERLOAD_FACTOR * capacity, args.wrk_seconds)
        say(
            f"overload at {run.offered_rps:,.0f}/s ({via}): served {run.served_rps:,.0f}/s "
            f"(p99 {run.served_ms.get('p99')} ms), shed {run.rate_of(*SHED):,.0f}/s, "
            f"timeouts {run.errors.get('timeout', 0)}, 5xx {run.errors_5xx}"
        )
        return {
            "generator": "vegeta",
            "generator_ahead": processes.ahead_granted(),
            "via": via,
            "server_cores": cores,
            "capacity_rps": round(capacity, 1),
            "capacity_p99_ms": measured.latency_ms["p99"],
            "factor": OVERLOAD_FACTOR,
            **run.as_dict(),
            "server_throttled_s": round(
                (cpu_limit.throttled_seconds(group) - throttled) if group is not None else 0, 2
            ),
        }

    result: dict[str, Any] = {}
    # Through the edge first: the server alone is left with a backlog of connections its
    # clients gave up on, which would otherwise be measured as the edge's.
    if processes.haproxy_binary() is None:
        say("haproxy is not installed: the overload through the edge is skipped")
    else:
        in_flight = processes.edge_in_flight(capacity)
        with processes.edge(server.url, folder / "edge", in_flight=in_flight) as front:
            result["overload_edge"] = {
                **overload(front.url, "edge"),
                "edge_in_flight": in_flight,
                "edge_queue_ms": processes.EDGE_QUEUE_MS,
            }
        settle(server.url)
    result["overload"] = overload(server.url, "server")
    return result


# -- part 2: the onsale with Locust -----------------------------------------------------
@dataclass
class ServerSampler:
    """Each second: the server's CPU and memory (when it runs here: `pid`), and (with a
    stage) what is sold and held."""

    pid: int | None
    stage: Stage | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def peak_rss_mib(self) -> float:
        return max((r["rss_mib"] for r in self.rows), default=0.0)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(5)

    def _run(self) -> None:
        # The server and its SQLite writer process: one figure for the two, as one server.
        watched: dict[int, psutil.Process] = {}

        def tree() -> list[psutil.Process]:
            assert self.pid is not None
            current = processes.server_processes(self.pid)
            for process in current:
                if process.pid not in watched:
                    watched[process.pid] = process
                    process.cpu_percent(None)  # the first reading only starts the count
            return [watched[p.pid] for p in current]

        if self.pid is not None:
            with contextlib.suppress(psutil.Error):
                tree()
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(1.0):
                row: dict[str, Any] = {"at": time.time()}
                if self.pid is not None:
                    with contextlib.suppress(psutil.Error):
                        current = tree()
                        row["cpu_percent"] = sum(p.cpu_percent(None) for p in current)
                        rss = sum(p.memory_info().rss for p in current)
                        row["rss_mib"] = round(rss / 2**20, 1)
                if self.stage is not None:
                    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                        counts = client.get(
                            f"{self.stage.base_url}/api/v1/performances/"
                            f"{self.stage.performance_id}/availability"
                        ).json()
                        row.update(
                            sold=counts["sold"], held=counts["held"], available=counts["available"]
                        )
                self.rows.append(row)


def run_locust(
    args: argparse.Namespace, stage: Stage, folder: Path, sampler: ServerSampler
) -> None:
    schedule = ArrivalSchedule(
        opens_at=stage.sale_opens_at.timestamp(),
        before_s=args.before,
        after_s=args.after,
        fans=len(stage.fans),
    )
    stage_file = folder / "stage.json"
    stage.save(stage_file)
    env = {
        **os.environ,
        "REHEARSAL_STAGE": str(stage_file),
        "REHEARSAL_OUT": str(folder / "locust"),
        "REHEARSAL_SCHEDULE": schedule.to_json(),
        "REHEARSAL_CONNECTIONS": str(args.connections),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", stage.base_url]
    master_port = processes.free_port()
    logs = folder / "locust"
    logs.mkdir(parents=True, exist_ok=True)
    time_limit = int(args.before + args.after + args.time_limit)
    with contextlib.ExitStack() as stack:
        master = subprocess.Popen(
            [
                *locust,
                *("--master", "--headless", "-u", "0", "-r", "1"),
                *("--expect-workers", str(args.workers), "--run-time", f"{time_limit}s"),
                *("--master-bind-host", "127.0.0.1", "--only-summary"),
                *("--loglevel", "WARNING", "--master-bind-port", str(master_port)),
            ],
            env=env,
            stdout=stack.enter_context((logs / "master.log").open("wb")),
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, master)
        processes.wait_for_port(master_port, master)
        for n in range(args.workers):
            worker = subprocess.Popen(
                [
                    *locust,
                    *("--worker", "--master-host", "127.0.0.1", "--loglevel", "WARNING"),
                    *("--master-port", str(master_port)),
                ],
                env=env,
                stdout=stack.enter_context((logs / f"worker-{n}.log").open("wb")),
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, worker)
        started = time.time()
        while master.poll() is None:
            time.sleep(2.0)
            last = sampler.rows[-1] if sampler.rows else {}
            # The sampler's read of the counts is shed like any browsing while the server
            # is saturated: show the last counts it got, and how old they are.
            counted: dict[str, Any] = next((r for r in reversed(sampler.rows) if "sold" in r), {})
            stale = last["at"] - counted["at"] if counted else 0.0
            since = time.time() - schedule.opens_at
            say(
                f"t{since:+5.0f}s  fans arrived {schedule.arrived_by(time.time()):>7,}  "
                f"sold {counted.get('sold', 0):>6,}  held {counted.get('held', 0):>5,}  "
                + (f"(counts {stale:.0f} s old)  " if stale >= 1 else "")
                + f"server cpu {last.get('cpu_percent', 0):5.0f}%  "
                f"rss {last.get('rss_mib', 0):6.0f} MiB"
            )
            if time.time() - started > time_limit + 60:
                say("the onsale ran past its time limit; stopping Locust")
                break


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def read_worker_logs(
    folder: Path,
) -> tuple[list[dict[str, Any]], dict[str, dict[tuple[str, str], str]], Counter[str]]:
    requests: list[dict[str, Any]] = []
    acks: Acks = {}
    outcomes: Counter[str] = Counter()
    for path in sorted(folder.glob("worker-*.jsonl")):
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                if row["kind"] == "request":
                    requests.append(row)
                elif row["kind"] == "ack":
                    acks.setdefault(row["op"], {})[(row["account"], row["key"])] = row["id"]
                elif row["kind"] == "journey":
                    outcomes[row["outcome"]] += 1
    return requests, acks, outcomes


def onsale(
    args: argparse.Namespace, folder: Path, url: str, pid: int | None
) -> tuple[dict[str, Any], Acks]:
    """The Locust onsale against `url` (whose server process is `pid`, when local): the
    report's figures, and what the API acknowledged, for the audit."""
    ga = args.ga if args.ga is not None else args.seats // 10
    say(f"building the stage: {args.seats:,} seats, {ga:,} standing, {args.fans:,} fans")
    stage = prepare_sync(
        url, seats=args.seats, ga=ga, fans=args.fans, opens_in=timedelta(hours=1), progress=say
    )
    # The opening comes after Locust has started and the early fans have arrived.
    open_sale(stage, datetime.now(UTC) + timedelta(seconds=args.before + 5))
    sampler = ServerSampler(pid, stage)
    with sampler.running():
        run_locust(args, stage, folder, sampler)
    requests, acks, outcomes = read_worker_logs(folder / "locust")
    report = summarize(requests, sampler.rows, stage.sale_opens_at.timestamp())
    report["totals"].update(
        fans_with_tickets=outcomes.get("tickets", 0),
        fans_gave_up=outcomes.get("gave-up", 0),
        journeys=dict(outcomes),
        orders_paid=outcomes.get("tickets", 0) + outcomes.get("unconfirmed", 0),
    )
    report.update(seats=stage.seats, ga=stage.ga_capacity, fans=len(stage.fans))
    report["acknowledged"] = {op: len(keys) for op, keys in acks.items()}
    report["performance_id"] = stage.performance_id
    return report, acks


def audit_store(database: Path, acks: Acks) -> dict[str, Any]:
    snapshot = load_sqlite_snapshot(database)
    results = audit_anytime(snapshot)
    results["acknowledged"] = check_acknowledged_exist(snapshot, acks)
    violations = {name: found for name, found in results.items() if found}
    return {"ok": not violations, "checked": list(results), "violations": violations}


def _ceiling_of(ours: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ceiling (and overload) parts, from the claims strategy's measurements."""
    ceiling = {
        "generator": "wrk",
        "trivial_rps": ours["trivial_rps"],
        "hold_attempts_rps": ours["attempts_per_s"],
        "hold_p99_ms": ours["p99_ms"],
        "ratio": ours["ratio_to_trivial"],
    }
    extra = ("paced", "concurrency", "best_within_target")
    ceiling.update({k: ours[k] for k in extra if k in ours})
    parts: dict[str, Any] = {"ceiling": ceiling}
    parts.update({k: ours[k] for k in ("overload", "overload_edge") if k in ours})
    return parts


def rehearse(args: argparse.Namespace) -> int:
    quiet_libraries()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = (args.out or Path("reports") / f"rehearsal-{stamp}").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "title": "Onsale rehearsal",
        "started_at": datetime.now(UTC).isoformat(),
        "strategy": args.strategy,
        "command": " ".join(["concertbook", "rehearse", *sys.argv[2:]]),
    }
    compare = [s for s in args.compare.split(",") if s] if args.url is None else []
    if compare and wrk_binary() is None:
        say("wrk is not installed: the ratios are skipped (Debian: apt-get install wrk)")
        compare = []
    strategies = []
    for strategy in compare:
        say(f"ratios: {strategy} with wrk, {args.wrk_connections} connections")
        strategies.append(measure_strategy(args, strategy, folder / f"wrk-{strategy}"))
    if strategies:
        report["strategies"] = strategies
        ours = next((s for s in strategies if s["strategy"] == "claims"), None)
        if ours is not None:
            report.update(_ceiling_of(ours))
        report["fsync"] = fsync.measure(folder, delay_ms=args.fsync_delay_ms)
    if args.url is not None:
        report["target"] = args.url
        result, acks = onsale(args, folder, args.url, None)
        report.update(result)
        if args.data is not None:
            report["audit"] = audit_store(args.data / "concertbook.sqlite3", acks)
        else:
            say("no --data folder for this stage: the store is not audited")
    else:
        with local_stage(folder / "onsale", args.strategy, args.preclaim) as server:
            report["target"] = server.url
            result, acks = onsale(args, folder, server.url, server.pid)
            report.update(result)
            database = folder / "onsale" / "data" / "concertbook.sqlite3"
            report["audit"] = audit_store(database, acks)
    (folder / "rehearsal.json").write_text(json.dumps(report, indent=2, default=str))
    write_html(report, folder / "rehearsal.html")
    audit = report.get("audit", {})
    for name, found in audit.get("violations", {}).items():
        say(f"VIOLATION {name}: {len(found)}: {found[:3]}")
    say(f"report: {folder / 'rehearsal.html'} and rehearsal.json")
    totals = report.get("totals", {})
    capacity = report.get("seats", 0) + report.get("ga", 0)
    say(
        f"sold {totals.get('tickets_sold', 0):,} of {capacity:,}"
        f"; sold out at {report.get('sold_out_at_s')} s; audit "
        f"{'passed' if audit.get('ok') else 'FAILED' if audit else 'not run'}"
    )
    return 0 if audit.get("ok", True) else 1
