"""Fans' latency beside clients that trickle their bodies, idle and attacked, side by side.

One fresh local server (`concertbook serve`, rehearsal mode, its own data folder on
loopback) and a small stage; `--workers` fans in a closed loop each time a seat map's
counts (`GET /performances/{id}/availability`) and a hold attempt (`POST
/performances/{id}/holds` with an Idempotency-Key, each hold then released, untimed, so
its seat and the fan's ticket limit come back). Hold attempts rotate over `--fans` fans
and the per-account and per-address booking rate limits are set off, so no limit is what
is measured. First `--seconds` with the server idle, then `--seconds` with `--slow`
connections open that each announce a 200-byte body on log-in, ordering or a hold and
trickle a byte a second, never the last: when the server answers (408) or closes one, the
attacker opens another at once, so `--slow` stay open throughout (counted by another
process, which does the attacking). Each p99 is given as a ratio to its idle value; the
target is 2×. At the end the attackers go away and the server's log is searched for
tracebacks and errors (the target is 0).

Run: `python -m benchmarks.slow_clients` (`--seconds 20 --slow 500 --workers 4
--before 60416dc`); `--before REF` runs the same against REF's code too, from a
temporary `git worktree`, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import multiprocessing.synchronize
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from rehearsal import processes
from rehearsal.run import wait_until_idle
from rehearsal.stage import Stage, prepare_sync

REQUEST_TIMEOUT_SECONDS = 30.0
"""A fan's request unanswered this long counts as a timeout (status 0)."""
SERVED = {200, 201}
PAUSE_AFTER_REFUSAL_SECONDS = 0.1
"""A refused fan waits this long before the next request, as a client honouring
Retry-After would at least: a shed server is not spun on."""
ANNOUNCED_BYTES = 200
FIRST_BYTES = b'{"email": '
TRICKLE_SECONDS = 1.0
RAMP_SECONDS = 2.0
"""The attackers' connections are opened over this long, not in one burst of SYNs."""
ERROR_LINE = re.compile(r"^.*\bERROR\b.*$", re.MULTILINE)
"""uvicorn's `ERROR:` and the app's `<time> ERROR <logger>` alike."""
SERVER_SETTINGS = {
    # Hold attempts rotate over many fans: no rate limit should be what is measured.
    "rate_limit_booking_per_account": "off",
    "rate_limit_booking_per_address": "off",
}


# -- a fan's HTTP/1.1 connection ----------------------------------------------------------
class FanConnection:
    """One kept-alive connection, read by Content-Length (every answer of the API has one):
    lighter than a general client on two shared cores, so the server's time is measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection failed or timed out."""
        try:
            return await asyncio.wait_for(
                self._exchange(method, path, headers, body), REQUEST_TIMEOUT_SECONDS
            )
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            return 0, b""

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        answer_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        content = await reader.readexactly(int(answer_headers.get("content-length", "0")))
        if answer_headers.get("connection", "").lower() == "close":
            self.close()
        return int(status_line.split()[1]), content

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


# -- what the fans measure ----------------------------------------------------------------
@dataclass
class Timings:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    release_failures: int = 0

    def record(self, kind: str, status: int, seconds: float) -> None:
        self.statuses.setdefault(kind, Counter())[status] += 1
        if status in SERVED:
            self.latencies_ms.setdefault(kind, []).append(seconds * 1000)

    def summary(self, kind: str) -> dict[str, Any]:
        served = sorted(self.latencies_ms.get(kind, []))
        statuses = self.statuses.get(kind, Counter())
        total = sum(statuses.values())
        return {
            "requests": total,
            "served_share": round(len(served) / total, 4) if total else None,
            "p50_ms": _percentile(served, 0.50),
            "p99_ms": _percentile(served, 0.99),
            "statuses": {str(s): n for s, n in sorted(statuses.items())},
        }


