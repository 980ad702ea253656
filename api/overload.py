"""Shed load early: past a bound on requests in progress, answer 503 + Retry-After at once.

Without a bound, an onsale's excess queues inside the server and every fan waits longer
and longer until clients time out and retry, which only adds load. With it, the requests
being served keep their latency and the rest learn in microseconds to come back in a
second (the rehearsal's overload run measures both). One counter per process, shared by
every route; probes and documentation (outside /api/) are never shed. A request counts
only once its whole body has arrived (`api/front_door.py` waits for it first): a client
trickling its body holds a connection, not a place.

Checkout goes first: browsing and hold attempts are shed once three quarters of the
bound are in use, so a fan who already holds places can still order and pay while the
crowd still hunting for seats is turned away — otherwise holds lapse in the queue and
the places are sold twice over in time, not in the store.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from api.problems import HTTP_PROBLEMS, send_problem

RETRY_AFTER_SECONDS = 1
RETRY_AFTER = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
_STATUS, _TITLE = HTTP_PROBLEMS["overloaded"]
OVERLOADED = (
    _STATUS,
    "overloaded",
    _TITLE,
    f"too many requests in progress; retry in {RETRY_AFTER_SECONDS} s",
)
"""The shed answer's status, code, title and detail."""


CHECKOUT_PREFIXES = ("/api/v1/orders", "/api/v1/payments", "/api/v1/holds/")
"""Orders, payments (and their webhook), and a fan's own holds: the paths of someone
who already has places."""
CHECKOUT_SHARE = 0.25
"""Of the bound, kept for checkout: browsing stops at the rest."""


class InFlightLimit:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.browsing_limit = max(1, limit - max(1, int(limit * CHECKOUT_SHARE)))
        self.in_flight = 0

    def bound_for(self, path: str) -> int:
        return self.limit if path.startswith(CHECKOUT_PREFIXES) else self.browsing_limit

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """A Litestar middleware factory; every route's instance shares this counter."""

        async def shed_or_serve(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or not scope["path"].startswith("/api/"):
                await app(scope, receive, send)
                return
            if self.in_flight >= self.bound_for(scope["path"]):
                await send_problem(scope, send, *OVERLOADED, headers=[RETRY_AFTER])
                return
            self.in_flight += 1
            try:
                await app(scope, receive, send)
            finally:
                self.in_flight -= 1

        return shed_or_serve
