"""The front door holds against slow and careless clients, on a real server over raw sockets.

Clients that trickle their bodies hold connections, never the places that fans browsing,
holding and ordering need, and get 408 once the body timeout has passed; headers that
never finish and connections never used are closed; a body announced past a route's cap
is refused with 413 before a byte of it is sent; a client gone mid-body is no error of
ours; past the cap on connections, 503; every answer carries the security headers and
CORS only for the configured origins (the Lambda path too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import lambda_handler
from api.app import create_app
from api.routes.catalog import VENUE_BODY_LIMIT
from booking.bootstrap import build_local
from booking.settings import ConfigError, Settings
from tests.integration.test_lambda_rie import apigw_event
from tests.live_server import LiveServer, live_server, settings_env
from tests.support import ApiDriver, assert_problem, hold, new_key, post_hold, post_order, wait_for
from workers.local import background

ORIGIN = "https://tickets.example"
SOCKET_TIMEOUT_SECONDS = 20.0
"""How long a raw socket waits for the server (a safety net, never the thing measured)."""
BODY_TIMEOUT_SECONDS = 4.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(server: LiveServer) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_SECONDS)
    sock.settimeout(SOCKET_TIMEOUT_SECONDS)
    return sock


def read_answer(sock: socket.socket) -> Answer:
    """One HTTP answer off the socket (status line, headers, a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of an answer"
        rest += chunk
    return Answer(int(lines[0].split()[1]), headers, rest[:length])


def closed_by_server(sock: socket.socket) -> bool:
    """The server closed the connection: end of stream (or a reset), nothing else pending."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def request_head(method: str, path: str, length: int, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: front.door", f"Content-Length: {length}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_secure(headers: httpx.Headers | dict[str, str], no_store: bool) -> None:
    assert headers["x-content-type-options"] == "nosniff", headers
    assert headers["referrer-policy"] == "no-referrer", headers
    if no_store:
        assert headers["cache-control"] == "no-store", headers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Short timeouts, one allowed origin, the rest as shipped (128 requests in progress)."""
    with live_server(
        "local",
        tmp_path_factory.mktemp("front-door") / "data",
        body_timeout_seconds=BODY_TIMEOUT_SECONDS,
        header_timeout_seconds=1,
        keep_alive_seconds=30,
        cors_allowed_origins=ORIGIN,
        rehearsal=1,
    ) as started:
        yield started


@pytest.fixture(scope="module")
def stage(server: LiveServer) -> dict[str, Any]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        api = ApiDriver(client)
        organizer, performance = api.on_sale(rows=10, seats_per_row=10)
        return {"organizer": organizer, "performance": performance, "fan": api.account()}


def test_trickled_bodies_hold_connections_not_places(
    server: LiveServer, stage: dict[str, Any]
) -> None:
    """GIVEN 140 connections that announced a 200-byte body on log-in and on ordering and
    sent 10 bytes of it (more than the 128 requests the server serves at once) WHEN fans
    browse, hold and order meanwhile THEN they are served, not shed, and each trickling
    connection gets 408 `request-timeout` once the body timeout has passed, then is closed."""
    slow: list[socket.socket] = []
    try:
        for n in range(140):
            sock = connect(server)
            path = "/api/v1/sessions" if n % 2 else "/api/v1/orders"
            sock.sendall(request_head("POST", path, 200, content_type="application/json"))
            sock.sendall(b'{"email": ')
            slow.append(sock)
        performance_id = stage["performance"]["id"]
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            r = client.get(f"/api/v1/performances/{performance_id}/availability")
            assert r.status_code == 200, r.text
            held = hold(client, stage["fan"], performance_id, ["S1-A-1"])
            r = post_order(client, stage["fan"], held["id"])
            assert r.status_code == 201, r.text
        # They were all still waiting while the fans were served.
        readable, _, _ = select.select(slow, [], [], 0)
        assert readable == []
        for sock in slow:
            answer = read_answer(sock)
            assert answer.status == 408
            assert answer.json()["type"] == "/problems/request-timeout"
            assert_secure(answer.headers, no_store=True)
            assert closed_by_server(sock)
    finally:
        for sock in slow:
            sock.close()


def test_headers_that_never_finish_are_cut_off(server: LiveServer) -> None:
    """GIVEN a request whose headers stop half-way WHEN the header timeout passes THEN the
    server answers 408 `request-timeout` and closes the connection."""
    with contextlib.closing(connect(server)) as sock:
        sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: front.door\r\nAccept: appl")
        answer = read_answer(sock)
        assert answer.status == 408
        assert answer.json()["type"] == "/problems/request-timeout"
        assert_secure(answer.headers, no_store=True)
        assert closed_by_server(sock)


def test_idle_connections_are_closed(tmp_path: Path) -> None:
    """GIVEN connections never used and one kept alive after an answer WHEN the keep-alive
    timeout passes THEN the server has closed every one of them."""
    with live_server("local", tmp_path / "data", keep_alive_seconds=1) as idle_server:
        unused = [connect(idle_server) for _ in range(20)]
        used = connect(idle_server)
        try:
            used.sendall(b"GET /healthz HTTP/1.1\r\nHost: front.door\r\n\r\n")
            assert read_answer(used).status == 200
            for sock in [*unused, used]:
                assert closed_by_server(sock)
        finally:
            for sock in [*unused, used]:
                sock.close()


def _bodied_routes(data_dir: Path) -> list[tuple[str, str]]:
    """Every POST, PUT and PATCH route of the app (rehearsal mode on), path parameters
    filled in."""
    app = create_app(
        build_local(Settings.of(data_dir=data_dir, rehearsal=True)), background=background
    )
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods & {"POST", "PUT", "PATCH"}):
                found.append((method, re.sub(r"\{[^}]+\}", "x", route.path)))
    return found


