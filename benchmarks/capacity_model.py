"""AWS capacity model of an onsale: DynamoDB, Lambda, API Gateway and Redis at the peak, the cost.

From the consumed capacity measured per booking step (reports/dynamodb-capacity.json,
written by tests/integration/test_dynamodb_capacity.py; the table in docs/DYNAMODB.md when the
report is absent) and the assumptions named in `Onsale` and the constants below, it
prints the markdown tables of docs/capacity-model.md. A model, not a measurement:
tests/unit/test_capacity_model.py checks that the document shows exactly what this prints.

Run: `python -m benchmarks.capacity_model` (50,000 seats, 200,000 fans, windows of
10 s and 60 s, 2 seats per order; `--help` for the other assumptions).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from booking.adapters.aws.dynamodb_table import INDEX_SHARDS, INVENTORY_SHARDS, item_size, marshal

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "dynamodb-capacity.json"
T = TypeVar("T")

# -- DynamoDB's limits and billing -----------------------------------------------------------
PARTITION_WCU = 1_000  # per partition, so at most this per partition key, per second
PARTITION_RCU = 3_000
NEW_ON_DEMAND_WCU = 4_000  # what a new on-demand table serves at once (its warm throughput)
NEW_ON_DEMAND_RCU = 12_000
TABLE_QUOTA_UNITS = 40_000  # default per-table quota, reads and writes each (raisable)
READ_UNIT_BYTES = 4_096  # strongly consistent read: 1 RCU per 4 KB
TRANSACT_ITEM_WCU = 2  # a transactional write of an item up to 1 KB
SHARD_TARGET = 0.7  # utilisation to size shards for (the table module's autoscaling target)

# -- Lambda, API Gateway, Redis (defaults, and the prod stage's settings) ---------------------
ACCOUNT_CONCURRENCY = 1_000  # Lambda concurrent executions per account and region, default
SCALE_BURST = 1_000  # a function gains 1,000 environments at once, then ...
SCALE_PER_SECOND = 100  # ... 1,000 more every 10 s
PROD_API_RESERVED = 2_000  # terraform/envs/prod/main.tf: api reserved_concurrency
PROD_API_MEMORY_MB = 1_769  # ... and memory_mb (one full vCPU)
API_ACCOUNT_RPS = 10_000  # API Gateway's account throttle per region (burst 5,000), default
REDIS_CALLS_PER_NODE = 66_000  # design brief: redis-benchmark, the Lua claim, 2 cores
REDIS_NODES = 2  # prod: cache.r7g.large primary + replica; only the primary takes writes
STREAM_BATCH = 100  # terraform/modules/stack: stream_batch_size (the search indexer)

# -- The code path around the measured store calls (read from the services) -------------------
ACCOUNT_READS = 2  # every authenticated request: session + account, GetItems < 4 KB
PERFORMANCE_READS = 2  # CatalogService.performance: the performance + its event
CHECKOUT_READS = 9  # order: session, account, hold, performance, event; payment: 4 more
CHECKOUT_REQUESTS = 3  # POST order, POST payment, the gateway's webhook
CHECKOUT_MESSAGES = 3  # outbox: OrderPlaced, OrderPaid, TicketsIssued (HoldPlaced: the hold's)
OUTBOX_DELETE_WCU = 1  # the forwarder deletes each outbox item once it is sent
CHECKOUT_PLACE_WRITES = 2  # each seat is written again by the order and the confirmation
WORKER_GB_SECONDS_PER_ORDER = 1.2  # docs/DEPLOY.md: capture, tickets, mail, forwarding


@dataclass(frozen=True)
class Prices:
    """List prices, Seoul region (ap-northeast-2), as assumed: 2025, after DynamoDB's
    November 2024 on-demand price cut; the figures docs/DEPLOY.md uses."""

    write_request_unit: float = 0.71e-6
    read_request_unit: float = 0.14e-6
    wcu_hour: float = 0.00074  # provisioned, for the comparison only
    rcu_hour: float = 0.000148
    lambda_gb_second: float = 0.0000166667  # x86_64
    lambda_request: float = 0.20e-6
    provisioned_gb_second: float = 0.0000041667  # provisioned concurrency, while configured
    http_api_request: float = 1.20e-6
    redis_node_hour: float = 0.28  # cache.r7g.large


@dataclass(frozen=True)
class Step:
    rcu: float
    wcu: float


STEPS = ("hold", "order", "payment", "confirmation", "tickets")
CHECKOUT = STEPS[1:]
DOCUMENTED = {  # docs/DYNAMODB.md, "Capacity per operation (measured)", 2 seats
    "hold": Step(2.5, 12),
    "order": Step(3, 12),
    "payment": Step(1, 8),
    "confirmation": Step(4, 10),
    "tickets": Step(5, 12),
}
# Every seat beyond two adds about this many WCU to a step (docs/DYNAMODB.md).
WCU_PER_EXTRA_SEAT = {"hold": 2, "order": 2, "payment": 0, "confirmation": 2, "tickets": 4}
REPORT_KEYS = {
    "hold": ("hold_2_seats", "place_hold"),
    "order": ("order_and_payment_2_seats", "place_order"),
    "payment": ("order_and_payment_2_seats", "add_payment"),
    "confirmation": ("order_and_payment_2_seats", "confirm_order"),
    "tickets": ("order_and_payment_2_seats", "issue_tickets"),
}


@dataclass(frozen=True)
class Capacity:
    """Consumed capacity per step of a 2-seat order, and where the figures come from."""

    steps: dict[str, Step]
    source: str

    def for_seats(self, seats: int) -> dict[str, Step]:
        return {
            name: Step(s.rcu, s.wcu + WCU_PER_EXTRA_SEAT[name] * (seats - 2))
            for name, s in self.steps.items()
        }


def load_capacity(report: Path | None) -> Capacity:
    """The report's modelled figures when there is one, else docs/DYNAMODB.md's table."""
    if report is None or not report.exists():
        return Capacity(dict(DOCUMENTED), "docs/DYNAMODB.md")
    measured = json.loads(report.read_text())
    steps = {
        name: Step(float(measured[group][op]["rcu"]), float(measured[group][op]["wcu"]))
        for name, (group, op) in REPORT_KEYS.items()
    }
    resolved = report.resolve()
    source = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved
    return Capacity(steps, str(source))


def place_item_bytes() -> int:
    """A held seat's item as DynamoDB sizes it (ids as long as the real ones)."""
    return item_size(
        marshal(
            {
                "pk": "INV#prf_0123456789abcdefghjkmn#15",
                "sk": "305-AB-42",
                "zone_id": "305",
                "kind": "seat",
                "grade": "VIP",
                "price_krw": 198_000,
                "state": "held",
                "version": 1,
                "hold_id": "hld_0123456789abcdefghjkmn",
                "expires_at_ms": 1_767_000_000_000,
            }
        )
    )


