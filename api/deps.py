"""Dependencies shared by the routes: services, the caller's account, Idempotency-Key."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from booking.bootstrap import Services
from booking.domain.accounts import Account
from booking.domain.errors import AuthenticationRequired, IdempotencyKeyRequired, InvalidRequest
from booking.domain.ports import Idempotency

ServicesDep = NamedDependency[Services]
AccountDep = NamedDependency[Account]
ViewerDep = NamedDependency[Account | None]

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
"""1–255 printable ASCII characters, no spaces (also in the OpenAPI document)."""
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def header(request: Request[Any, Any, Any], name: bytes) -> str | None:
    """One header's first value (`name` lower-case, as ASGI servers pass them), read from the
    scope: `request.headers` builds a case-insensitive map of every header first, a
    twentieth of a hold attempt's time."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def path_of(request: Request[Any, Any, Any]) -> str:
    """`request.url.path` without building the whole URL (host, query) to get it."""
    scope = request.scope
    return scope.get("root_path", "") + scope["path"]


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header_value = header(request, b"authorization")
    if header_value is None:
        return None
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired(
            "use 'Authorization: Bearer <token>' from POST /api/v1/sessions"
        )
    return token.strip()


async def provide_account(request: Request[Any, Any, Any], services: ServicesDep) -> Account:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationRequired("this endpoint needs 'Authorization: Bearer <token>'")
    return await services.accounts.authenticate(token)


async def provide_viewer(request: Request[Any, Any, Any], services: ServicesDep) -> Account | None:
    """The caller if a token was sent; anonymous callers may browse published events."""
    token = bearer_token(request)
    return None if token is None else await services.accounts.authenticate(token)


def idempotency(
    request: Request[Any, Any, Any], account: Account, operation: str, data: object, required: bool
) -> Idempotency | None:
    """Key scoped to account and operation; fingerprint of the decoded body and path."""
    key = header(request, b"idempotency-key")
    if key is None:
        if required:
            raise IdempotencyKeyRequired(f"{operation} needs an Idempotency-Key header")
        return None
    if not _KEY.match(key):
        raise InvalidRequest("Idempotency-Key must be 1–255 printable ASCII characters")
    digest = hashlib.sha256(path_of(request).encode() + b"\n" + msgspec.json.encode(data))
    return Idempotency(scope=f"{account.id}:{operation}", key=key, fingerprint=digest.hexdigest())


DEPENDENCIES = {
    "services": Provide(provide_services, sync_to_thread=False),
    "account": Provide(provide_account),
    "viewer": Provide(provide_viewer),
}
