"""The server's protocol guarded against clients that hold connections without finishing.

Uvicorn closes a connection that stays idle after an answer, but not one that was opened
and never used, nor one whose request's headers trickle in, and it has no cap on
connections of its own (`limit_concurrency` counts requests too). `GuardedHttpProtocol`,
on top of the coalesced writes (`api/fast_path/coalesced_writes.py`):

- a new connection is idle like a kept-alive one: closed after
  `CONCERTBOOK_KEEP_ALIVE_SECONDS` without a request;
- a request's headers must be complete within `CONCERTBOOK_HEADER_TIMEOUT_SECONDS` of
  their first byte, and at most `MAX_HEADER_BYTES` long: else a 408 (431) problem and the
  connection closed;
- a body left unread by an answer sent without it (a 404, a 401) may keep arriving, to be
  discarded, for `CONCERTBOOK_BODY_TIMEOUT_SECONDS`, then the connection is closed;
- past `CONCERTBOOK_MAX_CONNECTIONS` open connections, a request on a newer one gets 503
  `overloaded` with Retry-After and its connection is closed.

Timers are armed only when a read ends inside a request's headers (or in the unread body
of one answered): a request that arrives in one piece arms none. The body's own deadline
is the app's (`api/front_door.py`), so it holds on Lambda too.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, ClassVar

from api.fast_path.coalesced_writes import CoalescingHttpProtocol
from api.front_door import (
    NO_STORE,
    REQUEST_TIMEOUT,
    SECURITY_HEADERS,
    cors_headers,
)
from api.overload import RETRY_AFTER, RETRY_AFTER_SECONDS
from api.problems import HTTP_PROBLEMS, PROBLEM_JSON, problem_bytes, send_problem
from booking.settings import Settings

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
"""A request's line and headers together (uvicorn's h11 allows 16 KiB; httptools, no cap)."""
HEADERS_TOO_LARGE = (431, "The request's headers are larger than this server accepts")


class GuardedHttpProtocol(CoalescingHttpProtocol):
    """`uvicorn.Config(http=GuardedHttpProtocol.configured(settings))`."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 10.0
    keep_alive: ClassVar[float] = 5.0
    max_connections: ClassVar[int] = 2048
    allowed_origins: ClassVar[frozenset[bytes]] = frozenset()

    @classmethod
    def configured(cls, settings: Settings) -> type[GuardedHttpProtocol]:
        values = {
            "header_timeout": settings.limits.header_timeout_seconds,
            "body_timeout": settings.limits.body_timeout_seconds,
            "keep_alive": settings.limits.keep_alive_seconds,
            "max_connections": settings.limits.max_connections,
            "allowed_origins": frozenset(o.encode() for o in settings.limits.cors_allowed_origins),
        }
        return type(cls.__name__, (cls,), values)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.keep_alive  # type: ignore[assignment]
        self._cutoff: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0
        self._body_pending = False

    # -- the connection ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.app = _too_many_connections(self.allowed_origins)
        # Nothing asked yet is idle, as between two requests.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_cutoff()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._header_bytes += len(data)  # every read that ended inside the headers
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(*HEADERS_TOO_LARGE, "headers-too-large", "the headers are too large")
            elif self._cutoff is None:
                self._cutoff = self.loop.call_later(self.header_timeout, self._cut_off)
        elif self._body_pending and self._cutoff is None and self._answered():
            self._cutoff = self.loop.call_later(self.body_timeout, self._cut_off)

    # -- the parser's callbacks --------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._body_pending = True
        self._stop_cutoff()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_pending = False
        self._stop_cutoff()
        if self._answered() and not self.pipeline and self.timeout_keep_alive_task is None:
            # Answered before its body was in, which has now arrived: idle from here.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
        super().on_message_complete()

    def _answered(self) -> bool:
        return self.cycle is not None and self.cycle.response_complete

    # -- cutting off -------------------------------------------------------------------
    def _stop_cutoff(self) -> None:
        if self._cutoff is not None:
            self._cutoff.cancel()
            self._cutoff = None

    def _cut_off(self) -> None:
        self._cutoff = None
        if self.transport.is_closing():
            return
        if self._in_headers:
            if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
                # An earlier request of this connection is still being answered: the next
                # one's headers wait for that (reading is paused), not for the client.
                self._cutoff = self.loop.call_later(self.header_timeout, self._cut_off)
                return
            detail = f"the request's headers did not arrive within {self.header_timeout:.3g} s"
            log.info("%s: 408, connection closed", detail)
            status, title = REQUEST_TIMEOUT
            self._refuse(status, title, "request-timeout", detail)
        elif self._body_pending:
            self.transport.close()  # answered already; its unread body never came in whole

    def _refuse(self, status: int, title: str, code: str, detail: str) -> None:
        """A problem written straight to the connection, which is then closed."""
        body = problem_bytes(status, code, title, detail, None)
        head = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
            b"content-type: " + PROBLEM_JSON.encode(),
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
            *(name + b": " + value for name, value in (NO_STORE, *SECURITY_HEADERS)),
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()


def _too_many_connections(origins: frozenset[bytes]) -> Any:
    """The app of a connection past the cap: each request 503 `overloaded`, then closed."""
    status, title = HTTP_PROBLEMS["overloaded"]
    detail = f"too many connections open; retry in {RETRY_AFTER_SECONDS} s"

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        # Sent past the app, so its before_send hook: the security headers are added here.
        headers = [
            RETRY_AFTER,
            NO_STORE,
            *SECURITY_HEADERS,
            *cors_headers(origins, scope["headers"]),
        ]
        await send_problem(scope, send, status, "overloaded", title, detail, True, headers)

    return refuse
