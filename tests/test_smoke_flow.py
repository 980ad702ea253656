"""GIVEN an on-sale performance WHEN a fan holds, orders and pays THEN tickets verify."""

from __future__ import annotations

from tests.support import ApiDriver, wait_for


def test_hold_order_pay_ticket(api: ApiDriver) -> None:
    _, performance = api.on_sale()
    fan = api.account()
    c = api.client
    r = c.post(
        f"/api/v1/performances/{performance['id']}/holds",
        headers={**fan, "Idempotency-Key": "h1"},
        json={"seats": ["S1-A-1", "S1-A-2"], "ga": [{"zone": "FLOOR", "quantity": 1}]},
    )
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["total_krw"] == 2 * 198_000 + 154_000
    r = c.post(
        "/api/v1/orders", headers={**fan, "Idempotency-Key": "o1"}, json={"hold_id": hold["id"]}
    )
    assert r.status_code == 201, r.text
    order = r.json()
    r = c.post(
        f"/api/v1/orders/{order['id']}/payments",
        headers={**fan, "Idempotency-Key": "p1"},
        json={"method": "tok_visa"},
    )
    assert r.status_code == 202, r.text
    tickets = wait_for(lambda: c.get(f"/api/v1/orders/{order['id']}/tickets", headers=fan).json())
    assert (
        sorted(t["unit_id"] for t in tickets)[:2] == ["FLOOR#00001", "S1-A-1"] or len(tickets) == 3
    )
    assert len(tickets) == 3
    for ticket in tickets:
        r = c.post("/api/v1/tickets/verify", json={"code": ticket["code"]})
        assert r.status_code == 200 and r.json()["ticket_id"] == ticket["id"]
    availability = c.get(f"/api/v1/performances/{performance['id']}/availability").json()
    assert availability["sold"] == 3
    assert (
        availability["available"]
        + availability["held"]
        + availability["sold"]
        + availability["blocked"]
    ) == availability["capacity"]
