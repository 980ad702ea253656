"""Wiring: builds the services on the local (embedded) adapters.

Nothing is built at import time; entry points call `build_local` and own the
result's lifetime (`open` before serving, `close` after).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from booking.adapters.coalescing import CoalescingInventoryReads
from booking.adapters.images.pillow_processor import PillowImageProcessor
from booking.adapters.local.disk_media import DiskMediaStore
from booking.adapters.local.mail_folder import MailFolder
from booking.adapters.local.memory_preclaim import MemoryPreclaimingBookingStore
from booking.adapters.local.outbox_relay import OutboxRelay
from booking.adapters.local.sqlite_accounts import SqliteAccountStore
from booking.adapters.local.sqlite_booking import SqliteBookingStore
from booking.adapters.local.sqlite_catalog import SqliteCatalogStore
from booking.adapters.local.sqlite_db import MAX_GROUP, SqliteDatabase, WriterKind
from booking.adapters.local.sqlite_gateway_state import GATEWAY_MIGRATIONS, SqliteGatewayState
from booking.adapters.local.sqlite_search import SqliteSearchIndex
from booking.adapters.memory_rate_limiter import MemoryRateLimiter
from booking.adapters.outbox_dispatch import BatchSubscription, Handler
from booking.adapters.payments.simulated_gateway import (
    GatewayBehaviour,
    SimulatedGateway,
    WebhookSender,
)
from booking.adapters.payments.state import GatewayState
from booking.adapters.security.argon2_hasher import Argon2PasswordHasher
from booking.adapters.security.common_passwords import common_passwords
from booking.adapters.security.ed25519_signer import Ed25519TicketSigner
from booking.adapters.shifted_clock import ShiftedClock
from booking.adapters.system_clock import SystemClock
from booking.domain.passwords import PasswordPolicy
from booking.domain.ports import (
    AccountStore,
    CatalogReads,
    Clock,
    EventStore,
    ExpirySweep,
    HoldsAndOrders,
    HoldStore,
    InventoryReads,
    Mailer,
    MediaStore,
    OrderStore,
    PasswordHasher,
    PaymentGateway,
    PaymentStore,
    PerformanceStore,
    PosterUploads,
    RateLimiter,
    SearchIndex,
    TicketStore,
    VenueStore,
    WebhookQueue,
)
from booking.services.accounts import AccountService
from booking.services.catalog import CatalogService
from booking.services.holds import HoldService
from booking.services.listing_indexer import ListingIndexer
from booking.services.notifications import NotificationService
from booking.services.orders import OrderService
from booking.services.payments import PaymentService
from booking.services.posters import PosterService
from booking.services.search import SearchService
from booking.services.tickets import TicketService
from booking.settings import ConfigError, Settings


class ManagedSearchIndex(SearchIndex, Protocol):
    """A search index with the lifetime of its runtime (connections, files)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def search_index(settings: Settings, clock: Clock) -> ManagedSearchIndex:
    """OpenSearch when configured (required on AWS), else FTS5 beside the other databases."""
    if settings.aws.opensearch_url:
        from booking.adapters.aws.opensearch_index import (  # noqa: PLC0415 - optional dependency
            OpenSearchIndex,
        )

        return OpenSearchIndex(
            settings.aws.opensearch_url, settings.aws.opensearch_index, settings.aws.aws_region
        )
    return SqliteSearchIndex(settings.local.data_dir / "search.sqlite3", clock)


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
    clock: Clock
    """The services' clock: what the API renders "now" (a hold's remaining time) with."""
    rate_limiter: RateLimiter
    """Where request rates and failed log-ins are counted (memory, or Redis on AWS)."""


class ManagedGateway(PaymentGateway, Protocol):
    """The configured payment provider, with what entry points do with it: the simulator
    delivers its own webhooks (`attach` a sender, then `run_deliveries`); a real provider
    posts them to us by itself, and its versions of these do nothing."""

    def attach(self, send: WebhookSender) -> None: ...
    async def run_deliveries(self, poll_seconds: float | None = None) -> None: ...
    async def deliver_due(self, limit: int = 50) -> bool: ...


