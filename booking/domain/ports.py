"""The ports: what the booking services need from the world, as Protocols they own.

Adapters (SQLite locally, DynamoDB/Redis on AWS) implement them. Every store
method that changes inventory is one atomic, conditional write: the store, not
a lock in front of it, guarantees that a place is sold at most once.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterable, Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

import msgspec

from booking.domain.accounts import Account, Session, StoredAccount
from booking.domain.catalog import Event, InventoryUnit, Performance
from booking.domain.holds import Hold, HoldRequest
from booking.domain.limits import Backoff, Rate
from booking.domain.media import ImageVariant
from booking.domain.messages import PosterUploaded
from booking.domain.orders import Order
from booking.domain.payments import GatewayPayment, Payment, PaymentStatus, WebhookEvent
from booking.domain.search import ConcertListing, SearchPage, SearchQuery, Withdrawal
from booking.domain.tickets import Ticket, TicketClaims
from booking.domain.venues import Venue


class Idempotency(msgspec.Struct, frozen=True, gc=False):
    """A client's Idempotency-Key, scoped to its account and operation.

    The store saves the result with the change in one transaction; the same key
    with the same fingerprint returns that result, with another fingerprint it
    raises IdempotencyKeyReused.
    """

    scope: str
    key: str
    fingerprint: str


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    """Deliberately slow hashing (tens of milliseconds of CPU): an adapter does it away from
    the event loop, a bounded number at a time, so other requests are served meanwhile."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...


class RateLimiter(Protocol):
    """Counters with a lifetime, shared by every process of a stage that shares the store:
    request rates per key (sliding windows, booking/domain/limits.py) and the failed log-ins of an
    account. Keys are opaque strings the caller makes unique per limit."""

    async def acquire(self, limits: Sequence[tuple[str, Rate]]) -> float:
        """One request against each (key, rate): 0.0 if every rate lets it through (then it
        counts against each), else seconds until all would, and it counts against none."""
        ...

    async def attempt(self, key: str, backoff: Backoff) -> float:
        """A log-in attempt of the account `key`: 0.0 if it may go ahead (it counts as a
        failure until `clear`), else seconds until its back-off has passed (not counted)."""
        ...

    async def clear(self, key: str) -> None:
        """The attempt succeeded: forget the failures of `key`."""
        ...


class TicketSigner(Protocol):
    def sign(self, claims: TicketClaims) -> str: ...
    def verify(self, code: str) -> TicketClaims: ...
    def public_key_pem(self) -> str: ...


class PaymentGateway(Protocol):
    async def create_payment(
        self, reference: str, amount_krw: int, method: str, idempotency_key: str
    ) -> GatewayPayment: ...
    async def capture(self, gateway_payment_id: str) -> GatewayPayment: ...
    async def void(self, gateway_payment_id: str) -> GatewayPayment: ...
    async def refund(self, gateway_payment_id: str) -> GatewayPayment: ...
    async def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        """One of the provider's webhooks, verified by its own protocol, as our event; None
        for an event that says nothing about a payment's state."""
        ...


class AccountStore(Protocol):
    async def add_account(self, account: Account, password_hash: str) -> None: ...
    async def account_by_email(self, email: str) -> StoredAccount | None: ...
    async def get_account(self, account_id: str) -> Account | None: ...
    async def add_session(self, session: Session) -> None: ...
    async def session_with_account(self, token_hash: str) -> tuple[Session, Account] | None:
        """The session of this token and its account: every authenticated request asks."""
        ...

    async def delete_session(self, token_hash: str) -> None: ...


class VenueStore(Protocol):
    """Venues and their seat maps."""

    async def add_venue(self, venue: Venue, idem: Idempotency | None) -> Venue: ...
    async def get_venue(self, venue_id: str) -> Venue | None: ...
    async def list_venues(self, organizer_id: str) -> list[Venue]: ...
    async def update_venue(self, venue: Venue) -> None: ...
    async def delete_venue(self, venue_id: str) -> None: ...


