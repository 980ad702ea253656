"""Events (what is performed, by whom) and performances (when, where, at what price)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from booking.domain.errors import InvalidRequest
from booking.domain.media import Poster
from booking.domain.text import SINGLE_LINE, Name, ShortName
from booking.domain.venues import Code, Venue, iter_seats

PriceKrw = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class Artist(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name_ko: Name
    name_en: Name
    aliases: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200, pattern=SINGLE_LINE)]],
        msgspec.Meta(max_length=20),
    ] = []


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Event(msgspec.Struct, frozen=True):
    id: str
    organizer_id: str
    title: str
    artists: list[Artist]
    genre: str
    description: str
    poster_ref: str | None
    status: EventStatus
    created_at: datetime
    updated_at: datetime
    # Bumped by every update; the store refuses a write based on an older revision.
    revision: int = 0
    # Set with `poster_ref` (the original's key) by an upload; its variants follow.
    poster: Poster | None = None


class PriceGrade(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    code: Code
    name: ShortName
    price_krw: PriceKrw


class GradeAssignment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which grade each seat or standing place sells at: by section or zone, with seat overrides."""

    sections: dict[str, str] = {}
    ga_zones: dict[str, str] = {}
    seats: dict[str, str] = {}


class Performance(msgspec.Struct, frozen=True):
    id: str
    event_id: str
    organizer_id: str
    venue_id: str
    starts_at: datetime
    timezone: str
    sale_opens_at: datetime
    sale_closes_at: datetime
    grades: list[PriceGrade]
    assignment: GradeAssignment
    blocked_seats: list[str]
    ticket_limit: int
    hold_ttl_seconds: int
    payment_window_seconds: int
    created_at: datetime
    # Bumped by every update; the store refuses a write based on an older revision.
    revision: int = 0

    @property
    def hold_ttl(self) -> timedelta:
        return timedelta(seconds=self.hold_ttl_seconds)

    @property
    def payment_window(self) -> timedelta:
        return timedelta(seconds=self.payment_window_seconds)

    def on_sale(self, now: datetime) -> bool:
        return self.sale_opens_at <= now < self.sale_closes_at


class UnitKind(enum.StrEnum):
    SEAT = "seat"
    GA = "ga"


class InventoryUnit(msgspec.Struct, frozen=True, gc=False):
    """One sellable place of one performance: a numbered seat or one standing place."""

    unit_id: str
    zone_id: str
    kind: UnitKind
    grade: str
    price_krw: int
    blocked: bool


def ga_unit_id(zone_id: str, n: int) -> str:
    return f"{zone_id}#{n:05d}"


def check_schedule(sale_opens_at: datetime, sale_closes_at: datetime, starts_at: datetime) -> None:
    for stamp in (sale_opens_at, sale_closes_at, starts_at):
        if stamp.tzinfo is None:
            raise InvalidRequest("times need a UTC offset, e.g. 2026-12-24T20:00:00+09:00")
    if sale_opens_at >= sale_closes_at:
        raise InvalidRequest("sale_opens_at must be before sale_closes_at")
    if sale_closes_at > starts_at:
        raise InvalidRequest("the sale must close no later than the performance starts")


def check_performance_plan(
    venue: Venue,
    grades: list[PriceGrade],
    assignment: GradeAssignment,
    blocked_seats: list[str],
    sale_opens_at: datetime,
    sale_closes_at: datetime,
    starts_at: datetime,
) -> None:
    """Refuse a performance whose prices do not cover every place or whose dates are absurd."""
    check_schedule(sale_opens_at, sale_closes_at, starts_at)
    codes = [g.code for g in grades]
    if len(codes) != len(set(codes)):
        raise InvalidRequest("price grade codes must be unique")
    known = set(codes)
    section_ids = {s.id for s in venue.seat_map.sections}
    zone_ids = {z.id for z in venue.seat_map.ga_zones}
    seat_ids = {s.id for s in iter_seats(venue.seat_map)}
    for where, mapping, valid in (
        ("section", assignment.sections, section_ids),
        ("GA zone", assignment.ga_zones, zone_ids),
        ("seat", assignment.seats, seat_ids),
    ):
        for key, grade in mapping.items():
            if key not in valid:
                raise InvalidRequest(f"{where} {key!r} is not in venue {venue.id}")
            if grade not in known:
                raise InvalidRequest(f"grade {grade!r} for {where} {key!r} is not defined")
    unpriced_sections = section_ids - set(assignment.sections)
    seats_without_grade = [
        s.id
        for s in iter_seats(venue.seat_map)
        if s.section_id in unpriced_sections and s.id not in assignment.seats
    ]
    if seats_without_grade:
        raise InvalidRequest(
            f"{len(seats_without_grade)} seats have no price grade, e.g. {seats_without_grade[0]}"
        )
    if zone_ids - set(assignment.ga_zones):
        missing = ", ".join(sorted(zone_ids - set(assignment.ga_zones)))
        raise InvalidRequest(f"GA zones without a price grade: {missing}")
    unknown_blocked = [s for s in blocked_seats if s not in seat_ids]
    if unknown_blocked:
        raise InvalidRequest(f"blocked seats not in the venue: {', '.join(unknown_blocked[:10])}")


def inventory_units(performance: Performance, venue: Venue) -> Iterator[InventoryUnit]:
    """Every place the performance sells, priced, as inventory rows are created from it."""
    prices = {g.code: g.price_krw for g in performance.grades}
    blocked = set(performance.blocked_seats)
    for seat in iter_seats(venue.seat_map):
        grade = (
            performance.assignment.seats.get(seat.id)
            or performance.assignment.sections[seat.section_id]
        )
        yield InventoryUnit(
            unit_id=seat.id,
            zone_id=seat.section_id,
            kind=UnitKind.SEAT,
            grade=grade,
            price_krw=prices[grade],
            blocked=seat.id in blocked,
        )
    for zone in venue.seat_map.ga_zones:
        grade = performance.assignment.ga_zones[zone.id]
        for n in range(1, zone.capacity + 1):
            yield InventoryUnit(
                unit_id=ga_unit_id(zone.id, n),
                zone_id=zone.id,
                kind=UnitKind.GA,
                grade=grade,
                price_krw=prices[grade],
                blocked=False,
            )
