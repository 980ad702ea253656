"""What every request meets before its route, on `concertbook serve` and on Lambda alike.

- Its body, whole, first (`BodyFirst`): a `Content-Length` past the route's cap is refused
  with 413 before a byte of the body is read; a body that has not arrived within
  `CONCERTBOOK_BODY_TIMEOUT_SECONDS` gets 408 `request-timeout`; a client that goes away
  meanwhile is logged once, at info. Only then does the request take a place among the
  requests in progress (`api/overload.py`), and the route reads the buffered body as if
  from the connection: clients that trickle their bodies hold a connection, never a place
  that fans browsing or holding seats need. A small body that came in one piece is passed
  on as it arrived, uncopied.
- On every answer (`secure_answers`, a `before_send` hook, so problems, the 503 of
  `api/overload.py` and these 408/413 too): `X-Content-Type-Options: nosniff`,
  `Referrer-Policy: no-referrer`, and `Cache-Control: no-store` on the answer to any
  request that carries `Authorization` and on every `/api/` answer whose route did not
  choose its own caching. No `/api/` route does today: what is not about the caller
  (availability, seats, the catalogue, search) changes within seconds, and a CDN should
  not keep it without a purge we do not have. Posters (`/media/`, content-addressed) are
  the cacheable public data, `public, max-age=31536000, immutable`.
- CORS (`cors_config`): only the exact origins of `CONCERTBOOK_CORS_ALLOWED_ORIGINS`
  (default none: no CORS at all) get `Access-Control-Allow-Origin`, and their preflights
  a 204; bearer tokens, not cookies, so no credentials.

Header timeouts, idle connections and the cap on connections belong to the server's
protocol (`api/connection_guard.py`): API Gateway reads requests before Lambda sees them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send

from api.problems import HTTP_PROBLEMS, send_problem

log = logging.getLogger(__name__)

NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_REFERRER = (b"referrer-policy", b"no-referrer")
NO_STORE = (b"cache-control", b"no-store")
SECURITY_HEADERS = (NOSNIFF, NO_REFERRER)

REQUEST_TIMEOUT = HTTP_PROBLEMS.get(
    "request-timeout", (408, "The request's headers or body did not arrive in time")
)
"""The `request-timeout` problem: status and title."""
LARGE_BODY_BYTES_PER_SECOND = 64 * 1024
"""A body announced larger than CONCERTBOOK_MAX_BODY_BYTES (seat maps, posters) gets this
much more time per second past it, on top of the body timeout."""


class ClientDisconnected(HTTPException):
    """The client closed its connection before its request arrived: nobody to answer, nothing
    that failed on our side (nginx's 499)."""

    status_code = 499

    def __init__(self) -> None:
        # Its own detail: Litestar would look 499 up in `HTTPStatus`, which raises ValueError.
        super().__init__(detail="the client closed its connection before its request arrived")


class BodyTimedOut(Exception):
    pass


class BodyDeadlines:
    """Requests waiting for their bodies, each with its deadline, checked every `tick`
    seconds by one timer for all of them: no timer armed and cancelled per request."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self._waiting: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, receive: Receive, deadline: float) -> ReceiveMessage:
        """`receive()`, or `BodyTimedOut` once `deadline` (loop time) has passed."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting[task] = deadline
        loop = task.get_loop()
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(self.tick, self._look)
        try:
            return await receive()
        except asyncio.CancelledError:
            if task in self._expired and task.uncancel() == 0:
                raise BodyTimedOut from None
            raise
        finally:
            self._waiting.pop(task, None)
            self._expired.discard(task)

    def _look(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for task, deadline in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[task]
                self._expired.add(task)
                task.cancel()
        self._timer = loop.call_later(self.tick, self._look) if self._waiting else None


class BodyFirst:
    """The middleware that waits for a request's whole body before the rest of the app."""

    def __init__(self, timeout: float, ordinary_bytes: int) -> None:
        self.timeout = timeout
        self.ordinary_bytes = ordinary_bytes
        self.deadlines = BodyDeadlines(tick=min(1.0, timeout / 10))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """A Litestar middleware factory (it runs after routing: each route's own cap)."""

        async def body_first(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            announced: bytes | None = None
            chunked = False
            for name, value in scope["headers"]:
                if name == b"content-length":
                    announced = value
                elif name == b"transfer-encoding":
                    chunked = True
            if announced is None and not chunked:
                await app(scope, receive, send)  # no body to wait for
                return
            limit = _limit(scope)
            length = _length(announced)
            if length > limit:
                await _too_large(scope, send, limit)
                return
            if length == 0 and not chunked:
                await app(scope, receive, send)
                return
            replay = await self._whole_body(scope, receive, send, length, limit)
            if replay is not None:
                await app(scope, replay, send)

        return body_first

    async def _whole_body(
        self, scope: HTTPScope, receive: Receive, send: Send, length: int, limit: float
    ) -> Receive | None:
        """A `receive` that replays the whole body, or None once the request is answered (408,
        413) or its client gone."""
        past_ordinary = max(0, length - self.ordinary_bytes)
        allowed = self.timeout + past_ordinary / LARGE_BODY_BYTES_PER_SECOND
        deadline = asyncio.get_running_loop().time() + allowed
        wait = self.deadlines.receive
        try:
            message = await wait(receive, deadline)
            if message["type"] != "http.request":
                _went_away(scope)
                return None
            if message.get("more_body", False):
                chunks = [message.get("body", b"")]
                size = len(chunks[0])
                while size <= limit:
                    message = await wait(receive, deadline)
                    if message["type"] != "http.request":
                        _went_away(scope)
                        return None
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    size += len(chunk)
                    if not message.get("more_body", False):
                        break
                if size > limit:
                    await _too_large(scope, send, limit)
                    return None
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            elif len(message.get("body", b"")) > limit:
                await _too_large(scope, send, limit)
                return None
        except BodyTimedOut:
            log.info(
                "request body not in within %.3g s: 408 to %s %s",
                allowed,
                scope["method"],
                scope["path"],
            )
            status, title = REQUEST_TIMEOUT
            detail = f"the request's body did not arrive within {allowed:.3g} s"
            await send_problem(scope, send, status, "request-timeout", title, detail, close=True)
            return None
        return _replay(message, receive)


def _limit(scope: HTTPScope) -> float:
    """The route's cap on bodies (Litestar's `request_max_body_size`, resolved once)."""
    handler: Any = scope["route_handler"]
    limit: int | None = handler.resolve_request_max_body_size()
    return math.inf if limit is None else limit


LENGTH_DIGITS = 18
"""Digits of a Content-Length read as they are; a longer one is past every cap (and `int`
refuses strings of over 4,300 digits)."""
PAST_EVERY_CAP: int = 10**LENGTH_DIGITS


def _length(announced: bytes | None) -> int:
    """The announced Content-Length, -1 if none or not a number (the bytes decide then)."""
    if announced is None or not announced.isdigit():
        return -1
    digits = announced.lstrip(b"0")
    if len(digits) > LENGTH_DIGITS:
        return PAST_EVERY_CAP
    return int(digits or b"0")


def _replay(message: ReceiveMessage, receive: Receive) -> Receive:
    pending = [message]

    async def replay() -> ReceiveMessage:
        return pending.pop() if pending else await receive()

    return replay


def _went_away(scope: HTTPScope) -> None:
    method, path = scope["method"], scope["path"]
    log.info("client went away before its request body arrived: %s %s", method, path)


async def _too_large(scope: HTTPScope, send: Send, limit: float) -> None:
    status, title = HTTP_PROBLEMS["body-too-large"]
    detail = f"this endpoint accepts a body of at most {int(limit)} bytes"
    await send_problem(scope, send, status, "body-too-large", title, detail, close=True)


async def secure_answers(message: Message, scope: Scope) -> None:
    """The `before_send` hook: security headers on every answer (module docstring)."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    if any(name == b"authorization" for name, _ in scope["headers"]):
        headers = [h for h in headers if h[0].lower() != b"cache-control"]
        headers.append(NO_STORE)
    elif scope["path"].startswith("/api/") and not any(
        h[0].lower() == b"cache-control" for h in headers
    ):
        headers.append(NO_STORE)
    headers += SECURITY_HEADERS
    message["headers"] = headers


CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = ["authorization", "content-type", "idempotency-key"]
CORS_EXPOSED_HEADERS = ["retry-after"]


def cors_config(origins: Sequence[str]) -> CORSConfig | None:
    """Litestar's CORS for exactly these origins (no wildcards: settings refuse them), or None
    (no CORS headers, preflights answered like any OPTIONS) when there are none."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=CORS_METHODS,  # type: ignore[arg-type]
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )


def cors_headers(origins: frozenset[bytes], request_headers: Iterable[Any]) -> list[Any]:
    """CORS headers for an answer sent outside the app (`api/connection_guard.py`)."""
    for name, value in request_headers:
        if name == b"origin" and value in origins:
            return [
                (b"access-control-allow-origin", value),
                (b"access-control-expose-headers", ", ".join(CORS_EXPOSED_HEADERS).encode()),
                (b"vary", b"Origin"),
            ]
    return []
