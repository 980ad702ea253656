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
- Its logs are Powertools' JSON and its figures CloudWatch EMF lines, written at the end
  of each invocation (`booking/observability/lambda_functions.py`); no `/metrics` page.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.types import LambdaContext

from api.app import create_app
from booking.lambda_environment import LambdaEnvironment
from booking.observability.lambda_functions import lambda_function, observability

# Mangum base64-encodes any body whose content type is not listed as text; errors are
# `application/problem+json`, which its default list (substring matches) does not cover.
TEXT_MIME_TYPES = [*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]

_environment = LambdaEnvironment()
_adapter: Mangum | None = None


def _adapter_for_this_environment() -> Mangum:
    """The Mangum adapter, building and starting the runtime on the first call."""
    global _adapter  # noqa: PLW0603 - cached per execution environment on purpose
    runtime = _environment.runtime()
    if _adapter is None:
        _adapter = Mangum(
            # Litestar's precise ASGI types vs Mangum's loose protocol: the same interface.
            create_app(  # type: ignore[arg-type]
                runtime, telemetry=observability("api").telemetry
            ),
            lifespan="off",
            text_mime_types=TEXT_MIME_TYPES,
        )
    return _adapter


@lambda_function("api")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An API Gateway (HTTP API, payload 2.0) event in, its response dict out."""
    return _adapter_for_this_environment()(event, context)


def close() -> None:
    """Stop the runtime and close the loop (tests, tools); Lambda never calls this."""
    global _adapter  # noqa: PLW0603 - resets the per-environment cache
    _adapter = None
    _environment.close()
