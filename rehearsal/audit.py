"""Invariant audits of the booking state, read straight from the store, not through the API.

A `Snapshot` is one consistent read of everything the invariants talk about;
every `check_*` function takes one and returns the violations it found as
readable strings (empty: all good), so a test can report every broken invariant
at once. `load_sqlite_snapshot` reads the local adapter's database file through
a read-only connection; another adapter family needs only a loader producing
the same `Snapshot` to reuse every check.

The audit decodes the stored JSON documents itself, independently of the
application's own types, so it stays an outside oracle.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ACTIVE_PAYMENT_STATES = frozenset({"processing", "authorized", "captured"})
FINAL_PAYMENT_STATES = frozenset({"declined", "captured", "voided", "refunded"})


@dataclass(frozen=True)
class PerformanceRow:
    id: str
    ticket_limit: int
    capacity: int
    """Seats of the venue's map plus its standing places."""


@dataclass(frozen=True)
class UnitRow:
    performance_id: str
    unit_id: str
    zone_id: str
    kind: str
    state: str
    hold_id: str | None
    order_id: str | None
    expires_at_ms: int | None


@dataclass(frozen=True)
class HoldRow:
    id: str
    performance_id: str
    account_id: str
    status: str
    expires_at_ms: int
    quantity: int
    unit_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OrderRow:
    id: str
    performance_id: str
    account_id: str
    hold_id: str
    status: str
    payment_deadline_ms: int
    quantity: int
    paid_payment_id: str | None
    paid_at_ms: int | None
    closed_at_ms: int | None
    unit_ids: tuple[str, ...]
    created_at: datetime
    payment_deadline: datetime


@dataclass(frozen=True)
class PaymentRow:
    id: str
    order_id: str
    account_id: str
    gateway_payment_id: str
    status: str


@dataclass(frozen=True)
class TicketRow:
    id: str
    order_id: str
    account_id: str
    performance_id: str
    unit_id: str
    status: str


@dataclass(frozen=True)
class IdempotencyRow:
    account_id: str
    operation: str
    key: str
    result_id: str | None


@dataclass(frozen=True)
class Snapshot:
    taken_at_ms: int
    """A moment no earlier than every write the snapshot contains (the readers' `now`)."""
    performances: dict[str, PerformanceRow]
    units: list[UnitRow]
    holds: dict[str, HoldRow]
    orders: dict[str, OrderRow]
    payments: dict[str, PaymentRow]
    tickets: list[TicketRow]
    idempotency: list[IdempotencyRow]
    limit_counters: dict[tuple[str, str], int]
    """(performance, account) → places counted against the per-account limit."""
    outbox_pending: int
    outbox_dead: list[str]


@dataclass(frozen=True)
class GatewaySnapshot:
    payments: dict[str, str]
    """Gateway payment id → its status at the gateway."""
    references: dict[str, str]
    """Gateway payment id → the order it was created for."""
    undelivered: list[str]
    """Gateway payment ids of webhooks not yet delivered (one entry per webhook)."""

    def orphans(self, s: Snapshot) -> dict[str, str]:
        """Gateway payments the store has no record of: id → status at the gateway."""
        known = {p.gateway_payment_id for p in s.payments.values()}
        return {gid: st for gid, st in self.payments.items() if gid not in known}


# -- loading -------------------------------------------------------------------------------


def _connect_read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _venue_capacity(doc: Mapping[str, Any]) -> int:
    seat_map = doc["seat_map"]
    seats = sum(
        len(row["seats"]) for section in seat_map.get("sections", []) for row in section["rows"]
    )
    return int(seats + sum(zone["capacity"] for zone in seat_map.get("ga_zones", [])))


