"""Rate limits: the sliding window's arithmetic (Hypothesis), the memory and Redis limiters
answering alike, and over HTTP on real servers: 429 rate-limited with Retry-After on
sign-up, log-in, holds, orders and payments (both runtimes), per account and per address,
X-Forwarded-For believed only from trusted proxies, IPv6 by its /64, two aws-runtime
processes sharing one count in Redis, and each process counting alone while Redis is down.

Probes are cheap requests that the limit counts before the route does its work: a sign-up
with a weak password (422), holds, orders and payments of things that do not exist (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking.adapters.aws.redis_guard import RedisGuard
from booking.adapters.aws.redis_rate_limiter import RedisRateLimiter
from booking.adapters.memory_rate_limiter import MemoryRateLimiter
from booking.domain.limits import Backoff, Rate, admit, parse_rate
from tests.live_server import LiveServer, start_aws, start_local
from tests.moto_server import create_table
from tests.redis_server import RedisServer, redis_binary, start_redis
from tests.support import PASSWORD, assert_problem, new_key, skip_unless_available, unique_email

WEAK = "aaaaaaaaaa"
"""Refused by the password policy after the sign-up limit has counted the request."""


# -- the arithmetic ------------------------------------------------------------------------
class ManualTimer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def quarters(low: int, high: int) -> st.SearchStrategy[float]:
    """Multiples of 0.25 s: sums and differences stay exact, so 'at the rate' means it."""
    return st.integers(low, high).map(lambda n: n / 4)


rates = st.builds(Rate, count=st.integers(1, 6), seconds=quarters(1, 60))
arrivals = st.lists(quarters(0, 400), min_size=1, max_size=80).map(sorted)


def admitted_times(rate: Rate, times: list[float]) -> tuple[list[float], list[float]]:
    """Every arrival against one key of a MemoryRateLimiter: (the admitted, each one's wait)."""
    timer = ManualTimer()
    limiter = MemoryRateLimiter(timer)
    waits = []
    for t in times:
        timer.now = t
        waits.append(limiter.acquire_now([("key", rate)]))
    return [t for t, wait in zip(times, waits, strict=True) if wait == 0], waits


@given(rates, arrivals)
def test_no_window_of_the_rate_admits_more_than_its_count(rate: Rate, times: list[float]) -> None:
    admitted, _ = admitted_times(rate, times)
    for start in admitted:  # the fullest window begins at an admitted request
        inside = [t for t in admitted if start <= t < start + rate.seconds]
        assert len(inside) <= rate.count, (start, inside)


@given(
    st.integers(1, 6),
    quarters(1, 20),
    quarters(0, 100),
    st.lists(quarters(0, 8), min_size=1, max_size=60),
)
def test_a_client_at_or_under_the_rate_is_never_refused(
    count: int, interval: float, start: float, slack: list[float]
) -> None:
    rate = Rate(count, count * interval)
    times = list(itertools.accumulate((interval + extra for extra in slack), initial=start))
    admitted, waits = admitted_times(rate, times)
    assert admitted == times, waits


@given(rates, arrivals)
def test_the_wait_of_a_refusal_is_exactly_until_one_would_be_let_through(
    rate: Rate, times: list[float]
) -> None:
    admitted: list[float] = []
    for t in times:
        wait = admit(admitted, t, rate)
        if wait == 0:
            admitted.append(t)
            continue
        assert admit(admitted, t + wait, rate) == 0
        assert admit(admitted, t + wait - 0.125, rate) > 0


@given(rates, arrivals)
def test_a_refused_request_costs_nothing(rate: Rate, times: list[float]) -> None:
    admitted, _ = admitted_times(rate, times)
    again, waits = admitted_times(rate, admitted)
    assert again == admitted, waits


@given(
    rates,
    rates,
    st.lists(
        st.tuples(quarters(0, 3), st.sampled_from([("a",), ("b",), ("a", "b")])),
        min_size=1,
        max_size=60,
    ),
)
def test_a_request_counts_against_every_limit_or_none(
    rate_a: Rate, rate_b: Rate, steps: list[tuple[float, tuple[str, ...]]]
) -> None:
    rates_by_key = {"a": rate_a, "b": rate_b}
    timer = ManualTimer()
    limiter = MemoryRateLimiter(timer)
    model: dict[str, list[float]] = {"a": [], "b": []}
    for gap, keys in steps:
        timer.now += gap
        wait = limiter.acquire_now([(key, rates_by_key[key]) for key in keys])
        expected = max(admit(model[key], timer.now, rates_by_key[key]) for key in keys)
        assert wait == expected
        if expected == 0:
            for key in keys:
                model[key].append(timer.now)


def test_rates_parse_from_settings() -> None:
    assert parse_rate("30/60") == Rate(30, 60.0)
    assert parse_rate(" 5/0.5 ") == Rate(5, 0.5)
    for off in ("", "0", "off", "None"):
        assert parse_rate(off) is None
    for bad in ("30", "30/0", "0/60", "-1/60", "x/60", "30/x", "30/nan", "30/inf", "30/-5"):
        with pytest.raises(ValueError, match="requests"):
            parse_rate(bad)


# -- memory and Redis alike ----------------------------------------------------------------
@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = redis_binary()
    skip_unless_available(binary is not None, "redis-server is not installed")
    assert binary is not None
    server = start_redis(binary, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


WINDOW = 3600.0
"""Long enough that a whole sequence falls in one window, whichever clock counts it."""
BACKOFF = Backoff(after=2, seconds=600.0, max_seconds=2400.0, forget_seconds=7200.0)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.sampled_from([("a",), ("b",), ("c",), ("a", "b")])),
        st.tuples(st.just("attempt"), st.sampled_from([("x",), ("y",)])),
        st.tuples(st.just("clear"), st.sampled_from([("x",), ("y",)])),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 4), min_size=3, max_size=3), operations)