@dataclass(frozen=True)
class Inventory:
    """What one full read of a performance's places costs (availability, seat map)."""

    seats: int
    item_bytes: int

    @property
    def shard_rcu(self) -> int:
        """A strongly consistent Query of one shard: 1 RCU per 4 KB of items read."""
        shard_bytes = math.ceil(self.seats / INVENTORY_SHARDS) * self.item_bytes
        return math.ceil(shard_bytes / READ_UNIT_BYTES)

    @property
    def full_read_rcu(self) -> int:
        return self.shard_rcu * INVENTORY_SHARDS

    @property
    def reads_per_second(self) -> float:
        """Full reads per second before each shard's partition is at its read limit."""
        return PARTITION_RCU / self.shard_rcu


def _assume(default: T, text: str) -> T:
    """A field of `Onsale`: its default and the help of its command-line flag."""
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class Onsale:
    """The onsale and the assumptions the model makes about it."""

    seats: int = _assume(50_000, "numbered seats on sale")
    fans: int = _assume(200_000, "fans trying to buy")
    seats_per_order: int = _assume(2, "seats per hold and order")
    attempts_per_fan: float = _assume(3.0, "hold attempts per fan, on average")
    redis_refusal: float = _assume(0.99, "share of losing attempts the pre-claim turns away")
    polls_per_attempt: float = _assume(1.0, "availability reads per hold attempt")
    checkout_seconds: float = _assume(300.0, "orders and payments follow over this long")
    index_write_share: float = _assume(0.25, "GSI writes over the committed writes' WCU")
    redis_ms: float = _assume(25.0, "mean API duration of a request Redis answers, ms")
    table_ms: float = _assume(55.0, "mean API duration of a request reaching the table, ms")
    window_hours: float = _assume(1.0, "hours provisioned concurrency and Redis are billed")

    @property
    def orders(self) -> int:
        return self.seats // self.seats_per_order

    @property
    def attempts(self) -> float:
        return self.fans * self.attempts_per_fan

    @property
    def lost(self) -> float:
        return self.attempts - self.orders

    def check(self) -> None:
        if self.seats_per_order < 1 or self.orders < 1:
            raise ValueError("at least one order of at least one seat")
        if self.lost < 0:
            raise ValueError("fewer hold attempts than orders: raise --fans or --attempts-per-fan")
        if not 0 <= self.redis_refusal <= 1:
            raise ValueError("--redis-refusal is a share between 0 and 1")