def load_sqlite_snapshot(path: Path) -> Snapshot:
    """One read transaction over the local adapter's database (WAL: writers keep going)."""
    conn = _connect_read_only(path)
    try:
        conn.execute("BEGIN")
        venues = {
            vid: _venue_capacity(json.loads(doc))
            for vid, doc in conn.execute("SELECT id, doc FROM venues")
        }
        # The read snapshot starts with the first SELECT: later commits are invisible, so
        # a clock read now is at or after the `now` of every write the snapshot holds.
        taken_at_ms = int(time.time() * 1000)
        performances = {}
        for pid, venue_id, doc in conn.execute("SELECT id, venue_id, doc FROM performances"):
            plan = json.loads(doc)
            performances[pid] = PerformanceRow(pid, plan["ticket_limit"], venues[venue_id])
        units = [
            UnitRow(*row)
            for row in conn.execute(
                "SELECT performance_id, unit_id, zone_id, kind, state, hold_id, order_id,"
                " expires_at_ms FROM units"
            )
        ]
        holds = {}
        for hid, perf, account, status, expires_ms, quantity, doc in conn.execute(
            "SELECT id, performance_id, account_id, status, expires_at_ms, quantity, doc FROM holds"
        ):
            d = json.loads(doc)
            holds[hid] = HoldRow(
                hid,
                perf,
                account,
                status,
                expires_ms,
                quantity,
                tuple(item["unit_id"] for item in d["items"]),
                _dt(d["created_at"]),
                _dt(d["expires_at"]),
            )
        orders = {}
        for row in conn.execute(
            "SELECT id, performance_id, account_id, hold_id, status, payment_deadline_ms,"
            " quantity, paid_payment_id, paid_at_ms, closed_at_ms, doc FROM orders"
        ):
            d = json.loads(row[10])
            orders[row[0]] = OrderRow(
                *row[:10],  # type: ignore[misc]
                unit_ids=tuple(item["unit_id"] for item in d["items"]),
                created_at=_dt(d["created_at"]),
                payment_deadline=_dt(d["payment_deadline"]),
            )
        payments = {
            row[0]: PaymentRow(*row)
            for row in conn.execute(
                "SELECT id, order_id, account_id, gateway_payment_id, status FROM payments"
            )
        }
        tickets = [
            TicketRow(*row)
            for row in conn.execute(
                "SELECT id, order_id, account_id, performance_id, unit_id, status FROM tickets"
            )
        ]
        idempotency = []
        for scope, key, result in conn.execute("SELECT scope, key, result FROM idempotency"):
            account, _, operation = scope.partition(":")
            decoded = json.loads(result)
            result_id = decoded.get("id") if isinstance(decoded, dict) else None
            idempotency.append(IdempotencyRow(account, operation, key, result_id))
        limit_counters = {
            (perf, account): quantity
            for perf, account, quantity in conn.execute(
                "SELECT performance_id, account_id, quantity FROM ticket_limits"
            )
        }
        outbox_pending = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE status='pending'"
        ).fetchone()[0]
        outbox_dead = [
            f"outbox #{row_id} {topic} dead after {attempts} attempts: {error}"
            for row_id, topic, attempts, error in conn.execute(
                "SELECT id, topic, attempts, last_error FROM outbox WHERE status='dead'"
            )
        ]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return Snapshot(
        taken_at_ms=taken_at_ms,
        performances=performances,
        units=units,
        holds=holds,
        orders=orders,
        payments=payments,
        tickets=tickets,
        idempotency=idempotency,
        limit_counters=limit_counters,
        outbox_pending=outbox_pending,
        outbox_dead=outbox_dead,
    )


def load_sqlite_gateway(path: Path) -> GatewaySnapshot:
    """The simulated payment gateway's own database (its view of the money)."""
    conn = _connect_read_only(path)
    try:
        conn.execute("BEGIN")
        docs = {
            gid: json.loads(doc) for gid, doc in conn.execute("SELECT id, doc FROM gw_payments")
        }
        undelivered = [
            json.loads(body)["data"]["payment_id"]
            for (body,) in conn.execute("SELECT body FROM gw_webhooks WHERE delivered=0")
        ]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return GatewaySnapshot(
        payments={gid: d["status"] for gid, d in docs.items()},
        references={gid: d["reference"] for gid, d in docs.items()},
        undelivered=undelivered,
    )