def test_memory_and_redis_limiters_answer_alike(
    module_redis: RedisServer, counts: list[int], steps: list[tuple[str, tuple[str, ...]]]
) -> None:
    rate_of = {key: Rate(count, WINDOW) for key, count in zip("abc", counts, strict=True)}
    prefix = uuid.uuid4().hex

    async def both() -> tuple[list[float], list[float], dict[str, int]]:
        client = aioredis.Redis.from_url(module_redis.url)
        try:
            # A generous budget: a slow machine must not send these calls to the fallback.
            shared = RedisRateLimiter(client, RedisGuard(budget_seconds=30.0))
            alone = MemoryRateLimiter()
            answers: tuple[list[float], list[float]] = ([], [])
            for limiter, out in ((alone, answers[0]), (shared, answers[1])):
                for op, keys in steps:
                    named = [f"{prefix}:{key}" for key in keys]
                    if op == "acquire":
                        limits = [(n, rate_of[k]) for n, k in zip(named, keys, strict=True)]
                        out.append(await limiter.acquire(limits))
                    elif op == "attempt":
                        out.append(await limiter.attempt(named[0], BACKOFF))
                    else:
                        await limiter.clear(named[0])
                        out.append(0.0)
            lengths = {k: await client.llen(f"rw:{prefix}:{k}") for k in "abc"}
            return answers[0], answers[1], lengths
        finally:
            await client.aclose()

    in_memory, in_redis, lengths = asyncio.run(both())
    assert [w > 0 for w in in_memory] == [w > 0 for w in in_redis], (in_memory, in_redis)
    for wait in (*in_memory, *in_redis):
        assert 0 <= wait <= max(WINDOW, BACKOFF.max_seconds)
    # Redis did the counting: each key's list holds its admitted requests, up to its count.
    for key in "abc":
        admitted = sum(
            1
            for (op, keys), wait in zip(steps, in_redis, strict=True)
            if op == "acquire" and key in keys and wait == 0
        )
        assert lengths[key] == min(admitted, rate_of[key].count)


# -- over HTTP -----------------------------------------------------------------------------
LIMIT = 2
PERIOD = 6
"""Long enough for three quick requests to fall in one window on a slow machine."""


