"""RFC 9457 problem+json for every error: one table from error to status, one handler.

`type` is `/problems/<code>`: stable, and served by this API as a description. Every
problem's body is `problem_body`'s: sent as a Litestar `Response` by the handlers here, as
raw ASGI messages (`send_problem`) by the front door's middleware, which answers before
the app, and by the hold route's own answers (api/fast_path/answers.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.params import FromPath
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import Scope, Send

from booking.domain import errors as e

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS: dict[type[e.DomainError], int] = {
    e.InvalidRequest: 422,
    e.NotFound: 404,
    e.AuthenticationRequired: 401,
    e.InvalidCredentials: 401,
    e.Forbidden: 403,
    e.EmailTaken: 409,
    e.Conflict: 409,
    e.SeatsUnavailable: 409,
    e.SaleNotOpen: 409,
    e.LimitExceeded: 409,
    e.HoldExpired: 410,
    e.HoldNotActive: 409,
    e.OrderExpired: 410,
    e.OrderNotPayable: 409,
    e.PaymentInProgress: 409,
    e.IdempotencyKeyReused: 422,
    e.IdempotencyKeyRequired: 400,
    e.InvalidSignature: 401,
    e.PaymentGatewayUnavailable: 503,
    e.StoreUnavailable: 503,
    e.WeakPassword: 422,
    e.RateLimited: 429,
}

# Errors raised by the HTTP layer itself, with their own stable codes.
HTTP_PROBLEMS: dict[str, tuple[int, str]] = {
    "invalid-body": (400, "The request body or parameters are malformed or do not fit the schema"),
    "body-too-large": (413, "The request body is larger than this endpoint accepts"),
    "request-timeout": (408, "The request's headers or body did not arrive in time"),
    "route-not-found": (404, "No such endpoint"),
    "method-not-allowed": (405, "This endpoint does not support the method"),
    "internal-error": (500, "Something failed on our side; it has been logged"),
    "overloaded": (503, "Too many requests in progress; retry after the given delay"),
}


def problem_body(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }


def problem(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> Response[dict[str, Any]]:
    body = problem_body(status, code, title, detail, instance, **extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status in (429, 503):  # a rate limit says when; shed early, back in a second
        headers = {"Retry-After": str(extra.get("retry_after", 1))}
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_bytes(status: int, code: str, title: str, detail: str, instance: str | None) -> bytes:
    """The problem's JSON; `instance` None for an answer to no request in particular."""
    body = problem_body(status, code, title, detail, instance or "")
    if instance is None:
        del body["instance"]
    return json.dumps(body).encode()


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    close: bool = False,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A problem+json answer sent as ASGI messages; `close`: the connection is closed after it
    (its body was left unread). Lambda has no connection to close."""
    body = problem_bytes(status, code, title, detail, scope["path"])
    start_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if close and "aws.event" not in scope:
        start_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def status_of(error: e.DomainError | type[e.DomainError]) -> int:
    for cls in (error if isinstance(error, type) else type(error)).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def domain_error_handler(request: Request[Any, Any, Any], exc: e.DomainError) -> Response[Any]:
    return problem(status_of(exc), exc.code, exc.title, exc.detail, request.url.path, **exc.extra)


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    status, title = HTTP_PROBLEMS["invalid-body"]
    errors = [_as_sent(request, e) for e in exc.extra] if isinstance(exc.extra, list) else []
    detail = exc.detail
    if errors and isinstance(errors[0], dict) and errors[0].get("message"):
        detail = f"{exc.detail}: {errors[0]['message']}"
    return problem(status, "invalid-body", title, detail, request.url.path, errors=errors)


def _as_sent(request: Request[Any, Any, Any], error: object) -> object:
    """A parameter's error under the name the client sent (`?state=`), not the handler's
    name for it (`only`: `state` is taken by Litestar's own injection)."""
    if not isinstance(error, dict) or error.get("source") not in ("query", "header", "cookie"):
        return error
    field = request.route_handler.parsed_fn_signature.parameters.get(error.get("key", ""))
    sent = getattr(field.kwarg_definition, "name", None) if field is not None else None
    return {**error, "key": sent} if isinstance(sent, str) and sent else error


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code = {
        400: "invalid-body",
        404: "route-not-found",
        405: "method-not-allowed",
        413: "body-too-large",
    }.get(exc.status_code, f"http-{exc.status_code}")
    title = HTTP_PROBLEMS.get(code, (exc.status_code, exc.detail))[1]
    headers = dict(exc.headers or {})
    response = problem(exc.status_code, code, title, exc.detail, request.url.path)
    response.headers.update(headers)
    return response


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc, extra={"path": request.url.path})
    status, title = HTTP_PROBLEMS["internal-error"]
    return problem(status, "internal-error", title, "internal error", request.url.path)


EXCEPTION_HANDLERS = {
    e.DomainError: domain_error_handler,
    ValidationException: validation_handler,
    NotFoundException: http_error_handler,
    HTTPException: http_error_handler,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
    Exception: internal_error_handler,
}


def _catalogue() -> dict[str, dict[str, Any]]:
    entries = {cls.code: {"title": cls.title, "status": s} for cls, s in STATUS.items()}
    entries.update({code: {"title": t, "status": s} for code, (s, t) in HTTP_PROBLEMS.items()})
    return entries


@get("/problems", media_type=MediaType.JSON, tags=["problems"], sync_to_thread=False)
def list_problem_types() -> dict[str, dict[str, Any]]:
    """Every problem `type` this API returns, with its title and HTTP status."""
    return _catalogue()


@get("/problems/{code:str}", media_type=MediaType.JSON, tags=["problems"], sync_to_thread=False)
def describe_problem_type(code: FromPath[str]) -> dict[str, Any]:
    entry = _catalogue().get(code)
    if entry is None:
        raise e.NotFound("problem type", code)
    return {"type": f"/problems/{code}", **entry}