# -- invariants that hold in every snapshot --------------------------------------------------


def check_single_sale(s: Snapshot) -> list[str]:
    """Every seat and standing place is sold at most once, and only through a paid order."""
    problems: list[str] = []
    paid = {oid: o for oid, o in s.orders.items() if o.status == "paid"}
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for order in paid.values():
        for unit_id in order.unit_ids:
            owners[(order.performance_id, unit_id)].append(order.id)
    problems += [
        f"{unit} is in {len(ids)} paid orders: {ids}"
        for unit, ids in owners.items()
        if len(ids) > 1
    ]
    valid = Counter((t.performance_id, t.unit_id) for t in s.tickets if t.status == "valid")
    problems += [f"{unit} has {n} valid tickets" for unit, n in valid.items() if n > 1]
    units = {(u.performance_id, u.unit_id): u for u in s.units}
    for unit in s.units:
        if unit.state != "sold":
            continue
        buyer = s.orders.get(unit.order_id or "")
        if buyer is None or buyer.status != "paid" or unit.unit_id not in buyer.unit_ids:
            problems.append(
                f"{unit.unit_id} is sold to order {unit.order_id}"
                f" ({buyer.status if buyer else 'missing'}) that does not hold it as paid"
            )
    for order in paid.values():
        for unit_id in order.unit_ids:
            place = units.get((order.performance_id, unit_id))
            if place is None or place.state != "sold" or place.order_id != order.id:
                state, owner = (place.state, place.order_id) if place else ("missing", None)
                problems.append(
                    f"paid order {order.id} owns {unit_id}, but the place is {state} for {owner}"
                )
    for ticket in s.tickets:
        if ticket.status != "valid":
            continue
        sale = paid.get(ticket.order_id)
        if sale is None:
            problems.append(f"valid ticket {ticket.id} belongs to unpaid order {ticket.order_id}")
        elif ticket.unit_id not in sale.unit_ids or ticket.account_id != sale.account_id:
            problems.append(f"valid ticket {ticket.id} does not match its order {sale.id}")
    return problems


def check_unit_states(s: Snapshot) -> list[str]:
    """Each held or reserved place points at the live hold or order that lists it."""
    problems: list[str] = []
    for unit in s.units:
        if unit.state == "held":
            hold = s.holds.get(unit.hold_id or "")
            if (
                hold is None
                or hold.status != "active"
                or unit.unit_id not in hold.unit_ids
                or unit.expires_at_ms != hold.expires_at_ms
            ):
                problems.append(
                    f"{unit.unit_id} is held for {unit.hold_id}"
                    f" ({hold.status if hold else 'missing'}), which does not keep it"
                )
        elif unit.state == "reserved":
            order = s.orders.get(unit.order_id or "")
            if (
                order is None
                or order.status != "pending_payment"
                or unit.unit_id not in order.unit_ids
                or unit.expires_at_ms != order.payment_deadline_ms
            ):
                problems.append(
                    f"{unit.unit_id} is reserved for {unit.order_id}"
                    f" ({order.status if order else 'missing'}), which does not keep it"
                )
        elif unit.expires_at_ms is not None:
            problems.append(f"{unit.unit_id} is {unit.state} but has an expiry")
    return problems


def check_links(s: Snapshot) -> list[str]:
    """Holds and orders agree: an ordered hold has exactly one order with the same places."""
    problems: list[str] = []
    by_hold = Counter(o.hold_id for o in s.orders.values())
    for hold in s.holds.values():
        if hold.quantity != len(hold.unit_ids) or len(set(hold.unit_ids)) != hold.quantity:
            problems.append(f"hold {hold.id} counts {hold.quantity} places for {hold.unit_ids}")
        if (hold.status == "ordered") != (by_hold[hold.id] == 1):
            problems.append(f"hold {hold.id} is {hold.status} with {by_hold[hold.id]} orders")
    for order in s.orders.values():
        origin = s.holds.get(order.hold_id)
        if origin is None or sorted(origin.unit_ids) != sorted(order.unit_ids):
            problems.append(f"order {order.id} does not carry the places of hold {order.hold_id}")
        if order.quantity != len(order.unit_ids):
            problems.append(f"order {order.id} counts {order.quantity} for {order.unit_ids}")
    return problems


