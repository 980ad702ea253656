"""Each Lambda entry point observed with AWS Lambda Powertools: `@lambda_function("api")`.

On the first invocation of an execution environment:
- logging: the root logger writes through Powertools' Logger (its JSON formatter, on
  stdout), in place of the runtime interface client's handler, so every module's
  `logging.getLogger(__name__)` lines are JSON with the function's keys (`service`, and
  per invocation `function_request_id`, `cold_start`, ...) and the work's `request_id` and
  `account_hash` (`WorkFilter`, as on `concertbook serve`);
- metrics: the process's telemetry reports to an `EmfRecorder`.

Every invocation then runs in a `WorkContext` named by the Lambda request id (the API's
requests get API Gateway's id from `api/observed.py` instead), inside a Powertools Tracer
subsegment when X-Ray traces the invocation (`_X_AMZN_TRACE_ID`: Lambda sets it; the
emulator and tests do not), and its EMF lines are written before it returns, whatever
happened.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Tracer

from booking.domain.telemetry import TELEMETRY
from booking.observability.context import working_on
from booking.observability.emf import EmfRecorder
from booking.observability.logs import WorkFilter
from booking.observability.meter import CatalogueTelemetry

R = TypeVar("R")
Handler = Callable[[Any, Any], R]


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stdout` as it is when a line is written, not as it was when the
    handler was made: whoever replaces stdout later (a test's capture, a tool embedding the
    handler) still gets the lines. On Lambda both are the same stream."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


# One per service: Powertools keeps the first handler of a service's logger and reuses it
# (with its formatter) for every later Logger of that service in the process.
_handlers: dict[str, StdoutHandler] = {}


class LambdaObservability:
    """What one execution environment sets up once (module docstring)."""

    def __init__(self, function: str) -> None:
        service = os.environ.get("POWERTOOLS_SERVICE_NAME") or f"concertbook-{function}"
        stdout = _handlers.setdefault(service, StdoutHandler())
        self.logger = Logger(service=service, use_rfc3339=True, logger_handler=stdout)
        handler = self.logger.registered_handler
        if not any(isinstance(f, WorkFilter) for f in handler.filters):
            handler.addFilter(WorkFilter())
        root = logging.getLogger()
        for old in list(root.handlers):  # the runtime interface client's: lines twice else
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
        self.recorder = EmfRecorder()
        self.telemetry = CatalogueTelemetry(self.recorder)
        # Patching every library X-Ray knows would trace calls made outside any segment
        # (a background task, a cached client's first call): only the handler is traced.
        self.tracer = Tracer(service=service, auto_patch=False)
        self._cold = True

    def invocation_keys(self, context: Any) -> dict[str, Any]:
        """The Lambda context's keys for every line of an invocation, named as Powertools'
        `inject_lambda_context` names them, but read leniently (a tool's or a test's context
        may lack some): logging never fails an invocation."""
        cold, self._cold = self._cold, False
        return {
            "cold_start": cold,
            "function_name": getattr(context, "function_name", None),
            "function_memory_size": getattr(context, "memory_limit_in_mb", None),
            "function_arn": getattr(context, "invoked_function_arn", None),
            "function_request_id": getattr(context, "aws_request_id", None),
        }


_environment: LambdaObservability | None = None


def observability(function: str) -> LambdaObservability:
    """This execution environment's, set up on first use; installed as its telemetry."""
    global _environment  # noqa: PLW0603 - once per execution environment
    if _environment is None:
        _environment = LambdaObservability(function)
    TELEMETRY.install(_environment.telemetry)
    return _environment


def lambda_function(function: str) -> Callable[[Handler[R]], Handler[R]]:
    """The decorator of a Lambda entry point `handler(event, context)`."""

    def wrap(handler: Handler[R]) -> Handler[R]:
        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> R:
            observed = observability(function)

            def run(event: Any, context: Any) -> R:
                with working_on(getattr(context, "aws_request_id", "") or "-"):
                    return handler(event, context)

            observed.logger.append_keys(**observed.invocation_keys(context))
            try:
                if os.environ.get("_X_AMZN_TRACE_ID"):
                    traced = observed.tracer.capture_lambda_handler(run, capture_response=False)
                    result: R = traced(event, context)
                    return result
                return run(event, context)
            finally:
                observed.recorder.flush()

        return invoke

    return wrap
