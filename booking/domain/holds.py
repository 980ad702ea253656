"""Holds: places a fan keeps for a few minutes, all or nothing, before ordering."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import msgspec

from booking.domain.catalog import UnitKind
from booking.domain.errors import HoldExpired, HoldNotActive

MAX_SEATS_PER_HOLD = 20


class HoldStatus(enum.StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"
    ORDERED = "ordered"


class GaRequest(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    zone: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEATS_PER_HOLD)]


class HoldItem(msgspec.Struct, frozen=True, gc=False):
    unit_id: str
    zone_id: str
    kind: UnitKind
    grade: str
    price_krw: int


class Hold(msgspec.Struct, frozen=True):
    id: str
    performance_id: str
    account_id: str
    status: HoldStatus
    items: list[HoldItem]
    created_at: datetime
    expires_at: datetime

    @property
    def quantity(self) -> int:
        return len(self.items)

    @property
    def total_krw(self) -> int:
        return sum(item.price_krw for item in self.items)

    def effective_status(self, now: datetime) -> HoldStatus:
        """An active hold past its expiry is expired even before a sweeper marks it."""
        if self.status is HoldStatus.ACTIVE and self.expires_at <= now:
            return HoldStatus.EXPIRED
        return self.status

    def require_active(self, now: datetime) -> None:
        """Expired (swept or not) is HoldExpired (410); released or ordered HoldNotActive (409)."""
        status = self.effective_status(now)
        if status is HoldStatus.EXPIRED:
            raise HoldExpired(f"hold {self.id} expired at {self.expires_at.isoformat()}")
        if status is not HoldStatus.ACTIVE:
            raise HoldNotActive(f"hold {self.id} is {status}")


class HoldRequest(msgspec.Struct, frozen=True):
    """What the store must claim atomically; built and checked by the hold service."""

    hold_id: str
    performance_id: str
    account_id: str
    seat_ids: list[str]
    ga: list[GaRequest]
    ticket_limit: int
    ttl_seconds: int

    @property
    def quantity(self) -> int:
        return len(self.seat_ids) + sum(g.quantity for g in self.ga)