def check_live_claims_kept(s: Snapshot) -> list[str]:
    """A hold or order that has not lapsed keeps every one of its places: nobody took one."""
    problems: list[str] = []
    units = {(u.performance_id, u.unit_id): u for u in s.units}
    for hold in s.holds.values():
        if hold.status == "active" and hold.expires_at_ms > s.taken_at_ms:
            for unit_id in hold.unit_ids:
                unit = units.get((hold.performance_id, unit_id))
                if unit is None or unit.state != "held" or unit.hold_id != hold.id:
                    problems.append(f"live hold {hold.id} lost {unit_id} to {unit}")
    for order in s.orders.values():
        if order.status == "pending_payment" and order.payment_deadline_ms > s.taken_at_ms:
            for unit_id in order.unit_ids:
                unit = units.get((order.performance_id, unit_id))
                if unit is None or unit.state != "reserved" or unit.order_id != order.id:
                    problems.append(f"pending order {order.id} lost {unit_id} to {unit}")
    return problems


def check_conservation(s: Snapshot, availability: Mapping[str, Any] | None = None) -> list[str]:
    """No place is created or lost: the inventory is the venue's, and the API's counts add up.

    `availability` is the body of GET /performances/{id}/availability, if one was taken.
    """
    problems: list[str] = []
    by_perf: dict[str, Counter[str]] = defaultdict(Counter)
    seen: Counter[tuple[str, str]] = Counter()
    for unit in s.units:
        by_perf[unit.performance_id][unit.state] += 1
        seen[(unit.performance_id, unit.unit_id)] += 1
    problems += [f"place {key} appears {n} times" for key, n in seen.items() if n > 1]
    for perf in s.performances.values():
        states = by_perf[perf.id]
        if sum(states.values()) != perf.capacity:
            problems.append(
                f"{perf.id}: {sum(states.values())} places in inventory, venue has {perf.capacity}"
            )
    if availability is not None:
        perf_id = availability["performance_id"]
        a = availability
        total = a["available"] + a["held"] + a["sold"] + a["blocked"]
        states = by_perf[perf_id]
        if total != a["capacity"]:
            problems.append(f"availability adds up to {total}, capacity says {a['capacity']}")
        if a["capacity"] != s.performances[perf_id].capacity:
            problems.append(f"availability capacity {a['capacity']} is not the venue's")
        for zone in a["zones"]:
            z_total = zone["available"] + zone["held"] + zone["sold"] + zone["blocked"]
            if z_total != zone["capacity"]:
                problems.append(
                    f"zone {zone['zone_id']} adds up to {z_total} of {zone['capacity']}"
                )
        if a["blocked"] != states["blocked"]:
            problems.append(f"availability blocked {a['blocked']}, store {states['blocked']}")
    return problems


def check_expiry_rules(s: Snapshot) -> list[str]:
    """No order from an expired hold, no payment accepted after the order's deadline."""
    problems: list[str] = []
    for order in s.orders.values():
        hold = s.holds.get(order.hold_id)
        if hold is not None and not hold.created_at <= order.created_at < hold.expires_at:
            problems.append(
                f"order {order.id} created {order.created_at.isoformat()} outside hold "
                f"{hold.id}'s life {hold.created_at.isoformat()}..{hold.expires_at.isoformat()}"
            )
        if order.status == "paid" and (
            order.paid_at_ms is None or order.paid_at_ms >= order.payment_deadline_ms
        ):
            problems.append(
                f"order {order.id} paid at {order.paid_at_ms}, deadline {order.payment_deadline_ms}"
            )
    return problems


