"""Bad input over HTTP: every refusal is a typed 4xx problem, and nothing changes because of it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from booking.adapters.shifted_clock import ShiftedClock
from booking.bootstrap import LocalRuntime
from booking.domain.payments import webhook_signature
from tests.support import (
    PASSWORD,
    ApiDriver,
    WebhookTap,
    assert_problem,
    counts,
    get_order,
    hold,
    order,
    payments_of,
    post_hold,
    post_order,
    post_payment,
    query,
    send_webhook,
    unique_email,
    webhook_event,
)


def _table_sizes(runtime: LocalRuntime) -> dict[str, int]:
    tables = ("accounts", "venues", "events", "performances", "holds", "orders", "payments")
    return {t: int(query(runtime.db.path, f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables}


@pytest.fixture
def sale(api: ApiDriver) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """An organizer, its on-sale performance (5×10 seats in S1, FLOOR of 20), and a fan."""
    organizer, performance = api.on_sale()
    return organizer, performance, api.account()


def _hold_raw(
    client: httpx.Client, fan: dict[str, str], performance_id: str, content: bytes
) -> httpx.Response:
    return client.post(
        f"/api/v1/performances/{performance_id}/holds",
        headers={
            **fan,
            "Idempotency-Key": f"raw-{time.time_ns()}",
            "content-type": "application/json",
        },
        content=content,
    )


# -- malformed bodies, wrong types, unknown fields -----------------------------------------
MALFORMED: dict[str, bytes] = {
    "garbage": b"{not json",
    "truncated": b'{"seats": ["S1-A-1"]',
    "empty": b"",
    "binary": b"\xff\xfe\x00",
    "null": b"null",
    "array": b"[]",
    "string": b'"S1-A-1"',
}

WRONG_TYPES: dict[str, dict[str, Any]] = {
    "seats-string": {"seats": "S1-A-1"},
    "seats-ints": {"seats": [1, 2]},
    "seats-null": {"seats": [None]},
    "seat-empty": {"seats": [""]},
    "ga-object": {"ga": {"zone": "FLOOR", "quantity": 1}},
    "quantity-string": {"ga": [{"zone": "FLOOR", "quantity": "2"}]},
    "quantity-float": {"ga": [{"zone": "FLOOR", "quantity": 1.5}]},
    "quantity-bool": {"ga": [{"zone": "FLOOR", "quantity": True}]},
    "zone-int": {"ga": [{"zone": 7, "quantity": 1}]},
    "zone-missing": {"ga": [{"quantity": 1}]},
}


def test_malformed_or_mistyped_hold_body_is_400(
    api: ApiDriver, runtime: LocalRuntime, sale: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN a hold body that is not JSON, not an object, or has a field of the wrong type
    WHEN posted THEN 400 invalid-body and nothing is held."""
    _, performance, fan = sale
    cases = {**MALFORMED, **{k: json.dumps(v).encode() for k, v in WRONG_TYPES.items()}}
    for name, content in cases.items():
        with subtests.test(msg=name):
            before = counts(api.client, performance["id"]), _table_sizes(runtime)
            r = _hold_raw(api.client, fan, performance["id"], content)
            assert_problem(r, 400, "invalid-body")
            assert (counts(api.client, performance["id"]), _table_sizes(runtime)) == before


