"""Holds and orders over HTTP: all or nothing, limits, idempotency, expiry, cancel and refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from booking.adapters.shifted_clock import ShiftedClock
from booking.bootstrap import LocalRuntime
from tests.support import (
    ApiDriver,
    assert_problem,
    availability,
    counts,
    gateway_payment,
    get_order,
    hold,
    new_key,
    order,
    post_hold,
    post_order,
    post_payment,
    query,
    seat_states,
    tickets_of,
    wait_for,
)


def _holds(runtime: LocalRuntime) -> int:
    return int(query(runtime.db.path, "SELECT COUNT(*) FROM holds")[0][0])


def _orders(runtime: LocalRuntime) -> int:
    return int(query(runtime.db.path, "SELECT COUNT(*) FROM orders")[0][0])


def _zone(client: httpx.Client, performance_id: str, zone_id: str) -> dict[str, Any]:
    zones: list[dict[str, Any]] = availability(client, performance_id)["zones"]
    return next(z for z in zones if z["zone_id"] == zone_id)


# -- holds: all or nothing ----------------------------------------------------------------
def test_hold_is_all_or_nothing_and_names_exactly_the_taken_seats(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN seats taken by another fan WHEN asking for them among free ones THEN 409 naming
    exactly the taken seats, and none of the free seats (nor GA places) is held."""
    c = api.client
    _, performance = api.on_sale(ticket_limit=10)
    pid = performance["id"]
    fan_a = api.account()
    fan_b = api.account()
    hold(c, fan_a, pid, ["S1-A-2", "S1-C-5"])
    before = counts(c, pid)
    holds_before = _holds(runtime)

    r = post_hold(
        c,
        fan_b,
        pid,
        ["S1-A-1", "S1-C-5", "S1-A-2", "S1-A-3"],
        [{"zone": "FLOOR", "quantity": 2}],
    )

    body = assert_problem(r, 409, "seats-unavailable")
    assert body["taken"] == ["S1-A-2", "S1-C-5"]
    assert body["ga_short"] == {}
    assert counts(c, pid) == before
    assert _holds(runtime) == holds_before
    states = seat_states(c, pid)
    assert (states["S1-A-1"], states["S1-A-3"]) == ("available", "available")
    assert _zone(c, pid, "FLOOR")["held"] == 0
    # The refused fan's limit was not used up by the failed attempt.
    assert hold(c, fan_b, pid, ["S1-A-1", "S1-A-3"])["quantity"] == 2


def test_ga_quantities_are_held_and_counted(api: ApiDriver) -> None:
    """GIVEN a GA zone of 5 WHEN fans hold 3 then ask for 3 more THEN 3 held, then 409 short 1."""
    c = api.client
    _, performance = api.on_sale(ga_capacity=5)
    pid = performance["id"]
    fan_a = api.account()
    fan_b = api.account()

    placed = hold(c, fan_a, pid, ga=[{"zone": "FLOOR", "quantity": 3}])
    assert placed["quantity"] == 3
    assert placed["total_krw"] == 3 * 154_000
    assert {i["kind"] for i in placed["items"]} == {"ga"}
    assert {i["zone_id"] for i in placed["items"]} == {"FLOOR"}
    assert len({i["unit_id"] for i in placed["items"]}) == 3
    floor = _zone(c, pid, "FLOOR")
    assert (floor["held"], floor["available"]) == (3, 2)
    before = counts(c, pid)

    r = post_hold(c, fan_b, pid, ["S1-A-1"], [{"zone": "FLOOR", "quantity": 3}])
    body = assert_problem(r, 409, "seats-unavailable")
    assert body["taken"] == []
    assert body["ga_short"] == {"FLOOR": 1}
    assert counts(c, pid) == before
    assert seat_states(c, pid)["S1-A-1"] == "available"

    assert hold(c, fan_b, pid, ga=[{"zone": "FLOOR", "quantity": 2}])["quantity"] == 2
    assert _zone(c, pid, "FLOOR")["available"] == 0