def _live_claims(s: Snapshot) -> Counter[tuple[str, str]]:
    """(performance, account) → places held or reserved and not yet lapsed, or sold."""
    claims: Counter[tuple[str, str]] = Counter()
    for unit in s.units:
        owner: HoldRow | OrderRow | None = None
        if unit.state == "held" and (unit.expires_at_ms or 0) > s.taken_at_ms:
            owner = s.holds.get(unit.hold_id or "")
        elif unit.state == "sold" or (
            unit.state == "reserved" and (unit.expires_at_ms or 0) > s.taken_at_ms
        ):
            owner = s.orders.get(unit.order_id or "")
        if owner is not None:
            claims[(unit.performance_id, owner.account_id)] += 1
    return claims


def _counted_claims(s: Snapshot) -> Counter[tuple[str, str]]:
    """What the limit counter must say: active holds, pending and paid orders."""
    counted: Counter[tuple[str, str]] = Counter()
    for hold in s.holds.values():
        if hold.status == "active":
            counted[(hold.performance_id, hold.account_id)] += hold.quantity
    for order in s.orders.values():
        if order.status in ("pending_payment", "paid"):
            counted[(order.performance_id, order.account_id)] += order.quantity
    return counted


def check_ticket_limits(s: Snapshot) -> list[str]:
    """Per account and performance: held + reserved + sold places never exceed the limit."""
    problems = [
        f"{account} holds or bought {n} places of {perf}, limit {s.performances[perf].ticket_limit}"
        for (perf, account), n in _live_claims(s).items()
        if n > s.performances[perf].ticket_limit
    ]
    # The store's own counter moves with every hold and order, in the same transaction.
    counted = _counted_claims(s)
    for key in set(counted) | set(s.limit_counters):
        value = s.limit_counters.get(key, 0)
        if value > s.performances[key[0]].ticket_limit:
            problems.append(f"limit counter of {key} is {value}, over the limit")
        if value != counted[key]:
            problems.append(
                f"limit counter of {key} is {value}, live holds and orders add up to {counted[key]}"
            )
    return problems


def check_background(s: Snapshot) -> list[str]:
    """No message of the outbox gave up (the local dead-letter queue stays empty)."""
    return list(s.outbox_dead)


# -- invariants about what clients were told --------------------------------------------------


def _stored_by_operation(s: Snapshot) -> dict[str, Mapping[str, object]]:
    return {"place-hold": s.holds, "place-order": s.orders, "pay-order": s.payments}


def check_acknowledged(
    s: Snapshot,
    acknowledged: Mapping[str, Mapping[tuple[str, str], str]],
) -> list[str]:
    """One effect per idempotency key, and nothing acknowledged is lost.

    `acknowledged` maps an operation ("place-hold", "place-order", "pay-order") to the
    (account id, Idempotency-Key) pairs answered 2xx and the id each answer carried.
    """
    problems = check_acknowledged_exist(s, acknowledged)
    stored = _stored_by_operation(s)
    for operation, acks in acknowledged.items():
        objects = stored[operation]
        ids = list(acks.values())
        duplicated = [i for i, n in Counter(ids).items() if n > 1]
        if duplicated:
            problems.append(f"{operation}: one result for several keys: {duplicated}")
        if len(objects) != len(set(ids)):
            problems.append(
                f"{operation}: {len(objects)} in the store for {len(set(ids))} acknowledged keys"
            )
        keyed = sum(1 for r in s.idempotency if r.operation == operation)
        if keyed != len(objects):
            problems.append(f"{operation}: {keyed} idempotency records for {len(objects)} objects")
    return problems


# -- once background work has settled --------------------------------------------------------