@dataclass(frozen=True)
class Scenario:
    """One window, with or without the Redis pre-claim; every figure is per second."""

    onsale: Onsale
    steps: dict[str, Step]
    seconds: float
    redis: bool

    @property
    def label(self) -> str:
        return f"{self.seconds:g} s, {'Redis' if self.redis else 'no Redis'}"

    # -- the attempt mix: the rush is spread evenly over the window
    @property
    def attempts(self) -> float:
        return self.onsale.attempts / self.seconds

    @property
    def won(self) -> float:
        return self.onsale.orders / self.seconds

    @property
    def lost(self) -> float:
        return self.onsale.lost / self.seconds

    @property
    def turned_away(self) -> float:
        return self.lost * self.onsale.redis_refusal if self.redis else 0.0

    @property
    def refused_by_table(self) -> float:
        return self.lost - self.turned_away

    @property
    def checkout(self) -> float:
        """Orders going through checkout, the same in every window."""
        return self.onsale.orders / self.onsale.checkout_seconds

    @property
    def polls(self) -> float:
        return self.attempts * self.onsale.polls_per_attempt

    @property
    def requests(self) -> float:
        return self.attempts + self.polls + self.checkout * CHECKOUT_REQUESTS

    @property
    def answered_by_redis(self) -> float:
        """Turned-away attempts and polls served from the cache."""
        return (self.turned_away + self.polls) if self.redis else 0.0

    @property
    def to_table(self) -> float:
        return self.requests - self.answered_by_redis

    # -- DynamoDB writes
    @property
    def wcu_won(self) -> float:
        return self.won * self.steps["hold"].wcu

    @property
    def wcu_refused(self) -> float:
        """Assumed billed like a committed transaction (an upper bound)."""
        return self.refused_by_table * self.steps["hold"].wcu

    @property
    def wcu_checkout(self) -> float:
        return self.checkout * sum(self.steps[s].wcu for s in CHECKOUT)

    @property
    def wcu_index(self) -> float:
        return (self.wcu_won + self.wcu_checkout) * self.onsale.index_write_share

    @property
    def outbox_messages(self) -> float:
        return self.won + self.checkout * CHECKOUT_MESSAGES

    @property
    def wcu(self) -> float:
        deletes = self.outbox_messages * OUTBOX_DELETE_WCU
        return self.wcu_won + self.wcu_refused + self.wcu_checkout + self.wcu_index + deletes

    # -- DynamoDB reads of the booking path (full inventory reads apart)
    @property
    def rcu_steps(self) -> float:
        holds = (self.won + self.refused_by_table) * self.steps["hold"].rcu
        checkout = sum(self.steps[s].rcu for s in CHECKOUT) + CHECKOUT_READS
        return holds + self.checkout * checkout

    @property
    def rcu_accounts(self) -> float:
        return (self.attempts + self.polls) * ACCOUNT_READS

    @property
    def performance_item_reads(self) -> float:
        """Strongly consistent reads of the one performance item (its event's the same)."""
        return self.attempts + self.polls + self.checkout

    @property
    def rcu(self) -> float:
        return self.rcu_steps + self.rcu_accounts + self.performance_item_reads * PERFORMANCE_READS

    # -- hot keys
    @property
    def place_wcu(self) -> float:
        seats = self.onsale.seats_per_order
        writes = (self.won + self.refused_by_table) * seats
        writes += self.checkout * seats * CHECKOUT_PLACE_WRITES
        return writes * TRANSACT_ITEM_WCU

    @property
    def outbox_shard_wcu(self) -> float:
        per_message = TRANSACT_ITEM_WCU + OUTBOX_DELETE_WCU
        return self.outbox_messages * per_message / INDEX_SHARDS

    @property
    def indexer_reads(self) -> float:
        """The search indexer reads availability once per stream batch of holds."""
        return self.won / STREAM_BATCH

    @property
    def inventory_reads(self) -> float:
        """Full inventory reads. With Redis every won hold drops the cached counts, so at
        least one reader per hold reads through (a lower bound); without, every reader."""
        readers = self.polls + self.indexer_reads
        return min(readers, self.won) if self.redis else readers

    # -- Lambda (Little's law: rate × duration)
    @property
    def concurrency(self) -> float:
        busy_ms = self.answered_by_redis * self.onsale.redis_ms
        busy_ms += self.to_table * self.onsale.table_ms
        return busy_ms / 1000

    # -- Redis calls
    @property
    def redis_swaps(self) -> float:
        """Two compare-and-sets per hold the table refuses: release, mark taken."""
        return 2 * self.refused_by_table if self.redis else 0.0

    @property
    def redis_cache_calls(self) -> float:
        """GET per poll and indexer read, DEL per won hold, SET per read-through."""
        if not self.redis:
            return 0.0
        return self.polls + self.indexer_reads + self.won + self.inventory_reads

    @property
    def redis_calls(self) -> float:
        claims = self.attempts if self.redis else 0.0
        return claims + self.redis_swaps + self.redis_cache_calls