def _percentile(ordered: Sequence[float], share: float) -> float | None:
    """Nearest rank; None without samples."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 2)


async def measure_fans(stage: Stage, seconds: float, workers: int) -> Timings:
    host, port = _address(stage.base_url)
    seats = [seat for rows in stage.sections.values() for row in rows for seat in row]
    timings = Timings()
    deadline = time.monotonic() + seconds
    availability = f"/api/v1/performances/{stage.performance_id}/availability"
    holds = f"/api/v1/performances/{stage.performance_id}/holds"

    async def fan_loop(worker: int) -> None:
        connection = FanConnection(host, port)
        fans = itertools.cycle(stage.fans[worker::workers])
        my_seats = itertools.cycle(seats[worker::workers])
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                status, _ = await connection.request("GET", availability, {})
                timings.record("get", status, time.perf_counter() - started)
                if status not in SERVED:
                    await asyncio.sleep(PAUSE_AFTER_REFUSAL_SECONDS)
                auth = {"Authorization": f"Bearer {next(fans).token}"}
                body = json.dumps({"seats": [next(my_seats)]}).encode()
                headers = {
                    **auth,
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                }
                started = time.perf_counter()
                status, answer = await connection.request("POST", holds, headers, body)
                timings.record("hold", status, time.perf_counter() - started)
                if status == 201:
                    hold_id = json.loads(answer)["id"]
                    release = f"/api/v1/holds/{hold_id}/release"
                    released, _ = await connection.request("POST", release, auth)
                    if released != 200:
                        timings.release_failures += 1
                elif status not in SERVED:
                    await asyncio.sleep(PAUSE_AFTER_REFUSAL_SECONDS)
        finally:
            connection.close()

    await asyncio.gather(*(fan_loop(w) for w in range(workers)))
    return timings


def _address(base_url: str) -> tuple[str, int]:
    host, _, port = base_url.removeprefix("http://").partition(":")
    return host, int(port)


# -- the attacker, in a process of its own ------------------------------------------------
COUNTERS = (
    "open",
    "opened",
    "answered_408",
    "answered_503",
    "answered_5xx",
    "answered_other",
    "closed_unanswered",
    "reset",
    "connect_failed",
)
SLOW_PATHS = ("/api/v1/sessions", "/api/v1/orders", "/api/v1/performances/{}/holds")


def attack(
    base_url: str,
    performance_id: str,
    slow: int,
    counters: Any,
    stop: multiprocessing.synchronize.Event,
) -> None:
    asyncio.run(_attack(base_url, performance_id, slow, counters, stop))


async def _attack(
    base_url: str,
    performance_id: str,
    slow: int,
    counters: Any,
    stop: multiprocessing.synchronize.Event,
) -> None:
    host, port = _address(base_url)
    index = {name: i for i, name in enumerate(COUNTERS)}

    def count(name: str, delta: int = 1) -> None:
        counters[index[name]] += delta

    async def slot(n: int) -> None:
        await asyncio.sleep(n * RAMP_SECONDS / slow)
        path = SLOW_PATHS[n % len(SLOW_PATHS)].format(performance_id)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {ANNOUNCED_BYTES}\r\n\r\n"
        ).encode()
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                count("connect_failed")
                await asyncio.sleep(0.1)
                continue
            count("open")
            count("opened")
            trickling = asyncio.create_task(_trickle(writer, head))
            answer = b""
            try:
                while chunk := await reader.read(65536):  # until the server closes it
                    answer += chunk
                outcome = _answer_counter(answer)
            except OSError:
                # Bytes still trickling in after the server closed make its kernel reset the
                # connection, which may come before its answer was read here.
                outcome = _answer_counter(answer) if answer else "reset"
            finally:
                trickling.cancel()
                writer.close()
                count("open", -1)
            count(outcome)

    slots = [asyncio.create_task(slot(n)) for n in range(slow)]
    await asyncio.to_thread(stop.wait)
    for task in slots:
        task.cancel()
    await asyncio.gather(*slots, return_exceptions=True)


async def _trickle(writer: asyncio.StreamWriter, head: bytes) -> None:
    with contextlib.suppress(OSError):
        writer.write(head + FIRST_BYTES)
        for _ in range(ANNOUNCED_BYTES - len(FIRST_BYTES) - 1):  # never the last byte
            await asyncio.sleep(TRICKLE_SECONDS)
            writer.write(b" ")
            await writer.drain()


def _answer_counter(answer: bytes) -> str:
    if not answer.startswith(b"HTTP/1.1 "):
        return "closed_unanswered"
    status = int(answer[9:12])
    if status in (408, 503):
        return f"answered_{status}"
    return "answered_5xx" if status >= 500 else "answered_other"


@contextlib.contextmanager
def attacking(stage: Stage, slow: int) -> Iterator[Any]:
    """The attacker's process, running until the block ends; yields its counters."""
    context = multiprocessing.get_context("spawn")
    counters = context.Array("q", len(COUNTERS), lock=False)
    stop = context.Event()
    process = context.Process(
        target=attack, args=(stage.base_url, stage.performance_id, slow, counters, stop)
    )
    process.start()
    try:
        yield counters
    finally:
        stop.set()
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join(5)


