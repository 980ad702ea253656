"""Wiring: builds the services on the local (embedded) adapters.

Nothing is built at import time; entry points call `build_local` and own the
result's lifetime (`open` before serving, `close` after).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from booking.adapters.images.pillow_processor import PillowImageProcessor
from booking.adapters.local.disk_media import DiskMediaStore
from booking.adapters.local.mail_folder import MailFolder
from booking.adapters.local.outbox_relay import BatchSubscription, Handler, OutboxRelay
from booking.adapters.local.sqlite_accounts import SqliteAccountStore
from booking.adapters.local.sqlite_booking import SqliteBookingStore
from booking.adapters.local.sqlite_catalog import SqliteCatalogStore
from booking.adapters.local.sqlite_db import SqliteDatabase
from booking.adapters.local.sqlite_search import SqliteSearchIndex
from booking.adapters.payments.simulated_gateway import (
    GATEWAY_MIGRATIONS,
    GatewayBehaviour,
    SimulatedGateway,
)
from booking.adapters.security.argon2_hasher import Argon2PasswordHasher
from booking.adapters.security.ed25519_signer import Ed25519TicketSigner
from booking.adapters.system_clock import SystemClock
from booking.domain.ports import (
    AccountStore,
    BookingStore,
    CatalogStore,
    Clock,
    Mailer,
    MediaStore,
    PaymentGateway,
    PosterUploads,
    SearchIndex,
    WebhookQueue,
)
from booking.services.accounts import AccountService
from booking.services.catalog import CatalogService
from booking.services.holds import HoldService
from booking.services.notifications import NotificationService
from booking.services.orders import OrderService
from booking.services.payments import PaymentService
from booking.services.posters import PosterService
from booking.services.search import SearchService
from booking.services.tickets import TicketService
from booking.settings import Settings
from indexer.core import ListingIndexer


class ManagedSearchIndex(SearchIndex, Protocol):
    """A search index with the lifetime of its runtime (connections, files)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def search_index(settings: Settings, clock: Clock) -> ManagedSearchIndex:
    """OpenSearch when configured (required on AWS), else FTS5 beside the other databases."""
    if settings.opensearch_url:
        from booking.adapters.aws.opensearch_index import (  # noqa: PLC0415 - optional dependency
            OpenSearchIndex,
        )

        return OpenSearchIndex(
            settings.opensearch_url, settings.opensearch_index, settings.aws_region
        )
    return SqliteSearchIndex(settings.data_dir / "search.sqlite3", clock)


@dataclass
class Services:
    accounts: AccountService
    catalog: CatalogService
    holds: HoldService
    orders: OrderService
    payments: PaymentService
    tickets: TicketService
    posters: PosterService
    notifications: NotificationService
    search: SearchService


class Relay(Protocol):
    async def run(self) -> None: ...


class Runtime(Protocol):
    """What entry points need of a runtime, whichever adapters it is built on."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def gateway(self) -> SimulatedGateway: ...
    @property
    def booking_store(self) -> BookingStore: ...
    @property
    def services(self) -> Services: ...
    @property
    def indexer(self) -> ListingIndexer: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def relay(
        self,
        handlers: Mapping[str, Sequence[Handler]],
        batch_handlers: Sequence[BatchSubscription] = (),
    ) -> Relay:
        """The consumer of this runtime's outbox, feeding `handlers` by topic."""
        ...


@dataclass
class LocalRuntime:
    settings: Settings
    clock: Clock
    db: SqliteDatabase
    gateway_db: SqliteDatabase
    gateway: SimulatedGateway
    booking_store: SqliteBookingStore
    services: Services
    search_index: ManagedSearchIndex
    indexer: ListingIndexer

    def open(self) -> None:
        self.db.open()
        self.gateway_db.open()

    def close(self) -> None:
        self.db.close()
        self.gateway_db.close()

    async def start(self) -> None:
        self.open()
        await self.search_index.start()

    async def stop(self) -> None:
        await self.search_index.stop()
        self.close()

    def relay(
        self,
        handlers: Mapping[str, Sequence[Handler]],
        batch_handlers: Sequence[BatchSubscription] = (),
    ) -> Relay:
        return OutboxRelay(self.db, handlers, batch_handlers)


