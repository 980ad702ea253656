"""Every request observed: its id, its log context, its figures; and the `/metrics` page.

`Observed` wraps the app's ASGI handler inside Litestar (as its OpenTelemetry plugin
does), so it sees every HTTP request before routing — 404s and 405s, the 408/413 of the
front door and the 503 of the in-flight limit included — and, once answered, the route
template the router found. Per request:

- the request id: a sane incoming `X-Request-Id` (1-128 characters of `[A-Za-z0-9._:/+=-]`),
  else API Gateway's request id on Lambda, else a new one; echoed as `X-Request-Id`;
- a `WorkContext` for the request's task, so every line it logs carries the id and, once
  the caller is known, the account's hash (`booking/observability/context.py`);
- `HttpRequests`/`HttpErrors` by route template, method and status class and the
  `RequestLatency` histogram (`booking/observability/catalogue.py`).

It costs a request about 5.5 µs of CPU (measured in process through the whole app:
`GET /healthz` 17 → 22.6 µs), a hold attempt some 250 µs.

`GET /metrics` (a long-running process only) is the Prometheus page. Its figures are
aggregates — route templates, status classes, reasons, never an account or a raw path —
but they are business figures (tickets sold, holds refused), so it is not public: with
`CONCERTBOOK_METRICS_TOKEN` set it needs `Authorization: Bearer <token>`, without it only a
loopback peer with no forwarding header (`X-Forwarded-For`, `Forwarded`: a proxy on the
same host forwarding an outsider) gets it. Anyone else gets the 404 of an unknown route.
It is the operator's endpoint, not the API's, so the OpenAPI document does not list it.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import HTTP_PROBLEMS, send_problem
from booking.observability.context import (
    CURRENT,
    REQUEST_ID_HEADER,
    WorkContext,
    new_request_id,
    sane_request_id,
)
from booking.observability.meter import CatalogueTelemetry
from booking.observability.prometheus import CONTENT_TYPE, PrometheusPage

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
"""The route of a request no route matched (a 404 or 405 of the router)."""
_FORWARDED = (b"x-forwarded-for", b"forwarded")


class MetricsPage:
    """Who may read the Prometheus page, and the page itself."""

    def __init__(self, page: PrometheusPage, token: str | None) -> None:
        self.page = page
        self._expected = None if not token else b"bearer " + token.encode()

    def allowed(self, scope: Any) -> bool:
        headers = scope["headers"]
        if self._expected is not None:
            for name, value in headers:
                if name == b"authorization":
                    presented = value[:7].lower() + value[7:]
                    return hmac.compare_digest(presented, self._expected)
            return False
        client = scope.get("client")
        if not client or not _loopback(client[0]) or "aws.event" in scope:
            return False
        return not any(name in _FORWARDED for name, _ in headers)

    async def answer(self, scope: Any, send: Send) -> None:
        if not self.allowed(scope):
            status, title = HTTP_PROBLEMS["route-not-found"]
            await send_problem(scope, send, status, "route-not-found", title, "no such endpoint")
            return
        if scope["method"] not in ("GET", "HEAD"):
            status, title = HTTP_PROBLEMS["method-not-allowed"]
            detail = "the metrics page answers GET"
            await send_problem(
                scope, send, status, "method-not-allowed", title, detail, headers=[ALLOW_GET]
            )
            return
        body = self.page.render()
        start: Any = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
        await send(start)
        if scope["method"] == "HEAD":
            body = b""
        end: Any = {"type": "http.response.body", "body": body}
        await send(end)


ALLOW_GET = (b"allow", b"GET, HEAD")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request_id(scope: Any) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            incoming = sane_request_id(value)
            if incoming is not None:
                return incoming
            break
    event = scope.get("aws.event")
    if event is not None:  # API Gateway's own id: its access log and ours then match
        request_id = event.get("requestContext", {}).get("requestId")
        if isinstance(request_id, str) and request_id:
            return request_id
    return new_request_id()


class Observed:
    """The ASGI wrapper (module docstring)."""

    def __init__(
        self, app: ASGIApp, telemetry: CatalogueTelemetry, metrics: MetricsPage | None
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.metrics = metrics

    async def __call__(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope: Any = asgi_scope
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.metrics is not None and scope["path"] == METRICS_PATH:
            await self.metrics.answer(scope, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        echoed = (REQUEST_ID_HEADER, request_id.encode())
        status = 500  # unless an answer starts: the app failed before it could say anything

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = CURRENT.set(WorkContext(request_id))
        try:
            await self.app(scope, receive, observed_send)
        finally:
            CURRENT.reset(token)
            route: Any = scope.get("path_template") or UNMATCHED
            self.telemetry.http_answered(
                route, scope["method"], status, time.perf_counter() - started
            )