def counted(counters: Any) -> dict[str, int]:
    return {name: int(counters[i]) for i, name in enumerate(COUNTERS)}


# -- one server, idle then attacked -------------------------------------------------------
def measure(
    label: str, code: Path | None, seconds: float, slow: int, workers: int, seats: int, fans: int
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="slow-clients-") as folder,
        processes.server(Path(folder) / "data", SERVER_SETTINGS, code=code) as server,
    ):
        stage = prepare_sync(
            server.url, seats=seats, ga=0, fans=fans, opens_in=timedelta(seconds=-1)
        )
        wait_until_idle(server)
        idle = asyncio.run(measure_fans(stage, seconds, workers))
        with attacking(stage, slow) as counters:
            ramp_deadline = time.monotonic() + 30
            while counted(counters)["open"] < slow and time.monotonic() < ramp_deadline:
                time.sleep(0.1)
            open_samples: list[int] = []
            attacked = asyncio.run(_sampled(stage, seconds, workers, counters, open_samples))
            attack_counts = counted(counters)
        time.sleep(2.0)  # the attackers' connections closed: what the server makes of it
        log = server.log_path.read_text(errors="replace")
    phases = {"idle": idle, "attacked": attacked}
    result: dict[str, Any] = {
        "server": label,
        "phases": {
            phase: {kind: timings.summary(kind) for kind in ("get", "hold")}
            | {"release_failures": timings.release_failures}
            for phase, timings in phases.items()
        },
        "slow_open": {
            "target": slow,
            "min": min(open_samples, default=0),
            "median": statistics.median(open_samples) if open_samples else 0,
            "share_at_95_percent": round(
                sum(n >= 0.95 * slow for n in open_samples) / max(1, len(open_samples)), 3
            ),
        },
        "attacker": attack_counts,
        "server_log": {
            "tracebacks": log.count("Traceback (most recent call last)"),
            "error_lines": len(ERROR_LINE.findall(log)),
            "answers_500_to_fans": sum(
                n
                for t in phases.values()
                for s in t.statuses.values()
                for c, n in s.items()
                if c >= 500 and c != 503
            ),
        },
    }
    for kind in ("get", "hold"):
        idle_p99 = result["phases"]["idle"][kind]["p99_ms"]
        attacked_p99 = result["phases"]["attacked"][kind]["p99_ms"]
        result[f"{kind}_p99_ratio"] = (
            round(attacked_p99 / idle_p99, 2) if idle_p99 and attacked_p99 else None
        )
    return result


async def _sampled(
    stage: Stage, seconds: float, workers: int, counters: Any, samples: list[int]
) -> Timings:
    """The fans measured while the open slow connections are counted every 0.2 s."""

    async def sample() -> None:
        while True:
            samples.append(counted(counters)["open"])
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    try:
        return await measure_fans(stage, seconds, workers)
    finally:
        sampler.cancel()


# -- another checkout ---------------------------------------------------------------------
@contextlib.contextmanager
def checkout_of(ref: str) -> Iterator[Path]:
    """REF's code in a temporary `git worktree`, removed afterwards."""
    root = Path(__file__).resolve().parent.parent
    folder = Path(tempfile.mkdtemp(prefix="slow-clients-before-")) / "code"
    git = ["git", "-C", str(root), "worktree"]
    # A fixed command, no shell; REF is a commit the runner names.
    subprocess.run(  # noqa: S603
        [*git, "add", "--detach", str(folder), ref], check=True, capture_output=True
    )
    try:
        yield folder
    finally:
        remove = [*git, "remove", "--force", str(folder)]
        subprocess.run(remove, check=False, capture_output=True)  # noqa: S603
        with contextlib.suppress(OSError):
            folder.parent.rmdir()


