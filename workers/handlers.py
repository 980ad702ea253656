"""What each outbox message sets off, shared by both runtimes: locally the outbox relay
feeds these handlers (workers/local.py); on AWS the queues that carry the same messages
do (workers/queues.py)."""

from __future__ import annotations

from booking.adapters.outbox_dispatch import Handler
from booking.bootstrap import Runtime
from booking.domain.messages import (
    OrderClosed,
    OrderPaid,
    OutboxMessage,
    PosterUploaded,
    TicketsIssued,
)


def handlers(runtime: Runtime) -> dict[str, list[Handler]]:
    payments = runtime.services.payments
    notifications = runtime.services.notifications

    async def order_paid(message: OutboxMessage) -> None:
        assert isinstance(message, OrderPaid)
        await payments.on_order_paid(message)

    async def order_closed(message: OutboxMessage) -> None:
        assert isinstance(message, OrderClosed)
        await payments.on_order_closed(message)

    async def poster_uploaded(message: OutboxMessage) -> None:
        assert isinstance(message, PosterUploaded)
        await runtime.services.posters.make_variants(message.event_id, message.key)

    async def tickets_issued(message: OutboxMessage) -> None:
        assert isinstance(message, TicketsIssued)
        await notifications.on_tickets_issued(message)

    return {
        "OrderPaid": [order_paid],
        "OrderClosed": [order_closed],
        "TicketsIssued": [tickets_issued],
        "PosterUploaded": [poster_uploaded],
    }