@dataclass(frozen=True)
class CostLine:
    item: str
    usd: float
    quantity: str


def provisioned_concurrency(s: Scenario) -> int:
    """Warm API environments for the window: the whole need, rounded up to 100."""
    return math.ceil(s.concurrency / 100) * 100


def onsale_cost(s: Scenario, inventory: Inventory, prices: Prices) -> list[CostLine]:
    """The whole onsale: the rush's rates over its window, and every order's checkout."""
    o, p, rush = s.onsale, prices, s.seconds
    hold = s.steps["hold"]
    checkout_wcu = sum(s.steps[x].wcu for x in CHECKOUT)
    checkout_rcu = sum(s.steps[x].rcu for x in CHECKOUT) + CHECKOUT_READS
    refused = s.refused_by_table * rush
    writes = (
        o.orders * (hold.wcu + checkout_wcu) * (1 + o.index_write_share)
        + refused * hold.wcu
        + o.orders * (1 + CHECKOUT_MESSAGES) * OUTBOX_DELETE_WCU
    )
    reads = (
        (s.attempts + s.polls) * rush * (ACCOUNT_READS + PERFORMANCE_READS)
        + (o.orders + refused) * hold.rcu
        + o.orders * checkout_rcu
        + s.inventory_reads * rush * inventory.full_read_rcu
    )
    checkout_requests = o.orders * CHECKOUT_REQUESTS
    requests = (s.attempts + s.polls) * rush + checkout_requests
    rush_to_table = s.to_table - s.checkout * CHECKOUT_REQUESTS
    busy_ms = (s.answered_by_redis * o.redis_ms + rush_to_table * o.table_ms) * rush
    busy_ms += checkout_requests * o.table_ms
    gb = PROD_API_MEMORY_MB / 1024
    gb_seconds = busy_ms / 1000 * gb
    workers = o.orders * WORKER_GB_SECONDS_PER_ORDER
    warm = provisioned_concurrency(s)
    hours = o.window_hours
    return [
        CostLine("DynamoDB writes", writes * p.write_request_unit, f"{writes / 1e6:,.2f} M WRU"),
        CostLine("DynamoDB reads", reads * p.read_request_unit, f"{reads / 1e6:,.1f} M RRU"),
        CostLine(
            "Lambda, API",
            gb_seconds * p.lambda_gb_second + requests * p.lambda_request,
            f"{gb_seconds:,.0f} GB-s, {requests / 1e6:,.2f} M requests",
        ),
        CostLine("Lambda, workers", workers * p.lambda_gb_second, f"{workers:,.0f} GB-s"),
        CostLine("API Gateway", requests * p.http_api_request, f"{requests / 1e6:,.2f} M req."),
        CostLine(
            "ElastiCache (runs anyway)",
            REDIS_NODES * hours * p.redis_node_hour,
            f"{REDIS_NODES} nodes × {hours:g} h",
        ),
        CostLine(
            "API provisioned concurrency",
            warm * gb * hours * 3600 * p.provisioned_gb_second,
            f"{warm:,} × {hours:g} h",
        ),
    ]


