"""One behaviour, two adapter families: every test here runs on `local` (SQLite) and
`aws` (DynamoDB through the single-threaded moto server), through the HTTP API only,
so whatever differs between the stores shows up as a failing test of one family.
"""

from __future__ import annotations

from booking.adapters.shifted_clock import ShiftedClock
from tests.support import (
    ApiDriver,
    WebhookTap,
    assert_problem,
    counts,
    get_order,
    hold,
    order,
    post_hold,
    post_order,
    post_payment,
    seat_states,
    send_webhook,
    tickets_of,
    wait_for,
    webhook_event,
)


def _conserved(api: ApiDriver, performance_id: str) -> tuple[int, int, int, int]:
    available, held, sold, blocked = counts(api.client, performance_id)
    capacity = api.client.get(f"/api/v1/performances/{performance_id}/availability").json()[
        "capacity"
    ]
    assert available + held + sold + blocked == capacity
    return available, held, sold, blocked


def test_hold_is_all_or_nothing_and_names_taken_seats(family_api: ApiDriver) -> None:
    """GIVEN a held seat WHEN another fan asks for it and a free one
    THEN 409 names the taken seat and nothing is held."""
    _, performance = family_api.on_sale(rows=2, seats_per_row=5, ga_capacity=6)
    first, second = family_api.account(), family_api.account()
    hold(family_api.client, first, performance["id"], seats=["S1-A-1", "S1-A-2"])
    before = _conserved(family_api, performance["id"])
    r = post_hold(family_api.client, second, performance["id"], seats=["S1-A-2", "S1-A-3"])
    body = assert_problem(r, 409, "seats-unavailable")
    assert body["taken"] == ["S1-A-2"]
    assert _conserved(family_api, performance["id"]) == before
    assert seat_states(family_api.client, performance["id"])["S1-A-3"] == "available"


def test_unknown_seats_and_zones_are_bad_requests(family_api: ApiDriver) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=3, ga_capacity=3)
    fan = family_api.account()
    r = post_hold(family_api.client, fan, performance["id"], seats=["S1-A-1", "Z9-Z-9"])
    assert assert_problem(r, 422, "invalid-request")["unknown"] == ["Z9-Z-9"]
    r = post_hold(family_api.client, fan, performance["id"], ga=[{"zone": "NOPE", "quantity": 1}])
    assert_problem(r, 422, "invalid-request")
    assert _conserved(family_api, performance["id"])[1] == 0


def test_standing_places_are_counted_and_never_oversold(family_api: ApiDriver) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=2, ga_capacity=5)
    fans = [family_api.account() for _ in range(2)]
    placed = hold(
        family_api.client, fans[0], performance["id"], ga=[{"zone": "FLOOR", "quantity": 4}]
    )
    assert len({i["unit_id"] for i in placed["items"]}) == 4
    r = post_hold(
        family_api.client, fans[1], performance["id"], ga=[{"zone": "FLOOR", "quantity": 2}]
    )
    assert assert_problem(r, 409, "seats-unavailable")["ga_short"] == {"FLOOR": 1}
    hold(family_api.client, fans[1], performance["id"], ga=[{"zone": "FLOOR", "quantity": 1}])
    assert _conserved(family_api, performance["id"])[1] == 5


def test_ticket_limit_holds_across_holds_and_frees_on_release(family_api: ApiDriver) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=8, ga_capacity=0, ticket_limit=3)
    fan = family_api.account()
    first = hold(family_api.client, fan, performance["id"], seats=["S1-A-1", "S1-A-2"])
    r = post_hold(family_api.client, fan, performance["id"], seats=["S1-A-3", "S1-A-4"])
    assert_problem(r, 409, "ticket-limit-exceeded")
    released = family_api.client.post(f"/api/v1/holds/{first['id']}/release", headers=fan)
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    hold(family_api.client, fan, performance["id"], seats=["S1-A-3", "S1-A-4", "S1-A-5"])
    assert seat_states(family_api.client, performance["id"])["S1-A-1"] == "available"


