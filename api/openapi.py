"""The OpenAPI document tells the whole truth: every problem an operation can answer, the
headers it needs, the bodies it takes, and which fields it refuses.

Each operation's problems come from one table, `RAISES` (the domain errors its use case
can raise, read from the services and stores), plus what follows from the handler itself:

- every `/api/` operation may be shed with `503 overloaded` (api/overload.py);
- an operation that needs a bearer token (an `account` dependency) or accepts one (a
  `viewer`) may answer `401 authentication-required`;
- a JSON body decoded strictly, or query parameters, may give `400 invalid-body`; any
  accepted body `413 body-too-large` and `408 request-timeout` (api/front_door.py);
- an operation that reads an `Idempotency-Key` (`IDEMPOTENCY_KEY`) documents the header, and
  `400 idempotency-key-required` where it is required;
- the rate-limited operations (`RATE_LIMITED`) may answer `429 rate-limited`.

The statuses come from api/problems.py, so an error's status is written down once. Every
problem answer is `application/problem+json` with the shared `Problem` schema, narrowed per
status to the `type`s that operation can give. `tests/integration/test_openapi.py` keeps the
tables in step with the routes and the request bodies in step with what the strict decoder enforces.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from litestar import Response
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, Example, Operation, Schema, SecurityScheme
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.typing import FieldDefinition

from api.deps import IDEMPOTENCY_KEY_PATTERN
from api.fast_path.strict_body import json_schema
from api.problems import HTTP_PROBLEMS, PROBLEM_JSON, status_of
from booking.domain import errors as e
from booking.domain.payments import WebhookEvent

API_PREFIX = "/api/"


class ProblemError(msgspec.Struct, frozen=True):
    """One reason a body or parameter was refused."""

    message: str
    key: str = ""
    """The field or parameter, where known."""
    source: str = ""
    """`body`, `query`, `header` or `cookie`, where known."""


class Problem(msgspec.Struct, frozen=True):
    """RFC 9457 problem details. `type` is `/problems/<code>`, described by `GET` on it;
    the members below `instance` appear only with the problems that carry them."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemError] = []
    """invalid-body: what was refused, one entry per reason."""
    taken: list[str] = []
    """seats-unavailable: the requested seats another hold or order has."""
    ga_short: dict[str, int] = {}
    """seats-unavailable: per standing zone, how many places short of the request."""
    unknown: list[str] = []
    """invalid-request: seats or zones the performance does not have."""
    resource: str = ""
    """not-found: the kind of thing that was looked up."""
    field: str = ""
    """invalid-request: the body field that was refused, where one was."""
    parameter: str = ""
    """invalid-request: the query parameter that was refused, where one was."""
    rule: str = ""
    """weak-password: the rule of the password policy the password breaks."""
    retry_after: int = 0
    """rate-limited: whole seconds until a request would be let through (as Retry-After)."""


STORE = (e.StoreUnavailable,)
IDEMPOTENT = (e.IdempotencyKeyReused, e.InvalidRequest)
"""A key that was used with another request (422), or is not 1–255 printable characters."""

