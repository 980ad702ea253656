"""Strict JSON bodies: `"2"` is not a quantity.

Litestar converts a decoded body with `strict=False`, which would quietly turn
numeric strings into numbers. Before a handler runs, the raw body is decoded
once more with msgspec's strict decoder for the handler's `data` type, so a
mistyped field is a 400 naming its path, as the schema promises.
"""

from __future__ import annotations

import logging
import math
from functools import cache
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.spec import Operation

from api.front_door import ClientDisconnected
from booking.domain.text import PATTERN_MEANING

log = logging.getLogger(__name__)


@cache
def _decoder(handler: object) -> msgspec.json.Decoder[Any] | None:
    """The strict decoder of a route handler's `data` Struct, or None: looked up once per
    handler, not on every request."""
    field = handler.parsed_fn_signature.parameters.get("data")  # type: ignore[attr-defined]
    if field is None or not isinstance(field.annotation, type):
        return None
    if not issubclass(field.annotation, msgspec.Struct):
        return None
    return msgspec.json.Decoder(field.annotation)


T = TypeVar("T")


async def decode_body_strictly(request: Request[Any, Any, Any]) -> None:
    decoder = _decoder(request.route_handler)
    if decoder is not None:
        _decode(request, decoder, await request.body())


async def read_strictly(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[T]) -> T:
    """The body read from the ASGI channel and decoded once, strictly: for a route that
    reads its body itself (and whose body nothing else reads)."""
    return _decode(request, decoder, await _received(request))


async def _received(request: Request[Any, Any, Any]) -> bytes:
    # Litestar's own reading first builds the request's header map for the announced
    # length: a twentieth of a hold attempt's time. The size limit is enforced on the bytes
    # that arrive, as Litestar does too. In the app, `api/front_door.py` has buffered the
    # whole body already (and refused an announced size past the limit).
    limit = request.route_handler.resolve_request_max_body_size() or math.inf
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await request.receive()
        if event["type"] == "http.disconnect":
            log.info("client went away before its request body arrived: %s", request.url.path)
            raise ClientDisconnected
        chunk: bytes = event.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)


def _decode(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as refused:
        # JSON Schema's integer 6 may be written 6.0: read again with whole floats as
        # integers, only once the strict reading failed (6.5 and "6" are still refused).
        try:
            return msgspec.convert(_WHOLE_FLOATS.decode(body), decoder.type, strict=True)
        except msgspec.ValidationError as exc:  # the reason with 6.0 read as 6
            message = _in_words(str(exc))
        except (msgspec.DecodeError, RecursionError):  # too deep to read untyped
            message = _in_words(str(refused))
    except msgspec.DecodeError as exc:
        message = _in_words(str(exc))
    except UnicodeDecodeError as exc:  # JSON text is UTF-8 (RFC 8259), nothing else
        message = f"the body is not valid UTF-8 (byte {exc.start})"
    raise ValidationException(
        detail="Validation failed for " + request.method + " " + request.url.path,
        extra=[{"message": message}],
    )


def _whole_as_integer(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) <= 2**53 else number


_WHOLE_FLOATS = msgspec.json.Decoder(float_hook=_whole_as_integer)


def _in_words(message: str) -> str:
    """msgspec names a pattern by its regex; say what the pattern asks for instead."""
    for pattern, meaning in PATTERN_MEANING.items():
        message = message.replace(f"`str` matching regex {pattern!r}", meaning)
    return message


def documented_body(struct: type[msgspec.Struct]) -> type[Operation]:
    """An OpenAPI operation whose request body is `struct`: Litestar documents a body only
    from a `data` parameter, which a route that reads its body itself does not have."""
    schema = json_schema(struct)

    class WithBody(Operation):
        body = struct
        """Read strictly by its route (api/openapi.py documents the 400 that follows)."""

        def to_schema(self) -> dict[str, Any]:
            result = super().to_schema()
            content = {"application/json": {"schema": schema}}
            result["requestBody"] = {"required": True, "content": content}
            return result

    WithBody.__name__ = WithBody.__qualname__ = f"{struct.__name__}Operation"
    return WithBody


def json_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """msgspec's JSON Schema of `struct`, with no references left."""
    definitions = msgspec.json.schema(struct)
    schema: dict[str, Any] = _inlined(definitions, definitions.pop("$defs", {}))
    return schema


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    """msgspec's JSON Schema with each `#/$defs/` reference replaced by its definition."""
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref", "")
    if reference.startswith("#/$defs/"):
        return _inlined(definitions[reference.removeprefix("#/$defs/")], definitions)
    return {key: _inlined(value, definitions) for key, value in schema.items()}
