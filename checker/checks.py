"""The history checked against the store as it was found afterwards.

Each check returns violations: a line saying what broke, with the operations that show
it. Times are seconds on the machine's wall clock; the store's own timestamps (when a
hold or order was created, when it lapses or was closed) are on the same clock.

Who owned a place when: a hold owns its places from its creation until it lapses, is
released, or its order ends (paid: for good, unless refunded; otherwise its deadline or
its cancellation). A release's moment is only known to lie within the release request's
interval, so each claim has two ends: the earliest it may have ended (for "two claims at
once") and the latest (for "was it owned while refused").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checker.history import History, Op
from checker.workload import EXPECTED_PROBLEMS
from rehearsal.audit import Snapshot, audit_anytime

SLACK = 0.005
"""Seconds either side of an interval: the store keeps milliseconds."""


@dataclass(frozen=True)
class Claim:
    owner: str
    """The hold id (an order's places are its hold's, continued)."""
    units: tuple[str, ...]
    earliest_start: float
    """The store's stamp of the hold: taken when its write began, no later than its commit."""
    latest_start: float
    """When it was surely in force: its acknowledgement, or the end of the request."""
    earliest_end: float
    latest_end: float
    acknowledged_only: bool = False
    """Known from an acknowledgement, not found in the store."""


def _seconds(ms: int | None) -> float:
    return math.inf if ms is None else ms / 1000


def _answered(ops: list[Op], default: float) -> float:
    """The latest moment requests among `ops` could still have taken effect."""
    return max([op.completed or default for op in ops] or [default])


@dataclass
class _Requests:
    """The history indexed for `claims`."""

    by_target: dict[str, list[Op]]
    """`<kind>:<hold or order id>` → its requests that were not refused."""
    keyed: dict[tuple[str, str], list[Op]]
    placed: dict[str, float]
    """hold id → when its first acknowledgement arrived."""
    end_of_run: float


def _requests(history: History) -> _Requests:
    index = _Requests(defaultdict(list), defaultdict(list), {}, math.inf)
    index.end_of_run = max((op.completed or op.invoked for op in history.ops), default=math.inf)
    for op in history.ops:
        if op.target and op.outcome != "fail":
            index.by_target[f"{op.kind}:{op.target}"].append(op)
        if op.key is not None:
            index.keyed[(op.fan, op.key)].append(op)
        if op.outcome == "ok" and op.kind in ("place-hold", "replay-hold", "reuse-key"):
            ident = op.answer["id"]
            done = op.completed or index.end_of_run
            index.placed[ident] = min(index.placed.get(ident, math.inf), done)
    return index


def claims(history: History, s: Snapshot) -> list[Claim]:
    requests = _requests(history)
    by_target, keyed, placed = requests.by_target, requests.keyed, requests.placed
    end_of_run = requests.end_of_run
    hold_keys = {r.result_id: (r.account_id, r.key) for r in s.idempotency}
    orders = {o.hold_id: o for o in s.orders.values()}
    found: list[Claim] = []
    for hold in s.holds.values():
        start, lapses = hold.created_at.timestamp(), hold.expires_at.timestamp()
        surely = placed.get(hold.id)
        if surely is None:  # never acknowledged: in force by the end of its key's requests
            surely = _answered(keyed.get(hold_keys.get(hold.id, ("", "")), []), end_of_run)
        earliest = latest = lapses
        order = orders.get(hold.id)
        if hold.status == "released":
            tried = by_target.get(f"release:{hold.id}", [])
            earliest = min([lapses, *(op.invoked for op in tried)])
            latest = min(lapses, _answered(tried, lapses))
        elif order is not None:
            cancels = by_target.get(f"cancel:{order.id}", [])
            closed = _seconds(order.closed_at_ms)
            closed_by = max(closed, _answered(cancels, closed)) if order.closed_at_ms else math.inf
            if order.paid_at_ms is not None:  # refunded, or kept for good
                earliest, latest = closed, closed_by
            else:
                deadline = order.payment_deadline_ms / 1000
                earliest, latest = min(deadline, closed), min(deadline, closed_by)
        found.append(Claim(hold.id, hold.unit_ids, start, surely, earliest, latest))
    stored = set(s.holds)
    for op in history.ops:  # acknowledged holds the store does not have (a lost write)
        if op.kind in ("place-hold", "replay-hold") and op.outcome == "ok":
            answer = op.answer
            if answer["id"] not in stored:
                units = tuple(i["unit_id"] for i in answer["items"])
                lapses = _iso_seconds(answer["expires_at"])
                done = op.completed or op.invoked
                found.append(Claim(answer["id"], units, op.invoked, done, done, lapses, True))
                stored.add(answer["id"])
    return found


