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


def test_organizer_sees_live_sales_of_own_performance_only(api: ApiDriver) -> None:
    organizer, performance = api.on_sale()
    fan = api.account()
    c = api.client
    hold = c.post(
        f"/api/v1/performances/{performance['id']}/holds",
        headers={**fan, "Idempotency-Key": "h"},
        json={"seats": ["S1-A-1"]},
    ).json()
    order = c.post(
        "/api/v1/orders", headers={**fan, "Idempotency-Key": "o"}, json={"hold_id": hold["id"]}
    ).json()
    c.post(
        f"/api/v1/orders/{order['id']}/payments",
        headers={**fan, "Idempotency-Key": "p"},
        json={"method": "tok_visa"},
    )
    url = f"/api/v1/performances/{performance['id']}/sales"
    sales = wait_for(lambda: (s := c.get(url, headers=organizer).json())["sold"] and s)
    assert sales["revenue_krw"] == 198_000
    assert sales["paid_orders"] == 1
    assert sales["grades"] == [{"grade": "VIP", "sold": 1, "revenue_krw": 198_000}]
    other_organizer = api.account("organizer")
    assert c.get(url, headers=other_organizer).status_code == 404
    assert c.get(url, headers=fan).status_code == 404