def assert_rate_limited(response: httpx.Response) -> int:
    """429 rate-limited problem+json; its Retry-After, whole seconds, at least one."""
    body = assert_problem(response, 429, "rate-limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) >= 1
    assert body["retry_after"] == int(retry_after)
    return int(retry_after)


def sign_up(
    client: httpx.Client, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return client.post(
        "/api/v1/accounts",
        json={"email": email, "password": password, "display_name": "Fan"},
        headers=headers,
    )


def log_in(
    client: httpx.Client, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return client.post(
        "/api/v1/sessions", json={"email": email, "password": password}, headers=headers
    )


def fan(client: httpx.Client, **headers: str) -> dict[str, str]:
    email = unique_email("fan")
    r = sign_up(client, email, **headers)
    assert r.status_code == 201, r.text
    r = log_in(client, email, **headers)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def probes(client: httpx.Client) -> dict[str, Callable[[dict[str, str]], httpx.Response]]:
    """Per route, a request its limit counts before the route's own work answers it."""

    def hold(who: dict[str, str]) -> httpx.Response:
        return client.post(
            "/api/v1/performances/perf_missing/holds",
            headers={**who, "Idempotency-Key": new_key()},
            json={"seats": ["S1-1-1"]},
        )

    def order(who: dict[str, str]) -> httpx.Response:
        return client.post(
            "/api/v1/orders/",
            headers={**who, "Idempotency-Key": new_key()},
            json={"hold_id": "hold_missing"},
        )

    def pay(who: dict[str, str]) -> httpx.Response:
        return client.post(
            "/api/v1/orders/ord_missing/payments",
            headers={**who, "Idempotency-Key": new_key()},
            json={"method": "card-ok"},
        )

    return {"hold": hold, "order": order, "pay": pay}


def probe(client: httpx.Client, forwarded: str) -> httpx.Response:
    """A sign-up whose request says it was forwarded for `forwarded`."""
    return sign_up(client, unique_email("fan"), WEAK, **{"X-Forwarded-For": forwarded})


def assert_let_through(response: httpx.Response) -> None:
    """The limit let it through: the route's own answer, not a refusal, never a failure."""
    assert response.status_code in (401, 404, 422), (response.status_code, response.text)


@contextlib.contextmanager
def aws_settings(request: pytest.FixtureRequest, folder: Path) -> Iterator[dict[str, object]]:
    """Settings of aws-runtime servers on a fresh table and a Redis of their own."""
    binary = redis_binary()
    skip_unless_available(binary is not None, "redis-server is not installed")
    assert binary is not None
    redis = start_redis(binary, folder / "redis")
    try:
        endpoint: str = request.getfixturevalue("moto_endpoint")
        table = asyncio.run(create_table(endpoint, stream=False))
        yield {
            "table_name": table,
            "aws_endpoint_url": endpoint,
            "redis_url": redis.url,
            "redis_timeout_seconds": 2,
            "sweep_interval_seconds": 5,
            "redis": redis,
        }
    finally:
        redis.stop()


@contextlib.contextmanager
def server_of(
    runtime: str, request: pytest.FixtureRequest, folder: Path, **limits: object
) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        if runtime == "local":
            server = start_local(folder / "data", limits)
        else:
            aws = dict(stack.enter_context(aws_settings(request, folder)))
            aws.pop("redis")
            server = start_aws(folder / "data", {**aws, **limits})
        stack.callback(server.stop)
        yield server


@pytest.mark.parametrize("runtime", ["local", "aws"])
def test_past_its_limit_every_limited_route_answers_429_until_the_wait_is_over(
    runtime: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`aws`: DynamoDB (moto) with the limits in Redis; `local`: SQLite, limits in memory."""
    with (
        server_of(
            runtime,
            request,
            tmp_path,
            trusted_proxies="127.0.0.1",
            rate_limit_signup_per_address=f"{LIMIT}/{PERIOD}",
            rate_limit_login_per_address="off",
            rate_limit_login_per_account=f"{LIMIT}/{PERIOD}",
            rate_limit_booking_per_address="off",
            rate_limit_booking_per_account=f"{LIMIT}/{PERIOD}",
            login_backoff_after=100,
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        # The fans sign up from another address than the probes': their own count.
        setup = {"X-Forwarded-For": "192.0.2.1"}
        first, second = fan(client, **setup), fan(client, **setup)
        route = probes(client)
        guessed = unique_email("nobody")
        attempts: dict[str, Callable[[], httpx.Response]] = {
            "sign-up": lambda: sign_up(
                client, unique_email("fan"), WEAK, **{"X-Forwarded-For": "192.0.2.2"}
            ),
            "log-in": lambda: log_in(client, guessed, "not-the-password"),
            "hold": lambda: route["hold"](first),
            "order": lambda: route["order"](first),
            "pay": lambda: route["pay"](first),
        }
        waits = {}
        for name, attempt in attempts.items():
            for _ in range(LIMIT):
                assert_let_through(attempt())
            waits[name] = assert_rate_limited(attempt())
            assert waits[name] <= PERIOD
        # Each account counts apart: the second fan still gets through on every route.
        for name in ("hold", "order", "pay"):
            assert_let_through(route[name](second))
        time.sleep(max(waits.values()))
        for attempt in attempts.values():
            assert_let_through(attempt())


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(**settings: object) -> LiveServer:
        server = start_local(tmp_path / f"data-{len(started)}", settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_the_address_limit_counts_every_account_and_e_mail_from_one_address(
    local_server: Callable[..., LiveServer],
) -> None:
    server = local_server(
        rate_limit_booking_per_address="3/3600",
        rate_limit_booking_per_account="off",
        rate_limit_login_per_address="2/3600",
        rate_limit_login_per_account="off",
    )
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        # Signing up and logging in two fans spends the address's two log-ins.
        first, second = fan(client), fan(client)
        assert_rate_limited(log_in(client, unique_email("third")))
        hold = probes(client)["hold"]
        assert_let_through(hold(first))
        assert_let_through(hold(first))
        assert_let_through(hold(second))
        assert_rate_limited(hold(second))
        assert_rate_limited(hold(first))


def test_forwarded_for_is_believed_only_from_trusted_proxies(
    local_server: Callable[..., LiveServer],
) -> None:
    behind = local_server(
        trusted_proxies="127.0.0.1, 10.0.0.0/8", rate_limit_signup_per_address="2/3600"
    )
    with httpx.Client(base_url=behind.base_url, timeout=30) as client:
        assert_let_through(probe(client, "198.51.100.7"))
        assert_let_through(probe(client, "198.51.100.7"))
        assert_rate_limited(probe(client, "198.51.100.7"))
        # What the client wrote left of the address the proxy saw changes nothing.
        assert_rate_limited(probe(client, "203.0.113.1, 198.51.100.7"))
        assert_rate_limited(probe(client, "203.0.113.2, 198.51.100.7, 10.9.8.7"))
        assert_rate_limited(probe(client, "::ffff:198.51.100.7"))  # the IPv4 address, mapped
        assert_let_through(probe(client, "198.51.100.8"))
        # An IPv6 client counts as its /64.
        assert_let_through(probe(client, "2001:db8:1:2::1"))
        assert_let_through(probe(client, "2001:db8:1:2:ffff:ffff:ffff:ffff"))
        assert_rate_limited(probe(client, "2001:db8:1:2::7"))
        assert_let_through(probe(client, "2001:db8:1:3::1"))


def test_forwarded_for_from_a_peer_that_is_no_trusted_proxy_changes_nothing(
    local_server: Callable[..., LiveServer],
) -> None:
    exposed = local_server(trusted_proxies="10.0.0.0/8", rate_limit_signup_per_address="2/3600")
    with httpx.Client(base_url=exposed.base_url, timeout=30) as client:
        # The loopback peer is no trusted proxy here: the header is the client's own say.
        assert_let_through(probe(client, "198.51.100.7"))
        assert_let_through(probe(client, "198.51.100.8"))
        assert_rate_limited(probe(client, "198.51.100.9"))
        assert_rate_limited(sign_up(client, unique_email("fan"), WEAK))


# -- several processes, one Redis ------------------------------------------------------------
@pytest.mark.slow
def test_processes_sharing_redis_share_one_limit_and_count_alone_while_it_is_down(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        aws = dict(stack.enter_context(aws_settings(request, tmp_path)))
        redis: RedisServer = aws.pop("redis")  # type: ignore[assignment]
        limits = {
            "rate_limit_booking_per_address": "off",
            "rate_limit_booking_per_account": f"{LIMIT + 1}/3600",
        }
        servers = [start_aws(tmp_path / f"data-{n}", {**aws, **limits}) for n in range(2)]
        for server in servers:
            stack.callback(server.stop)
        clients = [
            stack.enter_context(httpx.Client(base_url=s.base_url, timeout=30)) for s in servers
        ]
        shared, alone = fan(clients[0]), fan(clients[1])

        def round_robin(who: dict[str, str], requests: int) -> list[list[int]]:
            """Hold probes sent to each process in turn: the statuses per process."""
            statuses: list[list[int]] = [[], []]
            for n in range(requests):
                r = probes(clients[n % 2])["hold"](who)
                assert r.status_code < 500, r.text
                statuses[n % 2].append(r.status_code)
            return statuses

        together = round_robin(shared, 4 * (LIMIT + 1))
        let_through = [sum(s != 429 for s in mine) for mine in together]
        assert sum(let_through) == LIMIT + 1, together  # the sum over both is capped
        assert all(let_through), together  # and each process did count against it

        redis.kill()
        apart = round_robin(alone, 4 * (LIMIT + 1))
        # Each process falls back to its own memory: the limit holds per process.
        assert [sum(s != 429 for s in mine) for mine in apart] == [LIMIT + 1, LIMIT + 1], apart
        for server in servers:
            assert "Redis skipped" in server.log_text()