RAISES: dict[str, tuple[type[e.DomainError], ...]] = {
    "GET /healthz": (),
    "GET /problems": (),
    "GET /problems/{code}": (e.NotFound,),
    "GET /media/{key}": (e.NotFound, *STORE),
    # -- accounts
    "POST /api/v1/accounts": (e.WeakPassword, e.EmailTaken, *STORE),
    # RateLimited: the account's back-off after failed log-ins, as well as the route's limit.
    "POST /api/v1/sessions": (e.InvalidCredentials, e.RateLimited, *STORE),
    "DELETE /api/v1/sessions/current": STORE,
    "GET /api/v1/me": STORE,
    "POST /api/v1/rehearsal/fans": (e.Forbidden, e.InvalidRequest, *STORE),
    # -- venues: private, so another organizer's venue is not found (and a fan has none)
    "POST /api/v1/venues": (e.Forbidden, e.InvalidRequest, *IDEMPOTENT, *STORE),
    "GET /api/v1/venues": (e.Forbidden, *STORE),
    "GET /api/v1/venues/{venue_id}": (e.NotFound, *STORE),
    "PATCH /api/v1/venues/{venue_id}": (e.NotFound, e.InvalidRequest, e.Conflict, *STORE),
    "DELETE /api/v1/venues/{venue_id}": (e.NotFound, e.Conflict, *STORE),
    # -- events and performances
    "POST /api/v1/events": (e.Forbidden, *IDEMPOTENT, *STORE),
    "GET /api/v1/events": (e.Forbidden, *STORE),
    "GET /api/v1/events/{event_id}": (e.NotFound, *STORE),
    "PATCH /api/v1/events/{event_id}": (e.NotFound, e.Conflict, *STORE),
    "DELETE /api/v1/events/{event_id}": (e.NotFound, e.Conflict, *STORE),
    "POST /api/v1/events/{event_id}/performances": (
        e.NotFound,
        e.InvalidRequest,
        *IDEMPOTENT,
        *STORE,
    ),
    "GET /api/v1/events/{event_id}/performances": (e.NotFound, *STORE),
    "PUT /api/v1/events/{event_id}/poster": (e.NotFound, e.InvalidRequest, e.Conflict, *STORE),
    "POST /api/v1/events/{event_id}/poster-uploads": (e.NotFound, *STORE),
    "GET /api/v1/performances/{performance_id}": (e.NotFound, *STORE),
    "PATCH /api/v1/performances/{performance_id}": (
        e.NotFound,
        e.InvalidRequest,
        e.Conflict,
        *STORE,
    ),
    "DELETE /api/v1/performances/{performance_id}": (e.NotFound, e.Conflict, *STORE),
    # -- inventory and holds
    "GET /api/v1/performances/{performance_id}/availability": (e.NotFound, *STORE),
    "GET /api/v1/performances/{performance_id}/sales": (e.NotFound, *STORE),
    "GET /api/v1/performances/{performance_id}/seats": (e.NotFound, *STORE),
    "POST /api/v1/performances/{performance_id}/holds": (
        # The route reads the caller itself, so its token is declared here.
        e.AuthenticationRequired,
        e.Forbidden,
        e.NotFound,
        e.InvalidRequest,
        e.SaleNotOpen,
        e.SeatsUnavailable,
        e.LimitExceeded,
        *IDEMPOTENT,
        *STORE,
    ),
    "GET /api/v1/holds/{hold_id}": (e.NotFound, *STORE),
    "POST /api/v1/holds/{hold_id}/release": (e.NotFound, e.HoldExpired, e.HoldNotActive, *STORE),
    # -- orders, payments, tickets
    "POST /api/v1/orders": (
        e.NotFound,
        e.HoldExpired,
        e.HoldNotActive,
        e.Conflict,
        *IDEMPOTENT,
        *STORE,
    ),
    "GET /api/v1/orders": STORE,
    "GET /api/v1/orders/{order_id}": (e.NotFound, *STORE),
    "POST /api/v1/orders/{order_id}/cancel": (e.NotFound, e.Conflict, e.OrderExpired, *STORE),
    "POST /api/v1/orders/{order_id}/payments": (
        e.NotFound,
        e.OrderExpired,
        e.OrderNotPayable,
        e.PaymentInProgress,
        *IDEMPOTENT,
        e.PaymentGatewayUnavailable,
        *STORE,
    ),
    "GET /api/v1/orders/{order_id}/payments": (e.NotFound, *STORE),
    "GET /api/v1/orders/{order_id}/tickets": (e.NotFound, *STORE),
    "POST /api/v1/payments/webhook": (
        e.InvalidSignature,
        e.InvalidRequest,
        e.NotFound,
        e.Conflict,
        *STORE,
    ),
    "POST /api/v1/payments/provider-webhook": (
        e.InvalidSignature,
        e.InvalidRequest,
        e.NotFound,
        e.Conflict,
        e.PaymentGatewayUnavailable,
        *STORE,
    ),
    "GET /api/v1/tickets": STORE,
    "GET /api/v1/tickets/public-key": (),
    "POST /api/v1/tickets/verify": (e.InvalidRequest,),
    "GET /api/v1/tickets/{ticket_id}": (e.NotFound, *STORE),
    "GET /api/v1/search/concerts": (e.InvalidRequest, *STORE),
}
"""Per operation (`METHOD /path`), the domain errors its use case can raise."""