def build_runtime(settings: Settings) -> Runtime:
    """The runtime `settings.runtime` names; adapters are imported only when chosen."""
    if settings.runtime == "aws":
        from booking.bootstrap_aws import build_aws  # noqa: PLC0415 - optional dependencies

        runtime: Runtime = build_aws(settings)
        return runtime
    return build_local(settings)


def ticket_signer(settings: Settings) -> Ed25519TicketSigner:
    """The configured key, or one kept in the data folder (created on first start)."""
    if settings.ticket_signing_key:
        return Ed25519TicketSigner.from_pem(settings.ticket_signing_key)
    return Ed25519TicketSigner.from_file(settings.data_dir / "ticket-signing-key.pem")


def simulated_gateway(settings: Settings, clock: Clock) -> tuple[SqliteDatabase, SimulatedGateway]:
    """The payment gateway simulator with its own database in the data folder."""
    gateway_db = SqliteDatabase(
        settings.data_dir / "payment-gateway.sqlite3", clock, migrations=GATEWAY_MIGRATIONS
    )
    behaviour = GatewayBehaviour(
        duplicate_rate=settings.gateway_duplicate_rate, late_rate=settings.gateway_late_rate
    )
    return gateway_db, SimulatedGateway(gateway_db, settings.resolved_webhook_secret(), behaviour)


def build_services(
    settings: Settings,
    clock: Clock,
    accounts: AccountStore,
    catalog_store: CatalogStore,
    booking_store: BookingStore,
    gateway: PaymentGateway,
    search: SearchIndex,
    *,
    mailer: Mailer | None = None,
    webhook_queue: WebhookQueue | None = None,
    media: MediaStore | None = None,
    uploads: PosterUploads | None = None,
) -> Services:
    """The services on whichever stores a runtime provides; the rest is shared.

    `mailer` defaults to `.eml` files in the data folder; `webhook_queue`, when
    given, receives verified webhooks instead of their being applied inline.
    `media` defaults to the data folder, where posters are uploaded through the
    API; `uploads`, when given, hands out presigned forms for direct uploads.
    """
    media = media or DiskMediaStore(
        settings.data_dir / "media", settings.media_base_url or "/media"
    )
    catalog = CatalogService(catalog_store, media, clock)
    orders = OrderService(booking_store, catalog, clock)
    tickets = TicketService(booking_store, ticket_signer(settings), clock)
    secret = settings.resolved_webhook_secret()
    return Services(
        accounts=AccountService(accounts, Argon2PasswordHasher(), clock),
        catalog=catalog,
        holds=HoldService(booking_store, catalog, clock),
        orders=orders,
        payments=PaymentService(
            booking_store, orders, tickets, gateway, clock, secret, webhook_queue
        ),
        tickets=tickets,
        posters=PosterService(
            catalog, catalog_store, media, PillowImageProcessor(), clock, uploads
        ),
        notifications=NotificationService(
            booking_store,
            accounts,
            catalog_store,
            mailer or MailFolder(settings.data_dir / "mail"),
            settings.mail_from,
        ),
        search=SearchService(search),
    )


def build_local(settings: Settings, clock: Clock | None = None) -> LocalRuntime:
    clock = clock or SystemClock()
    db = SqliteDatabase(settings.data_dir / "concertbook.sqlite3", clock)
    gateway_db, gateway = simulated_gateway(settings, clock)
    booking_store = SqliteBookingStore(db)
    catalog_store = SqliteCatalogStore(db)
    index = search_index(settings, clock)
    services = build_services(
        settings, clock, SqliteAccountStore(db), catalog_store, booking_store, gateway, index
    )
    indexer = ListingIndexer(catalog_store, booking_store, index)
    return LocalRuntime(
        settings, clock, db, gateway_db, gateway, booking_store, services, index, indexer
    )