# -- the table ----------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def print_table(results: list[dict[str, Any]], slow: int) -> None:
    print(
        f"\n{'server':14s} {'phase':9s} {'slow open':>11s}"
        f"  {'GET p50':>8s} {'p99':>8s} {'÷idle':>6s} {'served':>8s}"
        f"  {'hold p50':>8s} {'p99':>8s} {'÷idle':>6s} {'served':>8s}   (ms)"
    )
    for result in results:
        for phase in ("idle", "attacked"):
            row = result["phases"][phase]
            held = result["slow_open"]
            opened = "0" if phase == "idle" else f"{held['min']}/{held['median']:g}"
            cells = [f"{result['server']:14s} {phase:9s} {opened:>11s}"]
            for kind in ("get", "hold"):
                ratio = "" if phase == "idle" else _ratio(result[f"{kind}_p99_ratio"])
                cells.append(
                    f"{_ms(row[kind]['p50_ms']):>8s} {_ms(row[kind]['p99_ms']):>8s}"
                    f" {ratio:>6s} {_share(row[kind]['served_share']):>8s}"
                )
            print("  ".join(cells))
    print(
        f"\nslow open: the fewest / the median of the {slow} attacking connections open while"
        " measured (sampled every 0.2 s; cut off ones are opened again at once)"
    )
    for result in results:
        attacker, logged = result["attacker"], result["server_log"]
        print(
            f"{result['server']}: attacker opened {attacker['opened']:,} connections"
            f" (408: {attacker['answered_408']:,}, 503: {attacker['answered_503']:,},"
            f" other 5xx: {attacker['answered_5xx']:,},"
            f" closed unanswered: {attacker['closed_unanswered']:,},"
            f" reset: {attacker['reset']:,});"
            f" server log: {logged['tracebacks']} tracebacks, {logged['error_lines']} ERROR lines;"
            f" 5xx other than 503 to fans: {logged['answers_500_to_fans']}"
        )
        attacked = result["phases"]["attacked"]
        held = result["slow_open"]
        print(
            f"  at least 95 % of the {slow} open in {100 * held['share_at_95_percent']:.0f} %"
            " of the samples (the dips: cut-off connections being opened again)"
        )
        print(
            f"  fans' answers under attack: GET {attacked['get']['statuses']},"
            f" hold {attacked['hold']['statuses']}"
        )
        verdict = all(
            (result[f"{kind}_p99_ratio"] or math.inf) <= 2.0
            and (result["phases"]["attacked"][kind]["served_share"] or 0) >= 0.99
            for kind in ("get", "hold")
        )
        clean = logged["tracebacks"] == 0 and logged["error_lines"] == 0
        print(
            f"  p99 within 2× of idle and ≥ 99 % served: {'yes' if verdict else 'NO'};"
            f" log clean: {'yes' if clean else 'NO'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="of each phase (past the body timeout, 10 s)"
    )
    parser.add_argument("--slow", type=int, default=500, help="slow-body connections kept open")
    parser.add_argument("--workers", type=int, default=4, help="fans measuring at once")
    parser.add_argument("--seats", type=int, default=2000)
    parser.add_argument("--fans", type=int, default=200)
    parser.add_argument("--before", metavar="REF", help="also run REF's code (git worktree)")
    parser.add_argument("--out", type=Path, default=Path("reports/slow-clients.json"))
    args = parser.parse_args()
    runs: list[tuple[str, str | None]] = [("this checkout", None)]
    if args.before:
        runs.append((f"@{args.before}", args.before))
    results = []
    for label, ref in runs:
        with contextlib.ExitStack() as stack:
            code = stack.enter_context(checkout_of(ref)) if ref else None
            print(f"{label}: idle {args.seconds:g} s, then {args.slow} slow clients", flush=True)
            results.append(
                measure(label, code, args.seconds, args.slow, args.workers, args.seats, args.fans)
            )
    print_table(results, args.slow)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