def unsettled(s: Snapshot, gateway: GatewaySnapshot | None = None) -> list[str]:
    """What is still in motion; empty once every hold, order, payment, message and webhook
    has come to rest. Meaningful once no client acts any more: then it is eventually empty.
    """
    reasons: list[str] = []
    now = s.taken_at_ms
    active = [h for h in s.holds.values() if h.status == "active"]
    if active:
        lapsed = sum(1 for h in active if h.expires_at_ms <= now)
        reasons.append(f"{len(active)} holds still active ({lapsed} of them lapsed)")
    pending = [o for o in s.orders.values() if o.status == "pending_payment"]
    if pending:
        overdue = [o.id for o in pending if o.payment_deadline_ms <= now]
        reasons.append(
            f"{len(pending)} orders pending payment ({len(overdue)} past the deadline:"
            f" {overdue[:5]})"
        )
    moving = [p.id for p in s.payments.values() if p.status not in FINAL_PAYMENT_STATES]
    if moving:
        reasons.append(f"{len(moving)} payments not final: {moving[:5]}")
    if s.outbox_pending:
        reasons.append(f"{s.outbox_pending} outbox messages pending")
    valid = Counter(t.order_id for t in s.tickets if t.status == "valid")
    unticketed = [
        o.id for o in s.orders.values() if o.status == "paid" and valid[o.id] != o.quantity
    ]
    if unticketed:
        reasons.append(f"{len(unticketed)} paid orders without all tickets: {unticketed[:5]}")
    if gateway is not None:
        # Webhooks about payments the store never recorded can never be applied (they are
        # retried, then dropped); waiting for them would only wait out the retries.
        known = {p.gateway_payment_id for p in s.payments.values()}
        undelivered = [gid for gid in gateway.undelivered if gid in known]
        if undelivered:
            reasons.append(f"{len(undelivered)} gateway webhooks undelivered")
    return reasons


def check_settled(
    s: Snapshot,
    gateway: GatewaySnapshot | None = None,
    availability: Mapping[str, Any] | None = None,
) -> list[str]:
    """At rest: tickets match sales one to one, money matches orders, the API agrees."""
    problems = unsettled(s, gateway)
    valid_tickets = Counter(t.performance_id for t in s.tickets if t.status == "valid")
    sold = Counter(u.performance_id for u in s.units if u.state == "sold")
    paid_places = Counter(
        o.performance_id for o in s.orders.values() for _ in o.unit_ids if o.status == "paid"
    )
    for perf in s.performances:
        if not sold[perf] == paid_places[perf] == valid_tickets[perf]:
            problems.append(
                f"{perf}: {sold[perf]} places sold, {paid_places[perf]} in paid orders,"
                f" {valid_tickets[perf]} valid tickets"
            )
    if availability is not None:
        perf = availability["performance_id"]
        if availability["sold"] != sold[perf]:
            problems.append(f"availability says {availability['sold']} sold, store {sold[perf]}")
        if availability["held"] != 0:
            problems.append(f"availability says {availability['held']} held at rest")
    return problems


def check_money(s: Snapshot, gateway: GatewaySnapshot | None = None) -> list[str]:
    """At rest: exactly the paid orders' payments are captured, no money is left authorized."""
    problems: list[str] = []
    for order in s.orders.values():
        if order.status != "paid":
            continue
        payment = s.payments.get(order.paid_payment_id or "")
        if payment is None or payment.order_id != order.id or payment.status != "captured":
            problems.append(
                f"paid order {order.id}: its payment {order.paid_payment_id} is "
                f"{payment.status if payment else 'missing'}"
            )
    paid_by = {o.paid_payment_id for o in s.orders.values() if o.status == "paid"}
    for payment in s.payments.values():
        if payment.id not in paid_by and payment.status in ("captured", "authorized"):
            problems.append(
                f"payment {payment.id} is {payment.status} for order {payment.order_id},"
                f" which it did not pay ({s.orders[payment.order_id].status})"
            )
    if gateway is not None:
        ours = {p.gateway_payment_id: p for p in s.payments.values()}
        for gw_id, status in gateway.payments.items():
            payment = ours.get(gw_id)
            if payment is None and status in ("authorized", "captured"):
                problems.append(
                    f"gateway payment {gw_id} is {status} for order {gateway.references[gw_id]},"
                    " but the store has no record of it: the money is never given back"
                )
            elif status == "authorized":
                problems.append(f"gateway payment {gw_id} left authorized (money held)")
            elif status == "captured" and (payment is None or payment.id not in paid_by):
                problems.append(f"gateway captured {gw_id} without a paid order")
            elif payment is not None and payment.status != status:
                problems.append(f"payment {payment.id} is {payment.status}, gateway says {status}")
    return problems