IDEMPOTENCY_KEY: dict[str, bool] = {
    "POST /api/v1/venues": False,
    "POST /api/v1/events": False,
    "POST /api/v1/events/{event_id}/performances": False,
    "POST /api/v1/performances/{performance_id}/holds": True,
    "POST /api/v1/orders": True,
    "POST /api/v1/orders/{order_id}/payments": True,
}
"""The operations that read an `Idempotency-Key` (`api.deps.idempotency`): required or not."""

RATE_LIMITED = frozenset(
    {
        "POST /api/v1/sessions",
        "POST /api/v1/accounts",
        "POST /api/v1/performances/{performance_id}/holds",
        "POST /api/v1/orders",
        "POST /api/v1/orders/{order_id}/payments",
    }
)
"""The operations a client may be told to slow down on (`429 rate-limited`, api/rate_limits.py)."""

RAW_BODIES: dict[str, dict[str, Any]] = {
    "PUT /api/v1/events/{event_id}/poster": {
        media: {"schema": {"type": "string", "contentMediaType": media}}
        for media in ("image/jpeg", "image/png", "image/webp")
    },
    "POST /api/v1/payments/webhook": {"application/json": {"schema": None}},
    # The provider's own format (Toss: `{eventType, createdAt, data}`), read by its adapter.
    "POST /api/v1/payments/provider-webhook": {"application/json": {"schema": {"type": "object"}}},
}
"""Bodies a route reads itself, as bytes: documented here, since no `data` names them."""

WEBHOOK_SIGNATURE = {
    "name": "Webhook-Signature",
    "in": "header",
    "required": True,
    "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>` with the shared "
    "secret; a missing, stale or wrong signature is a 401",
    "schema": {"type": "string", "maxLength": 1024},
}

MEDIA = "GET /media/{key}"
MEDIA_HEADERS = {
    "ETag": {"required": True, "schema": {"type": "string"}},
    "Cache-Control": {"required": True, "schema": {"type": "string"}},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of a copy you have: 304 if it is still this media",
    "schema": {"type": "string"},
}

BEARER = "bearer"
REQUIRED, OPTIONAL = "required", "optional"
"""Whether an operation needs a bearer token or accepts one."""
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="A session token from `POST /api/v1/sessions`",
        )
    }
)


def operation_key(method: str, path_format: str) -> str:
    return f"{method} {path_format}"


def problems(
    key: str,
    *,
    token: str | None,
    strict_body: bool,
    body: bool,
    query: bool,
) -> dict[int, dict[str, str]]:
    """Per status, the problem codes (with their titles) the operation `key` can answer.

    `token`: "required", "optional" or None; `strict_body`: a JSON body decoded strictly;
    `body`: any body accepted; `query`: query parameters parsed."""
    found: dict[int, dict[str, str]] = {}

    def add(status: int, code: str, title: str) -> None:
        found.setdefault(status, {})[code] = title

    def add_http(code: str) -> None:
        if code in HTTP_PROBLEMS:
            status, title = HTTP_PROBLEMS[code]
            add(status, code, title)

    raised: Iterable[type[e.DomainError]] = RAISES.get(key, ())
    if token is not None:
        raised = (e.AuthenticationRequired, *raised)
    if IDEMPOTENCY_KEY.get(key):
        raised = (*raised, e.IdempotencyKeyRequired)
    if key in RATE_LIMITED:
        raised = (*raised, e.RateLimited)
    for error in raised:
        add(status_of(error), error.code, error.title)
    if strict_body or query:
        add_http("invalid-body")
    if body:
        add_http("body-too-large")
        add_http("request-timeout")
    path = key.split(" ", 1)[1]
    if path.startswith(API_PREFIX):
        add_http("overloaded")
    return found


def _example(status: int, code: str, title: str, path: str) -> Example:
    value = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": title,
        "instance": path,
    }
    return Example(id=code, summary=title, value=value)