def _iso_seconds(text: str) -> float:
    from datetime import datetime  # noqa: PLC0415 - one use

    return datetime.fromisoformat(text).timestamp()


def _show(op: Op) -> str:
    took = f"{op.completed - op.invoked:.3f}s" if op.completed else "no answer"
    answer = op.answer
    if isinstance(answer, dict):
        answer = answer.get("id") or answer.get("type") or answer
    return (
        f"#{op.id} {op.kind} by {op.fan} key={op.key} body={op.body} at {op.invoked:.3f}"
        f" ({took}) → {op.status} {answer}"
    )


def check_answers(history: History) -> list[str]:
    """Every answer is one the contract documents: 2xx, a listed problem, or shed (503)."""
    problems = []
    for op in history.ops:
        if op.outcome == "fail":
            if (op.status, op.problem) not in EXPECTED_PROBLEMS[op.kind]:
                problems.append(f"unexpected answer: {_show(op)}")
        elif op.status is not None and op.status >= 500 and op.status != 503:
            problems.append(f"server error: {_show(op)}")
    return problems


def check_acknowledged_durable(history: History, s: Snapshot) -> list[str]:
    """What the API acknowledged is in the store, as acknowledged."""
    problems = []
    for op in history.ops:
        if op.outcome != "ok":
            continue
        if op.kind in ("place-hold", "replay-hold", "reuse-key"):
            hold = s.holds.get(op.answer["id"])
            units = tuple(i["unit_id"] for i in op.answer["items"])
            if hold is None:
                problems.append(f"acknowledged hold not in the store: {_show(op)}")
            elif sorted(hold.unit_ids) != sorted(units):
                problems.append(f"hold stored with {hold.unit_ids}, acknowledged {units}")
        elif op.kind in ("place-order", "replay-order"):
            if op.answer["id"] not in s.orders:
                problems.append(f"acknowledged order not in the store: {_show(op)}")
        elif op.kind == "pay" and op.answer["id"] not in s.payments:
            problems.append(f"acknowledged payment not in the store: {_show(op)}")
        elif op.kind == "release" and s.holds.get(op.target or "", None) is not None:
            if s.holds[op.target or ""].status != "released":
                problems.append(f"acknowledged release, hold is {s.holds[op.target or ''].status}")
        elif op.kind == "cancel":
            order = s.orders.get(op.target or "")
            if order is None or order.status not in ("cancelled", "refunded"):
                problems.append(f"acknowledged cancel, order is {order and order.status}")
    return problems


def check_nothing_unacknowledged(history: History, s: Snapshot) -> list[str]:
    """Every hold and order in the store was asked for under a key whose request was not
    refused: a refused request leaves nothing, and nothing appears on its own."""
    asked: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for op in history.ops:
        if op.key is not None:
            asked[(op.fan, op.key)].append(op)
    operations: dict[str, dict[str, Any]] = {"place-hold": s.holds, "place-order": s.orders}
    problems = []
    recorded: dict[str, set[str]] = defaultdict(set)
    for record in s.idempotency:
        if record.operation not in operations or record.result_id is None:
            continue
        recorded[record.operation].add(record.result_id)
        ops = asked.get((record.account_id, record.key))
        if not ops:
            problems.append(
                f"{record.operation} {record.result_id} stored under key {record.key!r}"
                " that no client sent"
            )
            continue
        first = ops[0]
        if all(op.outcome == "fail" for op in ops):
            problems.append(
                f"{record.operation} {record.result_id} stored for a refused request:"
                f" {_show(first)}"
            )
    for operation, stored in operations.items():
        for ident in set(stored) - recorded[operation]:
            problems.append(f"{operation} {ident} in the store without its key's record")
    return problems


