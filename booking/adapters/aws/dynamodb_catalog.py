"""Venues, events and performances in DynamoDB; places are spread over shards."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import (
    FIRST_KEY,
    INVENTORY_SHARDS,
    Dynamo,
    Item,
    TransactionCancelled,
    pack,
    shard_of,
    unpack,
)
from booking.adapters.aws.idempotent import run_idempotent
from booking.adapters.timestamps import to_ms
from booking.domain.catalog import Event, InventoryUnit, Performance
from booking.domain.errors import Conflict
from booking.domain.messages import CatalogChanged, PosterUploaded
from booking.domain.ports import Clock, Idempotency
from booking.domain.venues import Venue

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_decode_venue = msgspec.json.Decoder(Venue).decode
_decode_event = msgspec.json.Decoder(Event).decode
_decode_performance = msgspec.json.Decoder(Performance).decode


def _gsi1(pk: str, sk: str) -> Item:
    return {"gsi1pk": pk, "gsi1sk": sk}


def inventory_pk(performance_id: str, unit_id: str) -> str:
    return f"INV#{performance_id}#{shard_of(unit_id, INVENTORY_SHARDS)}"


class DynamoCatalogStore:
    def __init__(self, dynamo: Dynamo, clock: Clock) -> None:
        self._db = dynamo
        self._clock = clock

    def _announce(self, kind: str, ident: str, deleted: bool = False) -> dict[str, object]:
        """The outbox entry telling search (and anyone else) that this item changed."""
        message = CatalogChanged(kind=kind, id=ident, deleted=deleted)
        return self._db.put(outbox_item(message, to_ms(self._clock.now())))

    async def _doc(self, pk: str, sk: str, decode: Callable[[bytes], T]) -> T | None:
        item = await self._db.get(pk, sk)
        return None if item is None else decode(unpack(item["doc"]))

    async def add_venue(self, venue: Venue, idem: Idempotency | None) -> Venue:
        item = {
            "pk": f"VEN#{venue.id}",
            "sk": "VEN",
            "doc": pack(_encode(venue)),
        } | _gsi1(f"ORG#{venue.organizer_id}", f"VEN#{venue.id}")
        return await run_idempotent(
            self._db, idem, Venue, venue, [self._db.put(item), self._announce("venue", venue.id)]
        )

    async def get_venue(self, venue_id: str) -> Venue | None:
        return await self._doc(f"VEN#{venue_id}", "VEN", _decode_venue)

    async def list_venues(self, organizer_id: str) -> list[Venue]:
        items = await self._db.query(
            "gsi1pk = :o AND begins_with(gsi1sk, :v)",
            {":o": f"ORG#{organizer_id}", ":v": "VEN#"},
            index="gsi1",
        )
        return [_decode_venue(unpack(i["doc"])) for i in items]

    async def update_venue(self, venue: Venue) -> None:
        await self._put_revised(
            {"pk": f"VEN#{venue.id}", "sk": "VEN", "doc": pack(_encode(venue))}
            | _gsi1(f"ORG#{venue.organizer_id}", f"VEN#{venue.id}"),
            venue.revision,
            self._announce("venue", venue.id),
        )

    async def _put_revised(
        self, item: Item, revision: int, *announcements: dict[str, object]
    ) -> None:
        """Replace an item only over the revision it was based on (optimistic concurrency)."""
        condition = "revision = :prev" if revision > 1 else "attribute_not_exists(revision)"
        try:
            await self._db.transact(
                [
                    self._db.put(
                        item | {"revision": revision},
                        f"attribute_exists(pk) AND {condition}",
                        {":prev": revision - 1} if revision > 1 else None,
                    ),
                    *announcements,
                ]
            )
        except TransactionCancelled as exc:
            raise Conflict(
                f"{item['pk']} was changed by another request; reload it and try again"
            ) from exc

    async def delete_venue(self, venue_id: str) -> None:
        used = await self._db.query(
            "gsi2pk = :v", {":v": f"VENPRF#{venue_id}"}, index="gsi2", limit=1
        )
        if used:
            raise Conflict(f"venue {venue_id} has performances; delete them first")
        await self._db.transact(
            [self._db.delete(f"VEN#{venue_id}", "VEN"), self._announce("venue", venue_id, True)]
        )

    def _event_item(self, event: Event) -> Item:
        item: Item = {
            "pk": f"EVT#{event.id}",
            "sk": "EVT",
            "doc": pack(_encode(event)),
            "gsi1pk": f"ORG#{event.organizer_id}",
            "gsi1sk": f"EVT#{event.id}",
        }
        if event.status == "published":
            item |= {"gsi2pk": "EVENTS#published", "gsi2sk": event.id}
        return item

    async def add_event(self, event: Event, idem: Idempotency | None) -> Event:
        return await run_idempotent(
            self._db,
            idem,
            Event,
            event,
            [self._db.put(self._event_item(event)), self._announce("event", event.id)],
        )

    async def get_event(self, event_id: str) -> Event | None:
        return await self._doc(f"EVT#{event_id}", "EVT", _decode_event)

    async def list_events(
        self, organizer_id: str | None, published_only: bool, limit: int, after: str | None
    ) -> list[Event]:
        # Listings may lag a write by a moment (GSI); nothing is decided on them.
        if organizer_id is not None:
            items = await self._db.query(
                "gsi1pk = :o AND gsi1sk > :a",
                {":o": f"ORG#{organizer_id}", ":a": f"EVT#{after or ''}", ":e": "EVT#"},
                index="gsi1",
                filter_expression="begins_with(gsi1sk, :e)",
            )
            events = [_decode_event(unpack(i["doc"])) for i in items]
            events = [e for e in events if e.id > (after or "")]
            if published_only:
                events = [e for e in events if e.status == "published"]
            return events[:limit]
        items = await self._db.query(
            "gsi2pk = :p AND gsi2sk > :a",
            {":p": "EVENTS#published", ":a": after or FIRST_KEY},
            index="gsi2",
            limit=limit,
        )
        return [_decode_event(unpack(i["doc"])) for i in items]

    async def update_event(self, event: Event) -> None:
        await self._put_revised(
            self._event_item(event), event.revision, self._announce("event", event.id)
        )

    async def set_event_poster(self, event: Event, uploaded: PosterUploaded) -> None:
        await self._put_revised(
            self._event_item(event),
            event.revision,
            self._announce("event", event.id),
            self._db.put(outbox_item(uploaded, to_ms(self._clock.now()))),
        )

    async def delete_event(self, event_id: str) -> None:
        used = await self._db.query(
            "gsi1pk = :e", {":e": f"EVTPRF#{event_id}"}, index="gsi1", limit=1
        )
        if used:
            raise Conflict(f"event {event_id} has performances; delete them first")
        await self._db.transact(
            [self._db.delete(f"EVT#{event_id}", "EVT"), self._announce("event", event_id, True)]
        )

    def _performance_item(self, performance: Performance) -> Item:
        return {
            "pk": f"PRF#{performance.id}",
            "sk": "PRF",
            "doc": pack(_encode(performance)),
            "gsi1pk": f"EVTPRF#{performance.event_id}",
            "gsi1sk": performance.id,
            "gsi2pk": f"VENPRF#{performance.venue_id}",
            "gsi2sk": performance.id,
        }

    async def add_performance(
        self, performance: Performance, units: list[InventoryUnit], idem: Idempotency | None
    ) -> Performance:
        # Places first (a batch, not a transaction: a performance has up to 100,000);
        # the performance item written last makes them reachable.
        await self._db.batch_put(
            [
                {
                    "pk": inventory_pk(performance.id, u.unit_id),
                    "sk": u.unit_id,
                    "zone_id": u.zone_id,
                    "kind": u.kind.value,
                    "grade": u.grade,
                    "price_krw": u.price_krw,
                    "state": "blocked" if u.blocked else "available",
                    "version": 0,
                }
                for u in units
            ]
        )
        return await run_idempotent(
            self._db,
            idem,
            Performance,
            performance,
            [
                self._db.put(self._performance_item(performance), "attribute_not_exists(pk)"),
                self._announce("performance", performance.id),
            ],
        )

    async def get_performance(self, performance_id: str) -> Performance | None:
        return await self._doc(f"PRF#{performance_id}", "PRF", _decode_performance)

    async def list_performances(self, event_id: str) -> list[Performance]:
        items = await self._db.query("gsi1pk = :e", {":e": f"EVTPRF#{event_id}"}, index="gsi1")
        return [_decode_performance(unpack(i["doc"])) for i in items]

    async def list_performances_at_venue(self, venue_id: str) -> list[Performance]:
        items = await self._db.query("gsi2pk = :v", {":v": f"VENPRF#{venue_id}"}, index="gsi2")
        return [_decode_performance(unpack(i["doc"])) for i in items]

    async def update_performance(self, performance: Performance) -> None:
        await self._put_revised(
            self._performance_item(performance),
            performance.revision,
            self._announce("performance", performance.id),
        )

    async def delete_performance(self, performance_id: str) -> None:
        for shard in range(INVENTORY_SHARDS):
            busy = await self._db.query(
                "pk = :p",
                {":p": f"INV#{performance_id}#{shard}", ":a": "available", ":b": "blocked"},
                filter_expression="#s <> :a AND #s <> :b",
                names={"#s": "state"},
                limit=1,
            )
            if busy:
                raise Conflict(f"performance {performance_id} has holds or orders; it stays")
        await self._db.transact(
            [
                self._db.delete(f"PRF#{performance_id}", "PRF"),
                self._announce("performance", performance_id, True),
            ]
        )
