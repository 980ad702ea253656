"""A BookingStore that passes every call on: the base of wrappers that change one thing
(a Redis pre-claim, an availability cache, the naive baselines of the rehearsal)."""

from __future__ import annotations

from datetime import timedelta

from booking.domain.holds import Hold, HoldRequest
from booking.domain.orders import Order
from booking.domain.payments import Payment, PaymentStatus
from booking.domain.ports import (
    Availability,
    BookingStore,
    ConfirmOutcome,
    Idempotency,
    PlaceStatus,
    Sales,
)
from booking.domain.tickets import Ticket


class DelegatingBookingStore:
    """A BookingStore passing every call to `inner`; wrappers override what they change.

    Spelled out method by method (no __getattr__) so mypy checks it against the Protocol.
    """

    def __init__(self, inner: BookingStore) -> None:
        self._inner = inner

    async def aclose(self) -> None:
        """Finish what a wrapper still has in flight (at shutdown), down the chain."""
        closing = getattr(self._inner, "aclose", None)
        if closing is not None:
            await closing()

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        return await self._inner.place_hold(request, idem)

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return await self._inner.stored_hold(idem)

    async def get_hold(self, hold_id: str) -> Hold | None:
        return await self._inner.get_hold(hold_id)

    async def release_hold(self, hold_id: str) -> Hold:
        return await self._inner.release_hold(hold_id)

    async def availability(self, performance_id: str) -> Availability:
        return await self._inner.availability(performance_id)

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        return await self._inner.place_states(performance_id, zone_id)

    async def sales(self, performance_id: str) -> Sales:
        return await self._inner.sales(performance_id)

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        return await self._inner.place_order(order_id, hold_id, payment_window, idem)

    async def get_order(self, order_id: str) -> Order | None:
        return await self._inner.get_order(order_id)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        return await self._inner.list_orders(account_id, limit, after)

    async def close_order(self, order_id: str, refund: bool) -> Order:
        return await self._inner.close_order(order_id, refund)

    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment:
        return await self._inner.add_payment(payment, idem)

    async def get_payment(self, payment_id: str) -> Payment | None:
        return await self._inner.get_payment(payment_id)

    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None:
        return await self._inner.payment_by_gateway_id(gateway_payment_id)

    async def payments_for_order(self, order_id: str) -> list[Payment]:
        return await self._inner.payments_for_order(order_id)

    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool:
        return await self._inner.advance_payment(payment_id, status, decline_reason)

    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
        return await self._inner.confirm_order(payment_id, status)

    async def issue_tickets(self, order_id: str, tickets: list[Ticket]) -> None:
        await self._inner.issue_tickets(order_id, tickets)

    async def tickets_for_order(self, order_id: str) -> list[Ticket]:
        return await self._inner.tickets_for_order(order_id)

    async def list_tickets(self, account_id: str, limit: int, after: str | None) -> list[Ticket]:
        return await self._inner.list_tickets(account_id, limit, after)

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        return await self._inner.get_ticket(ticket_id)

    async def expire_due(self, limit: int) -> int:
        return await self._inner.expire_due(limit)
