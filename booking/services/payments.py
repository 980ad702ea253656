"""Paying an order through the gateway, and acting on the gateway's webhooks.

Seats are sold when the gateway has authorized the money and the store's
conditional write finds the order still inside its payment deadline; only
then is the money captured. Late or duplicated webhooks change nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

import msgspec

from booking.domain.accounts import Account
from booking.domain.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    OrderExpired,
    OrderNotPayable,
    PaymentInProgress,
)
from booking.domain.messages import OrderClosed, OrderPaid
from booking.domain.orders import OrderStatus
from booking.domain.payments import (
    GatewayPayment,
    Payment,
    PaymentStatus,
    WebhookEvent,
    WebhookEventType,
    WebhookPayload,
    verify_webhook_signature,
)
from booking.domain.ports import (
    Clock,
    ConfirmOutcome,
    Idempotency,
    OrderStore,
    PaymentGateway,
    PaymentStore,
    WebhookQueue,
)
from booking.domain.telemetry import TELEMETRY, Telemetry
from booking.services.orders import OrderService
from booking.services.tickets import TicketService

log = logging.getLogger(__name__)

_webhook_decoder = msgspec.json.Decoder(WebhookEvent)


def _decode_webhook(body: bytes) -> WebhookEvent:
    try:
        return _webhook_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"webhook body is not a payment event: {exc}") from exc


class PaymentService:
    def __init__(
        self,
        payments: PaymentStore,
        order_store: OrderStore,
        orders: OrderService,
        tickets: TicketService,
        gateway: PaymentGateway,
        clock: Clock,
        webhook_secret: bytes,
        webhook_queue: WebhookQueue | None = None,
        telemetry: Telemetry = TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._store = payments
        self._order_store = order_store
        self._orders = orders
        self._tickets = tickets
        self._gateway = gateway
        self._clock = clock
        self._secret = webhook_secret
        self._webhook_queue = webhook_queue

    async def pay(self, fan: Account, order_id: str, method: str, idem: Idempotency) -> Payment:
        order = await self._orders.get(fan, order_id)
        # The payment id follows from the key, so a retry finds what the first try made.
        payment_id = "pay_" + hashlib.sha256(f"{idem.scope}|{idem.key}".encode()).hexdigest()[:24]
        existing = await self._store.get_payment(payment_id)
        if existing is not None:
            return await self._store.add_payment(existing, idem)
        status = order.effective_status(self._clock.now())
        if status is OrderStatus.EXPIRED:
            raise OrderExpired(f"order {order_id} passed its payment deadline")
        if status is not OrderStatus.PENDING_PAYMENT:
            raise OrderNotPayable(f"order {order_id} is {status}")
        charge = await self._gateway.create_payment(
            reference=order.id,
            amount_krw=order.total_krw,
            method=method,
            idempotency_key=payment_id,
        )
        now = self._clock.now()
        payment = Payment(
            id=payment_id,
            order_id=order.id,
            account_id=fan.id,
            gateway_payment_id=charge.id,
            amount_krw=order.total_krw,
            status=PaymentStatus.PROCESSING,
            decline_reason=None,
            created_at=now,
            updated_at=now,
        )
        try:
            stored = await self._store.add_payment(payment, idem)
        except (PaymentInProgress, OrderExpired, OrderNotPayable):
            # Lost a race with another payment or the deadline: release the authorization.
            await self._give_back(charge.id, refund=False)
            raise
        if charge.status is not PaymentStatus.PROCESSING:
            # A provider that answers at once (Toss's confirm takes the money): its answer is
            # applied now, as its webhook would be; the webhook, if it comes, changes nothing.
            # The answer stays the stored one (processing), which a replay of the key repeats.
            await self._apply_webhook(_event_of(charge))
        return stored

    async def payment(self, fan: Account, payment_id: str) -> Payment:
        payment = await self._store.get_payment(payment_id)
        if payment is None or payment.account_id != fan.id:
            raise NotFound("payment", payment_id)
        return payment

    async def payments_for_order(self, fan: Account, order_id: str) -> list[Payment]:
        order = await self._orders.get(fan, order_id)
        return await self._store.payments_for_order(order.id)

    async def handle_webhook(self, signature: str | None, body: bytes) -> None:
        """Check the gateway's signature, then apply the event, or queue it when a
        webhook queue is configured (returning once the queue has accepted it)."""
        verify_webhook_signature(self._secret, signature, body, int(self._clock.now().timestamp()))
        event = _decode_webhook(body)
        if self._webhook_queue is not None:
            await self._webhook_queue.enqueue(body)
            return
        await self._apply_webhook(event)

    async def handle_provider_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """A webhook in the provider's own format, verified by its own protocol (the gateway
        adapter knows it), then applied or queued like ours. One for no payment of ours is
        answered and dropped: such a provider retries for days, and our own confirm call
        already applied what its answer said."""
        event = await self._gateway.read_webhook(headers, body)
        if event is None:
            return
        if await self._store.payment_by_gateway_id(event.data.payment_id) is None:
            log.info("provider webhook for no payment of ours", extra={"event_id": event.id})
            return
        if self._webhook_queue is not None:
            await self._webhook_queue.enqueue(msgspec.json.encode(event))
            return
        await self._apply_webhook(event)

    async def apply_queued_webhook(self, body: bytes) -> None:
        """A webhook the API verified and queued (the queue is ours: not checked again)."""
        await self._apply_webhook(_decode_webhook(body))

    async def _apply_webhook(self, event: WebhookEvent) -> None:
        """Forward-only and conditional, so duplicates and reordering have one effect."""
        payment = await self._store.payment_by_gateway_id(event.data.payment_id)
        if payment is None:
            await self._unmatched(event)
            return
        if event.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
            outcome = await self._store.confirm_order(payment.id, event.status)
            log.info(
                "payment event applied",
                extra={"event_id": event.id, "payment_id": payment.id, "outcome": outcome},
            )
            if outcome is ConfirmOutcome.ALREADY_PAID:
                await self._store.advance_payment(payment.id, event.status, None)
            if outcome is ConfirmOutcome.CONFIRMED:
                # Fast path: capture and issue now. The OrderPaid message written with the
                # confirmation repeats both (idempotently) if this is cut short.
                await self._order_paid(
                    OrderPaid(payment.order_id, payment.id, payment.gateway_payment_id),
                    sold_now=True,
                )
            return
        await self._store.advance_payment(payment.id, event.status, event.data.decline_reason)

    async def _unmatched(self, event: WebhookEvent) -> None:
        """An event for no payment of ours. Usually the webhook beat our own write, and the
        gateway (or, for a queued webhook, the queue) retries while the order can still be
        paid. But an authorization whose payment was never written (the gateway said yes,
        then our write failed) would hold the fan's money until the gateway lets it lapse:
        once its order can no longer be paid, it is voided and the event answered."""
        order = await self._order_store.get_order(event.data.reference)
        if order is not None and order.effective_status(self._clock.now()) is (
            OrderStatus.PENDING_PAYMENT
        ):
            raise NotFound("payment", event.data.payment_id)
        if order is not None and event.status is PaymentStatus.AUTHORIZED:
            log.warning(
                "authorization without a payment of ours voided",
                extra={"gateway_payment_id": event.data.payment_id, "order_id": order.id},
            )
            await self._give_back(event.data.payment_id, refund=False)
            return
        log.info(
            "gateway event for no payment of ours dropped",
            extra={"event_id": event.id, "gateway_payment_id": event.data.payment_id},
        )

    async def on_order_paid(self, message: OrderPaid) -> None:
        """Seats are sold: take the money, then hand out the tickets."""
        await self._order_paid(message)

    async def _order_paid(self, message: OrderPaid, sold_now: bool = False) -> None:
        """`sold_now`: this request's confirmation sold the places (once per order)."""
        order = await self._order_store.get_order(message.order_id)
        if sold_now and order is not None:
            self._telemetry.tickets_sold(len(order.items))
        if order is None or order.status is not OrderStatus.PAID:
            return  # refunded before we got here; OrderClosed gives the money back
        await self._gateway.capture(message.gateway_payment_id)
        await self._tickets.issue(message.order_id)

    async def on_order_closed(self, message: OrderClosed) -> None:
        """Give back money held or taken for an order that will not be fulfilled."""
        if message.gateway_payment_id is not None:
            await self._give_back(message.gateway_payment_id, message.refund)

    async def _give_back(self, gateway_payment_id: str, refund: bool) -> None:
        try:
            if refund:
                await self._gateway.refund(gateway_payment_id)
            else:
                await self._gateway.void(gateway_payment_id)
        except Conflict as exc:
            # Declined or already returned: there is no money to give back.
            log.info(
                "nothing to give back",
                extra={"gateway_payment_id": gateway_payment_id, "reason": exc.detail},
            )


_EVENT_TYPE = {
    PaymentStatus.AUTHORIZED: WebhookEventType.AUTHORIZED,
    PaymentStatus.DECLINED: WebhookEventType.DECLINED,
    PaymentStatus.CAPTURED: WebhookEventType.CAPTURED,
    PaymentStatus.VOIDED: WebhookEventType.VOIDED,
    PaymentStatus.REFUNDED: WebhookEventType.REFUNDED,
}


def _event_of(charge: GatewayPayment) -> WebhookEvent:
    """What the gateway answered, as the event its webhook would have carried."""
    return WebhookEvent(
        id=f"answer_{charge.id}",
        type=_EVENT_TYPE[charge.status],
        created=0,
        data=WebhookPayload(
            payment_id=charge.id,
            reference=charge.reference,
            amount_krw=charge.amount_krw,
            decline_reason=charge.decline_reason,
        ),
    )
