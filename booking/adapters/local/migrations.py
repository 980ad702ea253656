"""Schema versions, applied in order at start (PRAGMA user_version counts them).

Append new scripts; never edit one that has shipped. Columns used in the
conditions of writes (state, expiry, status) are real columns; the rest of an
aggregate is kept as its msgspec JSON document.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE venues (
    id TEXT PRIMARY KEY,
    organizer_id TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX venues_by_organizer ON venues(organizer_id, id);
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    organizer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX events_by_organizer ON events(organizer_id, id);
CREATE INDEX events_by_status ON events(status, id);
CREATE TABLE performances (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id),
    venue_id TEXT NOT NULL REFERENCES venues(id),
    doc BLOB NOT NULL
);
CREATE INDEX performances_by_event ON performances(event_id, id);
CREATE TABLE units (
    performance_id TEXT NOT NULL REFERENCES performances(id),
    unit_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('seat', 'ga')),
    grade TEXT NOT NULL,
    price_krw INTEGER NOT NULL CHECK (price_krw >= 0),
    state TEXT NOT NULL CHECK (state IN ('available', 'held', 'reserved', 'sold', 'blocked')),
    hold_id TEXT,
    order_id TEXT,
    expires_at_ms INTEGER,
    version INTEGER NOT NULL DEFAULT 0,
    CHECK ((state IN ('held', 'reserved')) = (expires_at_ms IS NOT NULL)),
    CHECK (state <> 'held' OR hold_id IS NOT NULL),
    CHECK (state NOT IN ('reserved', 'sold') OR order_id IS NOT NULL),
    PRIMARY KEY (performance_id, unit_id)
) WITHOUT ROWID;
CREATE INDEX units_by_zone_state ON units(performance_id, zone_id, state);
CREATE INDEX units_by_hold ON units(hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX units_by_order ON units(order_id) WHERE order_id IS NOT NULL;
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    performance_id TEXT NOT NULL REFERENCES performances(id),
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    doc BLOB NOT NULL
);
CREATE INDEX holds_active_by_expiry ON holds(expires_at_ms) WHERE status = 'active';
CREATE INDEX holds_active_by_account ON holds(account_id, performance_id) WHERE status = 'active';
CREATE TABLE ticket_limits (
    performance_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (performance_id, account_id)
) WITHOUT ROWID;
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    performance_id TEXT NOT NULL REFERENCES performances(id),
    account_id TEXT NOT NULL,
    hold_id TEXT NOT NULL UNIQUE REFERENCES holds(id),
    status TEXT NOT NULL,
    payment_deadline_ms INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    paid_payment_id TEXT,
    paid_at_ms INTEGER,
    closed_at_ms INTEGER,
    doc BLOB NOT NULL
);
CREATE INDEX orders_pending_by_deadline ON orders(payment_deadline_ms)
    WHERE status = 'pending_payment';
CREATE INDEX orders_by_account ON orders(account_id, id);
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    account_id TEXT NOT NULL,
    gateway_payment_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    decline_reason TEXT,
    updated_at_ms INTEGER NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX payments_by_order ON payments(order_id);
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    account_id TEXT NOT NULL,
    performance_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE UNIQUE INDEX tickets_one_valid_per_place ON tickets(performance_id, unit_id)
    WHERE status = 'valid';
CREATE INDEX tickets_by_account ON tickets(account_id, id);
CREATE INDEX tickets_by_order ON tickets(order_id);
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    available_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(available_at_ms, id) WHERE status = 'pending'
""",
    # Availability counts (fans poll them in a rush; search listings need them) read this
    # index alone instead of every row of a 50,000-place performance: 150 -> 60 ms there.
    # It also serves the GA claims' search for a claimable place of a zone.
    """
DROP INDEX units_by_zone_state;
CREATE INDEX units_by_zone_counts
    ON units(performance_id, zone_id, kind, grade, state, expires_at_ms, price_krw)
""",
]
