"""Tickets: one per sold place, carrying a code signed so a gate can check it offline."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class TicketStatus(enum.StrEnum):
    VALID = "valid"
    VOID = "void"


class TicketClaims(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What the signed code says; array-like to keep the QR code small."""

    ticket_id: str
    performance_id: str
    unit_id: str
    order_id: str
    issued_at: int


class Ticket(msgspec.Struct, frozen=True, gc=False):
    id: str
    order_id: str
    account_id: str
    performance_id: str
    unit_id: str
    zone_id: str
    grade: str
    price_krw: int
    code: str
    status: TicketStatus
    issued_at: datetime


def ticket_id_for(order_id: str, unit_id: str) -> str:
    """Deterministic, so issuing the tickets of an order twice yields the same tickets."""
    return f"tkt_{order_id.removeprefix('ord_')}_{unit_id}"
