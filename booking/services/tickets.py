"""Tickets: issued once an order is paid, each with an Ed25519-signed code."""

from __future__ import annotations

from booking.domain.accounts import Account
from booking.domain.errors import NotFound
from booking.domain.orders import OrderStatus
from booking.domain.ports import Clock, OrderStore, TicketSigner, TicketStore
from booking.domain.tickets import Ticket, TicketClaims, TicketStatus, ticket_id_for


class TicketService:
    def __init__(
        self, tickets: TicketStore, orders: OrderStore, signer: TicketSigner, clock: Clock
    ) -> None:
        self._store = tickets
        self._orders = orders
        self._signer = signer
        self._clock = clock

    async def issue(self, order_id: str) -> list[Ticket]:
        """Idempotent: ids follow from order and place, and the store keeps the first copy."""
        order = await self._orders.get_order(order_id)
        if order is None or order.status is not OrderStatus.PAID:
            return []
        now = self._clock.now()
        tickets = []
        for item in order.items:
            ticket_id = ticket_id_for(order.id, item.unit_id)
            claims = TicketClaims(
                ticket_id=ticket_id,
                performance_id=order.performance_id,
                unit_id=item.unit_id,
                order_id=order.id,
                issued_at=int(now.timestamp()),
            )
            tickets.append(
                Ticket(
                    id=ticket_id,
                    order_id=order.id,
                    account_id=order.account_id,
                    performance_id=order.performance_id,
                    unit_id=item.unit_id,
                    zone_id=item.zone_id,
                    grade=item.grade,
                    price_krw=item.price_krw,
                    code=self._signer.sign(claims),
                    status=TicketStatus.VALID,
                    issued_at=now,
                )
            )
        await self._store.issue_tickets(order.id, tickets)
        return await self._store.tickets_for_order(order.id)

    async def for_order(self, fan: Account, order_id: str) -> list[Ticket]:
        order = await self._orders.get_order(order_id)
        if order is None or order.account_id != fan.id:
            raise NotFound("order", order_id)
        return await self._store.tickets_for_order(order_id)

    async def list(self, fan: Account, limit: int, after: str | None) -> list[Ticket]:
        return await self._store.list_tickets(fan.id, limit, after)

    async def get(self, fan: Account, ticket_id: str) -> Ticket:
        ticket = await self._store.get_ticket(ticket_id)
        if ticket is None or ticket.account_id != fan.id:
            raise NotFound("ticket", ticket_id)
        return ticket

    def verify_code(self, code: str) -> TicketClaims:
        return self._signer.verify(code)

    def public_key_pem(self) -> str:
        return self._signer.public_key_pem()