def test_ticket_limit_counts_across_holds(api: ApiDriver) -> None:
    """GIVEN a limit of 4 WHEN a fan holds 2 + 2 and asks for 1 more THEN 409
    ticket-limit-exceeded; after releasing one hold the fan may hold again."""
    c = api.client
    _, performance = api.on_sale(ticket_limit=4)
    pid = performance["id"]
    fan = api.account()
    first = hold(c, fan, pid, ["S1-A-1", "S1-A-2"])
    hold(c, fan, pid, ga=[{"zone": "FLOOR", "quantity": 2}])
    before = counts(c, pid)

    assert_problem(post_hold(c, fan, pid, ["S1-A-3"]), 409, "ticket-limit-exceeded")
    assert_problem(
        post_hold(c, fan, pid, ga=[{"zone": "FLOOR", "quantity": 1}]), 409, "ticket-limit-exceeded"
    )
    assert counts(c, pid) == before
    assert seat_states(c, pid)["S1-A-3"] == "available"

    # An order keeps counting against the limit; a release gives places back.
    order(c, fan, first["id"])
    assert_problem(post_hold(c, fan, pid, ["S1-A-3"]), 409, "ticket-limit-exceeded")
    other = api.account()
    assert hold(c, other, pid, ["S1-A-3", "S1-A-4", "S1-A-5", "S1-A-6"])["quantity"] == 4


def test_single_request_above_the_ticket_limit_is_refused(api: ApiDriver) -> None:
    """GIVEN a limit of 2 WHEN one hold asks for 3 places THEN 409 and nothing is held."""
    c = api.client
    _, performance = api.on_sale(ticket_limit=2)
    pid = performance["id"]
    fan = api.account()
    before = counts(c, pid)
    r = post_hold(c, fan, pid, ["S1-A-1", "S1-A-2", "S1-A-3"])
    assert_problem(r, 409, "ticket-limit-exceeded")
    assert counts(c, pid) == before
    assert hold(c, fan, pid, ["S1-A-1", "S1-A-2"])["quantity"] == 2


def test_release_frees_the_places(api: ApiDriver) -> None:
    """GIVEN a hold WHEN released THEN its seats and GA places are available to anyone again."""
    c = api.client
    _, performance = api.on_sale()
    pid = performance["id"]
    fan = api.account()
    empty = counts(c, pid)
    placed = hold(c, fan, pid, ["S1-B-1", "S1-B-2"], [{"zone": "FLOOR", "quantity": 2}])
    assert availability(c, pid)["held"] == 4

    r = c.post(f"/api/v1/holds/{placed['id']}/release", headers=fan)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "released"
    assert counts(c, pid) == empty
    assert c.get(f"/api/v1/holds/{placed['id']}", headers=fan).json()["status"] == "released"

    # Released is final: no second release, no order.
    assert_problem(
        c.post(f"/api/v1/holds/{placed['id']}/release", headers=fan), 409, "hold-not-active"
    )
    assert_problem(post_order(c, fan, placed["id"]), 409, "hold-not-active")
    assert counts(c, pid) == empty
    other = api.account()
    assert hold(c, other, pid, ["S1-B-1", "S1-B-2"])["quantity"] == 2


