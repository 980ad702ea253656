"""Confirmation mail: once an order's tickets are stored, the fan gets them by mail.

The mail has a text part and an HTML part, and one inline QR code (PNG) per ticket
carrying the ticket's signed code, which a gate checks offline. The work runs at
least once (queues redeliver); the mailer sends at most one message per order.
"""

from __future__ import annotations

import html
import io
import logging
import zoneinfo
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import segno

from booking.domain.accounts import Account
from booking.domain.catalog import Event, Performance
from booking.domain.messages import TicketsIssued
from booking.domain.orders import Order, OrderStatus
from booking.domain.ports import AccountStore, CatalogReads, Mailer, OrderStore, TicketStore
from booking.domain.tickets import Ticket, TicketStatus, ticket_id_for

log = logging.getLogger(__name__)

QR_SCALE = 4
"""Pixels per QR module: a version-8 code (~150-character ticket code) is 228 px wide."""


class TicketsNotYetReadable(RuntimeError):
    """Some of an order's tickets cannot be read yet; the message is retried later."""


def confirmation_key(order_id: str) -> str:
    """One confirmation per order: the mailer's idempotency key."""
    return f"order-confirmation-{order_id}"


class NotificationService:
    def __init__(
        self,
        orders: OrderStore,
        tickets: TicketStore,
        accounts: AccountStore,
        catalog: CatalogReads,
        mailer: Mailer,
        sender: str,
    ) -> None:
        self._orders = orders
        self._tickets = tickets
        self._accounts = accounts
        self._catalog = catalog
        self._mailer = mailer
        self._sender = sender

    async def on_tickets_issued(self, message: TicketsIssued) -> bool:
        """Mail the order's tickets; False when nothing was sent (sent before, or moot)."""
        order = await self._orders.get_order(message.order_id)
        if order is None or order.status is not OrderStatus.PAID:
            return False  # refunded or cancelled before the mail went out: no tickets to send
        # Read by id (strongly consistent), not by listing: every ticket or a retry.
        found = [
            await self._tickets.get_ticket(ticket_id_for(order.id, item.unit_id))
            for item in order.items
        ]
        tickets = [t for t in found if t is not None]
        if len(tickets) != len(order.items):
            raise TicketsNotYetReadable(f"order {order.id}: {len(tickets)} of {len(order.items)}")
        valid = [t for t in tickets if t.status is TicketStatus.VALID]
        account = await self._accounts.get_account(order.account_id)
        if account is None or not valid:
            return False
        performance = await self._catalog.get_performance(order.performance_id)
        event = None if performance is None else await self._catalog.get_event(performance.event_id)
        mail = confirmation_mail(self._sender, account, order, valid, event, performance)
        sent = await self._mailer.send(confirmation_key(order.id), mail)
        log.info("confirmation mail", extra={"order_id": order.id, "sent": sent})
        return sent


def qr_png(code: str) -> bytes:
    """The ticket code as a QR code (always a full QR code, never a Micro QR), as PNG."""
    buffer = io.BytesIO()
    segno.make_qr(code, error="m").save(buffer, kind="png", scale=QR_SCALE)
    return buffer.getvalue()


def _local_time(performance: Performance | None) -> str:
    if performance is None:
        return ""
    try:
        zone: zoneinfo.ZoneInfo | None = zoneinfo.ZoneInfo(performance.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = None
    starts = performance.starts_at.astimezone(zone or UTC)
    return f"{starts:%Y-%m-%d %H:%M} ({performance.timezone if zone else 'UTC'})"


def confirmation_mail(
    sender: str,
    account: Account,
    order: Order,
    tickets: list[Ticket],
    event: Event | None,
    performance: Performance | None,
) -> EmailMessage:
    """The mail itself: deterministic content for one order (its date is the payment's)."""
    title = event.title if event is not None else "your concert"
    when = _local_time(performance)
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = account.email
    mail["Subject"] = f"Your tickets for {title}"
    mail["Date"] = format_datetime(order.paid_at or datetime.now(UTC))
    mail["X-ConcertBook-Order"] = order.id
    lines = [
        f"Hello {account.display_name},",
        "",
        f"Your order {order.id} for {title} is paid. {when}".rstrip(),
        f"Total: {order.total_krw:,} KRW",
        "",
        "Your tickets (show the QR code, or this code, at the gate):",
    ]
    for ticket in tickets:
        lines += [
            "",
            f"- {ticket.unit_id} ({ticket.grade}, {ticket.price_krw:,} KRW) ticket {ticket.id}",
            f"  code: {ticket.code}",
        ]
    mail.set_content("\n".join(lines) + "\n")
    cids = [f"qr{n}.{order.id}@concertbook" for n in range(len(tickets))]
    rows = "".join(
        f"<li><p><b>{html.escape(t.unit_id)}</b> ({html.escape(t.grade)},"
        f' {t.price_krw:,} KRW)<br><img src="cid:{cid}" alt="QR code of ticket'
        f' {html.escape(t.id)}"><br><code>{html.escape(t.code)}</code></p></li>'
        for t, cid in zip(tickets, cids, strict=True)
    )
    mail.add_alternative(
        "<!doctype html><html><body>"
        f"<p>Hello {html.escape(account.display_name)},</p>"
        f"<p>Your order {html.escape(order.id)} for <b>{html.escape(title)}</b> is paid."
        f" {html.escape(when)}</p><p>Total: {order.total_krw:,} KRW</p>"
        f"<ul>{rows}</ul></body></html>",
        subtype="html",
    )
    html_part = next(part for part in mail.iter_parts() if part.get_content_type() == "text/html")
    for ticket, cid in zip(tickets, cids, strict=True):
        html_part.add_related(
            qr_png(ticket.code),
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            filename=f"{ticket.id}.png",
        )
    return mail
