"""Orders: a hold turned into a purchase with a payment deadline; cancellation and refund."""

from __future__ import annotations

import logging

from booking.domain.accounts import Account
from booking.domain.errors import Conflict, NotFound
from booking.domain.ids import new_id
from booking.domain.orders import Order, OrderStatus
from booking.domain.ports import Clock, HoldStore, Idempotency, OrderStore
from booking.services.catalog import CatalogService

log = logging.getLogger(__name__)


class OrderService:
    def __init__(
        self, orders: OrderStore, holds: HoldStore, catalog: CatalogService, clock: Clock
    ) -> None:
        self._store = orders
        self._holds = holds
        self._catalog = catalog
        self._clock = clock

    async def place(self, fan: Account, hold_id: str, idem: Idempotency) -> Order:
        hold = await self._holds.get_hold(hold_id)
        if hold is None or hold.account_id != fan.id:
            raise NotFound("hold", hold_id)
        performance = await self._catalog.performance(fan, hold.performance_id)
        return await self._store.place_order(
            new_id("ord"), hold_id, performance.payment_window, idem
        )

    async def get(self, fan: Account, order_id: str) -> Order:
        order = await self._store.get_order(order_id)
        if order is None or order.account_id != fan.id:
            raise NotFound("order", order_id)
        return order

    async def list(self, fan: Account, limit: int, after: str | None) -> list[Order]:
        return await self._store.list_orders(fan.id, limit, after)

    async def cancel(self, fan: Account, order_id: str) -> Order:
        """Unpaid orders are cancelled; paid ones refunded until the show starts."""
        order = await self.get(fan, order_id)
        now = self._clock.now()
        status = order.effective_status(now)
        if status is OrderStatus.PENDING_PAYMENT:
            closed = await self._store.close_order(order_id, refund=False)
            log.info("order cancelled", extra={"order_id": order_id, "refund": False})
            return closed
        if status is OrderStatus.PAID:
            performance = await self._catalog.performance(fan, order.performance_id)
            if performance.starts_at <= now:
                raise Conflict("the performance has started; its tickets can no longer be refunded")
            closed = await self._store.close_order(order_id, refund=True)
            # A refund moves money: operators find who asked, by request id and account hash.
            log.info("order cancelled", extra={"order_id": order_id, "refund": True})
            return closed
        raise Conflict(f"order {order_id} is {status} and cannot be cancelled")