# -- Idempotency-Key ----------------------------------------------------------------------
def test_hold_replay_with_same_key_returns_the_same_hold(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a hold placed with a key WHEN the same request is retried with that key THEN the
    identical response comes back and only one hold exists."""
    c = api.client
    _, performance = api.on_sale()
    pid = performance["id"]
    fan = api.account()
    key = new_key()
    seats = ["S1-C-1", "S1-C-2"]

    first = post_hold(c, fan, pid, seats, key=key)
    assert first.status_code == 201, first.text
    second = post_hold(c, fan, pid, seats, key=key)
    assert second.status_code == 201, second.text

    assert second.json() == first.json()
    assert availability(c, pid)["held"] == 2
    assert _holds(runtime) == 1
    assert query(runtime.db.path, "SELECT quantity FROM ticket_limits")[0][0] == 2


def test_same_key_with_another_body_is_422_and_changes_nothing(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a key already used WHEN a different hold is sent with it THEN 422
    idempotency-key-reused and no second hold is made."""
    c = api.client
    _, performance = api.on_sale()
    pid = performance["id"]
    fan = api.account()
    key = new_key()
    assert post_hold(c, fan, pid, ["S1-C-1"], key=key).status_code == 201
    before = counts(c, pid)

    assert_problem(post_hold(c, fan, pid, ["S1-C-2"], key=key), 422, "idempotency-key-reused")
    assert counts(c, pid) == before
    assert seat_states(c, pid)["S1-C-2"] == "available"
    assert _holds(runtime) == 1

    # Keys belong to their account: another fan may use the same string.
    other = api.account()
    r = post_hold(c, other, pid, ["S1-C-2"], key=key)
    assert r.status_code == 201, r.text


def test_missing_idempotency_key_is_400(api: ApiDriver, runtime: LocalRuntime) -> None:
    """GIVEN no Idempotency-Key WHEN holding, ordering or paying THEN 400, nothing created."""
    c = api.client
    _, performance = api.on_sale()
    pid = performance["id"]
    fan = api.account()
    before = counts(c, pid)
    r = c.post(f"/api/v1/performances/{pid}/holds", headers=fan, json={"seats": ["S1-A-1"]})
    assert_problem(r, 400, "idempotency-key-required")
    assert counts(c, pid) == before
    assert _holds(runtime) == 0

    placed = hold(c, fan, pid, ["S1-A-1"])
    r = c.post("/api/v1/orders", headers=fan, json={"hold_id": placed["id"]})
    assert_problem(r, 400, "idempotency-key-required")
    assert _orders(runtime) == 0
    assert c.get(f"/api/v1/holds/{placed['id']}", headers=fan).json()["status"] == "active"

    placed_order = order(c, fan, placed["id"])
    r = c.post(
        f"/api/v1/orders/{placed_order['id']}/payments", headers=fan, json={"method": "tok_visa"}
    )
    assert_problem(r, 400, "idempotency-key-required")
    assert c.get(f"/api/v1/orders/{placed_order['id']}/payments", headers=fan).json() == []


def test_order_replay_with_same_key_returns_the_same_order(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN an order placed with a key WHEN retried THEN the same order; another key is 409."""
    c = api.client
    _, performance = api.on_sale()
    fan = api.account()
    placed = hold(c, fan, performance["id"], ["S1-A-1"])
    key = new_key()
    first = post_order(c, fan, placed["id"], key=key)
    assert first.status_code == 201, first.text
    second = post_order(c, fan, placed["id"], key=key)
    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert_problem(post_order(c, fan, placed["id"]), 409, "hold-not-active")
    assert _orders(runtime) == 1
    assert [o["id"] for o in c.get("/api/v1/orders", headers=fan).json()] == [first.json()["id"]]


# -- expiry -------------------------------------------------------------------------------
def test_expired_hold_cannot_be_ordered_and_its_seat_is_free_again(
    api: ApiDriver, clock: ShiftedClock
) -> None:
    """GIVEN a hold with a 1 s TTL WHEN ordering it after 1.3 s THEN 410 hold-expired, no order,
    and another fan can hold the same seat."""
    c = api.client
    _, performance = api.on_sale(hold_ttl_seconds=1)
    pid = performance["id"]
    fan = api.account()
    other = api.account()
    placed = hold(c, fan, pid, ["S1-A-1"])
    clock.advance(1.3)

    assert c.get(f"/api/v1/holds/{placed['id']}", headers=fan).json()["status"] == "expired"
    assert_problem(post_order(c, fan, placed["id"]), 410, "hold-expired")
    assert c.get("/api/v1/orders", headers=fan).json() == []
    assert availability(c, pid)["held"] == 0
    assert seat_states(c, pid)["S1-A-1"] == "available"
    assert hold(c, other, pid, ["S1-A-1"])["quantity"] == 1


def test_expired_hold_stops_counting_against_the_limit(api: ApiDriver, clock: ShiftedClock) -> None:
    """GIVEN a fan at the limit with a 1 s hold WHEN it expires THEN the fan may hold again."""
    c = api.client
    _, performance = api.on_sale(hold_ttl_seconds=1, ticket_limit=2)
    pid = performance["id"]
    fan = api.account()
    hold(c, fan, pid, ["S1-A-1", "S1-A-2"])
    assert_problem(post_hold(c, fan, pid, ["S1-A-3"]), 409, "ticket-limit-exceeded")
    clock.advance(1.2)
    assert hold(c, fan, pid, ["S1-A-1", "S1-A-3"])["quantity"] == 2


def test_unpaid_order_expires_and_frees_its_seats(api: ApiDriver, clock: ShiftedClock) -> None:
    """GIVEN an order with a 1 s payment window WHEN the deadline passes THEN it shows expired,
    cannot be paid or cancelled, and its seats are available to others."""
    c = api.client
    _, performance = api.on_sale(payment_window_seconds=1)
    pid = performance["id"]
    fan = api.account()
    other = api.account()
    empty = counts(c, pid)
    placed = order(c, fan, hold(c, fan, pid, ["S1-A-1", "S1-A-2"])["id"])
    assert placed["status"] == "pending_payment"
    assert availability(c, pid)["held"] == 2
    clock.advance(1.3)

    assert get_order(c, fan, placed["id"])["status"] == "expired"
    assert counts(c, pid) == empty
    assert seat_states(c, pid)["S1-A-1"] == "available"
    assert_problem(post_payment(c, fan, placed["id"]), 410, "order-expired")
    assert c.get(f"/api/v1/orders/{placed['id']}/payments", headers=fan).json() == []
    r = c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan)
    assert r.status_code in (409, 410), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert hold(c, other, pid, ["S1-A-1", "S1-A-2"])["quantity"] == 2
    wait_for(lambda: get_order(c, fan, placed["id"])["closed_at"] is not None, timeout=3)
    assert get_order(c, fan, placed["id"])["status"] == "expired"


# -- cancel and refund --------------------------------------------------------------------
def test_cancel_pending_order_frees_its_seats(api: ApiDriver) -> None:
    """GIVEN an unpaid order WHEN the fan cancels THEN cancelled, seats and limit given back."""
    c = api.client
    _, performance = api.on_sale(ticket_limit=2)
    pid = performance["id"]
    fan = api.account()
    empty = counts(c, pid)
    placed = order(c, fan, hold(c, fan, pid, ["S1-D-1", "S1-D-2"])["id"])

    r = c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["closed_at"] is not None
    assert counts(c, pid) == empty
    assert get_order(c, fan, placed["id"])["status"] == "cancelled"
    assert_problem(c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan), 409, "conflict")
    assert_problem(post_payment(c, fan, placed["id"]), 409, "order-not-payable")
    assert hold(c, fan, pid, ["S1-D-1", "S1-D-2"])["quantity"] == 2


def test_refund_of_paid_order_voids_tickets_and_frees_seats(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a paid order with tickets WHEN the fan cancels it THEN refunded, tickets void,
    seats on sale again and the gateway gives the money back."""
    c = api.client
    _, performance = api.on_sale(ticket_limit=2)
    pid = performance["id"]
    fan = api.account()
    empty = counts(c, pid)
    placed = order(c, fan, hold(c, fan, pid, ["S1-A-1"], [{"zone": "FLOOR", "quantity": 1}])["id"])
    assert post_payment(c, fan, placed["id"]).status_code == 202
    tickets = wait_for(lambda: tickets_of(c, fan, placed["id"]))
    assert len(tickets) == 2
    assert availability(c, pid)["sold"] == 2

    r = c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded"

    assert {t["status"] for t in tickets_of(c, fan, placed["id"])} == {"void"}
    assert {t["status"] for t in c.get("/api/v1/tickets", headers=fan).json()} == {"void"}
    assert counts(c, pid) == empty
    assert seat_states(c, pid)["S1-A-1"] == "available"
    assert_problem(c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan), 409, "conflict")

    (gateway_id,) = query(
        runtime.db.path, "SELECT gateway_payment_id FROM payments WHERE order_id=?", (placed["id"],)
    )[0]
    # The money was captured once the order was paid, so it goes back as a refund.
    wait_for(lambda: gateway_payment(runtime, gateway_id)["status"] == "refunded")
    # The refunded seat can be sold again, and the fan's limit of 2 is free again.
    other = api.account()
    resold = order(c, other, hold(c, other, pid, ["S1-A-1"])["id"])
    assert resold["status"] == "pending_payment"
    assert hold(c, fan, pid, ["S1-A-2", "S1-A-3"])["quantity"] == 2


# -- sale window --------------------------------------------------------------------------
def test_hold_outside_the_sale_window_is_409(api: ApiDriver) -> None:
    """GIVEN a sale that has not opened, or has closed WHEN holding THEN 409 sale-not-open."""
    c = api.client
    now = datetime.now(UTC)
    _, upcoming = api.on_sale(sale_opens_at=(now + timedelta(hours=1)).isoformat())
    _, closed = api.on_sale(
        sale_opens_at=(now - timedelta(days=2)).isoformat(),
        sale_closes_at=(now - timedelta(days=1)).isoformat(),
    )
    fan = api.account()
    for performance in (upcoming, closed):
        pid = performance["id"]
        before = counts(c, pid)
        r = post_hold(c, fan, pid, ["S1-A-1"], [{"zone": "FLOOR", "quantity": 1}])
        assert_problem(r, 409, "sale-not-open")
        assert counts(c, pid) == before
    assert c.get("/api/v1/orders", headers=fan).json() == []