def test_unknown_fields_are_refused_everywhere(
    api: ApiDriver, runtime: LocalRuntime, sale: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN bodies with fields the schema does not know WHEN posted THEN 400, nothing stored;
    in particular no one signs up with a smuggled privilege."""
    c = api.client
    organizer, performance, fan = sale
    pid = performance["id"]
    placed = hold(c, fan, pid, ["S1-E-1"])
    before = counts(c, pid), _table_sizes(runtime)
    email = unique_email("smuggler")

    responses = {
        "sign-up": c.post(
            "/api/v1/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": "x",
                "is_admin": True,
            },
        ),
        "log-in": c.post(
            "/api/v1/sessions", json={"email": email, "password": PASSWORD, "remember": 1}
        ),
        "hold": _hold_raw(c, fan, pid, b'{"seats": ["S1-A-1"], "price_krw": 0}'),
        "hold-ga": _hold_raw(
            c, fan, pid, b'{"ga": [{"zone": "FLOOR", "quantity": 1, "grade": "VIP"}]}'
        ),
        "order": c.post(
            "/api/v1/orders",
            headers={**fan, "Idempotency-Key": "unknown-field"},
            json={"hold_id": placed["id"], "total_krw": 1},
        ),
        "venue-seat": c.post(
            "/api/v1/venues",
            headers=organizer,
            json={
                "name": "V",
                "city": "Seoul",
                "seat_map": {
                    "sections": [
                        {
                            "id": "A",
                            "name": "A",
                            "rows": [{"label": "A", "seats": [{"number": 1, "vip": True}]}],
                        }
                    ]
                },
            },
        ),
        "event-artist": c.post(
            "/api/v1/events",
            headers=organizer,
            json={
                "title": "T",
                "artists": [{"name_ko": "아", "name_en": "A", "agency": "HYBE"}],
            },
        ),
        "performance-patch": c.patch(
            f"/api/v1/performances/{pid}", headers=organizer, json={"organizer_id": "acc_x"}
        ),
    }
    for name, r in responses.items():
        with subtests.test(msg=name):
            assert_problem(r, 400, "invalid-body")
    assert (counts(c, pid), _table_sizes(runtime)) == before
    assert c.get(f"/api/v1/holds/{placed['id']}", headers=fan).json()["status"] == "active"


BAD_SIGN_UPS: dict[str, dict[str, Any]] = {
    "email": {"email": "not-an-email", "password": PASSWORD, "display_name": "x"},
    "empty-password": {"password": "", "display_name": "x"},
    "empty-name": {"password": PASSWORD, "display_name": ""},
    "role": {"password": PASSWORD, "display_name": "x", "role": "admin"},
    "missing-name": {"password": PASSWORD},
    "email-int": {"email": 42, "password": PASSWORD, "display_name": "x"},
}


def test_bad_sign_up_is_400_and_creates_no_account(
    api: ApiDriver, runtime: LocalRuntime, subtests: pytest.Subtests
) -> None:
    """GIVEN an invalid sign-up WHEN posted THEN 400 invalid-body and no account."""
    for name, body in BAD_SIGN_UPS.items():
        with subtests.test(msg=name):
            before = _table_sizes(runtime)
            r = api.client.post("/api/v1/accounts", json={"email": unique_email("bad"), **body})
            assert_problem(r, 400, "invalid-body")
            assert _table_sizes(runtime) == before


# -- places that do not exist, quantities out of range -------------------------------------
def test_unknown_seats_and_zones_are_422_naming_them(
    api: ApiDriver, runtime: LocalRuntime, sale: Any
) -> None:
    """GIVEN seats or a zone the performance does not have WHEN holding THEN 422 with
    `unknown` listing exactly them, and the real seats asked for are not held."""
    c = api.client
    _, performance, fan = sale
    pid = performance["id"]
    before = counts(c, pid), _table_sizes(runtime)

    r = post_hold(c, fan, pid, ["S1-A-1", "S9-A-1", "S1-Z-99"])
    body = assert_problem(r, 422, "invalid-request")
    assert body["unknown"] == ["S1-Z-99", "S9-A-1"]

    r = post_hold(c, fan, pid, ["S1-A-2"], [{"zone": "BALCONY", "quantity": 1}])
    body = assert_problem(r, 422, "invalid-request")
    assert body["unknown"] == ["BALCONY"]

    # A GA zone id is not a seat.
    body = assert_problem(post_hold(c, fan, pid, ["FLOOR"]), 422, "invalid-request")
    assert body["unknown"] == ["FLOOR"]
    assert (counts(c, pid), _table_sizes(runtime)) == before


OUT_OF_RANGE: dict[str, tuple[dict[str, Any], int, str]] = {
    "ga-zero": ({"ga": [{"zone": "FLOOR", "quantity": 0}]}, 400, "invalid-body"),
    "ga-negative": ({"ga": [{"zone": "FLOOR", "quantity": -3}]}, 400, "invalid-body"),
    "ga-21": ({"ga": [{"zone": "FLOOR", "quantity": 21}]}, 400, "invalid-body"),
    "21-seats": (
        {"seats": [f"S1-{row}-{n}" for row in "AB" for n in range(1, 11)] + ["S1-C-1"]},
        400,
        "invalid-body",
    ),
    "21-places-mixed": (
        {"seats": [f"S1-B-{n}" for n in range(1, 11)], "ga": [{"zone": "FLOOR", "quantity": 11}]},
        422,
        "invalid-request",
    ),
    "empty-body": ({}, 422, "invalid-request"),
    "empty-lists": ({"seats": [], "ga": []}, 422, "invalid-request"),
    "seat-twice": ({"seats": ["S1-A-1", "S1-A-1"]}, 422, "invalid-request"),
    "zone-twice": (
        {"ga": [{"zone": "FLOOR", "quantity": 1}, {"zone": "FLOOR", "quantity": 1}]},
        422,
        "invalid-request",
    ),
}


def test_quantities_out_of_range_are_refused(
    api: ApiDriver, runtime: LocalRuntime, sale: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN zero, negative, duplicate, none or more than 20 places WHEN holding THEN a typed
    4xx and nothing is held."""
    _, performance, fan = sale
    for name, (body, status, code) in OUT_OF_RANGE.items():
        with subtests.test(msg=name):
            before = counts(api.client, performance["id"]), _table_sizes(runtime)
            r = _hold_raw(api.client, fan, performance["id"], json.dumps(body).encode())
            assert_problem(r, status, code)
            assert (counts(api.client, performance["id"]), _table_sizes(runtime)) == before


# -- size limits --------------------------------------------------------------------------
def test_oversized_bodies_are_413(api: ApiDriver, runtime: LocalRuntime, sale: Any) -> None:
    """GIVEN bodies over 64 KiB (16 KiB for webhooks) WHEN posted THEN 413 body-too-large."""
    c = api.client
    _, performance, fan = sale
    pid = performance["id"]
    before = counts(c, pid), _table_sizes(runtime)
    big_seats = json.dumps({"seats": ["S1-A-1" + "x" * 70_000]}).encode()
    assert_problem(_hold_raw(c, fan, pid, big_seats), 413, "body-too-large")
    r = c.post(
        "/api/v1/accounts",
        json={
            "email": unique_email("big"),
            "password": PASSWORD,
            "display_name": "x" * 70_000,
        },
    )
    assert_problem(r, 413, "body-too-large")
    r = c.post(
        "/api/v1/payments/webhook",
        content=b"{" + b" " * 20_000 + b"}",
        headers={"content-type": "application/json", "webhook-signature": "t=1,v1=00"},
    )
    assert_problem(r, 413, "body-too-large")
    assert (counts(c, pid), _table_sizes(runtime)) == before


def test_venue_seat_map_may_exceed_the_general_body_limit(api: ApiDriver) -> None:
    """GIVEN a seat-map document of ~200 KiB WHEN creating a venue THEN it is accepted."""
    organizer = api.account("organizer")
    rows = [
        {
            "label": f"R{r}",
            "seats": [{"number": n, "x": n * 1.25, "y": r * 1.5} for n in range(1, 101)],
        }
        for r in range(1, 41)
    ]
    body = {
        "name": "Big Dome",
        "city": "Seoul",
        "seat_map": {"sections": [{"id": "A", "name": "A", "rows": rows}]},
    }
    assert len(json.dumps(body)) > 150_000
    r = api.client.post("/api/v1/venues", headers=organizer, json=body)
    assert r.status_code == 201, r.text[:300]
    assert r.json()["capacity"] == 4000


# -- other people's things and things that do not exist ------------------------------------
def test_another_accounts_order_is_404(api: ApiDriver, sale: Any) -> None:
    """GIVEN fan A's order WHEN fan B reads, pays or cancels it THEN 404 and it is untouched."""
    c = api.client
    _, performance, fan_a = sale
    fan_b = api.account()
    placed = order(c, fan_a, hold(c, fan_a, performance["id"], ["S1-A-1"])["id"])
    before = counts(c, performance["id"])
    assert_problem(c.get(f"/api/v1/orders/{placed['id']}", headers=fan_b), 404, "not-found")
    assert_problem(post_payment(c, fan_b, placed["id"]), 404, "not-found")
    assert_problem(c.post(f"/api/v1/orders/{placed['id']}/cancel", headers=fan_b), 404, "not-found")
    assert get_order(c, fan_a, placed["id"])["status"] == "pending_payment"
    assert payments_of(c, fan_a, placed["id"]) == []
    assert counts(c, performance["id"]) == before


def test_expired_hold_is_410(api: ApiDriver, clock: ShiftedClock) -> None:
    """GIVEN a hold past its 1 s TTL WHEN ordering or releasing it THEN 410 hold-expired."""
    c = api.client
    _, performance = api.on_sale(hold_ttl_seconds=1)
    fan = api.account()
    placed = hold(c, fan, performance["id"], ["S1-A-1"])
    clock.advance(1.3)
    before = counts(c, performance["id"])
    assert_problem(post_order(c, fan, placed["id"]), 410, "hold-expired")
    assert_problem(
        c.post(f"/api/v1/holds/{placed['id']}/release", headers=fan), 410, "hold-expired"
    )
    assert c.get("/api/v1/orders", headers=fan).json() == []
    assert counts(c, performance["id"]) == before


MISSING_PATHS = [
    ("GET", "/api/v1/holds/hld_nope"),
    ("POST", "/api/v1/holds/hld_nope/release"),
    ("GET", "/api/v1/orders/ord_nope"),
    ("POST", "/api/v1/orders/ord_nope/cancel"),
    ("GET", "/api/v1/orders/ord_nope/payments"),
    ("GET", "/api/v1/orders/ord_nope/tickets"),
    ("GET", "/api/v1/tickets/tkt_nope"),
    ("GET", "/api/v1/performances/prf_nope"),
    ("GET", "/api/v1/performances/prf_nope/availability"),
    ("GET", "/api/v1/performances/prf_nope/seats"),
    ("GET", "/api/v1/events/evt_nope"),
    ("GET", "/api/v1/events/evt_nope/performances"),
    ("GET", "/api/v1/venues/ven_nope"),
    ("GET", "/problems/no-such-problem"),
]


def test_ids_that_do_not_exist_are_404(api: ApiDriver, subtests: pytest.Subtests) -> None:
    """GIVEN an id nobody has WHEN addressed THEN 404 not-found problem."""
    organizer = api.account("organizer")
    fan = api.account()
    for method, path in MISSING_PATHS:
        with subtests.test(msg=f"{method} {path}"):
            headers = organizer if "/venues/" in path else fan
            assert_problem(api.client.request(method, path, headers=headers), 404, "not-found")


def test_ids_that_do_not_exist_in_bodies_are_404(
    api: ApiDriver, runtime: LocalRuntime, sale: Any
) -> None:
    """GIVEN unknown ids in a write WHEN posted THEN 404 and nothing is created."""
    c = api.client
    organizer, _, fan = sale
    before = _table_sizes(runtime)
    assert_problem(post_hold(c, fan, "prf_nope", ["S1-A-1"]), 404, "not-found")
    assert_problem(post_order(c, fan, "hld_nope"), 404, "not-found")
    assert_problem(post_payment(c, fan, "ord_nope"), 404, "not-found")
    assert_problem(
        c.patch("/api/v1/events/evt_nope", headers=organizer, json={"title": "x"}), 404, "not-found"
    )
    assert_problem(c.delete("/api/v1/performances/prf_nope", headers=organizer), 404, "not-found")
    assert _table_sizes(runtime) == before


def test_unknown_route_is_404_route_not_found(api: ApiDriver) -> None:
    """GIVEN a path no endpoint serves WHEN called THEN 404 route-not-found, and a wrong
    method on a real path is 405."""
    assert_problem(api.client.get("/api/v1/nothing-here"), 404, "route-not-found")
    assert_problem(api.client.put("/api/v1/me"), 405, "method-not-allowed")


def test_limit_out_of_range_is_400(api: ApiDriver, subtests: pytest.Subtests) -> None:
    """GIVEN a page size outside 1..100 or not an integer WHEN listing THEN 400 invalid-body."""
    fan = api.account()
    for path in ("/api/v1/orders", "/api/v1/tickets", "/api/v1/events"):
        for limit in ("0", "101", "-1", "abc", "1e3", ""):
            with subtests.test(msg=f"{path}?limit={limit}"):
                r = api.client.get(f"{path}?limit={limit}", headers=fan)
                assert_problem(r, 400, "invalid-body")


def test_limit_in_range_pages(api: ApiDriver, sale: Any) -> None:
    """GIVEN 3 orders WHEN listed with limit=2 and the cursor THEN 2 then 1."""
    c = api.client
    _, performance, fan = sale
    ids = sorted(
        order(c, fan, hold(c, fan, performance["id"], [f"S1-C-{n}"])["id"])["id"] for n in (1, 2, 3)
    )
    first = c.get("/api/v1/orders?limit=2", headers=fan).json()
    assert [o["id"] for o in first] == ids[:2]
    rest = c.get(f"/api/v1/orders?limit=2&after={ids[1]}", headers=fan).json()
    assert [o["id"] for o in rest] == ids[2:]


# -- Idempotency-Key syntax ---------------------------------------------------------------
BAD_KEYS = {
    "space": "has space",
    "256-chars": "x" * 256,
    "tab": "tab\tkey",
    "empty": "",
    "blank": "  ",
}


def test_bad_idempotency_key_is_422(
    api: ApiDriver, runtime: LocalRuntime, sale: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN an Idempotency-Key with spaces, control characters, or of 0 or 256 characters
    WHEN holding THEN 422 invalid-request and nothing is held; 255 characters are fine."""
    _, performance, fan = sale
    pid = performance["id"]
    for name, key in BAD_KEYS.items():
        with subtests.test(msg=name):
            before = counts(api.client, pid), _table_sizes(runtime)
            r = api.client.post(
                f"/api/v1/performances/{pid}/holds",
                headers={**fan, "Idempotency-Key": key},
                json={"seats": ["S1-A-1"]},
            )
            assert_problem(r, 422, "invalid-request")
            assert (counts(api.client, pid), _table_sizes(runtime)) == before
    r = post_hold(api.client, fan, pid, ["S1-A-1"], key="k" * 254 + "~")
    assert r.status_code == 201, r.text


# -- webhooks -----------------------------------------------------------------------------
@pytest.fixture
def processing(
    api: ApiDriver, runtime: LocalRuntime, sale: Any
) -> tuple[dict[str, str], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A fan's order with a tok_visa payment still processing (the gateway's webhooks are
    held back), and the gateway's `payment.authorized` event for it."""
    _, performance, fan = sale
    tap = WebhookTap()
    runtime.gateway.attach(tap)
    c = api.client
    placed = order(c, fan, hold(c, fan, performance["id"], ["S1-A-1"])["id"])
    assert post_payment(c, fan, placed["id"]).status_code == 202
    return fan, performance, placed, tap.wait_event("payment.authorized", placed["id"])


def _unchanged(api: ApiDriver, processing: Any) -> None:
    fan, performance, placed, _ = processing
    assert get_order(api.client, fan, placed["id"])["status"] == "pending_payment"
    assert [p["status"] for p in payments_of(api.client, fan, placed["id"])] == ["processing"]
    assert counts(api.client, performance["id"])[1:3] == (1, 0)


def test_webhook_with_bad_signature_is_401(
    api: ApiDriver, runtime: LocalRuntime, processing: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN a genuine event WHEN its signature is wrong, missing, malformed, made with another
    secret or for another body THEN 401 invalid-signature and the payment does not move."""
    c = api.client
    body = json.dumps(processing[3]).encode()
    secret = runtime.settings.resolved_webhook_secret()
    now = int(time.time())
    signatures = {
        "missing": None,
        "empty": "",
        "garbage": "garbage",
        "no-v1": f"t={now}",
        "bad-t": f"t=yesterday,v1={'0' * 64}",
        "wrong-mac": f"t={now},v1={'0' * 64}",
        "other-secret": webhook_signature(b"not-the-secret", now, body),
        "other-body": webhook_signature(secret, now, body + b" "),
    }
    for name, signature in signatures.items():
        with subtests.test(msg=name):
            headers = {"content-type": "application/json"}
            if signature is not None:
                headers["webhook-signature"] = signature
            r = c.post("/api/v1/payments/webhook", content=body, headers=headers)
            assert_problem(r, 401, "invalid-signature")
            _unchanged(api, processing)


def test_webhook_with_stale_timestamp_is_401(
    api: ApiDriver, runtime: LocalRuntime, processing: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN a correctly signed event WHEN its timestamp is outside ±300 s THEN 401."""
    body = json.dumps(processing[3]).encode()
    secret = runtime.settings.resolved_webhook_secret()
    for age in (-400, 301, 3600):
        with subtests.test(msg=f"age {age}s"):
            r = send_webhook(api.client, secret, body, timestamp=int(time.time()) - age)
            assert_problem(r, 401, "invalid-signature")
            _unchanged(api, processing)


NOT_EVENTS: dict[str, bytes] = {
    "not-json": b"not json",
    "empty": b"{}",
    "array": b"[]",
    "other": b'{"hello": "world"}',
    "unknown-type": b'{"id": "whe_1", "type": "payment.stolen", "created": 1,'
    b' "data": {"payment_id": "gwp_1", "reference": "ord_1", "amount_krw": 1}}',
    "created-string": b'{"id": "whe_1", "type": "payment.authorized", "created": "now",'
    b' "data": {"payment_id": "gwp_1", "reference": "ord_1", "amount_krw": 1}}',
    "no-data": b'{"id": "whe_1", "type": "payment.authorized", "created": 1, "data": {}}',
    "extra-field": b'{"id": "whe_1", "type": "payment.authorized", "created": 1, "live": true,'
    b' "data": {"payment_id": "gwp_1", "reference": "ord_1", "amount_krw": 1}}',
}


def test_signed_webhook_that_is_not_an_event_is_4xx(
    api: ApiDriver, runtime: LocalRuntime, processing: Any, subtests: pytest.Subtests
) -> None:
    """GIVEN a correctly signed body that is not a payment event WHEN posted THEN a 4xx
    problem (422 invalid-request) and the payment does not move."""
    secret = runtime.settings.resolved_webhook_secret()
    for name, body in NOT_EVENTS.items():
        with subtests.test(msg=name):
            assert_problem(send_webhook(api.client, secret, body), 422, "invalid-request")
            _unchanged(api, processing)


def test_signed_webhook_for_unknown_payment_is_404(
    api: ApiDriver, runtime: LocalRuntime, processing: Any
) -> None:
    """GIVEN a well-formed event for a payment we never made WHEN posted THEN 404 (so a real
    gateway retries) and nothing moves."""
    _, _, placed, _ = processing
    body = webhook_event("payment.authorized", "gwp_unknown", placed["id"], placed["total_krw"])
    r = send_webhook(api.client, runtime.settings.resolved_webhook_secret(), body)
    assert_problem(r, 404, "not-found")
    _unchanged(api, processing)


def test_ticket_code_that_we_did_not_sign_is_422(api: ApiDriver) -> None:
    """GIVEN codes that are not ours WHEN verified THEN 422 invalid-request (never 200/500)."""
    for code in ("garbage", "a.b", "a.b.c", "AAAA.AAAA", "한글.코드"):
        r = api.client.post("/api/v1/tickets/verify", json={"code": code})
        assert_problem(r, 422, "invalid-request")
    assert_problem(
        api.client.post("/api/v1/tickets/verify", json={"code": ""}), 400, "invalid-body"
    )


# -- text, numbers and time zones that would be stored and shown to others -----------------
def test_search_text_is_never_read_as_query_syntax(
    api: ApiDriver, sale: tuple[dict[str, str], dict[str, Any], dict[str, str]]
) -> None:
    """GIVEN the FTS5 index WHEN the search text holds quotes or FTS5 operators THEN it is
    searched as text (200), and a NUL or another control character is a typed 422."""
    for text in ['"', 'a"b', 'x"y"z', "NEAR(abc def)", "abc*", "abc OR", "(abc", "^abc", "'"]:
        r = api.client.get("/api/v1/search/concerts", params={"q": text})
        assert r.status_code == 200, (text, r.text)
    for text in ["abc\x00def", "\x00", "a\x1bb", "iu\u202e"]:
        r = api.client.get("/api/v1/search/concerts", params={"q": text})
        assert_problem(r, 422, "invalid-request")


def test_a_body_that_is_not_utf8_is_a_typed_400(
    api: ApiDriver,
    runtime: LocalRuntime,
    sale: tuple[dict[str, str], dict[str, Any], dict[str, str]],
) -> None:
    organizer, performance, fan = sale
    before = _table_sizes(runtime)
    json_type = {"content-type": "application/json"}
    attempts = [
        (
            "/api/v1/accounts",
            {},
            b'{"email":"\xff@x.com","password":"long-enough-1","display_name":"x"}',
        ),
        ("/api/v1/sessions", {}, b'{"email":"\xff","password":"x"}'),
        ("/api/v1/venues", organizer, b'{"name":"\xc3\x28","city":"Seoul","layout":{}}'),
        (
            f"/api/v1/performances/{performance['id']}/holds",
            {**fan, "Idempotency-Key": "u8"},
            b'{"seats":["\xed\xa0\x80"]}',
        ),
    ]
    for path, headers, body in attempts:
        r = api.client.post(path, headers={**headers, **json_type}, content=body)
        problem = assert_problem(r, 400, "invalid-body")
        assert "UTF-8" in problem["detail"], problem
    assert _table_sizes(runtime) == before


@pytest.mark.parametrize(
    "block_overrides",
    [
        {"spacing": 1e308},
        {"origin_x": 1e308},
        {"origin_y": -1e308},
        {"spacing": 0},
        {"origin_x": 600_000},
    ],
)
def test_seat_map_numbers_are_finite_and_bounded(
    api: ApiDriver, runtime: LocalRuntime, block_overrides: dict[str, float]
) -> None:
    """GIVEN a layout block whose numbers would put seats at infinity (stored as null, then
    every read of the venue failing) WHEN it is posted THEN 400, and nothing is stored."""
    organizer = api.account("organizer")
    before = _table_sizes(runtime)
    block = {"section": "S1", "name": "S1", "rows": 2, "seats_per_row": 200, **block_overrides}
    r = api.client.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": "Far Away", "city": "Seoul", "layout": {"blocks": [block]}},
    )
    assert_problem(r, 400, "invalid-body")
    assert _table_sizes(runtime) == before


def test_seat_map_document_coordinates_are_bounded(api: ApiDriver, runtime: LocalRuntime) -> None:
    organizer = api.account("organizer")
    before = _table_sizes(runtime)
    for x in ("1e308", "1e999", "-1e999", "1000001"):
        body = (
            '{"name":"Doc","city":"Seoul","seat_map":{"sections":[{"id":"S1","name":"S1",'
            '"rows":[{"label":"A","seats":[{"number":1,"x":' + x + "}]}]}]}}"
        )
        r = api.client.post(
            "/api/v1/venues",
            headers={**organizer, "content-type": "application/json"},
            content=body.encode(),
        )
        assert_problem(r, 400, "invalid-body")
    assert _table_sizes(runtime) == before
    # The largest block fits: 200 seats of pitch 1000 from the furthest corner.
    block = {
        "section": "S1",
        "name": "S1",
        "rows": 1,
        "seats_per_row": 200,
        "origin_x": 500_000,
        "origin_y": -500_000,
        "spacing": 1000,
    }
    r = api.client.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": "Edge", "city": "Seoul", "layout": {"blocks": [block]}},
    )
    assert r.status_code == 201, r.text
    assert api.client.get(f"/api/v1/venues/{r.json()['id']}", headers=organizer).status_code == 200


def test_time_zones_are_iana_names(
    api: ApiDriver,
    runtime: LocalRuntime,
    sale: tuple[dict[str, str], dict[str, Any], dict[str, str]],
) -> None:
    organizer, performance, _ = sale
    layout = {"blocks": [{"section": "S1", "name": "S1", "rows": 1, "seats_per_row": 2}]}
    before = _table_sizes(runtime)
    r = api.client.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": "Mars", "city": "Olympus", "timezone": "Mars/Olympus", "layout": layout},
    )
    assert assert_problem(r, 422, "invalid-request")["field"] == "timezone"
    r = api.client.patch(
        f"/api/v1/venues/{performance['venue_id']}",
        headers=organizer,
        json={"timezone": "Asia/Seul"},
    )
    assert_problem(r, 422, "invalid-request")
    assert _table_sizes(runtime) == before
    venue = api.client.get(f"/api/v1/venues/{performance['venue_id']}", headers=organizer).json()
    assert venue["timezone"] == "Asia/Seoul"
    event = api.event(organizer)
    r = api.client.post(
        f"/api/v1/events/{event['id']}/performances",
        headers=organizer,
        json={
            "venue_id": performance["venue_id"],
            "timezone": "Europe/Atlantis",
            "starts_at": "2030-01-01T19:00:00+09:00",
            "sale_opens_at": "2029-12-01T20:00:00+09:00",
            "sale_closes_at": "2029-12-31T20:00:00+09:00",
            "grades": [{"code": "R", "name": "R", "price_krw": 1000}],
            "assignment": {"sections": {"S1": "R"}, "ga_zones": {"FLOOR": "R"}},
        },
    )
    assert_problem(r, 422, "invalid-request")


