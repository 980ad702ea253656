"""Where the payment gateway simulator keeps its state: a small port, two adapters.

The simulator's behaviour (which card tokens authorize, which moves are allowed, when
webhooks go out and how they are retried) lives once, in `simulated_gateway.py`; a
state adapter only stores payments and pending webhooks and answers the few questions
the behaviour asks, each atomically:

- `SqliteGatewayState` (`booking/adapters/local/sqlite_gateway_state.py`): its own SQLite
  file, for the embedded runtime, where one process serves and delivers;
- `DynamoGatewayState` (`booking/adapters/aws/dynamodb_gateway_state.py`): items in the
  stage's DynamoDB table, for the aws runtime, where any Lambda or process may authorize,
  capture, void, refund or deliver, and none of them remembers anything between invocations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from booking.domain.payments import GatewayPayment


class Scheduled(msgspec.Struct, frozen=True):
    """A webhook to send `delay_ms` after the change that caused it is stored."""

    body: bytes
    delay_ms: int


class PendingWebhook(msgspec.Struct, frozen=True):
    """A webhook claimed for delivery: the claim lasts a lease, then anyone may retry it."""

    id: str
    body: bytes
    attempts: int
    """Deliveries tried before this one."""


class GatewayState(Protocol):
    poll_seconds: float
    """How often a deliverer with nothing to do looks again for due webhooks (webhooks made
    by the same process wake it at once)."""

    async def add(
        self, payment: GatewayPayment, idempotency_key: str, webhooks: Sequence[Scheduled]
    ) -> GatewayPayment:
        """Store `payment` and its webhooks, unless `idempotency_key` was used before: then
        store nothing and return the payment stored under that key."""
        ...

    async def get(self, payment_id: str) -> GatewayPayment | None: ...

    async def replace(
        self, current: GatewayPayment, new: GatewayPayment, webhooks: Sequence[Scheduled]
    ) -> bool:
        """Store `new` with its webhooks if the payment is still in `current.status`; False
        (nothing stored) if another caller moved it first."""
        ...

    async def claim_due(self, limit: int, lease_ms: int) -> list[PendingWebhook]:
        """Up to `limit` webhooks due now, each claimed for `lease_ms` so that concurrent
        deliverers do not send it at the same time (a lapsed lease is claimed again)."""
        ...

    async def finish(self, webhook: PendingWebhook, attempts: int, delivered: bool) -> None:
        """Stop delivering: answered 2xx, or given up after `attempts`."""
        ...

    async def retry(self, webhook: PendingWebhook, attempts: int, after_ms: int) -> None:
        """Deliver again `after_ms` from now (the lease is released)."""
        ...
