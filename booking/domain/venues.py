"""Venues and their seat maps: sections → rows → seats, plus standing (GA) zones.

A seat's id is `<section>-<row>-<number>`, stable for the life of the venue, so
inventory, holds and tickets can name it without a lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

import msgspec

from booking.domain.errors import InvalidRequest
from booking.domain.text import Coordinate, Name, Origin, Spacing

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")]

MAX_SEATS_PER_VENUE = 100_000
MAX_GA_CAPACITY = 100_000


class Seat(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    number: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    x: Coordinate = 0.0
    y: Coordinate = 0.0
    accessible: bool = False
    obstructed: bool = False


class Row(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    label: Code
    seats: Annotated[list[Seat], msgspec.Meta(min_length=1, max_length=500)]


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Code
    name: Name
    rows: Annotated[list[Row], msgspec.Meta(min_length=1, max_length=500)]


class GaZone(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    id: Code
    name: Name
    capacity: Annotated[int, msgspec.Meta(ge=1, le=MAX_GA_CAPACITY)]


class SeatMap(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sections: Annotated[list[Section], msgspec.Meta(max_length=1000)] = []
    ga_zones: Annotated[list[GaZone], msgspec.Meta(max_length=100)] = []


class SeatRef(msgspec.Struct, frozen=True, gc=False):
    """A seat flattened with where it is, as inventory and tickets need it."""

    id: str
    section_id: str
    row: str
    number: int
    x: float
    y: float
    accessible: bool
    obstructed: bool


class Venue(msgspec.Struct, frozen=True):
    id: str
    organizer_id: str
    name: str
    city: str
    timezone: str
    seat_map: SeatMap
    created_at: datetime
    # Bumped by every update; the store refuses a write based on an older revision.
    revision: int = 0

    @property
    def capacity(self) -> int:
        return sum(1 for _ in iter_seats(self.seat_map)) + sum(
            zone.capacity for zone in self.seat_map.ga_zones
        )


def seat_id(section_id: str, row: str, number: int) -> str:
    return f"{section_id}-{row}-{number}"


def iter_seats(seat_map: SeatMap) -> Iterator[SeatRef]:
    for section in seat_map.sections:
        for row in section.rows:
            for seat in row.seats:
                yield SeatRef(
                    id=seat_id(section.id, row.label, seat.number),
                    section_id=section.id,
                    row=row.label,
                    number=seat.number,
                    x=seat.x,
                    y=seat.y,
                    accessible=seat.accessible,
                    obstructed=seat.obstructed,
                )


def validate_seat_map(seat_map: SeatMap) -> SeatMap:
    """Reject maps whose ids collide or that are empty or too large."""
    zone_ids = [s.id for s in seat_map.sections] + [z.id for z in seat_map.ga_zones]
    duplicates = sorted({z for z in zone_ids if zone_ids.count(z) > 1})
    if duplicates:
        raise InvalidRequest(f"section/zone ids must be unique; repeated: {', '.join(duplicates)}")
    seen: set[str] = set()
    for section in seat_map.sections:
        for row in section.rows:
            numbers = [seat.number for seat in row.seats]
            if len(numbers) != len(set(numbers)):
                raise InvalidRequest(f"row {section.id}-{row.label} repeats a seat number")
            key = f"{section.id}-{row.label}"
            if key in seen:
                raise InvalidRequest(f"section {section.id} repeats row {row.label}")
            seen.add(key)
    seats = sum(1 for _ in iter_seats(seat_map))
    if seats + len(seat_map.ga_zones) == 0:
        raise InvalidRequest("a venue needs at least one seat or standing zone")
    if seats > MAX_SEATS_PER_VENUE:
        raise InvalidRequest(f"a venue holds at most {MAX_SEATS_PER_VENUE} seats, got {seats}")
    return seat_map


class SeatBlock(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rectangular block of numbered seats, the way arenas are usually drawn."""

    section: Code
    name: Name
    rows: Annotated[int, msgspec.Meta(ge=1, le=200)]
    seats_per_row: Annotated[int, msgspec.Meta(ge=1, le=200)]
    origin_x: Origin = 0.0
    origin_y: Origin = 0.0
    spacing: Spacing = 1.0
    first_row: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    accessible_rows: list[int] = []
    obstructed_seats: list[Annotated[int, msgspec.Meta(ge=1)]] = []


def row_label(index: int) -> str:
    """1 → A, 26 → Z, 27 → AA: the row letters printed on arena tickets."""
    label = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        label = chr(ord("A") + rem) + label
    return label


def seat_map_from_blocks(blocks: list[SeatBlock], ga_zones: list[GaZone]) -> SeatMap:
    sections = []
    for block in blocks:
        rows = []
        for r in range(block.rows):
            row_number = block.first_row + r
            seats = [
                Seat(
                    number=n + 1,
                    x=block.origin_x + n * block.spacing,
                    y=block.origin_y + r * block.spacing,
                    accessible=row_number in block.accessible_rows,
                    obstructed=(n + 1) in block.obstructed_seats,
                )
                for n in range(block.seats_per_row)
            ]
            rows.append(Row(label=row_label(row_number), seats=seats))
        sections.append(Section(id=block.section, name=block.name, rows=rows))
    return validate_seat_map(SeatMap(sections=sections, ga_zones=ga_zones))
