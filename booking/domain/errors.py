"""Everything that can go wrong in the booking domain, as typed errors.

Each error carries a stable `code` (the slug of its problem+json `type`) and a
human `detail`; the API maps them to HTTP statuses in one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain-error"
    title: ClassVar[str] = "Request cannot be processed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; a copy (from the writer process, say)
        # is rebuilt from its fields instead.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[DomainError], args: tuple[Any, ...], fields: dict[str, Any]) -> DomainError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


class InvalidRequest(DomainError):
    code = "invalid-request"
    title = "The request is not valid"


class NotFound(DomainError):
    """Also raised for another account's object: its existence is not revealed."""

    code = "not-found"
    title = "Not found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} does not exist", resource=kind)


class AuthenticationRequired(DomainError):
    code = "authentication-required"
    title = "Authentication required"


class InvalidCredentials(DomainError):
    code = "invalid-credentials"
    title = "Email or password is wrong"


class Forbidden(DomainError):
    code = "forbidden"
    title = "Not allowed for this account"


class EmailTaken(DomainError):
    code = "email-taken"
    title = "An account with this email exists"


class Conflict(DomainError):
    code = "conflict"
    title = "The resource is in a state that does not allow this"


class SeatsUnavailable(DomainError):
    code = "seats-unavailable"
    title = "Some requested seats are no longer available"
    preclaimed: bool = False
    """Refused by a pre-claim before the store was asked (telemetry's reason); a copy
    rebuilt from fields of another process's making reads this default."""

    def __init__(
        self,
        taken: Sequence[str],
        ga_short: dict[str, int] | None = None,
        until_ms: Mapping[str, int | None] | None = None,
        preclaimed: bool = False,
    ) -> None:
        parts = []
        if taken:
            parts.append(f"seats already taken: {', '.join(taken)}")
        for zone, short in (ga_short or {}).items():
            parts.append(f"zone {zone} has {short} fewer places than requested")
        super().__init__("; ".join(parts), taken=list(taken), ga_short=ga_short or {})
        self.taken = list(taken)
        self.until_ms = dict(until_ms or {})
        """Per taken seat, when the claim that holds it lapses (epoch ms), or None if it
        never does (sold, blocked), as the store saw it; not part of the answer. A pre-claim
        remembers a taken seat no longer than this."""
        self.preclaimed = preclaimed


class SaleNotOpen(DomainError):
    code = "sale-not-open"
    title = "Tickets for this performance are not on sale now"


class LimitExceeded(DomainError):
    code = "ticket-limit-exceeded"
    title = "Per-account ticket limit reached"


class HoldExpired(DomainError):
    code = "hold-expired"
    title = "The hold has expired"


class HoldNotActive(DomainError):
    code = "hold-not-active"
    title = "The hold was already released or used"


class OrderExpired(DomainError):
    code = "order-expired"
    title = "The payment deadline of the order has passed"


class OrderNotPayable(DomainError):
    code = "order-not-payable"
    title = "The order cannot be paid in its current state"


class PaymentInProgress(DomainError):
    code = "payment-in-progress"
    title = "A payment for this order is already being processed"


class IdempotencyKeyReused(DomainError):
    code = "idempotency-key-reused"
    title = "Idempotency-Key was already used with another request"


class IdempotencyKeyRequired(DomainError):
    code = "idempotency-key-required"
    title = "This request needs an Idempotency-Key header"


class InvalidSignature(DomainError):
    code = "invalid-signature"
    title = "Webhook signature is missing, stale or wrong"


class StoreUnavailable(DomainError):
    """The database did not answer in time or is throttling: come back shortly."""

    code = "store-unavailable"
    title = "Too busy right now; retry after the given delay"


class PaymentGatewayUnavailable(DomainError):
    code = "payment-gateway-unavailable"
    title = "The payment provider did not answer"


class WeakPassword(InvalidRequest):
    """A new password a guesser would try early (booking/domain/passwords.py says which)."""

    code = "weak-password"
    title = "The password is too easy to guess"


class RateLimited(DomainError):
    """Too many requests of one client or account, or too many failed log-ins of one
    account: `retry_after` whole seconds (at least 1) until one would be let through."""

    code = "rate-limited"
    title = "Too many requests; retry after the given delay"

    def __init__(self, detail: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(detail, retry_after=seconds)
        self.retry_after = seconds
