"""Wiring: builds the services on the local (embedded) adapters.

Nothing is built at import time; entry points call `build_local` and own the
result's lifetime (`open` before serving, `close` after).
"""

from __future__ import annotations

from dataclasses import dataclass

from booking.adapters.local.disk_media import DiskMediaStore
from booking.adapters.local.sqlite_accounts import SqliteAccountStore
from booking.adapters.local.sqlite_booking import SqliteBookingStore
from booking.adapters.local.sqlite_catalog import SqliteCatalogStore
from booking.adapters.local.sqlite_db import SqliteDatabase
from booking.adapters.payments.simulated_gateway import (
    GATEWAY_MIGRATIONS,
    GatewayBehaviour,
    SimulatedGateway,
)
from booking.adapters.security.argon2_hasher import Argon2PasswordHasher
from booking.adapters.security.ed25519_signer import Ed25519TicketSigner
from booking.adapters.system_clock import SystemClock
from booking.domain.ports import Clock
from booking.services.accounts import AccountService
from booking.services.catalog import CatalogService
from booking.services.holds import HoldService
from booking.services.orders import OrderService
from booking.services.payments import PaymentService
from booking.services.tickets import TicketService
from booking.settings import Settings


@dataclass
class Services:
    accounts: AccountService
    catalog: CatalogService
    holds: HoldService
    orders: OrderService
    payments: PaymentService
    tickets: TicketService


@dataclass
class LocalRuntime:
    settings: Settings
    clock: Clock
    db: SqliteDatabase
    gateway_db: SqliteDatabase
    gateway: SimulatedGateway
    booking_store: SqliteBookingStore
    services: Services

    def open(self) -> None:
        self.db.open()
        self.gateway_db.open()

    def close(self) -> None:
        self.db.close()
        self.gateway_db.close()


def build_local(settings: Settings, clock: Clock | None = None) -> LocalRuntime:
    clock = clock or SystemClock()
    db = SqliteDatabase(settings.data_dir / "concertbook.sqlite3", clock)
    gateway_db = SqliteDatabase(
        settings.data_dir / "payment-gateway.sqlite3", clock, migrations=GATEWAY_MIGRATIONS
    )
    secret = settings.resolved_webhook_secret()
    gateway = SimulatedGateway(
        gateway_db,
        secret,
        GatewayBehaviour(
            duplicate_rate=settings.gateway_duplicate_rate, late_rate=settings.gateway_late_rate
        ),
    )
    booking_store = SqliteBookingStore(db)
    catalog = CatalogService(
        SqliteCatalogStore(db), DiskMediaStore(settings.data_dir / "media"), clock
    )
    orders = OrderService(booking_store, catalog, clock)
    tickets = TicketService(
        booking_store,
        Ed25519TicketSigner.from_file(settings.data_dir / "ticket-signing-key.pem"),
        clock,
    )
    services = Services(
        accounts=AccountService(SqliteAccountStore(db), Argon2PasswordHasher(), clock),
        catalog=catalog,
        holds=HoldService(booking_store, catalog, clock),
        orders=orders,
        payments=PaymentService(booking_store, orders, tickets, gateway, clock, secret),
        tickets=tickets,
    )
    return LocalRuntime(settings, clock, db, gateway_db, gateway, booking_store, services)
