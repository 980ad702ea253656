"""The telemetry port: what the services and adapters report about their work.

Metrics are counted where the work is decided (a hold placed or refused, a pre-claim that
defers to the store, tickets sold, the outbox's backlog), and the account a request acts
for is named so the logs can carry it (hashed). Where the figures go — a Prometheus page,
CloudWatch EMF lines — is the entry point's choice: `booking/observability/` implements the
port and the entry point installs it into `TELEMETRY`, the process's switchboard that every
service and adapter reports to by default. Like the process's logging, metrics are one per
process, so one switch suffices and no wiring passes it around.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol


class HoldRefusal(enum.StrEnum):
    """Why a hold attempt was refused (a 409 or 422 to the fan)."""

    TAKEN = "taken"
    """The store found a place taken (or a standing zone short)."""
    LIMIT = "limit"
    """The account's ticket limit for the performance would be passed."""
    PRECLAIM = "pre-claim"
    """Turned away by the pre-claim before the store: an acknowledged claim owns a seat."""


class PreclaimGuard(enum.StrEnum):
    """Where the pre-claim did not refuse although a seat was marked: its mark was not
    conclusive, so it deferred (to a request's outcome, the key's record, or the store).
    Each is a refusal that a less careful pre-claim would have got wrong."""

    IN_FLIGHT = "in-flight"
    """Marked by a request still in flight here: waited for its outcome."""
    REPLAY = "replay"
    """Owned, but the Idempotency-Key's record showed a replay: its stored answer."""
    ELSEWHERE = "elsewhere"
    """Marked by a request in flight in another process: the store decides."""
    UNAVAILABLE = "unavailable"
    """The pre-claim's own store (Redis) did not answer in time: the store decides."""


class Telemetry(Protocol):
    def acting_for(self, account_id: str) -> None:
        """The request in progress acts for this account (its log lines name it, hashed)."""
        ...

    def hold_placed(self) -> None:
        """A new hold was stored (not a replay's stored answer)."""
        ...

    def hold_refused(self, reason: HoldRefusal) -> None: ...

    def preclaim_guarded(self, guard: PreclaimGuard) -> None: ...

    def tickets_sold(self, count: int) -> None:
        """An order was paid: its places are sold (once per order)."""
        ...

    def outbox_backlog(self, entries: int | None, oldest_written_at: datetime | None) -> None:
        """The outbox as a relay last saw it: entries not yet relayed (None: unknown) and
        when the oldest of them was written (None: nothing waits)."""
        ...


class SilentTelemetry:
    """Reports nowhere (tools, tests, and every process until its entry point chooses)."""

    def acting_for(self, account_id: str) -> None:
        pass

    def hold_placed(self) -> None:
        pass

    def hold_refused(self, reason: HoldRefusal) -> None:
        pass

    def preclaim_guarded(self, guard: PreclaimGuard) -> None:
        pass

    def tickets_sold(self, count: int) -> None:
        pass

    def outbox_backlog(self, entries: int | None, oldest_written_at: datetime | None) -> None:
        pass


class Switchboard:
    """The process's telemetry: forwards to whatever the entry point installed."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: Telemetry = SilentTelemetry()

    def install(self, target: Telemetry) -> None:
        self.target = target

    def acting_for(self, account_id: str) -> None:
        self.target.acting_for(account_id)

    def hold_placed(self) -> None:
        self.target.hold_placed()

    def hold_refused(self, reason: HoldRefusal) -> None:
        self.target.hold_refused(reason)

    def preclaim_guarded(self, guard: PreclaimGuard) -> None:
        self.target.preclaim_guarded(guard)

    def tickets_sold(self, count: int) -> None:
        self.target.tickets_sold(count)

    def outbox_backlog(self, entries: int | None, oldest_written_at: datetime | None) -> None:
        self.target.outbox_backlog(entries, oldest_written_at)


TELEMETRY = Switchboard()
"""Where services and adapters report unless given another `Telemetry`."""
