"""Availability, holds, orders, payments and tickets: the fan's path to a seat."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
)

from api.deps import (
    AccountDep,
    ServicesDep,
    ViewerDep,
    idempotency,
)
from api.fast_path.answers import JsonAnswer
from api.fast_path.hold_route import place_hold as fast_place_hold
from api.fast_path.strict_body import documented_body
from api.rate_limits import ORDER, PAY, rate_limits
from api.schemas import (
    HoldIn,
    HoldOut,
    OrderIn,
    OrderOut,
    PaymentIn,
    PaymentOut,
    PublicKeyOut,
    TicketCheckIn,
    TicketCheckOut,
    TicketOut,
)
from booking.domain.ports import Availability, PlaceState, PlaceStatus, Sales

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size")]
After = Annotated[str | None, QueryParameter(max_length=64, description="Cursor: last id seen")]
Zone = Annotated[str | None, QueryParameter(max_length=16, description="Only this section")]
OnlyState = Annotated[
    PlaceState | None,
    QueryParameter(name="state", description="Only seats in this state (e.g. available)"),
]


class InventoryController(Controller):
    path = "/api/v1/performances/{performance_id:str}"
    tags = ["inventory"]

    @get("/availability", summary="Counts per zone and grade; they always add up to capacity")
    async def availability(
        self, performance_id: FromPath[str], viewer: ViewerDep, services: ServicesDep
    ) -> Availability:
        return await services.holds.availability(viewer, performance_id)

    @get("/sales", summary="Live sales figures for the organizer: sold, revenue, per grade")
    async def sales(
        self, performance_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> Sales:
        return await services.holds.sales(account, performance_id)

    @get("/seats", summary="The state of every numbered seat, for drawing the seat map")
    async def seats(
        self,
        performance_id: FromPath[str],
        viewer: ViewerDep,
        services: ServicesDep,
        section: Zone = None,
        only: OnlyState = None,
    ) -> list[PlaceStatus]:
        return await services.holds.places(viewer, performance_id, section, only)

    @post(
        "/holds",
        summary="Hold seats and standing places, all or nothing (Idempotency-Key)",
        operation_class=documented_body(HoldIn),
        # Its answer is sent as it is (api/fast_path/answers.py); what it holds is documented here.
        responses={HTTP_201_CREATED: ResponseSpec(HoldOut, description="The hold, as stored")},
    )
    async def place_hold(self, request: Request[Any, Any, Any]) -> JsonAnswer:
        # The fast path's room: api/fast_path/README.md.
        return await fast_place_hold(request)


class HoldController(Controller):
    path = "/api/v1/holds"
    tags = ["holds"]

    @get("/{hold_id:str}", summary="One of your holds")
    async def get_hold(
        self, hold_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> HoldOut:
        return HoldOut.of(await services.holds.get(account, hold_id), services.clock.now())

    @post("/{hold_id:str}/release", summary="Give the held places back", status_code=200)
    async def release(
        self, hold_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> HoldOut:
        return HoldOut.of(await services.holds.release(account, hold_id), services.clock.now())


class OrderController(Controller):
    path = "/api/v1/orders"
    tags = ["orders"]

    @post("/", summary="Turn an active hold into an order awaiting payment (Idempotency-Key)")
    async def place(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[OrderIn],
        account: AccountDep,
        services: ServicesDep,
    ) -> OrderOut:
        await rate_limits(request).check(request.scope, ORDER, account.id)
        idem = idempotency(request, account, "place-order", data, required=True)
        assert idem is not None
        return OrderOut.of(await services.orders.place(account, data.hold_id, idem))

    @get("/", summary="Your orders")
    async def list_orders(
        self,
        account: AccountDep,
        services: ServicesDep,
        limit: Limit = 50,
        after: After = None,
    ) -> list[OrderOut]:
        now = services.clock.now()
        return [OrderOut.of(o, now) for o in await services.orders.list(account, limit, after)]

    @get("/{order_id:str}", summary="One of your orders")
    async def get_order(
        self, order_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> OrderOut:
        return OrderOut.of(await services.orders.get(account, order_id), services.clock.now())

    @post(
        "/{order_id:str}/cancel",
        summary="Cancel an unpaid order or refund a paid one",
        status_code=200,
    )
    async def cancel(
        self, order_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> OrderOut:
        return OrderOut.of(await services.orders.cancel(account, order_id), services.clock.now())

    @post(
        "/{order_id:str}/payments",
        status_code=HTTP_202_ACCEPTED,
        summary="Pay with a card token; the outcome arrives by webhook (Idempotency-Key)",
    )
    async def pay(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[str],
        data: JSONBody[PaymentIn],
        account: AccountDep,
        services: ServicesDep,
    ) -> PaymentOut:
        await rate_limits(request).check(request.scope, PAY, account.id)
        idem = idempotency(request, account, "pay-order", data, required=True)
        assert idem is not None
        return PaymentOut.of(await services.payments.pay(account, order_id, data.method, idem))

    @get("/{order_id:str}/payments", summary="Payments tried for one of your orders")
    async def payments(
        self, order_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> list[PaymentOut]:
        return [
            PaymentOut.of(p) for p in await services.payments.payments_for_order(account, order_id)
        ]

    @get("/{order_id:str}/tickets", summary="Tickets of a paid order")
    async def tickets(
        self, order_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> list[TicketOut]:
        return [TicketOut.of(t) for t in await services.tickets.for_order(account, order_id)]


class PaymentWebhookController(Controller):
    path = "/api/v1/payments"
    tags = ["payments"]

    @post(
        "/webhook",
        status_code=HTTP_204_NO_CONTENT,
        request_max_body_size=16_384,
        summary="Payment gateway events, signed with HMAC-SHA256 (Webhook-Signature)",
    )
    async def webhook(self, request: Request[Any, Any, Any], services: ServicesDep) -> None:
        body = await request.body()
        await services.payments.handle_webhook(request.headers.get("webhook-signature"), body)

    @post(
        "/provider-webhook",
        status_code=HTTP_200_OK,
        request_max_body_size=65_536,
        summary="The payment provider's own events (Toss Payments), verified its way; 200 OK",
    )
    async def provider_webhook(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> None:
        # Toss counts only a 200 as delivered (https://docs.tosspayments.com/guides/webhook).
        await services.payments.handle_provider_webhook(request.headers, await request.body())


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]

    @get("/", summary="Your tickets")
    async def list_tickets(
        self, account: AccountDep, services: ServicesDep, limit: Limit = 50, after: After = None
    ) -> list[TicketOut]:
        return [TicketOut.of(t) for t in await services.tickets.list(account, limit, after)]

    @get("/public-key", summary="The Ed25519 key that verifies ticket codes offline")
    async def public_key(self, services: ServicesDep) -> PublicKeyOut:
        return PublicKeyOut("Ed25519", services.tickets.public_key_pem())

    @post("/verify", status_code=200, summary="Check a ticket code's signature")
    async def verify(self, data: JSONBody[TicketCheckIn], services: ServicesDep) -> TicketCheckOut:
        claims = services.tickets.verify_code(data.code)
        return TicketCheckOut(
            True,
            claims.ticket_id,
            claims.performance_id,
            claims.unit_id,
            claims.order_id,
            claims.issued_at,
        )

    @get("/{ticket_id:str}", summary="One of your tickets")
    async def get_ticket(
        self, ticket_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> TicketOut:
        return TicketOut.of(await services.tickets.get(account, ticket_id))