def test_idempotency_key_replays_and_refuses_other_bodies(family_api: ApiDriver) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=4, ga_capacity=0)
    fan = family_api.account()
    first = post_hold(family_api.client, fan, performance["id"], seats=["S1-A-1"], key="k-1")
    again = post_hold(family_api.client, fan, performance["id"], seats=["S1-A-1"], key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    other = post_hold(family_api.client, fan, performance["id"], seats=["S1-A-2"], key="k-1")
    assert_problem(other, 422, "idempotency-key-reused")
    assert _conserved(family_api, performance["id"])[1] == 1


def test_expired_hold_cannot_be_ordered_and_its_seat_is_free(
    family_api: ApiDriver, clock: ShiftedClock
) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=2, ga_capacity=0, hold_ttl_seconds=1)
    fan, other = family_api.account(), family_api.account()
    placed = hold(family_api.client, fan, performance["id"], seats=["S1-A-1"])
    clock.advance(1.3)
    assert_problem(post_order(family_api.client, fan, placed["id"]), 410, "hold-expired")
    hold(family_api.client, other, performance["id"], seats=["S1-A-1"])


def test_pay_confirms_once_even_when_the_webhook_repeats(
    family_api: ApiDriver, family_runtime: object
) -> None:
    """GIVEN an order WHEN the gateway's authorization arrives twice
    THEN one sale and one set of tickets."""
    _, performance = family_api.on_sale(rows=1, seats_per_row=4, ga_capacity=2)
    tap = WebhookTap()
    family_runtime.gateway.attach(tap)  # type: ignore[attr-defined]
    secret = family_runtime.settings.resolved_webhook_secret()  # type: ignore[attr-defined]
    fan = family_api.account()
    placed = hold(
        family_api.client,
        fan,
        performance["id"],
        seats=["S1-A-1"],
        ga=[{"zone": "FLOOR", "quantity": 1}],
    )
    placed_order = order(family_api.client, fan, placed["id"])
    assert post_payment(family_api.client, fan, placed_order["id"]).status_code == 202
    event = tap.wait_event("payment.authorized", placed_order["id"])
    body = webhook_event(
        "payment.authorized",
        event["data"]["payment_id"],
        placed_order["id"],
        placed_order["total_krw"],
    )
    for _ in range(2):
        assert send_webhook(family_api.client, secret, body).status_code == 204
    assert get_order(family_api.client, fan, placed_order["id"])["status"] == "paid"
    tickets = tickets_of(family_api.client, fan, placed_order["id"])
    assert len(tickets) == 2
    assert {t["unit_id"] for t in tickets} >= {"S1-A-1"}
    assert _conserved(family_api, performance["id"])[2] == 2


def test_order_past_its_deadline_expires_and_frees_places(
    family_api: ApiDriver, clock: ShiftedClock
) -> None:
    _, performance = family_api.on_sale(
        rows=1, seats_per_row=2, ga_capacity=0, payment_window_seconds=1
    )
    fan = family_api.account()
    placed_order = order(
        family_api.client,
        fan,
        hold(family_api.client, fan, performance["id"], seats=["S1-A-1"])["id"],
    )
    clock.advance(1.2)
    assert get_order(family_api.client, fan, placed_order["id"])["status"] == "expired"
    assert_problem(post_payment(family_api.client, fan, placed_order["id"]), 410, "order-expired")
    assert seat_states(family_api.client, performance["id"])["S1-A-1"] == "available"


def test_late_authorization_after_the_deadline_sells_nothing(
    family_api: ApiDriver, family_runtime: object, clock: ShiftedClock
) -> None:
    """GIVEN an authorization the app has not seen WHEN it arrives after the deadline
    THEN the order is expired, the seat is free, and the money is voided."""
    _, performance = family_api.on_sale(
        rows=1, seats_per_row=2, ga_capacity=0, payment_window_seconds=2
    )
    tap = WebhookTap()
    family_runtime.gateway.attach(tap)  # type: ignore[attr-defined]
    fan = family_api.account()
    placed_order = order(
        family_api.client,
        fan,
        hold(family_api.client, fan, performance["id"], seats=["S1-A-1"])["id"],
    )
    post_payment(family_api.client, fan, placed_order["id"])
    event = tap.wait_event("payment.authorized", placed_order["id"])
    clock.advance(2.2)
    secret = family_runtime.settings.resolved_webhook_secret()  # type: ignore[attr-defined]
    body = webhook_event(
        "payment.authorized",
        event["data"]["payment_id"],
        placed_order["id"],
        placed_order["total_krw"],
    )
    assert send_webhook(family_api.client, secret, body).status_code == 204
    assert get_order(family_api.client, fan, placed_order["id"])["status"] == "expired"
    assert seat_states(family_api.client, performance["id"])["S1-A-1"] == "available"
    wait_for(lambda: tap.events("payment.voided"), timeout=10)


