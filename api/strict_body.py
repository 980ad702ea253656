"""Strict JSON bodies: `"2"` is not a quantity.

Litestar converts a decoded body with `strict=False`, which would quietly turn
numeric strings into numbers. Before a handler runs, the raw body is decoded
once more with msgspec's strict decoder for the handler's `data` type, so a
mistyped field is a 400 naming its path, as the schema promises.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


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


async def decode_body_strictly(request: Request[Any, Any, Any]) -> None:
    decoder = _decoder(request.route_handler)
    if decoder is None:
        return
    try:
        decoder.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise ValidationException(
            detail="Validation failed for " + request.method + " " + request.url.path,
            extra=[{"message": str(exc)}],
        ) from exc