def _responses(handler: HTTPRouteHandler, found: dict[int, dict[str, str]], path: str) -> Any:
    specs: dict[int, ResponseSpec] = {
        status: ResponseSpec(
            Problem,
            generate_examples=False,
            description=", ".join(f"`{code}`" for code in codes) + ": see `/problems/<code>`",
            media_type=PROBLEM_JSON,
            examples=[_example(status, code, title, path) for code, title in codes.items()],
        )
        for status, codes in sorted(found.items())
    }
    return {**specs, **(handler.responses or {})}


class StrictStructs(StructSchemaPlugin):
    """msgspec Structs as Litestar documents them, and also: `additionalProperties: false`
    where a Struct refuses unknown fields (as the strict decoder does), and the `Problem`
    members that are left out when they do not apply shown without defaults."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        struct = field_definition.type_
        return bool(struct is Problem or struct.__struct_config__.forbid_unknown_fields)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Any:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_ is Problem:
            for member in (schema.properties or {}).values():
                if hasattr(member, "default"):
                    member.default = None
            schema.description = Problem.__doc__
        else:
            schema.additional_properties = False
            _document_item_constraints(field_definition.type_, schema)
        return schema


def _document_item_constraints(struct: type[msgspec.Struct], schema: Schema) -> None:
    """Litestar documents a field's own `Annotated` constraints but drops those of its items
    (`list[Annotated[str, Meta(min_length=1)]]` comes out as `items: {type: string}`); the
    strict decoder enforces them, so they are written onto the items here."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        for array_type in _array_types(field.type):
            constraints = _constraints(array_type.item_type)
            for array in _array_schemas((schema.properties or {}).get(field.encode_name)):
                for name, value in constraints.items():
                    if isinstance(array.items, Schema):
                        setattr(array.items, name, value)


def _array_types(type_info: msgspec.inspect.Type) -> list[msgspec.inspect.ListType]:
    if isinstance(type_info, msgspec.inspect.UnionType):
        return [t for t in type_info.types if isinstance(t, msgspec.inspect.ListType)]
    return [type_info] if isinstance(type_info, msgspec.inspect.ListType) else []


def _array_schemas(schema: Any) -> list[Schema]:
    if not isinstance(schema, Schema):
        return []
    if schema.type == OpenAPIType.ARRAY:
        return [schema]
    branches = [*(schema.one_of or ()), *(schema.any_of or ())]
    return [array for branch in branches for array in _array_schemas(branch)]


_SCHEMA_NAMES = {
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusive_minimum",
    "lt": "exclusive_maximum",
    "multiple_of": "multiple_of",
}


def _constraints(item: msgspec.inspect.Type) -> dict[str, Any]:
    """The constraints of a string or number type, by their names on Litestar's `Schema`."""
    if not isinstance(
        item, msgspec.inspect.StrType | msgspec.inspect.IntType | msgspec.inspect.FloatType
    ):
        return {}
    return {
        _SCHEMA_NAMES[name]: getattr(item, name)
        for name in _SCHEMA_NAMES
        if getattr(item, name, None) is not None
    }


class OpenApiTruth(ReceiveRoutePlugin):
    """Gives every route its problem answers, headers and bodies as routes are registered,
    and makes `OPTIONS` on each path answer every method of that path."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if "OPTIONS" in handler.http_methods and handler.handler_name == "options_handler":
                _allow_every_method(route, handler)
                continue
            documented = getattr(handler.operation_class, "truthful", False)
            if not handler.resolve_include_in_schema() or documented:
                continue  # a route merged again keeps what it was given the first time
            (method,) = handler.http_methods
            key = operation_key(method, route.path_format)
            _document(handler, key, route.path_format)


def _allow_every_method(route: HTTPRoute, handler: HTTPRouteHandler) -> None:
    """Litestar 2 builds a path's automatic OPTIONS handler for the first handler registered
    on it and keeps it when more handlers of the path are merged in: its `Allow` then names
    that one handler's methods (litestar#4169, fixed in 3). Answered from the whole route."""
    allow = ", ".join(sorted(route.methods))

    def options_handler(scope: Any) -> Response[None]:  # sync, as the handler it replaces
        return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allow})

    handler._fn = options_handler  # type: ignore[assignment]


