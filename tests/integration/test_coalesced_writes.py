"""The server's HTTP protocol: one write per turn to the socket, and nothing lost or reordered.

A real uvicorn server with `CoalescingHttpProtocol` on a loopback port, a tiny ASGI app,
and raw sockets, so pipelining, bad requests and large streamed answers are what the
bytes say; `writes` counts what reached the real transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from api.fast_path import coalesced_writes
from api.fast_path.coalesced_writes import FLUSH_AT_BYTES, CoalescingHttpProtocol
from tests.live_server import free_port

BIG = FLUSH_AT_BYTES * 3 + 17


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        chunk = b"x" * 1000
        chunks, rest = divmod(BIG, len(chunk))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(chunks):  # never awaits anything that yields: all in one turn
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"y" * rest})
        return
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many writes of the app each write to the real transport carried."""
    counted: list[int] = []
    real_flush = coalesced_writes.CoalescingTransport.flush

    def counting_flush(self: coalesced_writes.CoalescingTransport) -> None:
        if self._pending:
            counted.append(len(self._pending))
        real_flush(self)

    monkeypatch.setattr(coalesced_writes.CoalescingTransport, "flush", counting_flush)
    return counted


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CoalescingHttpProtocol, log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:  # noqa: ASYNC110 - uvicorn.Server offers no event for it
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        served.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def exchange(port: int, request: bytes, until: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = b""
    while until not in data:
        chunk = await asyncio.wait_for(reader.read(1 << 16), 10)
        if not chunk:
            break
        data += chunk
    writer.close()
    return data


def over_http(request: bytes, until: bytes) -> bytes:
    async def scenario() -> bytes:
        async with serving() as port:
            return await exchange(port, request, until)

    return asyncio.run(scenario())


def test_an_answer_leaves_in_one_write(writes: list[int]) -> None:
    answer = over_http(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n", b"/one")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n/one")
    assert writes == [2]  # the status line and headers, and the body: one send


def test_pipelined_requests_are_answered_in_order() -> None:
    paths = [f"/p{i}" for i in range(20)]
    requests = b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths)
    answer = over_http(requests, paths[-1].encode())
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in answer.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [p.encode() for p in paths]


def test_a_bad_request_is_answered_before_the_close() -> None:
    answer = over_http(b"NOT HTTP AT ALL\r\n\r\n", b"Invalid")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")


def test_a_large_streamed_answer_arrives_whole(writes: list[int]) -> None:
    answer = over_http(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", b"0\r\n\r\n")
    head, chunked = answer.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head
    body, rest = b"", chunked
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        body, rest = body + rest[:size], rest[size + 2 :]
    assert len(body) == BIG
    assert body.endswith(b"y" * (BIG % 1000))
    # Written as it grew past the threshold, not held back until the end of the turn.
    assert len(writes) >= BIG // FLUSH_AT_BYTES