def check_replays(history: History) -> list[str]:
    """One effect per key: every 2xx under a key and body carries the same body; a replay
    after an acknowledged first answer gets it back; another body under a used key is 422."""
    problems = []
    by_key: dict[tuple[str, str, str], list[Op]] = defaultdict(list)
    for op in history.ops:
        if op.key is not None and op.kind in (
            "place-hold",
            "replay-hold",
            "place-order",
            "replay-order",
        ):
            by_key[(op.fan, op.key, repr(sorted(op.body.items())))].append(op)
    for ops in by_key.values():
        answers = {repr(op.answer) for op in ops if op.outcome == "ok"}
        if len(answers) > 1:
            problems.append("one key, several answers: " + " | ".join(_show(op) for op in ops))
        first = ops[0]
        for later in ops[1:]:
            if (
                first.outcome == "ok"
                and first.completed is not None
                and later.invoked > first.completed
                and later.outcome == "fail"
            ):
                problems.append(f"replay refused: {_show(later)} after {_show(first)}")
    ops_by_id = {op.id: op for op in history.ops}
    for op in history.ops:
        if op.kind != "reuse-key" or op.replay_of is None:
            continue
        first = ops_by_id[op.replay_of]
        answered = first.outcome == "ok" and first.completed is not None
        refused_as_reused = op.status == 422 or op.outcome == "unknown"
        if answered and op.invoked > (first.completed or 0) and not refused_as_reused:
            problems.append(f"key reused with another body not refused: {_show(op)}")
    return problems


def check_no_false_refusal(history: History, all_claims: list[Claim]) -> list[str]:
    """A 409 naming a seat is true only if, at some moment within the refused request's
    interval, that seat belonged to an acknowledged or stored hold or order."""
    by_unit: dict[str, list[Claim]] = defaultdict(list)
    for claim in all_claims:
        for unit in claim.units:
            by_unit[unit].append(claim)
    problems = []
    for op in history.ops:
        if op.status != 409 or op.problem != "seats-unavailable":
            continue
        end = op.completed or math.inf
        for seat in op.answer.get("taken", []):
            owned = any(
                c.earliest_start - SLACK <= end and c.latest_end + SLACK >= op.invoked
                for c in by_unit.get(seat, [])
            )
            if not owned:
                problems.append(f"false refusal of {seat}: {_show(op)}")
    return problems


def check_one_claim_at_a_time(all_claims: list[Claim]) -> list[str]:
    """No place in two holds or orders at once."""
    by_unit: dict[str, list[Claim]] = defaultdict(list)
    for claim in all_claims:
        for unit in claim.units:
            by_unit[unit].append(claim)
    problems = []
    for unit, owners in by_unit.items():
        owners.sort(key=lambda c: c.latest_start)
        longest: Claim | None = None  # of the claims so far, the one that may end last
        for after in owners:
            if longest is not None and after.latest_start + SLACK < longest.earliest_end:
                problems.append(
                    f"{unit} in two claims at once: {longest.owner} (in force by"
                    f" {longest.latest_start:.3f}, not ended before {longest.earliest_end:.3f})"
                    f" and {after.owner} (in force by {after.latest_start:.3f})"
                )
            if longest is None or after.earliest_end > longest.earliest_end:
                longest = after
    return problems


def check_counts_during_the_run(history: History, capacity: int) -> list[str]:
    problems = []
    for op in history.ops:
        if op.kind == "availability" and op.outcome == "ok":
            a = op.answer
            total = a["available"] + a["held"] + a["sold"] + a["blocked"]
            if total != capacity or a["capacity"] != capacity:
                problems.append(f"counts add up to {total} of {capacity}: {_show(op)}")
    return problems


def check(history: History, s: Snapshot, capacity: int) -> dict[str, list[str]]:
    """Every check; keys name what they check, values their violations."""
    all_claims = claims(history, s)
    results = {
        "answers as documented": check_answers(history),
        "acknowledged and durable": check_acknowledged_durable(history, s),
        "nothing unacknowledged": check_nothing_unacknowledged(history, s),
        "one effect per key": check_replays(history),
        "no false refusal": check_no_false_refusal(history, all_claims),
        "one claim at a time": check_one_claim_at_a_time(all_claims),
        "conserved while running": check_counts_during_the_run(history, capacity),
    }
    for name, found in audit_anytime(s).items():
        results[f"store: {name}"] = found
    return results


def summary(results: dict[str, list[str]]) -> tuple[int, dict[str, int]]:
    counts = {name: len(found) for name, found in results.items()}
    return sum(counts.values()), counts


def first(found: Iterable[Any], n: int = 5) -> list[Any]:
    return list(found)[:n]
