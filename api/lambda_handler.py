"""AWS Lambda entry point: the API behind API Gateway (HTTP API, payload format 2.0).

The container image runs `python -m awslambdaric api.lambda_handler.handler`; the
runtime interface client imports this module once per execution environment and
calls `handler` for each invocation, one at a time. Importing builds nothing: the
runtime (stores, clients, keys) is built on the first invocation from
`CONCERTBOOK_*` variables and kept in module globals, so every later invocation
of the same (thawed) environment reuses it.

Differences from `concertbook serve`, all deliberate:

- Mangum runs with `lifespan="off"`: its default runs the ASGI lifespan around
  *every* invocation, which would open and close the databases each time. The
  lifespan's work that matters here (`runtime.start()`) is done once, below.
- No background workers (`run_background=False`): a Lambda process is frozen
  between invocations, so a worker loop would never get to run. On AWS the outbox
  is consumed by its own functions (DynamoDB Streams, SQS).
- No webhook sender is attached to the gateway: the simulated gateway delivers
  webhooks from a background loop, which cannot run here either. Its events stay
  queued in its own store; a real gateway posts them to `POST /api/v1/payments/webhook`
  like any client, and that endpoint captures the payment and issues the tickets
  inline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.types import LambdaContext

from api.app import create_app
from booking.bootstrap import Runtime, build_runtime
from booking.settings import Settings

# Mangum base64-encodes any body whose content type is not listed as text; errors are
# `application/problem+json`, which its default list (substring matches) does not cover.
TEXT_MIME_TYPES = [*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]

# One event loop for the life of the execution environment. Everything the runtime
# creates (executor futures, asyncio events, the aws runtime's aiobotocore and Redis
# connections) belongs to the loop it was created on, so `asyncio.run` per invocation,
# which makes a fresh loop and closes it afterwards, would leave the cached runtime tied
# to a closed loop from the second invocation on. Lambda freezes the whole process
# between invocations and thaws it for the next one: the loop simply sits idle
# (`run_until_complete` has returned), and picks up where it was.
_loop: asyncio.AbstractEventLoop | None = None
_runtime: Runtime | None = None
_adapter: Mangum | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop  # noqa: PLW0603 - cached per execution environment on purpose
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    # Mangum runs each request on `asyncio.get_event_loop()`: make ours the current one
    # (again, in case something in the process, such as `asyncio.run`, unset it).
    asyncio.set_event_loop(_loop)
    return _loop


def _adapter_for_this_environment() -> Mangum:
    """The Mangum adapter, building and starting the runtime on the first call."""
    global _runtime, _adapter  # noqa: PLW0603 - cached per execution environment on purpose
    loop = _event_loop()
    if _adapter is not None:
        return _adapter
    runtime = build_runtime(Settings.from_env())
    loop.run_until_complete(runtime.start())
    # Cached only once started: a failed start is retried by the next invocation.
    _runtime = runtime
    _adapter = Mangum(
        # Litestar's precise ASGI types vs Mangum's loose protocol: the same interface.
        create_app(runtime, run_background=False),  # type: ignore[arg-type]
        lifespan="off",
        text_mime_types=TEXT_MIME_TYPES,
    )
    return _adapter


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An API Gateway (HTTP API, payload 2.0) event in, its response dict out."""
    return _adapter_for_this_environment()(event, context)


def close() -> None:
    """Stop the runtime and close the loop (tests, tools). Lambda never calls this: an
    execution environment is frozen after each invocation and eventually discarded."""
    global _loop, _runtime, _adapter  # noqa: PLW0603 - resets the per-environment cache
    runtime, loop = _runtime, _loop
    _runtime = _adapter = _loop = None
    if loop is None or loop.is_closed():
        return
    try:
        if runtime is not None:
            loop.run_until_complete(runtime.stop())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