def test_cancel_and_refund_put_places_back_on_sale(family_api: ApiDriver) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=4, ga_capacity=0)
    fan = family_api.account()
    pending = order(
        family_api.client,
        fan,
        hold(family_api.client, fan, performance["id"], seats=["S1-A-1"])["id"],
    )
    cancelled = family_api.client.post(f"/api/v1/orders/{pending['id']}/cancel", headers=fan)
    assert cancelled.json()["status"] == "cancelled"
    paid = order(
        family_api.client,
        fan,
        hold(family_api.client, fan, performance["id"], seats=["S1-A-2"])["id"],
    )
    post_payment(family_api.client, fan, paid["id"])
    wait_for(lambda: tickets_of(family_api.client, fan, paid["id"]))
    refunded = family_api.client.post(f"/api/v1/orders/{paid['id']}/cancel", headers=fan)
    assert refunded.json()["status"] == "refunded"
    assert all(t["status"] == "void" for t in tickets_of(family_api.client, fan, paid["id"]))
    states = seat_states(family_api.client, performance["id"])
    assert states["S1-A-1"] == states["S1-A-2"] == "available"
    assert _conserved(family_api, performance["id"]) == (4, 0, 0, 0)


def test_declined_card_leaves_the_order_payable(family_api: ApiDriver) -> None:
    _, performance = family_api.on_sale(rows=1, seats_per_row=2, ga_capacity=0)
    fan = family_api.account()
    placed_order = order(
        family_api.client,
        fan,
        hold(family_api.client, fan, performance["id"], seats=["S1-A-1"])["id"],
    )
    post_payment(family_api.client, fan, placed_order["id"], method="tok_declined")
    url = f"/api/v1/orders/{placed_order['id']}/payments"
    wait_for(lambda: family_api.client.get(url, headers=fan).json()[0]["status"] == "declined")
    assert get_order(family_api.client, fan, placed_order["id"])["status"] == "pending_payment"
    assert post_payment(family_api.client, fan, placed_order["id"]).status_code == 202
    wait_for(lambda: get_order(family_api.client, fan, placed_order["id"])["status"] == "paid")


def test_other_accounts_objects_are_not_found(family_api: ApiDriver) -> None:
    organizer, performance = family_api.on_sale(rows=1, seats_per_row=2, ga_capacity=0)
    fan, stranger = family_api.account(), family_api.account()
    placed = hold(family_api.client, fan, performance["id"], seats=["S1-A-1"])
    placed_order = order(family_api.client, fan, placed["id"])
    for path in (f"/api/v1/holds/{placed['id']}", f"/api/v1/orders/{placed_order['id']}"):
        assert_problem(family_api.client.get(path, headers=stranger), 404, "not-found")
    other_organizer = family_api.account("organizer")
    venue_id = performance["venue_id"]
    assert family_api.client.get(f"/api/v1/venues/{venue_id}", headers=organizer).status_code == 200
    r = family_api.client.get(f"/api/v1/venues/{venue_id}", headers=other_organizer)
    assert_problem(r, 404, "not-found")


def test_catalog_lists_published_events_and_the_organizers_own(family_api: ApiDriver) -> None:
    organizer = family_api.account("organizer")
    published = family_api.event(organizer)
    draft = family_api.event(organizer, published=False)
    public = {e["id"] for e in family_api.client.get("/api/v1/events").json()}
    assert published["id"] in public
    assert draft["id"] not in public
    mine = family_api.client.get("/api/v1/events?mine=true", headers=organizer).json()
    assert {e["id"] for e in mine} == {published["id"], draft["id"]}
    assert (
        family_api.client.delete(f"/api/v1/events/{draft['id']}", headers=organizer).status_code
        == 204
    )
    assert_problem(
        family_api.client.get(f"/api/v1/events/{draft['id']}", headers=organizer), 404, "not-found"
    )


def test_replay_of_a_hold_that_took_the_last_places_is_identical(family_api: ApiDriver) -> None:
    """GIVEN a hold that took every standing place WHEN it is sent again with its key
    THEN the stored answer comes back, not 'sold out'."""
    _, performance = family_api.on_sale(rows=1, seats_per_row=2, ga_capacity=3)
    fan = family_api.account()
    ga = [{"zone": "FLOOR", "quantity": 3}]
    first = post_hold(family_api.client, fan, performance["id"], ga=ga, key="last-places")
    again = post_hold(family_api.client, fan, performance["id"], ga=ga, key="last-places")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