def test_a_body_announced_past_the_cap_is_refused_before_it_is_sent(
    server: LiveServer, stage: dict[str, Any], tmp_path: Path
) -> None:
    """GIVEN every route that takes a body (the hold route, which reads its own, included)
    WHEN a request announces 100,000,000 bytes and sends none of them THEN it gets 413
    `body-too-large` at once and the connection is closed."""
    routes = _bodied_routes(tmp_path)
    assert ("POST", "/api/v1/performances/x/holds") in routes
    assert len(routes) >= 15, routes
    performance_id = stage["performance"]["id"]
    routes.append(("POST", f"/api/v1/performances/{performance_id}/holds"))
    authorization = stage["fan"]["Authorization"]
    for method, path in routes:
        with contextlib.closing(connect(server)) as sock:
            sock.sendall(
                request_head(
                    method,
                    path,
                    100_000_000,
                    content_type="application/json",
                    authorization=authorization,
                    idempotency_key=new_key(),
                )
            )
            answer = read_answer(sock)
            assert answer.status == 413, (method, path, answer)
            assert answer.json()["type"] == "/problems/body-too-large", (method, path)
            assert_secure(answer.headers, no_store=True)
            assert closed_by_server(sock), (method, path)


def test_a_venue_gets_its_larger_cap_and_no_more(server: LiveServer, stage: dict[str, Any]) -> None:
    """GIVEN the venue route's own cap (8 MiB) WHEN a seat map is announced just past the
    ordinary cap THEN its body is read and judged; just past the venue's cap, 413 at once and
    the connection closed (the client need not send the 8 MiB to learn it)."""
    organizer = stage["organizer"]["Authorization"]
    with contextlib.closing(connect(server)) as sock:
        sock.sendall(
            request_head("POST", "/api/v1/venues", VENUE_BODY_LIMIT + 1, authorization=organizer)
        )
        answer = read_answer(sock)
        assert answer.status == 413
        assert answer.json()["detail"].endswith(f"at most {VENUE_BODY_LIMIT} bytes")
        assert closed_by_server(sock)
    body = b'{"name": "' + b"n" * 70_000 + b'"}'
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        r = client.post(
            "/api/v1/venues",
            content=body,
            headers={**stage["organizer"], "content-type": "application/json"},
        )
    assert_problem(r, 400, "invalid-body")


