"""Events written to the outbox in the same transaction as the change they announce.

Locally in-process consumers read them; on AWS the same structs travel through
DynamoDB Streams and SQS. One tagged union, decoded by one reusable decoder.
"""

from __future__ import annotations

import msgspec


class HoldPlaced(msgspec.Struct, frozen=True, gc=False, tag=True):
    hold_id: str
    performance_id: str
    quantity: int


class HoldReleased(msgspec.Struct, frozen=True, gc=False, tag=True):
    hold_id: str
    performance_id: str
    reason: str


class OrderPlaced(msgspec.Struct, frozen=True, gc=False, tag=True):
    order_id: str
    performance_id: str
    total_krw: int


class OrderPaid(msgspec.Struct, frozen=True, gc=False, tag=True):
    """Seats are sold: capture the money, then issue the tickets."""

    order_id: str
    payment_id: str
    gateway_payment_id: str


class OrderClosed(msgspec.Struct, frozen=True, gc=False, tag=True):
    """An order ended unpaid, cancelled or refunded; money taken must go back."""

    order_id: str
    status: str
    gateway_payment_id: str | None
    refund: bool


class TicketsIssued(msgspec.Struct, frozen=True, gc=False, tag=True):
    """An order's tickets are stored: mail the fan its confirmation with the codes."""

    order_id: str
    account_id: str | None = None


class CatalogChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    kind: str
    id: str
    deleted: bool = False


class PosterUploaded(msgspec.Struct, frozen=True, gc=False, tag=True):
    """An event points at a new poster original (`key`): make its variants."""

    event_id: str
    key: str


OutboxMessage = (
    HoldPlaced
    | HoldReleased
    | OrderPlaced
    | OrderPaid
    | OrderClosed
    | TicketsIssued
    | CatalogChanged
    | PosterUploaded
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OutboxMessage)


def encode_message(message: OutboxMessage) -> bytes:
    return _encoder.encode(message)


def decode_message(raw: bytes) -> OutboxMessage:
    message: OutboxMessage = _decoder.decode(raw)
    return message


def topic_of(message: OutboxMessage) -> str:
    return type(message).__name__