# -- markdown --------------------------------------------------------------------------------
def _n(x: float) -> str:
    return f"{x:,.0f}"


def _x(x: float) -> str:
    return f"{x:,.1f}×"


def _pct(x: float) -> str:
    return f"{100 * x:,.0f} %"


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: bool = True) -> str:
    """A markdown table; numeric tables align every column but the first right."""
    rule = "|---" + ("|---:" if numeric else "|---") * (len(header) - 1) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


Row = tuple[str, Callable[[Scenario], str]]


def by_scenario(scenarios: Sequence[Scenario], rows: Sequence[Row]) -> str:
    return table(
        ["", *(s.label for s in scenarios)],
        [[name, *(cell(s) for s in scenarios)] for name, cell in rows],
    )


def _warm(units: float) -> str:
    return _n(math.ceil(units / 1000) * 1000)


def _catch_up(s: Scenario) -> float:
    """Seconds until Lambda's scaling reaches the concurrency the rush needs."""
    return max(0.0, s.concurrency - SCALE_BURST) / SCALE_PER_SECOND


def scenario_tables(
    scenarios: Sequence[Scenario], inv: Inventory, prices: Prices
) -> list[tuple[str, list[Row]]]:
    """The tables with one column per scenario: title and rows (label, cell)."""
    p, shards, limit = prices, INVENTORY_SHARDS, PARTITION_WCU
    # fmt: off
    return [
        ("The attempt mix", [
            ("hold attempts/s", lambda s: _n(s.attempts)),
            ("… won", lambda s: _n(s.won)),
            ("… lost", lambda s: _n(s.lost)),
            ("… turned away by the pre-claim", lambda s: _n(s.turned_away)),
            ("… refused by the table", lambda s: _n(s.refused_by_table)),
            ("orders in checkout/s", lambda s: _n(s.checkout)),
            ("availability polls/s", lambda s: _n(s.polls)),
        ]),
        ("DynamoDB at the peak", [
            ("WCU/s: won holds", lambda s: _n(s.wcu_won)),
            ("WCU/s: holds the table refuses", lambda s: _n(s.wcu_refused)),
            ("WCU/s: checkout", lambda s: _n(s.wcu_checkout)),
            ("WCU/s: index writes", lambda s: _n(s.wcu_index)),
            ("WCU/s: outbox deletes", lambda s: _n(s.outbox_messages * OUTBOX_DELETE_WCU)),
            ("**WCU/s**", lambda s: f"**{_n(s.wcu)}**"),
            ("RCU/s: holds and checkout", lambda s: _n(s.rcu_steps)),
            ("RCU/s: sessions and accounts", lambda s: _n(s.rcu_accounts)),
            ("RCU/s: the performance and event items",
             lambda s: _n(s.performance_item_reads * PERFORMANCE_READS)),
            ("**RCU/s**", lambda s: f"**{_n(s.rcu)}**"),
        ]),
        ("Hot keys", [
            ("place items: WCU/s", lambda s: _n(s.place_wcu)),
            (f"… per shard ({shards} shards)", lambda s: _n(s.place_wcu / shards)),
            (f"… share of {limit:,} WCU/s", lambda s: _pct(s.place_wcu / shards / limit)),
            ("… shards needed at 100 %", lambda s: _n(math.ceil(s.place_wcu / limit))),
            (f"… shards needed at {_pct(SHARD_TARGET)}",
             lambda s: _n(math.ceil(s.place_wcu / limit / SHARD_TARGET))),
            (f"outbox: WCU/s per shard ({INDEX_SHARDS} shards)", lambda s: _n(s.outbox_shard_wcu)),
            (f"… share of {limit:,} WCU/s", lambda s: _pct(s.outbox_shard_wcu / limit)),
            ("performance item: reads/s (its event's the same)",
             lambda s: _n(s.performance_item_reads)),
            (f"… over {PARTITION_RCU:,} RCU/s",
             lambda s: _x(s.performance_item_reads / PARTITION_RCU)),
        ]),
        ("Full inventory reads", [
            ("full inventory reads/s (availability, search indexer)",
             lambda s: _n(s.inventory_reads)),
            (f"… a shard's partition carries ({inv.shard_rcu} RCU each)",
             lambda _: _n(inv.reads_per_second)),
            ("RCU/s per shard", lambda s: _n(s.inventory_reads * inv.shard_rcu)),
            (f"… over {PARTITION_RCU:,} RCU/s",
             lambda s: _x(s.inventory_reads * inv.shard_rcu / PARTITION_RCU)),
            ("RCU/s per shard, one refresh per 1 s TTL",
             lambda s: _n(inv.shard_rcu) if s.redis else "–"),
        ]),
        ("On-demand or provisioned", [
            ("peak WCU/s", lambda s: _n(s.wcu)),
            (f"… over a new on-demand table ({NEW_ON_DEMAND_WCU:,})",
             lambda s: _x(s.wcu / NEW_ON_DEMAND_WCU)),
            (f"… over the table quota ({TABLE_QUOTA_UNITS:,})",
             lambda s: _x(s.wcu / TABLE_QUOTA_UNITS)),
            ("peak RCU/s", lambda s: _n(s.rcu)),
            (f"… over a new on-demand table ({NEW_ON_DEMAND_RCU:,})",
             lambda s: _x(s.rcu / NEW_ON_DEMAND_RCU)),
            (f"… over the table quota ({TABLE_QUOTA_UNITS:,})",
             lambda s: _x(s.rcu / TABLE_QUOTA_UNITS)),
            ("warm throughput to set, writes / reads",
             lambda s: f"{_warm(s.wcu)} / {_warm(s.rcu)}"),
            ("provisioned at the peak, per hour",
             lambda s: _usd(s.wcu * p.wcu_hour + s.rcu * p.rcu_hour)),
        ]),
        ("Lambda and API Gateway", [
            ("API requests/s", lambda s: _n(s.requests)),
            ("… answered from Redis", lambda s: _n(s.answered_by_redis)),
            ("… reaching the table", lambda s: _n(s.to_table)),
            ("API Lambda concurrency", lambda s: _n(s.concurrency)),
            (f"… over the account default ({ACCOUNT_CONCURRENCY:,})",
             lambda s: _x(s.concurrency / ACCOUNT_CONCURRENCY)),
            (f"… over prod's reserved ({PROD_API_RESERVED:,})",
             lambda s: _x(s.concurrency / PROD_API_RESERVED)),
            ("seconds for cold scaling to catch up", lambda s: _n(_catch_up(s))),
            ("provisioned concurrency to start warm", lambda s: _n(provisioned_concurrency(s))),
            (f"API Gateway: over {API_ACCOUNT_RPS:,} req/s",
             lambda s: _x(s.requests / API_ACCOUNT_RPS)),
        ]),
    ]
    # fmt: on