def test_a_client_gone_mid_body_is_no_error(server: LiveServer, stage: dict[str, Any]) -> None:
    """GIVEN clients that close their connections half-way through their bodies (log-in,
    orders, holds) THEN the server logs each at info and neither a 500 nor a traceback."""
    performance_id = stage["performance"]["id"]
    paths = ["/api/v1/sessions", "/api/v1/orders", f"/api/v1/performances/{performance_id}/holds"]
    gone = 30
    for n in range(gone):
        with contextlib.closing(connect(server)) as sock:
            sock.sendall(
                request_head(
                    "POST",
                    paths[n % len(paths)],
                    200,
                    content_type="application/json",
                    authorization=stage["fan"]["Authorization"],
                    idempotency_key=new_key(),
                )
            )
            sock.sendall(b'{"seats": ')

    def each_one_logged() -> bool:
        log = server.log_text()
        return log.count("client went away") + log.count("Traceback") >= gone

    wait_for(each_one_logged)
    log = server.log_text()
    assert "Traceback" not in log
    assert " 500" not in log and "ERROR" not in log, log[-3000:]


def test_past_the_cap_on_connections_a_request_gets_503(tmp_path: Path) -> None:
    """GIVEN a server that keeps at most 40 connections and serves 1 request at once WHEN a
    burst of seat maps comes THEN the excess gets `overloaded` with the security headers
    WHEN 40 connections are open and idle THEN a request on one more gets 503 `overloaded`
    with Retry-After (CORS for the allowed origin) and its connection is closed; once they
    close, requests are served again."""
    with live_server(
        "local",
        tmp_path / "data",
        max_connections=40,
        max_in_flight=1,
        keep_alive_seconds=30,
        cors_allowed_origins=ORIGIN,
    ) as tight:
        with httpx.Client(base_url=tight.base_url, timeout=30) as client:
            _, performance = ApiDriver(client).on_sale(rows=20, seats_per_row=50)
        path = f"/api/v1/performances/{performance['id']}/seats"
        answers = asyncio.run(_burst(tight.base_url, path, 30))
        shed = [r for r in answers if r.status_code == 503]
        assert shed, [r.status_code for r in answers]
        for r in shed:
            assert_problem(r, 503, "overloaded")
            assert_secure(r.headers, no_store=True)

        idle = [connect(tight) for _ in range(40)]
        try:
            with contextlib.closing(connect(tight)) as probe:
                probe.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: front.door\r\nOrigin: "
                    + ORIGIN.encode()
                    + b"\r\n\r\n"
                )
                answer = read_answer(probe)
                assert answer.status == 503
                assert answer.json()["type"] == "/problems/overloaded"
                assert answer.headers["retry-after"] == "1"
                assert answer.headers["access-control-allow-origin"] == ORIGIN
                assert_secure(answer.headers, no_store=True)
                assert closed_by_server(probe)
        finally:
            for sock in idle:
                sock.close()

        def served() -> bool:
            with contextlib.closing(connect(tight)) as again:
                again.sendall(b"GET /healthz HTTP/1.1\r\nHost: front.door\r\n\r\n")
                return read_answer(again).status == 200

        wait_for(served)


