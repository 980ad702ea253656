"""The tickets of paid orders."""

from __future__ import annotations

import asyncio
from typing import Any

from booking.adapters.aws.dynamodb_booking.common import (
    STATUS,
    _encode,
    _ticket_of,
)
from booking.adapters.aws.dynamodb_booking.holds import DynamoHolds
from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import (
    FIRST_KEY,
    TransactionCancelled,
)
from booking.domain.messages import (
    TicketsIssued,
)
from booking.domain.tickets import Ticket


class DynamoTickets(DynamoHolds):
    async def issue_tickets(self, order_id: str, tickets: list[Ticket]) -> None:
        self._db.operation = "issue_tickets"
        existing = await asyncio.gather(*(self._db.get(f"TKT#{t.id}", "TKT") for t in tickets))
        items: list[dict[str, Any]] = [
            self._db.check(f"ORD#{order_id}", "ORD", "#s = :paid", {":paid": "paid"})
        ]
        items[0]["ConditionCheck"]["ExpressionAttributeNames"] = STATUS
        ticket_puts: set[int] = set()
        for ticket, found in zip(tickets, existing, strict=True):
            if found is not None:
                continue
            items.append(
                self._db.put(
                    {
                        "pk": f"TKTUNIT#{ticket.performance_id}#{ticket.unit_id}",
                        "sk": "TKTUNIT",
                        "ticket_id": ticket.id,
                    },
                    "attribute_not_exists(pk) OR ticket_id = :t",
                    {":t": ticket.id},
                )
            )
            # Created once: an issuer that read before another's commit must not rewrite
            # the ticket (its issue time, or a status it has moved on to since).
            ticket_puts.add(len(items))
            items.append(
                self._db.put(
                    {
                        "pk": f"TKT#{ticket.id}",
                        "sk": "TKT",
                        "status": ticket.status.value,
                        "doc": _encode(ticket),
                        "gsi1pk": f"TICKETS#{order_id}",
                        "gsi1sk": ticket.id,
                        "gsi2pk": f"ACCTICKETS#{ticket.account_id}",
                        "gsi2sk": ticket.id,
                    },
                    "attribute_not_exists(pk)",
                )
            )
        if len(items) == 1:
            return  # all issued before: announced then
        # Announced with the tickets it is about; concurrent issuers may both announce,
        # which the mail's own once-per-order key absorbs.
        items.append(
            self._db.put(
                outbox_item(TicketsIssued(order_id, tickets[0].account_id), self._now_ms())
            )
        )
        try:
            await self._db.transact(items)
        except TransactionCancelled as exc:
            failed = set(exc.failed())
            if 0 in failed:
                return  # no longer paid: no tickets
            if failed <= ticket_puts:
                return  # a concurrent issuer created these tickets first
            raise RuntimeError(f"a place of order {order_id} already has a valid ticket") from exc

    async def list_tickets(self, account_id: str, limit: int, after: str | None) -> list[Ticket]:
        items = await self._db.query(
            "gsi2pk = :a AND gsi2sk > :after",
            {":a": f"ACCTICKETS#{account_id}", ":after": after or FIRST_KEY},
            index="gsi2",
            limit=limit,
        )
        return [_ticket_of(i) for i in items]

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        item = await self._db.get(f"TKT#{ticket_id}", "TKT")
        return None if item is None else _ticket_of(item)