class EventStore(Protocol):
    """Events (a concert, its artists and poster)."""

    async def add_event(self, event: Event, idem: Idempotency | None) -> Event: ...
    async def get_event(self, event_id: str) -> Event | None: ...
    async def list_events(
        self, organizer_id: str | None, published_only: bool, limit: int, after: str | None
    ) -> list[Event]: ...
    async def update_event(self, event: Event) -> None: ...
    async def set_event_poster(self, event: Event, uploaded: PosterUploaded) -> None:
        """`update_event`, with `uploaded` in the outbox in the same transaction."""
        ...

    async def delete_event(self, event_id: str) -> None: ...


class PerformanceStore(Protocol):
    """Performances: an event at a venue on a date, with its grades and sale window."""

    async def add_performance(
        self, performance: Performance, units: list[InventoryUnit], idem: Idempotency | None
    ) -> Performance: ...
    async def get_performance(self, performance_id: str) -> Performance | None: ...
    async def list_performances(self, event_id: str) -> list[Performance]: ...
    async def list_performances_at_venue(self, venue_id: str) -> list[Performance]: ...
    async def update_performance(self, performance: Performance) -> None: ...
    async def delete_performance(self, performance_id: str) -> None: ...


class CatalogReads(Protocol):
    """What the search feed and the confirmation mail read of the catalogue."""

    async def get_venue(self, venue_id: str) -> Venue | None: ...
    async def get_event(self, event_id: str) -> Event | None: ...
    async def list_events(
        self, organizer_id: str | None, published_only: bool, limit: int, after: str | None
    ) -> list[Event]: ...
    async def get_performance(self, performance_id: str) -> Performance | None: ...
    async def list_performances(self, event_id: str) -> list[Performance]: ...
    async def list_performances_at_venue(self, venue_id: str) -> list[Performance]: ...


class PlaceState(enum.StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    SOLD = "sold"
    BLOCKED = "blocked"


class ZoneAvailability(msgspec.Struct, frozen=True, gc=False):
    zone_id: str
    kind: str
    grade: str
    price_krw: int
    capacity: int
    available: int
    held: int
    sold: int
    blocked: int


class Availability(msgspec.Struct, frozen=True):
    """Counts as of one consistent read: available + held + sold + blocked = capacity."""

    performance_id: str
    as_of: datetime
    capacity: int
    available: int
    held: int
    sold: int
    blocked: int
    zones: list[ZoneAvailability]


class GradeSales(msgspec.Struct, frozen=True, gc=False):
    grade: str
    sold: int
    revenue_krw: int


class Sales(msgspec.Struct, frozen=True):
    """What an organizer watches during an onsale: places sold and money taken."""

    performance_id: str
    as_of: datetime
    sold: int
    revenue_krw: int
    paid_orders: int
    grades: list[GradeSales]


class PlaceStatus(msgspec.Struct, frozen=True, gc=False):
    unit_id: str
    zone_id: str
    grade: str
    state: PlaceState


class ConfirmOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_PAID = "already_paid"
    EXPIRED = "expired"
    CLOSED = "closed"


class HoldStore(Protocol):
    """Holds: claiming places all or nothing, and giving them back."""

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold: ...
    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        """The hold an earlier request with this key made (a replay's answer), if any."""
        ...

    async def get_hold(self, hold_id: str) -> Hold | None: ...
    async def release_hold(self, hold_id: str) -> Hold: ...


class InventoryReads(Protocol):
    """What a performance's places look like now: counts, each place's state, sales."""

    async def availability(self, performance_id: str) -> Availability: ...
    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]: ...
    async def sales(self, performance_id: str) -> Sales: ...


class OrderStore(Protocol):
    """Orders: a hold turned into something to pay for within a window, or closed."""

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order: ...
    async def get_order(self, order_id: str) -> Order | None: ...
    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]: ...
    async def close_order(self, order_id: str, refund: bool) -> Order: ...


class HoldsAndOrders(HoldStore, OrderStore, Protocol):
    """Both ports whose writes claim and free places: what a pre-claim in front of the
    store wraps."""