class Closable(Protocol):
    async def aclose(self) -> None: ...


class CatalogTable(VenueStore, EventStore, PerformanceStore, CatalogReads, Protocol):
    """An adapter family's catalogue (SqliteCatalogStore, DynamoCatalogStore): venues,
    events and performances at once; composition hands each service the ports it uses."""


class BookingTable(
    HoldStore, InventoryReads, OrderStore, PaymentStore, TicketStore, ExpirySweep, Protocol
):
    """An adapter family's booking table (SqliteBookingStore, DynamoBookingStore): it
    implements every booking port at once, since its transactions span them. Only
    composition sees it whole; services and wrappers take the ports they use."""


@dataclass(frozen=True)
class BookingPorts:
    """The booking ports a runtime hands its services, each wrapped as the settings say
    (a pre-claim around holds and orders, a cache around inventory reads, ...)."""

    holds: HoldStore
    inventory: InventoryReads
    orders: OrderStore
    payments: PaymentStore
    tickets: TicketStore
    expiry: ExpirySweep

    @classmethod
    def of(cls, table: BookingTable) -> BookingPorts:
        return cls(table, table, table, table, table, table)

    def wrapped(self, **ports: object) -> BookingPorts:
        """These ports with some replaced by their wrappers."""
        return dataclasses.replace(self, **ports)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Finish what a wrapper still has in flight (the pre-claim's settles), once each."""
        seen: set[int] = set()
        for port in (getattr(self, field.name) for field in dataclasses.fields(self)):
            closing = getattr(port, "aclose", None)
            if closing is not None and id(port) not in seen:
                seen.add(id(port))
                await closing()


class Relay(Protocol):
    async def run(self) -> None: ...


class Runtime(Protocol):
    """What entry points need of a runtime, whichever adapters it is built on."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def gateway(self) -> ManagedGateway: ...
    @property
    def booking(self) -> BookingPorts: ...
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
    """The simulator's own file (opened only while the simulator is the provider)."""
    gateway: ManagedGateway
    booking: BookingPorts
    services: Services
    search_index: ManagedSearchIndex
    indexer: ListingIndexer
    redis: Closable | None = None

    def open(self) -> None:
        self.db.open()
        if isinstance(self.gateway, SimulatedGateway):
            self.gateway_db.open()

    def close(self) -> None:
        self.db.close()
        if isinstance(self.gateway, SimulatedGateway):
            self.gateway_db.close()

    async def start(self) -> None:
        self.open()
        await self.search_index.start()

    async def stop(self) -> None:
        await self.booking.aclose()  # the pre-claim's settles still riding, say
        await self.search_index.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await close_gateway(self.gateway)
        self.close()

    def relay(
        self,
        handlers: Mapping[str, Sequence[Handler]],
        batch_handlers: Sequence[BatchSubscription] = (),
    ) -> Relay:
        return OutboxRelay(self.db, handlers, batch_handlers)


def ticket_signer(settings: Settings) -> Ed25519TicketSigner:
    """The configured key, or one kept in the data folder (created on first start)."""
    if settings.ticket_signing_key:
        return Ed25519TicketSigner.from_pem(settings.ticket_signing_key)
    return Ed25519TicketSigner.from_file(settings.local.data_dir / "ticket-signing-key.pem")


def simulated_gateway(settings: Settings, clock: Clock) -> tuple[SqliteDatabase, SimulatedGateway]:
    """The payment gateway simulator with its own database in the data folder."""
    gateway_db = SqliteDatabase(
        settings.local.data_dir / "payment-gateway.sqlite3", clock, migrations=GATEWAY_MIGRATIONS
    )
    return gateway_db, simulator_on(SqliteGatewayState(gateway_db), settings, clock)


def simulator_on(state: GatewayState, settings: Settings, clock: Clock) -> SimulatedGateway:
    """The one simulator behaviour, on whichever state its runtime keeps."""
    behaviour = GatewayBehaviour(
        duplicate_rate=settings.payments.gateway_duplicate_rate,
        late_rate=settings.payments.gateway_late_rate,
    )
    return SimulatedGateway(state, settings.resolved_webhook_secret(), clock, behaviour)


def payment_gateway(
    settings: Settings, clock: Clock, simulator: Callable[[], SimulatedGateway]
) -> ManagedGateway:
    """The provider `settings.payments.payment_provider` names; `simulator` builds the simulator on
    the runtime's own state when that is the one."""
    if settings.payments.payment_provider == "toss":
        from booking.adapters.payments.toss import (  # noqa: PLC0415 - only when chosen
            TossPaymentsGateway,
        )

        return TossPaymentsGateway(
            settings.payments.toss_secret_key,
            clock,
            api_url=settings.payments.toss_api_url,
            security_key=settings.payments.toss_security_key or None,
        )
    return simulator()


async def close_gateway(gateway: ManagedGateway) -> None:
    closing = getattr(gateway, "aclose", None)
    if closing is not None:  # a provider's HTTP client
        await closing()


def build_services(
    settings: Settings,
    clock: Clock,
    accounts: AccountStore,
    catalog_store: CatalogTable,
    booking: BookingPorts,
    gateway: PaymentGateway,
    search: SearchIndex,
    *,
    mailer: Mailer | None = None,
    webhook_queue: WebhookQueue | None = None,
    media: MediaStore | None = None,
    uploads: PosterUploads | None = None,
    limiter: RateLimiter | None = None,
    hasher: PasswordHasher | None = None,
) -> Services:
    """The services on whichever stores a runtime provides; the rest is shared.

    `mailer` defaults to `.eml` files in the data folder; `webhook_queue`, when
    given, receives verified webhooks instead of their being applied inline.
    `media` defaults to the data folder, where posters are uploaded through the
    API; `uploads`, when given, hands out presigned forms for direct uploads.
    `limiter` defaults to this process's memory; `hasher` to argon2id.
    """
    limiter = limiter or MemoryRateLimiter()
    hasher = hasher or Argon2PasswordHasher(settings.limits.password_hash_threads)
    media = media or DiskMediaStore(
        settings.local.data_dir / "media", settings.aws.media_base_url or "/media"
    )
    catalog = CatalogService(catalog_store, catalog_store, catalog_store, media, clock)
    orders = OrderService(booking.orders, booking.holds, catalog, clock)
    tickets = TicketService(booking.tickets, booking.orders, ticket_signer(settings), clock)
    secret = settings.resolved_webhook_secret()
    return Services(
        accounts=AccountService(
            accounts,
            hasher,
            clock,
            settings.limits.session_cache_seconds,
            limiter=limiter,
            policy=PasswordPolicy(common_passwords()),
            backoff=settings.backoff(),
        ),
        catalog=catalog,
        holds=HoldService(booking.holds, booking.inventory, catalog, clock),
        orders=orders,
        payments=PaymentService(
            booking.payments, booking.orders, orders, tickets, gateway, clock, secret, webhook_queue
        ),
        tickets=tickets,
        posters=PosterService(
            catalog, catalog_store, media, PillowImageProcessor(), clock, uploads
        ),
        notifications=NotificationService(
            booking.orders,
            booking.tickets,
            accounts,
            catalog_store,
            mailer or MailFolder(settings.local.data_dir / "mail"),
            settings.mail_from,
        ),
        search=SearchService(search),
        clock=clock,
        rate_limiter=limiter,
    )


def build_local(
    settings: Settings,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    claims: Inventory | None = None,
) -> LocalRuntime:
    """The embedded runtime; `claims` wraps its booking store (default: `inventory`)."""
    clock = clock or SystemClock()
    # The baselines give every write its own transaction, as their designs do.
    group = 1 if settings.inventory.inventory_strategy != "claims" else MAX_GROUP
    writer = booking_writer(settings, clock)
    db = SqliteDatabase(
        settings.local.data_dir / "concertbook.sqlite3", clock, max_group=group, writer=writer
    )
    gateway_db, simulator = simulated_gateway(settings, clock)
    gateway = payment_gateway(settings, clock, lambda: simulator)
    table = BookingPorts.of(SqliteBookingStore(db))
    coalesced = table.wrapped(inventory=CoalescingInventoryReads(table.inventory))
    booking, redis = (claims or inventory)(settings, coalesced, clock)
    catalog_store = SqliteCatalogStore(db)
    index = search_index(settings, clock)
    services = build_services(
        settings,
        clock,
        SqliteAccountStore(db),
        catalog_store,
        booking,
        gateway,
        index,
        hasher=hasher,
    )
    indexer = ListingIndexer(catalog_store, booking.inventory, index)
    return LocalRuntime(
        settings, clock, db, gateway_db, gateway, booking, services, index, indexer, redis
    )


def booking_writer(settings: Settings, clock: Clock) -> WriterKind:
    """The writer process reads its own clock (the system's, or a shifted clock's file) and
    needs a POSIX socket pair; another injected clock or platform keeps it on a thread."""
    wanted = settings.local.sqlite_writer == "process"
    readable = isinstance(clock, SystemClock | ShiftedClock)
    return "process" if wanted and readable and os.name == "posix" else "thread"


Inventory = Callable[[Settings, BookingPorts, Clock], tuple[BookingPorts, Closable | None]]
"""Wraps the family's booking ports as the settings say places are claimed (`inventory`
below; the rehearsal's baselines in rehearsal/baselines/ are composed by its entry point)."""


def inventory(
    settings: Settings, ports: BookingPorts, clock: Clock
) -> tuple[BookingPorts, Closable | None]:
    """Holds and orders behind their pre-claim (memory, or Redis when configured), and the
    Redis client it needs, if any (the aws extra's redis package is imported only then)."""
    if settings.inventory.inventory_strategy != "claims":
        raise ConfigError(
            f"CONCERTBOOK_INVENTORY_STRATEGY={settings.inventory.inventory_strategy} is a"
            " rehearsal baseline: `concertbook serve` composes it (rehearsal/baselines/)"
        )
    if not settings.inventory.preclaim:
        return ports, None
    if not settings.aws.redis_url:
        # One API process: what it pre-claimed is known here, without a round trip.
        memory = MemoryPreclaimingBookingStore(holds_and_orders(ports), clock)
        return preclaimed(ports, memory), None
    from booking.adapters.aws.redis_guard import redis_client  # noqa: PLC0415 - optional
    from booking.adapters.aws.redis_preclaim import (  # noqa: PLC0415 - optional dependency
        PreclaimingBookingStore,
    )

    redis = redis_client(settings.aws.redis_url, timeout_seconds=settings.aws.redis_timeout_seconds)
    # Redis turns losers away before they queue for the writer; SQLite stays the fence.
    return preclaimed(
        ports, PreclaimingBookingStore(holds_and_orders(ports), redis, clock=clock)
    ), redis


def holds_and_orders(ports: BookingPorts) -> HoldsAndOrders:
    """What holds and orders are behind (one object, until something wraps both)."""
    holds: object = ports.holds
    assert holds is ports.orders, "holds and orders are wrapped together or not at all"
    return cast(HoldsAndOrders, holds)


def preclaimed(ports: BookingPorts, wrapper: HoldsAndOrders) -> BookingPorts:
    """Holds and orders both behind `wrapper` (it frees what orders close)."""
    return ports.wrapped(holds=wrapper, orders=wrapper)