def redis_rows() -> list[Row]:
    # fmt: off
    return [
        ("pre-claim scripts/s", lambda s: _n(s.attempts)),
        ("compare-and-set scripts/s", lambda s: _n(s.redis_swaps)),
        ("availability cache GET, DEL, SET/s", lambda s: _n(s.redis_cache_calls)),
        ("**calls/s**", lambda s: f"**{_n(s.redis_calls)}**"),
        (f"… share of one node ({REDIS_CALLS_PER_NODE:,}/s)",
         lambda s: _pct(s.redis_calls / REDIS_CALLS_PER_NODE)),
        ("… pre-claim scripts alone", lambda s: _pct(s.attempts / REDIS_CALLS_PER_NODE)),
    ]
    # fmt: on


def assumptions_table(o: Onsale, capacity: Capacity, inv: Inventory) -> str:
    # fmt: off
    rows = [
        ("seats on sale", f"{o.seats:,} numbered seats", "`--seats`"),
        ("fans", f"{o.fans:,}", "`--fans`"),
        ("seats per order", f"{o.seats_per_order} → {o.orders:,} orders", "`--seats-per-order`"),
        ("hold attempts per fan",
         f"{o.attempts_per_fan:g} → {o.attempts:,.0f} attempts, {o.lost:,.0f} lost",
         "`--attempts-per-fan`; a fan stops once it holds seats"),
        ("the rush", "every attempt within the window, evenly spread", "`--seconds`"),
        ("losing attempts the pre-claim turns away", _pct(o.redis_refusal),
         "`--redis-refusal`; the rest (Redis skipped after a timeout, limit refusals, "
         "conflicts) the table refuses"),
        ("a hold transaction the table refuses", "billed like a committed one",
         "upper bound: DynamoDB bills failed conditional writes; moto reports nothing"),
        ("checkout (order, payment, confirmation, tickets)",
         f"spread over {o.checkout_seconds:g} s, overlapping the rush", "`--checkout-seconds`"),
        ("availability polls per attempt", f"{o.polls_per_attempt:g}", "`--polls-per-attempt`"),
        ("reads of every attempt and poll",
         f"{ACCOUNT_READS} RCU (session, account) + {PERFORMANCE_READS} RCU (performance, event)",
         "`AccountService.authenticate`, `CatalogService.performance`: "
         "strongly consistent GetItems"),
        ("checkout reads outside the steps", f"{CHECKOUT_READS} RCU per order",
         "order: session, account, hold, performance, event; payment: 4"),
        ("index (GSI) writes", f"+{_pct(o.index_write_share)} of the committed WCU",
         "`--index-write-share`, as docs/DEPLOY.md"),
        ("outbox", f"1 message per hold, {CHECKOUT_MESSAGES} per checkout, each deleted by "
         f"the forwarder ({OUTBOX_DELETE_WCU} WCU)", f"{INDEX_SHARDS} shards"),
        ("place item", f"{inv.item_bytes} B (a held seat): {inv.full_read_rcu:,} RCU per full "
         "inventory read", f"{INVENTORY_SHARDS} shards, `item_size`"),
        ("API Lambda mean duration",
         f"{o.redis_ms:g} ms answered from Redis, {o.table_ms:g} ms reaching the table",
         "`--redis-ms`, `--table-ms`; estimated, not measured on AWS"),
        ("API Lambda memory", f"{PROD_API_MEMORY_MB:,} MB", "terraform/envs/prod/main.tf"),
        ("Redis", f"{REDIS_CALLS_PER_NODE:,} calls/s on the one primary",
         "the design brief: redis-benchmark of the claim script"),
        ("per-step capacity", capacity.source, "`--capacity-report`, `--documented`"),
        ("billed window", f"{o.window_hours:g} h", "`--window-hours`"),
    ]
    # fmt: on
    return table(["assumption", "value", "flag or basis"], rows, numeric=False)


