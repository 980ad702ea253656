"""Venues, events and performances in SQLite; a performance's inventory is created with it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import msgspec

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.domain.catalog import Event, InventoryUnit, Performance
from booking.domain.errors import Conflict
from booking.domain.messages import CatalogChanged, PosterUploaded
from booking.domain.ports import Idempotency
from booking.domain.venues import Venue

_encode = msgspec.json.Encoder().encode
T = TypeVar("T")

_decode_venue = msgspec.json.Decoder(Venue).decode
_decode_event = msgspec.json.Decoder(Event).decode
_decode_performance = msgspec.json.Decoder(Performance).decode


class SqliteCatalogStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add_venue(self, venue: Venue, idem: Idempotency | None) -> Venue:
        return await self._db.write_idempotent(idem, Venue, _add_venue, venue)

    async def get_venue(self, venue_id: str) -> Venue | None:
        return await self._db.read(lambda c: _one(c, "venues", venue_id, _decode_venue))

    async def list_venues(self, organizer_id: str) -> list[Venue]:
        def rows(conn: sqlite3.Connection) -> list[Venue]:
            cursor = conn.execute(
                "SELECT doc FROM venues WHERE organizer_id=? ORDER BY id", (organizer_id,)
            )
            return [_decode_venue(doc) for (doc,) in cursor]

        return await self._db.read(rows)

    async def update_venue(self, venue: Venue) -> None:
        await self._db.write(_update_venue, venue)

    async def delete_venue(self, venue_id: str) -> None:
        await self._db.write(_delete_venue, venue_id)

    async def add_event(self, event: Event, idem: Idempotency | None) -> Event:
        return await self._db.write_idempotent(idem, Event, _add_event, event)

    async def get_event(self, event_id: str) -> Event | None:
        return self._db.point_read(lambda c: _one(c, "events", event_id, _decode_event))

    async def list_events(
        self, organizer_id: str | None, published_only: bool, limit: int, after: str | None
    ) -> list[Event]:
        clauses, params = ["id > ?"], [after or ""]
        if organizer_id is not None:
            clauses.append("organizer_id = ?")
            params.append(organizer_id)
        if published_only:
            clauses.append("status = 'published'")
        sql = f"SELECT doc FROM events WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?"

        def rows(conn: sqlite3.Connection) -> list[Event]:
            return [_decode_event(doc) for (doc,) in conn.execute(sql, (*params, limit))]

        return await self._db.read(rows)

    async def update_event(self, event: Event) -> None:
        await self._db.write(_update_event, event)

    async def set_event_poster(self, event: Event, uploaded: PosterUploaded) -> None:
        await self._db.write(_set_event_poster, event, uploaded)

    async def delete_event(self, event_id: str) -> None:
        await self._db.write(_delete_event, event_id)

    async def add_performance(
        self, performance: Performance, units: list[InventoryUnit], idem: Idempotency | None
    ) -> Performance:
        return await self._db.write_idempotent(
            idem, Performance, _add_performance, performance, units
        )

    async def get_performance(self, performance_id: str) -> Performance | None:
        return self._db.point_read(
            lambda c: _one(c, "performances", performance_id, _decode_performance)
        )

    async def list_performances(self, event_id: str) -> list[Performance]:
        def rows(conn: sqlite3.Connection) -> list[Performance]:
            cursor = conn.execute(
                "SELECT doc FROM performances WHERE event_id=? ORDER BY id", (event_id,)
            )
            return [_decode_performance(doc) for (doc,) in cursor]

        return await self._db.read(rows)

    async def list_performances_at_venue(self, venue_id: str) -> list[Performance]:
        def rows(conn: sqlite3.Connection) -> list[Performance]:
            cursor = conn.execute(
                "SELECT doc FROM performances WHERE venue_id=? ORDER BY id", (venue_id,)
            )
            return [_decode_performance(doc) for (doc,) in cursor]

        return await self._db.read(rows)

    async def update_performance(self, performance: Performance) -> None:
        await self._db.write(_update_performance, performance)

    async def delete_performance(self, performance_id: str) -> None:
        await self._db.write(_delete_performance, performance_id)


def _update_revised(tx: Tx, table: str, ident: str, revision: int, doc: bytes) -> None:
    """Write `doc` only over the revision it was based on, so concurrent edits cannot both win."""
    updated = tx.execute(
        f"UPDATE {table} SET doc=? WHERE id=? AND coalesce(json_extract(doc, '$.revision'), 0)=?",
        (doc, ident, revision - 1),
    )
    if updated.rowcount == 0:
        raise Conflict(f"{ident} was changed by another request; reload it and try again")


def _one(
    conn: sqlite3.Connection, table: str, ident: str, decode: Callable[[bytes], T]
) -> T | None:
    row = conn.execute(f"SELECT doc FROM {table} WHERE id=?", (ident,)).fetchone()
    return None if row is None else decode(row[0])


def _add_venue(tx: Tx, venue: Venue) -> Venue:
    tx.execute(
        "INSERT INTO venues(id, organizer_id, doc) VALUES (?,?,?)",
        (venue.id, venue.organizer_id, _encode(venue)),
    )
    tx.emit(CatalogChanged(kind="venue", id=venue.id))
    return venue


def _update_venue(tx: Tx, venue: Venue) -> None:
    _update_revised(tx, "venues", venue.id, venue.revision, _encode(venue))
    tx.emit(CatalogChanged(kind="venue", id=venue.id))


def _delete_venue(tx: Tx, venue_id: str) -> None:
    used = tx.execute("SELECT 1 FROM performances WHERE venue_id=? LIMIT 1", (venue_id,))
    if used.fetchone():
        raise Conflict(f"venue {venue_id} has performances; delete them first")
    tx.execute("DELETE FROM venues WHERE id=?", (venue_id,))
    tx.emit(CatalogChanged(kind="venue", id=venue_id, deleted=True))


def _add_event(tx: Tx, event: Event) -> Event:
    tx.execute(
        "INSERT INTO events(id, organizer_id, status, doc) VALUES (?,?,?,?)",
        (event.id, event.organizer_id, event.status, _encode(event)),
    )
    tx.emit(CatalogChanged(kind="event", id=event.id))
    return event


def _update_event(tx: Tx, event: Event) -> None:
    _update_revised(tx, "events", event.id, event.revision, _encode(event))
    tx.execute("UPDATE events SET status=? WHERE id=?", (event.status, event.id))
    tx.emit(CatalogChanged(kind="event", id=event.id))


def _set_event_poster(tx: Tx, event: Event, uploaded: PosterUploaded) -> None:
    _update_revised(tx, "events", event.id, event.revision, _encode(event))
    tx.emit(CatalogChanged(kind="event", id=event.id))
    tx.emit(uploaded)


def _delete_event(tx: Tx, event_id: str) -> None:
    used = tx.execute("SELECT 1 FROM performances WHERE event_id=? LIMIT 1", (event_id,))
    if used.fetchone():
        raise Conflict(f"event {event_id} has performances; delete them first")
    tx.execute("DELETE FROM events WHERE id=?", (event_id,))
    tx.emit(CatalogChanged(kind="event", id=event_id, deleted=True))


def _add_performance(tx: Tx, performance: Performance, units: list[InventoryUnit]) -> Performance:
    tx.execute(
        "INSERT INTO performances(id, event_id, venue_id, doc) VALUES (?,?,?,?)",
        (performance.id, performance.event_id, performance.venue_id, _encode(performance)),
    )
    tx.conn.executemany(
        "INSERT INTO units(performance_id, unit_id, zone_id, kind, grade, price_krw, state)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            (
                performance.id,
                u.unit_id,
                u.zone_id,
                u.kind,
                u.grade,
                u.price_krw,
                "blocked" if u.blocked else "available",
            )
            for u in units
        ),
    )
    tx.emit(CatalogChanged(kind="performance", id=performance.id))
    return performance


def _update_performance(tx: Tx, performance: Performance) -> None:
    _update_revised(tx, "performances", performance.id, performance.revision, _encode(performance))
    tx.emit(CatalogChanged(kind="performance", id=performance.id))


def _delete_performance(tx: Tx, performance_id: str) -> None:
    if tx.execute(
        "SELECT 1 FROM holds WHERE performance_id=? LIMIT 1", (performance_id,)
    ).fetchone():
        raise Conflict(f"performance {performance_id} has holds or orders; it stays")
    tx.execute("DELETE FROM units WHERE performance_id=?", (performance_id,))
    tx.execute("DELETE FROM performances WHERE id=?", (performance_id,))
    tx.emit(CatalogChanged(kind="performance", id=performance_id, deleted=True))
