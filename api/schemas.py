"""Request and response bodies of the HTTP API (msgspec Structs, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from booking.domain.accounts import Role
from booking.domain.catalog import Artist, EventStatus, GradeAssignment, PriceGrade
from booking.domain.holds import MAX_SEATS_PER_HOLD, GaRequest, Hold, HoldItem
from booking.domain.orders import Order
from booking.domain.payments import Payment
from booking.domain.text import EMAIL, SINGLE_LINE, Description, Name
from booking.domain.tickets import Ticket
from booking.domain.venues import GaZone, SeatBlock, SeatMap

Text = Name
LongText = Description
TimeZone = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z_+\-/0-9]+$",
        description="An IANA time zone name, e.g. Asia/Seoul",
    ),
]
# NFKC-normalised and lower-cased when stored (booking/domain/text.py).
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=EMAIL)]
Genre = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=SINGLE_LINE)]
# Length and the rest of the policy are checked by booking/domain/passwords.py (422 naming
# the rule); the schema caps only what is worth decoding.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
SeatId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


# -- accounts ---------------------------------------------------------------------------
class SignUp(Strict, frozen=True):
    email: Email
    password: Password
    display_name: Text
    role: Role = Role.FAN


class LogIn(Strict, frozen=True):
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=256)]


class AccountOut(msgspec.Struct, frozen=True):
    id: str
    email: str
    display_name: str
    role: Role
    created_at: datetime


class SessionOut(msgspec.Struct, frozen=True):
    token: str
    token_type: str
    expires_at: datetime
    account_id: str


class RehearsalFansIn(Strict, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=1000)]


class RehearsalFan(msgspec.Struct, frozen=True):
    account_id: str
    token: str


class RehearsalFansOut(msgspec.Struct, frozen=True):
    fans: list[RehearsalFan]


# -- catalog ----------------------------------------------------------------------------
class SeatBlocks(Strict, frozen=True):
    blocks: Annotated[list[SeatBlock], msgspec.Meta(min_length=0, max_length=500)] = []
    ga_zones: Annotated[list[GaZone], msgspec.Meta(max_length=100)] = []


class VenueIn(Strict, frozen=True):
    """Give either `seat_map` (a full document) or `layout` (blocks of rows × seats)."""

    name: Text
    city: Text
    timezone: TimeZone = "Asia/Seoul"
    seat_map: SeatMap | None = None
    layout: SeatBlocks | None = None


class VenuePatch(Strict, frozen=True):
    name: Text | None = None
    city: Text | None = None
    timezone: TimeZone | None = None


class VenueSummary(msgspec.Struct, frozen=True):
    id: str
    name: str
    city: str
    timezone: str
    capacity: int
    created_at: datetime


class VenueOut(msgspec.Struct, frozen=True):
    id: str
    name: str
    city: str
    timezone: str
    capacity: int
    seat_map: SeatMap
    created_at: datetime


class EventIn(Strict, frozen=True):
    title: Text
    artists: Annotated[list[Artist], msgspec.Meta(min_length=1, max_length=20)]
    genre: Genre = "k-pop"
    description: LongText = ""
    poster_ref: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    status: EventStatus = EventStatus.DRAFT


class EventPatch(Strict, frozen=True):
    title: Text | None = None
    artists: Annotated[list[Artist], msgspec.Meta(min_length=1, max_length=20)] | None = None
    genre: Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=SINGLE_LINE)] | None = (
        None
    )
    description: LongText | None = None
    poster_ref: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    status: EventStatus | None = None


class PosterUploadOut(msgspec.Struct, frozen=True):
    """How to upload a poster: `POST` the form `fields`, then `Content-Type` (image/jpeg,
    image/png or image/webp) and the file (last), to `url` as multipart/form-data; or,
    where the runtime has no direct uploads, `PUT` the raw bytes to `url` with your token."""

    method: Literal["POST", "PUT"]
    url: str
    fields: dict[str, str]
    key: str | None
    max_bytes: int
    expires_at: datetime | None


class PerformanceIn(Strict, frozen=True):
    venue_id: Text
    starts_at: datetime
    sale_opens_at: datetime
    sale_closes_at: datetime
    grades: Annotated[list[PriceGrade], msgspec.Meta(min_length=1, max_length=20)]
    assignment: GradeAssignment
    timezone: TimeZone = "Asia/Seoul"
    blocked_seats: Annotated[list[SeatId], msgspec.Meta(max_length=10_000)] = []
    ticket_limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEATS_PER_HOLD)] = 4
    hold_ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 420
    payment_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900


class PerformancePatch(Strict, frozen=True):
    starts_at: datetime | None = None
    sale_opens_at: datetime | None = None
    sale_closes_at: datetime | None = None
    ticket_limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEATS_PER_HOLD)] | None = None
    hold_ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] | None = None
    payment_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None


# -- holds, orders, payments, tickets ---------------------------------------------------
class HoldIn(Strict, frozen=True):
    seats: Annotated[list[SeatId], msgspec.Meta(max_length=MAX_SEATS_PER_HOLD)] = []
    ga: Annotated[list[GaRequest], msgspec.Meta(max_length=10)] = []


class HoldOut(msgspec.Struct, frozen=True):
    id: str
    performance_id: str
    status: str
    items: list[HoldItem]
    quantity: int
    total_krw: int
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, hold: Hold, now: datetime | None = None) -> HoldOut:
        """`now` given: the live status; omitted: as stored (what a replay must repeat)."""
        return cls(
            id=hold.id,
            performance_id=hold.performance_id,
            status=hold.status if now is None else hold.effective_status(now),
            items=hold.items,
            quantity=hold.quantity,
            total_krw=hold.total_krw,
            created_at=hold.created_at,
            expires_at=hold.expires_at,
        )


class OrderIn(Strict, frozen=True):
    hold_id: Text


class OrderOut(msgspec.Struct, frozen=True):
    id: str
    performance_id: str
    hold_id: str
    status: str
    items: list[HoldItem]
    total_krw: int
    created_at: datetime
    payment_deadline: datetime
    paid_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, order: Order, now: datetime | None = None) -> OrderOut:
        """`now` given: the live status; omitted: as stored (what a replay must repeat)."""
        return cls(
            id=order.id,
            performance_id=order.performance_id,
            hold_id=order.hold_id,
            status=order.status if now is None else order.effective_status(now),
            items=order.items,
            total_krw=order.total_krw,
            created_at=order.created_at,
            payment_deadline=order.payment_deadline,
            paid_at=order.paid_at,
            closed_at=order.closed_at,
        )


class PaymentIn(Strict, frozen=True):
    # A card token (the simulator), or the Toss payment widget's paymentKey (up to 200).
    method: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PaymentOut(msgspec.Struct, frozen=True):
    id: str
    order_id: str
    amount_krw: int
    status: str
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            id=payment.id,
            order_id=payment.order_id,
            amount_krw=payment.amount_krw,
            status=payment.status,
            decline_reason=payment.decline_reason,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


class TicketOut(msgspec.Struct, frozen=True):
    id: str
    order_id: str
    performance_id: str
    unit_id: str
    zone_id: str
    grade: str
    price_krw: int
    code: str
    status: str
    issued_at: datetime

    @classmethod
    def of(cls, ticket: Ticket) -> TicketOut:
        return cls(
            id=ticket.id,
            order_id=ticket.order_id,
            performance_id=ticket.performance_id,
            unit_id=ticket.unit_id,
            zone_id=ticket.zone_id,
            grade=ticket.grade,
            price_krw=ticket.price_krw,
            code=ticket.code,
            status=ticket.status,
            issued_at=ticket.issued_at,
        )


class TicketCheckIn(Strict, frozen=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class TicketCheckOut(msgspec.Struct, frozen=True):
    valid_signature: bool
    ticket_id: str
    performance_id: str
    unit_id: str
    order_id: str
    issued_at: int


class PublicKeyOut(msgspec.Struct, frozen=True):
    algorithm: str
    public_key_pem: str