class PaymentStore(Protocol):
    """Payments of orders, and the confirmation that sells an order's places."""

    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment: ...
    async def get_payment(self, payment_id: str) -> Payment | None: ...
    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None: ...
    async def payments_for_order(self, order_id: str) -> list[Payment]: ...
    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool: ...
    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome: ...


class TicketStore(Protocol):
    """The tickets of paid orders."""

    async def issue_tickets(self, order_id: str, tickets: list[Ticket]) -> None: ...
    async def tickets_for_order(self, order_id: str) -> list[Ticket]: ...
    async def list_tickets(
        self, account_id: str, limit: int, after: str | None
    ) -> list[Ticket]: ...
    async def get_ticket(self, ticket_id: str) -> Ticket | None: ...


class ExpirySweep(Protocol):
    """Marks lapsed holds and unpaid orders expired (claims never wait on it)."""

    async def expire_due(self, limit: int) -> int: ...


class Mailer(Protocol):
    """Delivers composed mail, at most one message per key: a repeated key is a no-op.

    Notification handlers run at least once (queues redeliver); the key (an order
    id, say) turns a duplicate delivery into one mail.
    """

    async def send(self, key: str, message: EmailMessage) -> bool:
        """True if this call sent the message, False if one with `key` was sent before."""
        ...


class WebhookQueue(Protocol):
    """Verified payment-gateway webhooks waiting for a worker to apply them (SQS on AWS)."""

    async def enqueue(self, body: bytes) -> None:
        """Returns once the queue has accepted the body (durably)."""
        ...


class StoredMedia(msgspec.Struct, frozen=True):
    key: str
    content_type: str
    data: bytes


class MediaStore(Protocol):
    """Immutable blobs under content-hashed keys (S3 behind a CDN on AWS, a folder locally)."""

    async def put(self, key: str, content_type: str, data: bytes) -> None: ...
    async def get(self, key: str) -> StoredMedia | None: ...
    def url(self, key: str) -> str:
        """Where clients load `key` from (the CDN on AWS, `/media/<key>` locally)."""
        ...


class ImageProcessor(Protocol):
    """Decodes untrusted images; anything that is not a safe image raises InvalidRequest."""

    async def inspect(self, data: bytes) -> tuple[int, int]:
        """(width, height) after decoding all of it: refuses bombs, truncation, garbage."""
        ...

    async def original(self, data: bytes) -> ImageVariant:
        """The image at full size, re-encoded in its own format family (JPEG, PNG, WebP):
        upright by EXIF, no metadata; the same bytes in give the same bytes out."""
        ...

    async def variants(self, data: bytes, widths: Sequence[int]) -> list[ImageVariant]:
        """One variant per distinct width `min(w, image width)`, upright by EXIF, no metadata."""
        ...


class UploadForm(msgspec.Struct, frozen=True):
    """A presigned form: POST `fields` plus the file (last) to `url` as multipart/form-data."""

    url: str
    fields: dict[str, str]
    key: str
    max_bytes: int
    expires_at: datetime


class PosterUploads(Protocol):
    """Direct uploads from browsers to object storage (S3 presigned POST), checked later."""

    async def presign(self, key: str, max_bytes: int, expires_in: timedelta) -> UploadForm:
        """A form accepting exactly `key`, 1..`max_bytes` bytes, a Content-Type of image/*."""
        ...

    async def read(self, key: str, max_bytes: int) -> bytes | None:
        """The uploaded bytes; None once gone; InvalidRequest if larger than `max_bytes`."""
        ...

    async def discard(self, key: str) -> None: ...


class SearchIndex(Protocol):
    """Where fans search concerts: OpenSearch on AWS, SQLite FTS5 locally.

    Writes carry each listing's version; an index keeps the higher one, so
    batches may arrive late, twice or out of order.
    """

    async def upsert(self, listings: Sequence[ConcertListing]) -> None: ...
    async def remove(self, withdrawals: Sequence[Withdrawal]) -> None: ...

    async def search(self, query: SearchQuery) -> SearchPage: ...
    async def rebuild(self, listings: AsyncIterable[ConcertListing]) -> int:
        """Fill a fresh index from `listings` and switch searches to it without downtime."""
        ...