@pytest.mark.parametrize(
    "bad",
    ["nul\x00", "rtl\u202egpj.exe", "zero\u200bwidth", "bell\x07", "isolate\u2066x", "\ufeffbom"],
)
def test_names_titles_and_emails_refuse_control_and_invisible_characters(
    api: ApiDriver, runtime: LocalRuntime, bad: str
) -> None:
    organizer = api.account("organizer")
    before = _table_sizes(runtime)
    layout = {"blocks": [{"section": "S1", "name": "S1", "rows": 1, "seats_per_row": 2}]}
    attempts = [
        ("/api/v1/venues", {"name": bad, "city": "Seoul", "layout": layout}),
        ("/api/v1/venues", {"name": "ok", "city": bad, "layout": layout}),
        ("/api/v1/events", {"title": bad, "artists": [{"name_ko": "아이유", "name_en": "IU"}]}),
        ("/api/v1/events", {"title": "ok", "artists": [{"name_ko": bad, "name_en": "IU"}]}),
        (
            "/api/v1/events",
            {
                "title": "ok",
                "description": bad,
                "artists": [{"name_ko": "아이유", "name_en": "IU"}],
            },
        ),
        (
            "/api/v1/accounts",
            {"email": unique_email("x"), "password": PASSWORD, "display_name": bad},
        ),
        (
            "/api/v1/accounts",
            {"email": f"fan{bad}@example.com", "password": PASSWORD, "display_name": "fan"},
        ),
    ]
    for path, body in attempts:
        r = api.client.post(path, headers=organizer, json=body)
        problem = assert_problem(r, 400, "invalid-body")
        assert "invisible" in problem["detail"], problem
    assert _table_sizes(runtime) == before
    r = api.client.post(
        "/api/v1/events",
        headers=organizer,
        json={
            "title": "Lines",
            "description": "first line\nsecond\tline",
            "artists": [{"name_ko": "아이유", "name_en": "IU"}],
        },
    )
    assert r.status_code == 201, r.text


def test_emails_are_one_spelling_per_address(api: ApiDriver) -> None:
    """GIVEN an address signed up with a compatibility character (the ﬁ ligature) WHEN its
    NFKC spelling logs in or signs up again THEN it is the same account."""
    local = f"ﬁan{time.time_ns()}"
    r = api.client.post(
        "/api/v1/accounts",
        json={"email": f"{local}@Example.com", "password": PASSWORD, "display_name": "fan"},
    )
    assert r.status_code == 201, r.text
    plain = local.replace("ﬁ", "fi") + "@example.com"
    assert r.json()["email"] == plain
    r = api.client.post("/api/v1/sessions", json={"email": plain.upper(), "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = api.client.post(
        "/api/v1/accounts", json={"email": plain, "password": PASSWORD, "display_name": "again"}
    )
    assert_problem(r, 409, "email-taken")