def capacity_table(capacity: Capacity, seats: int) -> str:
    used = capacity.for_seats(seats)
    documented = Capacity(DOCUMENTED, "").for_seats(seats)

    def cells(steps: dict[str, Step], names: Sequence[str]) -> list[str]:
        return [f"{sum(steps[n].rcu for n in names):g}", f"{sum(steps[n].wcu for n in names):g}"]

    rows = [[name, *cells(used, [name]), *cells(documented, [name])] for name in STEPS]
    rows.append(["sold order", *cells(used, STEPS), *cells(documented, STEPS)])
    header = [f"step ({seats} seats)", "RCU", "WCU", "DYNAMODB.md RCU", "DYNAMODB.md WCU"]
    return table(header, rows)


def cost_table(scenarios: Sequence[Scenario], inventory: Inventory, prices: Prices) -> str:
    costs = [onsale_cost(s, inventory, prices) for s in scenarios]
    rows = [
        [line.item, *(f"{_usd(c[i].usd)} ({c[i].quantity})" for c in costs)]
        for i, line in enumerate(costs[0])
    ]
    rows.append(["**total**", *(f"**{_usd(sum(line.usd for line in c))}**" for c in costs)])
    return table(["", *(s.label for s in scenarios)], rows)


def prices_table(p: Prices) -> str:
    # fmt: off
    rows = [
        ("DynamoDB on-demand writes", f"${p.write_request_unit * 1e6:.2f} per million WRU"),
        ("DynamoDB on-demand reads", f"${p.read_request_unit * 1e6:.2f} per million RRU"),
        ("DynamoDB provisioned (comparison)",
         f"${p.wcu_hour:.5f} per WCU-hour, ${p.rcu_hour:.6f} per RCU-hour"),
        ("Lambda, x86_64", f"${p.lambda_gb_second:.10f} per GB-s, "
         f"${p.lambda_request * 1e6:.2f} per million requests"),
        ("Lambda provisioned concurrency", f"${p.provisioned_gb_second:.10f} per GB-s "
         "configured (its lower invocation rate ignored)"),
        ("API Gateway HTTP API", f"${p.http_api_request * 1e6:.2f} per million requests"),
        ("ElastiCache cache.r7g.large", f"${p.redis_node_hour:.2f} per node-hour"),
    ]
    # fmt: on
    return table(["item", "list price, Seoul region, as assumed"], rows, numeric=False)