def _document(handler: HTTPRouteHandler, key: str, path: str) -> None:
    parameters = handler.parsed_fn_signature.parameters
    token = (
        REQUIRED
        if "account" in parameters or e.AuthenticationRequired in RAISES.get(key, ())
        else OPTIONAL
        if "viewer" in parameters
        else None
    )
    strict_body = "data" in parameters or getattr(handler.operation_class, "body", None)
    query = any(
        name not in {"data", "account", "viewer", "services", "request"}
        and name not in _path_names(path)
        for name in parameters
    )
    raw = RAW_BODIES.get(key)
    found = problems(
        key,
        token=token,
        strict_body=bool(strict_body),
        body=bool(strict_body or raw),
        query=query,
    )
    handler.responses = _responses(handler, found, path)
    handler.operation_class = _truthful(handler.operation_class, key, found, token, raw)


def _path_names(path: str) -> set[str]:
    return {part[1:-1] for part in path.split("/") if part.startswith("{")}


def _truthful(
    base: type[Operation],
    key: str,
    found: dict[int, dict[str, str]],
    token: str | None,
    raw: dict[str, Any] | None,
) -> type[Operation]:
    idempotency = IDEMPOTENCY_KEY.get(key)

    class Truthful(base):  # type: ignore[valid-type,misc]
        truthful = True

        def to_schema(self) -> dict[str, Any]:
            result: dict[str, Any] = super().to_schema()
            responses: dict[str, Any] = result["responses"]
            for answer in [s for s in responses if s.isdigit() and int(s) >= 400]:
                if int(answer) not in found:  # Litestar's own guess of a 400, untrue here
                    del responses[answer]
            for status, codes in found.items():
                _narrow(responses[str(status)], status, codes)
            parameters: list[dict[str, Any]] = result.setdefault("parameters", [])
            if idempotency is not None:
                parameters.append(_idempotency_key(required=idempotency))
            if key == "POST /api/v1/payments/webhook":
                parameters.append(WEBHOOK_SIGNATURE)
            if key == MEDIA:
                parameters.append(IF_NONE_MATCH)
                responses["200"]["headers"] = MEDIA_HEADERS
                responses["304"] = {"description": "Not modified", "headers": MEDIA_HEADERS}
            if not parameters:
                del result["parameters"]
            if raw is not None:
                result["requestBody"] = {"required": True, "content": _raw_content(raw)}
            if token == REQUIRED:
                result["security"] = [{BEARER: []}]
            elif token == OPTIONAL:
                result["security"] = [{}, {BEARER: []}]
            return result

    Truthful.__name__ = Truthful.__qualname__ = f"Truthful{base.__name__}"
    return Truthful


def _narrow(response: dict[str, Any], status: int, codes: dict[str, str]) -> None:
    """The shared Problem schema, with `type` one of this operation's codes for `status`."""
    content = response["content"][PROBLEM_JSON]
    for example in content.get("examples", {}).values():
        example.pop("id", None)  # Litestar's key for the example, not a member of one
    content["schema"] = {
        "allOf": [
            content["schema"],
            {
                "type": "object",
                "properties": {
                    "type": {"enum": [f"/problems/{code}" for code in codes]},
                    "status": {"const": status},
                },
            },
        ]
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "required": True,
                "description": "`Bearer`",
                "schema": {"type": "string"},
            }
        }
    elif status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "required": True,
                "description": "Seconds to wait before trying again",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        }


def _idempotency_key(required: bool) -> dict[str, Any]:
    what = (
        "Required: a retry with the same key and body gets the first answer again; the same"
        " key with another body is a 422"
        if required
        else "Optional: a retry with the same key and body gets the first answer again"
    )
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": required,
        "description": what,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        },
    }


def _raw_content(raw: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media, entry in raw.items():
        if entry["schema"] is None:  # the webhook: a payment event, as the gateway signs it
            content[media] = {"schema": _webhook_schema()}
        else:
            content[media] = entry
    return content


def _webhook_schema() -> dict[str, Any]:
    return json_schema(WebhookEvent)
