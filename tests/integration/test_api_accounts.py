"""Accounts over HTTP: sign-up, log-in, bearer tokens, password storage, and who sees what."""

from __future__ import annotations

import re
from typing import Any

from booking.bootstrap import LocalRuntime
from tests.support import (
    PASSWORD,
    ApiDriver,
    assert_problem,
    counts,
    hold,
    order,
    post_hold,
    post_order,
    post_payment,
    query,
    unique_email,
    wait_for,
)


def _sign_up(api: ApiDriver, email: str, role: str = "fan", password: str = PASSWORD) -> Any:
    return api.client.post(
        "/api/v1/accounts",
        json={"email": email, "password": password, "display_name": "하니", "role": role},
    )


def _log_in(api: ApiDriver, email: str, password: str = PASSWORD) -> Any:
    return api.client.post("/api/v1/sessions", json={"email": email, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _count(runtime: LocalRuntime, table: str) -> int:
    return int(query(runtime.db.path, f"SELECT COUNT(*) FROM {table}")[0][0])


# -- sign-up and log-in -------------------------------------------------------------------
def test_sign_up_log_in_and_me(api: ApiDriver) -> None:
    """GIVEN a new email WHEN a fan signs up and logs in THEN /me names that account."""
    email = unique_email("Fan")
    r = _sign_up(api, email)
    assert r.status_code == 201, r.text
    account = r.json()
    assert account["email"] == email.lower()
    assert account["role"] == "fan"
    assert account["display_name"] == "하니"
    assert "password" not in r.text and "argon2" not in r.text

    r = _log_in(api, email)
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["token_type"] == "Bearer"
    assert session["account_id"] == account["id"]
    assert len(session["token"]) >= 32

    r = api.client.get("/api/v1/me", headers=_bearer(session["token"]))
    assert r.status_code == 200, r.text
    assert r.json() == account


def test_organizer_sign_up_gets_the_organizer_role(api: ApiDriver) -> None:
    """GIVEN role=organizer at sign-up WHEN logging in THEN /me says organizer."""
    headers = api.account("organizer")
    r = api.client.get("/api/v1/me", headers=headers)
    assert r.status_code == 200
    assert r.json()["role"] == "organizer"


def test_duplicate_email_is_409_and_creates_no_account(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN an account WHEN the same email (any case) signs up again THEN 409 email-taken."""
    email = unique_email("dup")
    assert _sign_up(api, email).status_code == 201
    before = _count(runtime, "accounts")

    assert_problem(_sign_up(api, email, role="organizer"), 409, "email-taken")
    assert_problem(_sign_up(api, email.upper()), 409, "email-taken")

    assert _count(runtime, "accounts") == before
    # The original password still works: the duplicate did not overwrite anything.
    assert _log_in(api, email).status_code == 201


def test_wrong_password_or_unknown_email_is_401_and_opens_no_session(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN an account WHEN logging in with a wrong password or unknown email THEN 401."""
    email = unique_email("pw")
    assert _sign_up(api, email).status_code == 201
    before = _count(runtime, "sessions")

    r = _log_in(api, email, "wrong-password-123")
    body = assert_problem(r, 401, "invalid-credentials")
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert "token" not in body
    assert_problem(_log_in(api, unique_email("nobody")), 401, "invalid-credentials")

    assert _count(runtime, "sessions") == before


def test_missing_or_garbage_bearer_is_401(api: ApiDriver) -> None:
    """GIVEN no valid token WHEN calling /me THEN 401 authentication-required every time."""
    c = api.client
    for headers in (
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "garbage"},
    ):
        r = c.get("/api/v1/me", headers=headers)
        assert_problem(r, 401, "authentication-required")
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_logout_revokes_only_that_token(api: ApiDriver, runtime: LocalRuntime) -> None:
    """GIVEN two sessions of one account WHEN one logs out THEN only that token stops working."""
    email = unique_email("out")
    assert _sign_up(api, email).status_code == 201
    first = _bearer(_log_in(api, email).json()["token"])
    second = _bearer(_log_in(api, email).json()["token"])
    sessions = _count(runtime, "sessions")

    r = api.client.delete("/api/v1/sessions/current", headers=first)
    assert r.status_code == 204, r.text

    assert_problem(api.client.get("/api/v1/me", headers=first), 401, "authentication-required")
    assert api.client.get("/api/v1/me", headers=second).status_code == 200
    assert _count(runtime, "sessions") == sessions - 1
    # Logging out again with the revoked token is refused, not silently accepted.
    assert_problem(
        api.client.delete("/api/v1/sessions/current", headers=first),
        401,
        "authentication-required",
    )


def test_password_is_stored_as_argon2id_with_owasp_cost(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a sign-up WHEN reading the accounts table THEN the hash is argon2id, m≥19456 t≥2."""
    email = unique_email("hash")
    assert _sign_up(api, email).status_code == 201
    rows = query(runtime.db.path, "SELECT password_hash FROM accounts WHERE email=?", (email,))
    assert len(rows) == 1
    stored = rows[0][0]
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$"), stored
    params = re.search(r"\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert params is not None, stored
    memory, time_cost, parallelism = (int(g) for g in params.groups())
    assert memory >= 19456
    assert time_cost >= 2
    assert parallelism >= 1
    # Same password, another account: a different salt, so a different hash.
    other = unique_email("hash")
    assert _sign_up(api, other).status_code == 201
    (other_hash,) = query(
        runtime.db.path, "SELECT password_hash FROM accounts WHERE email=?", (other,)
    )[0]
    assert other_hash != stored


# -- ownership: nobody sees or touches what is not theirs ---------------------------------
def test_organizer_sees_only_its_own_venues(api: ApiDriver) -> None:
    """GIVEN two organizers WHEN one lists, reads or changes venues THEN the other's are 404."""
    c = api.client
    org_a = api.account("organizer")
    org_b = api.account("organizer")
    venue_a = api.venue(org_a)
    venue_b = api.venue(org_b)

    listed = c.get("/api/v1/venues", headers=org_a).json()
    assert [v["id"] for v in listed] == [venue_a["id"]]

    assert_problem(c.get(f"/api/v1/venues/{venue_b['id']}", headers=org_a), 404, "not-found")
    assert_problem(
        c.patch(f"/api/v1/venues/{venue_b['id']}", headers=org_a, json={"name": "Mine now"}),
        404,
        "not-found",
    )
    assert_problem(c.delete(f"/api/v1/venues/{venue_b['id']}", headers=org_a), 404, "not-found")
    event_a = api.event(org_a)
    r = c.post(
        f"/api/v1/events/{event_a['id']}/performances",
        headers=org_a,
        json={
            "venue_id": venue_b["id"],
            "starts_at": "2030-01-01T20:00:00+09:00",
            "sale_opens_at": "2029-12-01T20:00:00+09:00",
            "sale_closes_at": "2029-12-31T20:00:00+09:00",
            "grades": [{"code": "VIP", "name": "VIP", "price_krw": 1000}],
            "assignment": {"sections": {"S1": "VIP"}, "ga_zones": {"FLOOR": "VIP"}},
        },
    )
    assert_problem(r, 404, "not-found")

    # Nothing of B's venue changed.
    mine = c.get(f"/api/v1/venues/{venue_b['id']}", headers=org_b)
    assert mine.status_code == 200
    assert mine.json()["name"] == venue_b["name"]


def test_draft_event_is_404_to_others_and_visible_to_its_owner(api: ApiDriver) -> None:
    """GIVEN a draft event WHEN others ask for it THEN 404; its organizer sees it."""
    c = api.client
    owner = api.account("organizer")
    other = api.account("organizer")
    fan = api.account()
    draft = api.event(owner, published=False)
    path = f"/api/v1/events/{draft['id']}"

    for headers in ({}, other, fan):
        assert_problem(c.get(path, headers=headers), 404, "not-found")
        assert_problem(c.get(f"{path}/performances", headers=headers), 404, "not-found")
        listed = c.get("/api/v1/events", headers=headers).json()
        assert draft["id"] not in [e["id"] for e in listed]
    assert_problem(c.patch(path, headers=other, json={"status": "published"}), 404, "not-found")
    assert_problem(c.delete(path, headers=other), 404, "not-found")

    r = c.get(path, headers=owner)
    assert r.status_code == 200
    assert r.json()["status"] == "draft"
    assert c.get(f"{path}/performances", headers=owner).json() == []


def test_draft_performance_is_404_to_others(api: ApiDriver) -> None:
    """GIVEN a performance of a draft event WHEN a fan reads or holds it THEN 404."""
    c = api.client
    owner = api.account("organizer")
    venue = api.venue(owner)
    draft = api.event(owner, published=False)
    performance = api.performance(owner, venue, draft)
    fan = api.account()
    pid = performance["id"]

    assert_problem(c.get(f"/api/v1/performances/{pid}"), 404, "not-found")
    assert_problem(c.get(f"/api/v1/performances/{pid}/availability"), 404, "not-found")
    assert_problem(c.get(f"/api/v1/performances/{pid}/seats", headers=fan), 404, "not-found")
    assert_problem(post_hold(c, fan, pid, ["S1-A-1"]), 404, "not-found")

    r = c.get(f"/api/v1/performances/{pid}/availability", headers=owner)
    assert r.status_code == 200
    assert r.json()["held"] == 0


def test_fan_cannot_create_venues_or_events(api: ApiDriver, runtime: LocalRuntime) -> None:
    """GIVEN a fan WHEN it creates a venue or an event or lists venues THEN 403 forbidden."""
    c = api.client
    fan = api.account()
    venues_before = _count(runtime, "venues")
    events_before = _count(runtime, "events")
    r = c.post(
        "/api/v1/venues",
        headers=fan,
        json={
            "name": "Fan Hall",
            "city": "Seoul",
            "layout": {"blocks": [{"section": "A", "name": "A", "rows": 1, "seats_per_row": 1}]},
        },
    )
    assert_problem(r, 403, "forbidden")
    r = c.post(
        "/api/v1/events",
        headers=fan,
        json={"title": "Fan Meet", "artists": [{"name_ko": "뉴진스", "name_en": "NewJeans"}]},
    )
    assert_problem(r, 403, "forbidden")
    assert_problem(c.get("/api/v1/venues", headers=fan), 403, "forbidden")
    assert_problem(c.get("/api/v1/events?mine=true", headers=fan), 403, "forbidden")
    assert _count(runtime, "venues") == venues_before
    assert _count(runtime, "events") == events_before


def test_organizer_cannot_hold_tickets(api: ApiDriver) -> None:
    """GIVEN an organizer WHEN it tries to hold seats of its own show THEN 403, nothing held."""
    organizer, performance = api.on_sale()
    before = counts(api.client, performance["id"])
    assert_problem(
        post_hold(api.client, organizer, performance["id"], ["S1-A-1"]), 403, "forbidden"
    )
    assert counts(api.client, performance["id"]) == before


def test_fan_gets_404_for_another_fans_hold_order_ticket_and_payments(api: ApiDriver) -> None:
    """GIVEN fan A's hold, paid order and ticket WHEN fan B asks for or acts on them THEN 404."""
    c = api.client
    _, performance = api.on_sale()
    pid = performance["id"]
    fan_a = api.account()
    fan_b = api.account()

    spare = hold(c, fan_a, pid, ["S1-B-1"])
    bought = order(c, fan_a, hold(c, fan_a, pid, ["S1-A-1"])["id"])
    assert post_payment(c, fan_a, bought["id"]).status_code == 202
    tickets = wait_for(
        lambda: c.get(f"/api/v1/orders/{bought['id']}/tickets", headers=fan_a).json()
    )
    ticket = tickets[0]
    before = counts(c, pid)

    for path in (
        f"/api/v1/holds/{spare['id']}",
        f"/api/v1/orders/{bought['id']}",
        f"/api/v1/orders/{bought['id']}/payments",
        f"/api/v1/orders/{bought['id']}/tickets",
        f"/api/v1/tickets/{ticket['id']}",
    ):
        assert_problem(c.get(path, headers=fan_b), 404, "not-found")
    assert_problem(c.post(f"/api/v1/holds/{spare['id']}/release", headers=fan_b), 404, "not-found")
    assert_problem(post_order(c, fan_b, spare["id"]), 404, "not-found")
    assert_problem(c.post(f"/api/v1/orders/{bought['id']}/cancel", headers=fan_b), 404, "not-found")
    assert_problem(post_payment(c, fan_b, bought["id"]), 404, "not-found")

    assert c.get("/api/v1/orders", headers=fan_b).json() == []
    assert c.get("/api/v1/tickets", headers=fan_b).json() == []
    # Nothing of A's changed.
    assert counts(c, pid) == before
    assert c.get(f"/api/v1/holds/{spare['id']}", headers=fan_a).json()["status"] == "active"
    assert c.get(f"/api/v1/orders/{bought['id']}", headers=fan_a).json()["status"] == "paid"
    assert c.get(f"/api/v1/tickets/{ticket['id']}", headers=fan_a).json()["status"] == "valid"


def test_sales_figures_are_only_for_the_performances_organizer(api: ApiDriver) -> None:
    """GIVEN a paid order WHEN the owner reads /sales THEN the figures; WHEN another organizer
    or a fan reads them THEN 404; anonymous THEN 401."""
    c = api.client
    owner, performance = api.on_sale()
    path = f"/api/v1/performances/{performance['id']}/sales"
    fan = api.account()
    paid = order(c, fan, hold(c, fan, performance["id"], ["S1-A-1"])["id"])
    assert post_payment(c, fan, paid["id"]).status_code == 202
    wait_for(lambda: c.get(path, headers=owner).json().get("sold") == 1)
    figures = c.get(path, headers=owner).json()
    assert (figures["revenue_krw"], figures["paid_orders"]) == (198_000, 1)

    assert_problem(c.get(path, headers=api.account("organizer")), 404, "not-found")
    assert_problem(c.get(path, headers=fan), 404, "not-found")
    assert_problem(c.get(path), 401, "authentication-required")
