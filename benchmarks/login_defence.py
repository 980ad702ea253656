"""Log-in defence side by side: `GET /me` idle and beside password guessers, and the log-in's
time for a known and an unknown e-mail address.

Each checkout gets a fresh local server (`concertbook serve`, SQLite) on loopback and three
phases of `--seconds` each, one client measuring, requests one after another:

  idle       `GET /api/v1/me` with nothing else going on;
  guessers   the same while `--guessers` clients send wrong passwords back to back, each
             cycling through the known accounts;
  enumerate  wrong-password log-ins for known and unknown e-mail addresses, interleaved
             (each pair in turn known first, then unknown first).

The guessers must reach argon2, not a refusal: the server runs with every log-in rate limit
off and the back-off past reach (CONCERTBOOK_RATE_LIMIT_LOGIN_PER_*=off,
CONCERTBOOK_LOGIN_BACKOFF_AFTER=1000000); their answers are counted to show it (401s).
Targets (the log-in defence's issue): `GET /me` p99 beside the guessers within 2× idle;
known and unknown log-in p50 within 10 %.

Run: `python -m benchmarks.login_defence` (`--seconds 10 --guessers 4 --accounts 8
--before REF --out reports/login-defence.json`). `--before REF` runs the same against
another commit first (checked out with `git worktree` into a temporary folder and removed
afterwards), for the figures before and after a change in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from booking.adapters.security.argon2_hasher import default_threads
from rehearsal.processes import server

PASSWORD = "correct horse battery staple"  # noqa: S105 - the bench accounts' own
WRONG = "not the password at all"
SETTINGS: dict[str, object] = {
    "rate_limit_login_per_address": "off",
    "rate_limit_login_per_account": "off",
    "rate_limit_signup_per_address": "off",
    "login_backoff_after": 1_000_000,
    "max_in_flight": 10_000,
}
ROOT = Path(__file__).resolve().parent.parent


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest rank, in milliseconds."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return round(1000 * ordered[rank], 2)


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
    }


def timed(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[float, int]:
    started = time.perf_counter()
    status = client.request(method, url, **kwargs).status_code
    return time.perf_counter() - started, status


def me_for(client: httpx.Client, token: str, seconds: float) -> tuple[list[float], Counter[int]]:
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        took, status = timed(client, "GET", "/api/v1/me", headers=headers)
        samples.append(took)
        statuses[status] += 1
    return samples, statuses


def log_in(client: httpx.Client, email: str, password: str) -> tuple[float, int]:
    return timed(client, "POST", "/api/v1/sessions", json={"email": email, "password": password})


def _guess(url: str, guessers: int, emails: list[str], stop: Any, answers: Any) -> None:
    """`guessers` threads sending wrong passwords until `stop`; their statuses to `answers`."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def guess(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            n = offset
            while not stop.is_set():
                _, status = log_in(client, emails[n % len(emails)], WRONG)
                n += guessers
                with lock:
                    statuses[status] += 1

    threads = [threading.Thread(target=guess, args=(g,)) for g in range(guessers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers.put(dict(statuses))


@contextlib.contextmanager
def guessing(url: str, guessers: int, emails: list[str]) -> Iterator[Counter[int]]:
    """Guessers in a process of their own (their client work never waits for the measuring
    client's interpreter lock, nor it for theirs) until the block ends; then their statuses."""
    context = multiprocessing.get_context("spawn")
    stop, answers = context.Event(), context.Queue()
    process = context.Process(target=_guess, args=(url, guessers, emails, stop, answers))
    process.start()
    statuses: Counter[int] = Counter()
    try:
        time.sleep(1.0)  # started, and every guesser has a verification queued
        yield statuses
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            statuses.update(answers.get(timeout=60))
        process.join(30)
        if process.is_alive():
            process.kill()


def measure(label: str, code: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="login-defence-") as folder,
        server(Path(folder) / "data", SETTINGS, code=code) as running,
        httpx.Client(base_url=running.url, timeout=60) as client,
    ):
        emails = [f"fan{n}@bench.concertbook.test" for n in range(args.accounts)]
        for email in [*emails, "me@bench.concertbook.test"]:
            r = client.post(
                "/api/v1/accounts",
                json={"email": email, "password": PASSWORD, "display_name": "Bench Fan"},
            )
            r.raise_for_status()
        r = client.post(
            "/api/v1/sessions", json={"email": "me@bench.concertbook.test", "password": PASSWORD}
        )
        r.raise_for_status()
        token = r.json()["token"]
        # Warm: the session cache, the first verification (and its hash of nothing).
        me_for(client, token, 1.0)
        for n in range(4):
            log_in(client, emails[n % len(emails)], WRONG)
            log_in(client, f"warm{n}@bench.concertbook.test", WRONG)

        idle, idle_statuses = me_for(client, token, args.seconds)
        started = time.monotonic()
        with guessing(running.url, args.guessers, emails) as guesses:
            loaded, loaded_statuses = me_for(client, token, args.seconds)
        guess_rate = sum(guesses.values()) / (time.monotonic() - started)

        known: list[float] = []
        unknown: list[float] = []
        statuses: Counter[str] = Counter()
        deadline = time.monotonic() + args.seconds
        n = 0
        while time.monotonic() < deadline:
            pair = [("known", emails[n % len(emails)]), ("unknown", f"nobody{n}@bench.example")]
            for kind, email in pair if n % 2 == 0 else reversed(pair):
                took, status = log_in(client, email, WRONG)
                (known if kind == "known" else unknown).append(took)
                statuses[f"{kind} {status}"] += 1
            n += 1
    return {
        "checkout": label,
        "me_idle": summary(idle),
        "me_with_guessers": summary(loaded),
        "me_statuses": {str(k): v for k, v in (idle_statuses + loaded_statuses).items()},
        "guesses_per_s": round(guess_rate, 1),
        "guess_statuses": {str(k): v for k, v in sorted(guesses.items())},
        "log_in_known": summary(known),
        "log_in_unknown": summary(unknown),
        "log_in_statuses": dict(sorted(statuses.items())),
    }


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """`ref` checked out, detached, in a temporary folder; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="login-defence-before-")) / "checkout"
    git = ["git", "-C", str(ROOT), "worktree"]
    add = [*git, "add", "--detach", str(folder), ref]
    subprocess.run(add, check=True, capture_output=True)  # noqa: S603 - git, no shell
    try:
        yield folder
    finally:
        remove = [*git, "remove", "--force", str(folder)]
        subprocess.run(remove, check=False, capture_output=True)  # noqa: S603 - git, no shell


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nlocal runtime, 127.0.0.1; argon2 threads: {default_threads()} (cores less one,"
        f" {os.cpu_count()} cores); {args.guessers} guessers cycling through {args.accounts}"
        " known accounts; log-in rate limits off and back-off after 1,000,000 failures,"
        " so every guess reaches argon2"
    )
    print(
        f"\n{'checkout':12s} {'GET /me idle':>16s} {'GET /me guessed':>16s} {'p99 ×':>6s}"
        f" {'guesses/s':>9s} {'log-in known':>16s} {'log-in unknown':>16s} {'p50 Δ':>7s}"
    )
    print(f"{'':12s} {'p50 / p99 ms':>16s} {'p50 / p99 ms':>16s} {'':6s} {'':9s}", end="")
    print(f" {'p50 / p99 ms':>16s} {'p50 / p99 ms':>16s}")
    for r in results:
        idle, loaded = r["me_idle"], r["me_with_guessers"]
        known, unknown = r["log_in_known"], r["log_in_unknown"]
        r["me_p99_ratio"] = round(loaded["p99_ms"] / idle["p99_ms"], 2)
        r["known_unknown_p50_difference"] = round(
            abs(known["p50_ms"] - unknown["p50_ms"]) / max(known["p50_ms"], unknown["p50_ms"]), 3
        )
        print(
            f"{r['checkout']:12s} {idle['p50_ms']:7.2f} / {idle['p99_ms']:6.2f}"
            f" {loaded['p50_ms']:7.2f} / {loaded['p99_ms']:6.2f} {r['me_p99_ratio']:5.2f}×"
            f" {r['guesses_per_s']:9.1f} {known['p50_ms']:7.2f} / {known['p99_ms']:6.2f}"
            f" {unknown['p50_ms']:7.2f} / {unknown['p99_ms']:6.2f}"
            f" {100 * r['known_unknown_p50_difference']:6.1f}%"
        )
    for r in results:
        me_ok = r["me_p99_ratio"] <= 2.0
        enum_ok = r["known_unknown_p50_difference"] <= 0.10
        print(
            f"{r['checkout']}: GET /me p99 beside guessers {r['me_p99_ratio']:.2f}× idle"
            f" (target ≤ 2×: {'met' if me_ok else 'missed'}); known vs unknown log-in p50"
            f" {100 * r['known_unknown_p50_difference']:.1f}% apart (target ≤ 10%:"
            f" {'met' if enum_ok else 'missed'}); guesses answered {r['guess_statuses']},"
            f" log-ins {r['log_in_statuses']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--guessers", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=8, help="known accounts to guess at")
    parser.add_argument("--before", metavar="REF", help="also run this commit, first")
    parser.add_argument("--out", type=Path, default=Path("reports/login-defence.json"))
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if args.before:
        with worktree(args.before) as checkout:
            results.append(measure(f"@{args.before}", checkout, args))
            print(f"measured {args.before}", flush=True)
    results.append(measure("this", None, args))  # the working tree
    report(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
