"""The Litestar application: routes, dependencies, problem+json errors, lifespan.

`create_app` takes an already built runtime and, from entry points that run them, the
background workers (wiring happens at the entry points: api/cli.py, api/lambda_handler.py);
the lifespan opens the databases, then runs what it was given.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from api import openapi
from api.deps import DEPENDENCIES
from api.fast_path.strict_body import decode_body_strictly
from api.fast_path.survivors import frozen_survivors
from api.front_door import BodyFirst, cors_config, secure_answers
from api.observed import MetricsPage, Observed
from api.overload import InFlightLimit
from api.problems import EXCEPTION_HANDLERS, describe_problem_type, list_problem_types
from api.rate_limits import RateLimits
from api.routes.accounts import AccountController
from api.routes.booking import (
    HoldController,
    InventoryController,
    OrderController,
    PaymentWebhookController,
    TicketController,
)
from api.routes.catalog import (
    EventController,
    MediaController,
    PerformanceController,
    VenueController,
)
from api.routes.rehearsal import RehearsalController
from api.routes.search import SearchController
from booking.adapters.payments.simulated_gateway import http_sender
from booking.bootstrap import Runtime, Services
from booking.observability import prometheus_telemetry
from booking.observability.context import ACCOUNT_HASH
from booking.observability.meter import CatalogueTelemetry

WEBHOOK_PATH = "/api/v1/payments/webhook"


@get("/healthz", tags=["health"], sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


Seeder = Callable[[Services, datetime], Awaitable[object]]
Background = Callable[[Runtime], contextlib.AbstractAsyncContextManager[object]]
"""Work that runs beside the API for the app's lifetime (workers/local.py `background`)."""


def create_app(
    runtime: Runtime,
    background: Background | None = None,
    seed: Seeder | None = None,
    telemetry: CatalogueTelemetry | None = None,
) -> Litestar:
    """The app on `runtime`, running `background` beside it (the embedded runtime's
    workers); `seed` runs once the databases are open (demo data).

    Its figures go to `telemetry` (Lambda: EMF), by default to this process's Prometheus
    page, which it then serves at `/metrics` (`api/observed.py`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        if seed is not None:
            await seed(runtime.services, runtime.clock.now())
        async with contextlib.AsyncExitStack() as stack:
            if runtime.settings.public_url:
                runtime.gateway.attach(http_sender(runtime.settings.public_url + WEBHOOK_PATH))
            else:
                # No public URL: the gateway posts to this app in-process, still through HTTP
                # semantics (headers, status codes, the whole middleware stack).
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                    base_url="http://gateway.local",
                )
                await stack.enter_async_context(client)

                async def send(body: bytes, headers: dict[str, str]) -> int:
                    return (
                        await client.post(WEBHOOK_PATH, content=body, headers=headers)
                    ).status_code

                runtime.gateway.attach(send)
            if background is not None:
                await stack.enter_async_context(background(runtime))
            with frozen_survivors():  # api/fast_path/survivors.py
                yield
        await runtime.stop()

    state: dict[str, Any] = {
        "services": runtime.services,
        "rate_limits": RateLimits(runtime.services.rate_limiter, runtime.settings),
    }
    settings = runtime.settings
    body_first = BodyFirst(settings.limits.body_timeout_seconds, settings.limits.max_body_bytes)
    metrics: MetricsPage | None = None
    if telemetry is None:
        telemetry, page = prometheus_telemetry()
        metrics = MetricsPage(page, settings.metrics_token)
    # Every process of a stage shares the webhook secret: the same account, the same hash.
    ACCOUNT_HASH.set_key(settings.resolved_webhook_secret())
    app = Litestar(
        route_handlers=[
            healthz,
            list_problem_types,
            describe_problem_type,
            AccountController,
            VenueController,
            EventController,
            PerformanceController,
            MediaController,
            InventoryController,
            HoldController,
            OrderController,
            PaymentWebhookController,
            TicketController,
            SearchController,
            *([RehearsalController] if runtime.settings.rehearsal else []),
        ],
        dependencies=DEPENDENCIES,
        # A request's whole body first (or 408/413), then its place among those in progress.
        middleware=[body_first.middleware, InFlightLimit(settings.limits.max_in_flight).middleware],
        before_send=[secure_answers],
        cors_config=cors_config(settings.limits.cors_allowed_origins),
        before_request=decode_body_strictly,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        # The process's logging is the entry point's (booking/observability/logs.py, or
        # Powertools on Lambda): Litestar's default would replace the root logger's handlers.
        logging_config=None,
        state=State(state),
        request_max_body_size=runtime.settings.limits.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="K-ConcertBook API",
            version="1",
            description="Seats and standing places: holds, orders, payment, signed tickets.",
            components=openapi.COMPONENTS,
        ),
        # Every operation's problem answers, headers and bodies; unknown fields refused.
        plugins=[openapi.StrictStructs(), openapi.OpenApiTruth()],
    )
    # Outside the router, so 404s, 405s and what the middleware answers count too.
    app.asgi_handler = Observed(app.asgi_handler, telemetry, metrics)
    return app