@dataclass(frozen=True)
class Report:
    """The document's tables, in its order, each under a short title."""

    sections: list[tuple[str, str]]

    def tables(self) -> list[str]:
        return [body for _, body in self.sections]

    def markdown(self) -> str:
        return "\n\n".join(f"#### {title}\n\n{body}" for title, body in self.sections) + "\n"


def scenarios_of(onsale: Onsale, capacity: Capacity, windows: Sequence[float]) -> list[Scenario]:
    steps = capacity.for_seats(onsale.seats_per_order)
    return [Scenario(onsale, steps, w, redis) for w in windows for redis in (True, False)]


def model(
    onsale: Onsale, capacity: Capacity, windows: Sequence[float], prices: Prices | None = None
) -> Report:
    onsale.check()
    prices = prices or Prices()
    scenarios = scenarios_of(onsale, capacity, windows)
    inventory = Inventory(onsale.seats, place_item_bytes())
    by_window = [
        (title, by_scenario(scenarios, rows))
        for title, rows in scenario_tables(scenarios, inventory, prices)
    ]
    return Report(
        [
            ("Assumptions", assumptions_table(onsale, capacity, inventory)),
            ("Consumed capacity per step", capacity_table(capacity, onsale.seats_per_order)),
            *by_window,
            ("Redis", by_scenario([s for s in scenarios if s.redis], redis_rows())),
            ("Cost of the onsale", cost_table(scenarios, inventory, prices)),
            ("Prices", prices_table(prices)),
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Every field of `Onsale` is a flag (`--seats-per-order` for `seats_per_order`)."""
    parser = argparse.ArgumentParser(description="AWS capacity model of an onsale (markdown).")
    for f in fields(Onsale):
        flag = f"--{f.name.replace('_', '-')}"
        parser.add_argument(flag, type=type(f.default), default=f.default, help=f.metadata["help"])
    parser.add_argument(
        "--seconds", type=float, nargs="+", default=[10.0, 60.0], help="windows of the rush"
    )
    parser.add_argument(
        "--capacity-report",
        type=Path,
        default=None,
        help=f"consumed capacity per step measured by tests/integration/test_dynamodb_capacity.py "
        f"(e.g. {REPORT.relative_to(ROOT)}); default: docs/DYNAMODB.md's committed figures, "
        "so the page is reproducible from a fresh checkout",
    )
    parser.add_argument(
        "--documented", action="store_true", help="docs/DYNAMODB.md's figures (the default)"
    )
    return parser.parse_args(argv)


def from_args(args: argparse.Namespace) -> Report:
    onsale = Onsale(**{f.name: getattr(args, f.name) for f in fields(Onsale)})
    capacity = load_capacity(None if args.documented else args.capacity_report)
    return model(onsale, capacity, args.seconds)


def main(argv: Sequence[str] | None = None) -> int:
    print(from_args(parse_args(argv)).markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