async def _burst(base_url: str, path: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        return list(await asyncio.gather(*(client.get(path) for _ in range(count))))


def test_security_headers_and_cors(server: LiveServer, stage: dict[str, Any]) -> None:
    """Every answer: nosniff and no referrer; `no-store` on API answers and on any answer to
    a request with Authorization. CORS: the configured origin gets Access-Control-Allow-
    Origin and its preflight a 204; any other origin gets neither."""
    performance_id = stage["performance"]["id"]
    fan = stage["fan"]
    availability = f"/api/v1/performances/{performance_id}/availability"
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        r = client.get(availability, headers={"Origin": ORIGIN})
        assert r.status_code == 200
        assert_secure(r.headers, no_store=True)
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert "Origin" in r.headers["vary"]

        r = client.get(availability, headers={"Origin": "https://elsewhere.example"})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers

        r = client.get("/healthz")
        assert_secure(r.headers, no_store=False)
        assert "cache-control" not in r.headers
        assert_secure(client.get("/healthz", headers=fan).headers, no_store=True)

        r = post_hold(client, fan, performance_id, ["S1-B-1"])
        assert r.status_code == 201, r.text
        assert_secure(r.headers, no_store=True)
        r = post_hold(client, fan, performance_id, ["S1-B-1"])
        assert_problem(r, 409, "seats-unavailable")
        assert_secure(r.headers, no_store=True)
        r = client.get("/api/v1/no-such-thing")
        assert_problem(r, 404, "route-not-found")
        assert_secure(r.headers, no_store=True)

        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        }
        path = f"/api/v1/performances/{performance_id}/holds"
        r = client.options(path, headers={"Origin": ORIGIN, **preflight})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "idempotency-key" in r.headers["access-control-allow-headers"].lower()
        assert_secure(r.headers, no_store=True)
        r = client.options(path, headers={"Origin": "https://elsewhere.example", **preflight})
        assert "access-control-allow-origin" not in r.headers
        assert_secure(r.headers, no_store=False)


def test_origins_are_exact() -> None:
    settings = Settings.from_env(
        settings_env(cors_allowed_origins=f"{ORIGIN}, http://localhost:5173/")
    )
    assert settings.limits.cors_allowed_origins == (ORIGIN, "http://localhost:5173")
    assert Settings.from_env({}).limits.cors_allowed_origins == ()
    for bad in ("*", "https://*.example", "tickets.example", "https://a.example/path"):
        with pytest.raises(ConfigError):
            Settings.from_env(settings_env(cors_allowed_origins=bad))


# -- the Lambda path ------------------------------------------------------------------------
class _Context:
    function_name = "concertbook-api"
    aws_request_id = "front-door"


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`lambda_handler.handler` on the local runtime, in this process, a fresh environment."""
    for name in list(__import__("os").environ):
        if name.startswith("CONCERTBOOK_"):
            monkeypatch.delenv(name)
    for name, value in settings_env(runtime="local", data_dir=tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    lambda_handler.close()

    def call(event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            json.dumps(lambda_handler.handler(json.loads(json.dumps(event)), _Context()))
        )
        return result

    try:
        yield call
    finally:
        lambda_handler.close()


def test_lambda_refuses_an_oversized_body_and_sends_security_headers(invoke: Any) -> None:
    """GIVEN API Gateway events for the Lambda function WHEN a hold or a log-in carries a
    body past the cap (with its Content-Length, and without one) THEN 413 `body-too-large`;
    every answer carries the security headers."""
    big = json.dumps({"seats": ["S1-A-1"] * 10_000}).encode()
    assert len(big) > Settings().limits.max_body_bytes
    headers = [("content-type", "application/json"), ("idempotency-key", new_key())]
    for path in ("/api/v1/performances/x/holds", "/api/v1/sessions"):
        event = apigw_event("POST", path, headers=headers, body=big)
        result = invoke(event)
        assert result["statusCode"] == 413, result
        assert json.loads(result["body"])["type"] == "/problems/body-too-large"
        assert_secure(result["headers"], no_store=True)
        assert "connection" not in result["headers"]
        del event["headers"]["content-length"]
        assert invoke(event)["statusCode"] == 413
    result = invoke(apigw_event("GET", "/healthz"))
    assert result["statusCode"] == 200
    assert_secure(result["headers"], no_store=False)
    result = invoke(apigw_event("GET", "/api/v1/events"))
    assert result["statusCode"] == 200
    assert_secure(result["headers"], no_store=True)