def audit_anytime(s: Snapshot) -> dict[str, list[str]]:
    """The checks that must pass in any snapshot, even in the middle of the rush."""
    return {
        "single sale": check_single_sale(s),
        "unit states": check_unit_states(s) + check_live_claims_kept(s) + check_links(s),
        "conservation": check_conservation(s),
        "expiry rules": check_expiry_rules(s),
        "ticket limits": check_ticket_limits(s),
    }


def audit(
    snapshot: Snapshot,
    gateway: GatewaySnapshot | None = None,
    availability: Mapping[str, Any] | None = None,
    acknowledged: Mapping[str, Mapping[tuple[str, str], str]] | None = None,
    settled: bool = False,
) -> dict[str, list[str]]:
    """Every check that applies; keys name the invariant families, values their violations."""
    results = audit_anytime(snapshot)
    results["conservation"] = check_conservation(snapshot, availability)
    results["background"] = check_background(snapshot)
    if acknowledged is not None:
        results["acknowledged"] = check_acknowledged(snapshot, acknowledged)
    if settled:
        results["settled"] = check_settled(snapshot, gateway, availability)
        results["money"] = check_money(snapshot, gateway)
    return results


def audit_sqlite(
    path: Path,
    gateway_path: Path | None = None,
    availability: Mapping[str, Any] | None = None,
    acknowledged: Mapping[str, Mapping[tuple[str, str], str]] | None = None,
    settled: bool = False,
) -> dict[str, list[str]]:
    """`audit` over the local adapter's database files."""
    gateway = load_sqlite_gateway(gateway_path) if gateway_path is not None else None
    return audit(load_sqlite_snapshot(path), gateway, availability, acknowledged, settled)


# Loaders per adapter family, keyed like tests.live_server.BACKENDS, reading the places a
# LiveServer's `stores` names. An AWS variant adds its DynamoDB/gateway readers here.
SNAPSHOT_LOADERS: dict[str, Callable[[Mapping[str, Any]], Snapshot]] = {
    "local": lambda stores: load_sqlite_snapshot(stores["booking"]),
}
GATEWAY_LOADERS: dict[str, Callable[[Mapping[str, Any]], GatewaySnapshot]] = {
    "local": lambda stores: load_sqlite_gateway(stores["gateway"]),
}


def load_snapshot(backend: str, stores: Mapping[str, Any]) -> Snapshot:
    return SNAPSHOT_LOADERS[backend](stores)


def load_gateway(backend: str, stores: Mapping[str, Any]) -> GatewaySnapshot:
    return GATEWAY_LOADERS[backend](stores)


def violations(results: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Only the families with problems, for an assertion message."""
    return {name: found for name, found in results.items() if found}


def check_acknowledged_exist(
    s: Snapshot, acknowledged: Mapping[str, Mapping[tuple[str, str], str]]
) -> list[str]:
    """Every hold, order and payment the API acknowledged is in the store, under its
    Idempotency-Key and its fan. (Stored but unacknowledged is fine: a client that gave up
    waiting never heard the answer.)"""
    stored = _stored_by_operation(s)
    recorded = {(r.operation, r.account_id, r.key): r.result_id for r in s.idempotency}
    problems: list[str] = []
    for operation, acks in acknowledged.items():
        for (account, key), object_id in acks.items():
            found = stored[operation].get(object_id)
            if found is None:
                problems.append(f"{operation} {key!r} acknowledged {object_id}, not in the store")
            elif getattr(found, "account_id", account) != account:
                problems.append(f"{operation} {object_id} belongs to another account")
            elif recorded.get((operation, account, key)) != object_id:
                problems.append(f"{operation} {key!r}: no idempotency record for {object_id}")
    return problems
