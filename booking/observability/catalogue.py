"""Every application metric, named once: the Prometheus page and CloudWatch EMF both read it.

A metric has its CloudWatch name (EMF, in `NAMESPACE`), its kind, its CloudWatch unit and
its dimensions (Prometheus labels); the Prometheus name follows from them
(`concertbook_<snake name>`, `_total` for counters, `_seconds` for a latency kept in
milliseconds on CloudWatch). `terraform/modules/observability` shows these by name, and
`tests/infra/test_observability_dashboard.py` keeps the two in step.

Dimensions stay few and bounded: a route is its template (`/api/v1/holds/{hold_id}`), never
a raw path, and nothing names an account.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

NAMESPACE = "ConcertBook"
"""The CloudWatch namespace of every application metric."""


class Kind(enum.StrEnum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    """A distribution: CloudWatch keeps every value (p75/p90/p99), Prometheus buckets."""
    GAUGE = "gauge"
    AGE = "age"
    """A gauge recorded as an instant and shown as the seconds since it (0: none); on the
    Prometheus page computed when scraped, so a relay that stalls shows a growing lag."""


@dataclass(frozen=True)
class Metric:
    name: str
    """The CloudWatch metric name (EMF)."""
    kind: Kind
    unit: str
    """The CloudWatch unit: Count, Milliseconds, Seconds."""
    dimensions: tuple[str, ...]
    help: str
    rollup: bool = False
    """Also sent to CloudWatch without dimensions: the stage's totals (dashboard, alarms)."""
    dashboard: bool = True
    """Shown on the CloudWatch dashboard (a metric only the local runtime reports is not)."""

    @property
    def prometheus_name(self) -> str:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()
        if self.kind is Kind.COUNTER:
            return f"concertbook_{snake}_total"
        if self.unit in ("Milliseconds", "Seconds"):  # Prometheus measures time in seconds
            return f"concertbook_{snake}_seconds"
        return f"concertbook_{snake}"


ROUTE = "route"
METHOD = "method"
STATUS_CLASS = "status_class"
REASON = "reason"

HTTP_REQUESTS = Metric(
    "HttpRequests",
    Kind.COUNTER,
    "Count",
    (ROUTE, METHOD, STATUS_CLASS),
    "API requests answered, by route template, method and status class (2xx … 5xx).",
    rollup=True,
)
HTTP_ERRORS = Metric(
    "HttpErrors",
    Kind.COUNTER,
    "Count",
    (ROUTE, METHOD),
    "API requests answered with a server error (5xx: failures and load shed).",
    rollup=True,
)
REQUEST_LATENCY = Metric(
    "RequestLatency",
    Kind.HISTOGRAM,
    "Milliseconds",
    (ROUTE, METHOD),
    "Time from a request's arrival in the app to its answer's end.",
    rollup=True,
)
HOLDS_PLACED = Metric("HoldsPlaced", Kind.COUNTER, "Count", (), "New holds stored.")
HOLDS_REFUSED = Metric(
    "HoldsRefused",
    Kind.COUNTER,
    "Count",
    (REASON,),
    "Hold attempts refused: taken (by the store), limit (ticket limit), pre-claim.",
)
PRECLAIM_GUARD_HITS = Metric(
    "PreclaimGuardHits",
    Kind.COUNTER,
    "Count",
    (REASON,),
    "Pre-claims that deferred instead of refusing a marked seat (in-flight, replay,"
    " elsewhere, unavailable): the false refusals avoided.",
)
TICKETS_SOLD = Metric("TicketsSold", Kind.COUNTER, "Count", (), "Places sold (orders paid).")
OUTBOX_LAG = Metric(
    "OutboxLag",
    Kind.AGE,
    "Seconds",
    (),
    "Age of the oldest outbox entry not yet relayed (0: none waits).",
)
OUTBOX_BACKLOG = Metric(
    "OutboxBacklog",
    Kind.GAUGE,
    "Count",
    (),
    "Outbox entries not yet relayed: the local runtime's queue depth (on AWS: SQS's own"
    " ApproximateNumberOfMessagesVisible).",
    dashboard=False,
)

CATALOGUE: tuple[Metric, ...] = (
    HTTP_REQUESTS,
    HTTP_ERRORS,
    REQUEST_LATENCY,
    HOLDS_PLACED,
    HOLDS_REFUSED,
    PRECLAIM_GUARD_HITS,
    TICKETS_SOLD,
    OUTBOX_LAG,
    OUTBOX_BACKLOG,
)

LATENCY_BUCKETS_SECONDS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""The Prometheus histogram's upper bounds (CloudWatch keeps the values themselves)."""


def status_class(status: int) -> str:
    return f"{status // 100}xx"
