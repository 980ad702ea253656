"""Log-in defence over HTTP on both runtimes, and its parts: the back-off after failed
log-ins (429 with Retry-After, then the right password works: no lockout; a success
clears the count), an unknown e-mail address counted and answered exactly like a known
one, and argon2 off the event loop on a bounded pool of its own threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.adapters.memory_rate_limiter import MemoryRateLimiter
from booking.adapters.security.argon2_hasher import Argon2PasswordHasher
from booking.domain.limits import Backoff
from tests.live_server import LiveServer, start_aws, start_local
from tests.moto_server import create_table
from tests.redis_server import redis_binary, start_redis
from tests.support import PASSWORD, assert_problem, skip_unless_available, unique_email

AFTER = 3
FIRST_WAIT = 3
"""Seconds: long enough that the attempt after the last free failure comes within it."""
WRONG = "not-the-password"

BACKOFF_SETTINGS: dict[str, object] = {
    "login_backoff_after": AFTER,
    "login_backoff_seconds": FIRST_WAIT,
    "login_backoff_max_seconds": 2 * FIRST_WAIT,
    # Only the back-off answers 429 here.
    "rate_limit_login_per_account": "off",
    "rate_limit_login_per_address": "off",
}


@pytest.fixture(scope="module", params=["local", "aws"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`local`: SQLite, the back-off in memory; `aws`: DynamoDB (moto), the back-off in Redis."""
    folder = tmp_path_factory.mktemp(request.param)
    with contextlib.ExitStack() as stack:
        if request.param == "local":
            running = start_local(folder / "data", BACKOFF_SETTINGS)
        else:
            binary = redis_binary()
            skip_unless_available(binary is not None, "redis-server is not installed")
            assert binary is not None
            redis = start_redis(binary, folder / "redis")
            stack.callback(redis.stop)
            endpoint: str = request.getfixturevalue("moto_endpoint")
            table = asyncio.run(create_table(endpoint, stream=False))
            aws = {"table_name": table, "aws_endpoint_url": endpoint, "redis_url": redis.url}
            running = start_aws(folder / "data", {**BACKOFF_SETTINGS, **aws})
        stack.callback(running.stop)
        yield running


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield http


def sign_up(client: httpx.Client) -> str:
    email = unique_email("fan")
    r = client.post(
        "/api/v1/accounts", json={"email": email, "password": PASSWORD, "display_name": "Fan"}
    )
    assert r.status_code == 201, r.text
    return email


def log_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/v1/sessions", json={"email": email, "password": password})


def assert_wrong(response: httpx.Response) -> dict[str, Any]:
    return assert_problem(response, 401, "invalid-credentials")


