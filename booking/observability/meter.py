"""The telemetry port on the catalogue's metrics, and where their values go (`Recorder`).

`CatalogueTelemetry` turns what the services report into catalogue metrics, and the API's
requests too (`http_answered`); a `Recorder` keeps them: `prometheus.MemoryRecorder` for
the `/metrics` page of a long-running process, `emf.EmfRecorder` for CloudWatch EMF lines
in Lambda.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from booking.domain.telemetry import HoldRefusal, PreclaimGuard
from booking.observability import catalogue as m
from booking.observability.context import bind_account

Labels = tuple[str, ...]


class Recorder(Protocol):
    def count(self, metric: m.Metric, labels: Labels, value: float = 1) -> None: ...

    def observe(self, metric: m.Metric, labels: Labels, value: float) -> None:
        """A histogram's value, in the metric's unit."""
        ...

    def set(self, metric: m.Metric, labels: Labels, value: float | None) -> None:
        """A gauge's value; an AGE's instant in epoch seconds (None: nothing waits)."""
        ...


_STATUS_CLASSES = tuple(f"{n}xx" for n in range(10))
_REFUSALS = {reason: (reason.value,) for reason in HoldRefusal}
_GUARDS = {guard: (guard.value,) for guard in PreclaimGuard}


class CatalogueTelemetry:
    """The `Telemetry` port, and the API's request figures, on one recorder."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def acting_for(self, account_id: str) -> None:
        bind_account(account_id)

    def hold_placed(self) -> None:
        self.recorder.count(m.HOLDS_PLACED, ())

    def hold_refused(self, reason: HoldRefusal) -> None:
        self.recorder.count(m.HOLDS_REFUSED, _REFUSALS[reason])

    def preclaim_guarded(self, guard: PreclaimGuard) -> None:
        self.recorder.count(m.PRECLAIM_GUARD_HITS, _GUARDS[guard])

    def tickets_sold(self, count: int) -> None:
        self.recorder.count(m.TICKETS_SOLD, (), count)

    def outbox_backlog(self, entries: int | None, oldest_written_at: datetime | None) -> None:
        if entries is not None:
            self.recorder.set(m.OUTBOX_BACKLOG, (), entries)
        oldest = None if oldest_written_at is None else oldest_written_at.timestamp()
        self.recorder.set(m.OUTBOX_LAG, (), oldest)

    def http_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """One API answer: counted by route template, method and status class, timed."""
        recorder = self.recorder
        recorder.count(m.HTTP_REQUESTS, (route, method, _STATUS_CLASSES[status // 100 % 10]))
        if status >= 500:
            recorder.count(m.HTTP_ERRORS, (route, method))
        recorder.observe(m.REQUEST_LATENCY, (route, method), seconds * 1000.0)