def assert_backed_off(response: httpx.Response) -> int:
    body = assert_problem(response, 429, "rate-limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= FIRST_WAIT
    assert body["retry_after"] == int(retry_after)
    return int(retry_after)


def test_after_the_free_failures_the_next_attempt_waits_then_the_right_password_works(
    client: httpx.Client,
) -> None:
    email = sign_up(client)
    for _ in range(AFTER):
        assert_wrong(log_in(client, email, WRONG))
    # Even the right password waits: a guesser learns nothing during the back-off.
    wait = assert_backed_off(log_in(client, email, PASSWORD))
    time.sleep(wait)
    r = log_in(client, email, PASSWORD)
    assert r.status_code == 201, r.text  # no lockout
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["email"] == email


def test_a_success_clears_the_count(client: httpx.Client) -> None:
    email = sign_up(client)
    for _ in range(AFTER - 1):
        assert_wrong(log_in(client, email, WRONG))
    assert log_in(client, email, PASSWORD).status_code == 201
    for _ in range(AFTER):  # all free again: the success forgot the failures before it
        assert_wrong(log_in(client, email, WRONG))
    assert_backed_off(log_in(client, email, WRONG))


def shape(response: httpx.Response) -> tuple[object, ...]:
    """What an answer tells apart: status, problem type and title, the body's fields, its
    detail without the seconds, and whether it says when to come back."""
    body = response.json()
    return (
        response.status_code,
        response.headers["content-type"],
        body["type"],
        body["title"],
        sorted(body),
        re.sub(r"\d+", "N", body["detail"]),
        "retry-after" in response.headers,
    )


def test_an_unknown_address_is_counted_and_answered_exactly_like_a_known_one(
    client: httpx.Client,
) -> None:
    known, unknown = sign_up(client), unique_email("nobody")
    answers: dict[str, list[tuple[object, ...]]] = {known: [], unknown: []}
    for _ in range(AFTER + 1):
        for email in (known, unknown):  # interleaved: the same moment for both
            answers[email].append(shape(log_in(client, email, WRONG)))
    assert answers[known] == answers[unknown]
    assert [a[0] for a in answers[known]] == [401] * AFTER + [429]


# -- the back-off's arithmetic ---------------------------------------------------------------
backoffs = st.builds(
    Backoff,
    after=st.integers(1, 10),
    seconds=st.integers(1, 8).map(float),
    max_seconds=st.integers(8, 100).map(float),
    forget_seconds=st.integers(1, 1000).map(float),
)


@given(backoffs, st.integers(0, 200))
def test_the_wait_doubles_from_the_after_th_failure_up_to_the_longest(
    backoff: Backoff, attempts: int
) -> None:
    delay = backoff.delay(attempts)
    if attempts < backoff.after:
        assert delay == 0
        return
    assert delay == min(backoff.max_seconds, backoff.seconds * 2 ** (attempts - backoff.after))
    assert backoff.delay(attempts + 1) >= delay


class ManualTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(backoffs, st.lists(st.sampled_from(["fail", "succeed", "idle", "forget"]), max_size=40))
def test_the_memory_back_off_follows_its_arithmetic(backoff: Backoff, steps: list[str]) -> None:
    """A model of the back-off in a few lines against MemoryRateLimiter on a manual clock:
    a refused attempt is not counted, a success clears, a long silence forgets."""
    timer = ManualTimer()
    limiter = MemoryRateLimiter(timer)
    failures, blocked_until, forgotten_at = 0, 0.0, 0.0
    for step in steps:
        if step == "idle":  # idle steps may add up to a silence long enough to forget
            timer.now += backoff.seconds
            continue
        if step == "forget":
            timer.now += max(backoff.max_seconds, backoff.forget_seconds)
            continue
        wait = limiter.attempt_now("account", backoff)
        if blocked_until > timer.now:
            assert wait == blocked_until - timer.now
            continue
        assert wait == 0
        if forgotten_at <= timer.now:
            failures = 0
        failures += 1
        delay = backoff.delay(failures)
        blocked_until = timer.now + delay
        forgotten_at = timer.now + max(delay, backoff.forget_seconds)
        if step == "succeed":
            asyncio.run(limiter.clear("account"))
            failures, blocked_until = 0, 0.0


# -- argon2 beside the event loop ------------------------------------------------------------
class VerificationWatch:
    """Where and how many verifications run at once, seen through the threads' profile hook
    (set for the pool's threads, which start on first use)."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.in_flight = 0
        self.most_at_once = 0
        self._lock = threading.Lock()
        self._code = Argon2PasswordHasher.verify_now.__code__

    def __call__(self, frame: FrameType, event: str, _: object) -> None:
        if frame.f_code is not self._code:
            return
        with self._lock:
            if event == "call":
                self.threads.add(threading.current_thread().name)
                self.in_flight += 1
                self.most_at_once = max(self.most_at_once, self.in_flight)
            elif event == "return":
                self.in_flight -= 1


def test_verifications_run_on_the_pools_threads_at_most_threads_at_once_beside_the_loop() -> None:
    threads = 2
    watch = VerificationWatch()

    async def scenario() -> tuple[list[bool], int]:
        hasher = Argon2PasswordHasher(threads)
        stored = await hasher.hash(PASSWORD)
        loop_turns_meanwhile = 0
        done = asyncio.Event()

        async def loop_turns() -> None:
            nonlocal loop_turns_meanwhile
            while not done.is_set():
                loop_turns_meanwhile += watch.in_flight > 0
                await asyncio.sleep(0)

        turning = asyncio.create_task(loop_turns())
        guesses = [hasher.verify(stored, f"guess number {n}") for n in range(3 * threads)]
        results = await asyncio.gather(*guesses, hasher.verify(stored, PASSWORD))
        done.set()
        await turning
        return results, loop_turns_meanwhile

    threading.setprofile(watch)
    try:
        results, loop_turns_meanwhile = asyncio.run(scenario())
    finally:
        threading.setprofile(None)
    assert results == [False] * (3 * threads) + [True]
    assert watch.threads and all(name.startswith("argon2") for name in watch.threads)
    assert len(watch.threads) <= threads
    assert 1 <= watch.most_at_once <= threads
    # The event loop went round while verifications were running on the pool.
    assert loop_turns_meanwhile > 0


def thread_cpu_ticks(pid: int) -> dict[int, int]:
    """User + system CPU ticks of each thread of a process (Linux /proc)."""
    ticks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])
    return ticks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_servers_verifications_burn_cpu_on_other_threads_than_its_event_loop(
    tmp_path: Path,
) -> None:
    """Twelve wrong passwords at once against a real server, for accounts that exist: the
    argon2 CPU is spent beside the event loop's thread (the process's main thread), which
    only parses and answers. (Verified on the loop, as before, it is the other way round.)"""
    settings = {**BACKOFF_SETTINGS, "password_hash_threads": 1, "login_backoff_after": 100}
    server = start_local(tmp_path / "data", settings)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            emails = [sign_up(http) for _ in range(4)]
            before = thread_cpu_ticks(server.pid)

            def guess(n: int) -> int:
                return log_in(http, emails[n % len(emails)], WRONG).status_code

            with ThreadPoolExecutor(12) as clients:
                statuses = list(clients.map(guess, range(12)))
            after = thread_cpu_ticks(server.pid)
        assert statuses == [401] * 12
        spent = {tid: after[tid] - before.get(tid, 0) for tid in after}
        loop_thread = spent.pop(server.pid)
        beside = sum(spent.values())
        assert beside > loop_thread, (loop_thread, spent, os.sysconf("SC_CLK_TCK"))
    finally:
        server.stop()
