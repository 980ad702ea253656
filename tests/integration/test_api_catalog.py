"""Catalog over HTTP: venues from blocks or seat maps, events, performances and their inventory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from booking.bootstrap import LocalRuntime
from tests.support import (
    ApiDriver,
    assert_problem,
    availability,
    counts,
    hold,
    order,
    post_hold,
    post_payment,
    query,
    seat_states,
    wait_for,
)

SEAT_MAP: dict[str, Any] = {
    "sections": [
        {
            "id": "101",
            "name": "Section 101",
            "rows": [
                {
                    "label": "A",
                    "seats": [
                        {"number": 1, "x": 10.5, "y": 2.0, "accessible": True},
                        {"number": 2, "x": 11.5, "y": 2.0},
                        {"number": 3, "x": 12.5, "y": 2.0, "obstructed": True},
                    ],
                },
                {"label": "B", "seats": [{"number": 1, "x": 10.5, "y": 3.0}]},
            ],
        },
        {
            "id": "102",
            "name": "Section 102",
            "rows": [{"label": "A", "seats": [{"number": 7, "x": -4.25, "y": 9.75}]}],
        },
    ],
    "ga_zones": [{"id": "PIT", "name": "Standing Pit", "capacity": 5}],
}


def _performance_body(venue: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "venue_id": venue["id"],
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "sale_opens_at": (now - timedelta(minutes=1)).isoformat(),
        "sale_closes_at": (now + timedelta(days=29)).isoformat(),
        "grades": [
            {"code": "VIP", "name": "VIP", "price_krw": 198_000},
            {"code": "R", "name": "R", "price_krw": 154_000},
        ],
        "assignment": {
            "sections": {s["id"]: "VIP" for s in venue["seat_map"]["sections"]},
            "ga_zones": {z["id"]: "R" for z in venue["seat_map"]["ga_zones"]},
        },
    }
    body.update(overrides)
    return body


def _units(runtime: LocalRuntime) -> int:
    return int(query(runtime.db.path, "SELECT COUNT(*) FROM units")[0][0])


def _performance_rows(runtime: LocalRuntime) -> int:
    return int(query(runtime.db.path, "SELECT COUNT(*) FROM performances")[0][0])


# -- venues -------------------------------------------------------------------------------
def test_create_venue_from_blocks(api: ApiDriver) -> None:
    """GIVEN blocks of rows × seats WHEN creating a venue THEN numbered, placed, flagged seats."""
    c = api.client
    organizer = api.account("organizer")
    r = c.post(
        "/api/v1/venues",
        headers=organizer,
        json={
            "name": "KSPO Dome",
            "city": "Seoul",
            "layout": {
                "blocks": [
                    {
                        "section": "F1",
                        "name": "Floor 1",
                        "rows": 2,
                        "seats_per_row": 3,
                        "origin_x": 100,
                        "origin_y": 50,
                        "spacing": 2,
                        "accessible_rows": [2],
                        "obstructed_seats": [3],
                    }
                ],
                "ga_zones": [{"id": "GA", "name": "Standing", "capacity": 40}],
            },
        },
    )
    assert r.status_code == 201, r.text
    venue = r.json()
    assert venue["capacity"] == 6 + 40
    assert venue["timezone"] == "Asia/Seoul"
    (section,) = venue["seat_map"]["sections"]
    assert [row["label"] for row in section["rows"]] == ["A", "B"]
    b3 = section["rows"][1]["seats"][2]
    assert b3 == {"number": 3, "x": 104.0, "y": 52.0, "accessible": True, "obstructed": True}
    assert section["rows"][0]["seats"][0]["accessible"] is False

    assert c.get(f"/api/v1/venues/{venue['id']}", headers=organizer).json() == venue
    listed = c.get("/api/v1/venues", headers=organizer).json()
    assert [(v["id"], v["capacity"]) for v in listed] == [(venue["id"], 46)]


def test_create_venue_from_a_full_seat_map_document(api: ApiDriver) -> None:
    """GIVEN a seat-map document WHEN creating a venue THEN it is stored exactly as sent."""
    c = api.client
    organizer = api.account("organizer")
    r = c.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": "Gocheok Sky Dome", "city": "Seoul", "seat_map": SEAT_MAP},
    )
    assert r.status_code == 201, r.text
    venue = r.json()
    assert venue["capacity"] == 5 + 5
    seats_101 = venue["seat_map"]["sections"][0]["rows"][0]["seats"]
    assert seats_101[0] == {
        "number": 1,
        "x": 10.5,
        "y": 2.0,
        "accessible": True,
        "obstructed": False,
    }
    assert seats_101[2]["obstructed"] is True
    assert venue["seat_map"]["sections"][1]["rows"][0]["seats"][0]["x"] == -4.25
    assert venue["seat_map"]["ga_zones"] == SEAT_MAP["ga_zones"]
    assert c.get(f"/api/v1/venues/{venue['id']}", headers=organizer).json() == venue

    # Its seats are sellable under their ids <section>-<row>-<number>.
    event = api.event(organizer)
    performance = api.performance(organizer, venue, event)
    assert sorted(seat_states(c, performance["id"])) == [
        "101-A-1",
        "101-A-2",
        "101-A-3",
        "101-B-1",
        "102-A-7",
    ]


BAD_VENUES: dict[str, dict[str, Any]] = {
    "neither-seat-map-nor-layout": {},
    "both": {
        "seat_map": SEAT_MAP,
        "layout": {"blocks": [{"section": "X", "name": "X", "rows": 1, "seats_per_row": 1}]},
    },
    "duplicate-zone-id": {
        "seat_map": {**SEAT_MAP, "ga_zones": [{"id": "101", "name": "dup", "capacity": 1}]}
    },
    "duplicate-seat-number": {
        "seat_map": {
            "sections": [
                {
                    "id": "A",
                    "name": "A",
                    "rows": [{"label": "A", "seats": [{"number": 1}, {"number": 1}]}],
                }
            ]
        }
    },
    "empty": {"seat_map": {"sections": [], "ga_zones": []}},
}


def test_bad_venue_definitions_are_422(
    api: ApiDriver, runtime: LocalRuntime, subtests: pytest.Subtests
) -> None:
    """GIVEN an impossible venue WHEN creating it THEN 422 and no venue is stored."""
    organizer = api.account("organizer")
    for name, extra in BAD_VENUES.items():
        with subtests.test(msg=name):
            r = api.client.post(
                "/api/v1/venues", headers=organizer, json={"name": "Bad", "city": "Seoul", **extra}
            )
            assert_problem(r, 422, "invalid-request")
            assert api.client.get("/api/v1/venues", headers=organizer).json() == []
            assert query(runtime.db.path, "SELECT COUNT(*) FROM venues")[0][0] == 0


def test_patch_and_delete_venue(api: ApiDriver) -> None:
    """GIVEN a venue WHEN renamed THEN its seat map stays; WHEN deleted THEN it is gone (404)."""
    c = api.client
    organizer = api.account("organizer")
    venue = api.venue(organizer)
    r = c.patch(
        f"/api/v1/venues/{venue['id']}",
        headers=organizer,
        json={"name": "Olympic Hall", "city": "Busan", "timezone": "Asia/Seoul"},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert (patched["name"], patched["city"]) == ("Olympic Hall", "Busan")
    assert patched["seat_map"] == venue["seat_map"]
    assert c.get(f"/api/v1/venues/{venue['id']}", headers=organizer).json() == patched

    # The seat map cannot be patched.
    r = c.patch(f"/api/v1/venues/{venue['id']}", headers=organizer, json={"seat_map": SEAT_MAP})
    assert_problem(r, 400, "invalid-body")
    assert c.get(f"/api/v1/venues/{venue['id']}", headers=organizer).json() == patched

    r = c.delete(f"/api/v1/venues/{venue['id']}", headers=organizer)
    assert r.status_code == 204, r.text
    assert_problem(c.get(f"/api/v1/venues/{venue['id']}", headers=organizer), 404, "not-found")
    assert c.get("/api/v1/venues", headers=organizer).json() == []


def test_venue_with_performances_cannot_be_deleted(api: ApiDriver) -> None:
    """GIVEN a venue with a performance WHEN deleting it THEN 409 and it stays."""
    c = api.client
    organizer = api.account("organizer")
    venue = api.venue(organizer)
    api.performance(organizer, venue, api.event(organizer))
    assert_problem(c.delete(f"/api/v1/venues/{venue['id']}", headers=organizer), 409, "conflict")
    assert c.get(f"/api/v1/venues/{venue['id']}", headers=organizer).status_code == 200


def test_venue_creation_with_idempotency_key_creates_one_venue(api: ApiDriver) -> None:
    """GIVEN a venue created with an Idempotency-Key WHEN retried THEN the same venue; WHEN
    the key is reused for another venue THEN 422 and no second venue."""
    c = api.client
    organizer = api.account("organizer")
    body = {"name": "Jamsil", "city": "Seoul", "seat_map": SEAT_MAP}
    headers = {**organizer, "Idempotency-Key": "venue-1"}
    first = c.post("/api/v1/venues", headers=headers, json=body)
    assert first.status_code == 201, first.text
    again = c.post("/api/v1/venues", headers=headers, json=body)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    other = c.post("/api/v1/venues", headers=headers, json={**body, "name": "Other"})
    assert_problem(other, 422, "idempotency-key-reused")
    assert [v["id"] for v in c.get("/api/v1/venues", headers=organizer).json()] == [
        first.json()["id"]
    ]


# -- events -------------------------------------------------------------------------------
def test_event_lifecycle_create_list_patch_publish_delete(api: ApiDriver) -> None:
    """GIVEN an organizer WHEN it creates, lists, edits, publishes, deletes events THEN so it is."""
    c = api.client
    organizer = api.account("organizer")
    rival = api.account("organizer")
    r = c.post(
        "/api/v1/events",
        headers=organizer,
        json={
            "title": "BTS World Tour",
            "artists": [{"name_ko": "방탄소년단", "name_en": "BTS", "aliases": ["Bangtan"]}],
            "description": "서울 공연",
        },
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["status"] == "draft"
    assert draft["genre"] == "k-pop"
    assert draft["organizer_id"] == c.get("/api/v1/me", headers=organizer).json()["id"]
    published = api.event(organizer, published=True)
    rivals = api.event(rival, published=True)

    public = [e["id"] for e in c.get("/api/v1/events").json()]
    assert published["id"] in public
    assert rivals["id"] in public
    assert draft["id"] not in public
    mine = [e["id"] for e in c.get("/api/v1/events?mine=true", headers=organizer).json()]
    assert sorted(mine) == sorted([draft["id"], published["id"]])
    assert_problem(c.get("/api/v1/events?mine=true"), 403, "forbidden")

    r = c.patch(f"/api/v1/events/{draft['id']}", headers=organizer, json={"title": "BTS Encore"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "BTS Encore"
    assert r.json()["status"] == "draft"
    assert r.json()["artists"] == draft["artists"]

    r = c.patch(f"/api/v1/events/{draft['id']}", headers=organizer, json={"status": "published"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"
    assert draft["id"] in [e["id"] for e in c.get("/api/v1/events").json()]
    anonymous = c.get(f"/api/v1/events/{draft['id']}")
    assert anonymous.status_code == 200
    assert anonymous.json()["title"] == "BTS Encore"

    r = c.delete(f"/api/v1/events/{draft['id']}", headers=organizer)
    assert r.status_code == 204, r.text
    assert_problem(c.get(f"/api/v1/events/{draft['id']}", headers=organizer), 404, "not-found")
    assert draft["id"] not in [e["id"] for e in c.get("/api/v1/events").json()]


def test_the_longest_event_the_schema_allows_is_accepted_even_fully_escaped(
    api: ApiDriver,
) -> None:
    """Every field at its maximum length in characters outside the BMP, sent as ASCII-only
    JSON (each character a \\uXXXX surrogate pair): the body cap must not refuse it."""
    mic = "\U0001f3a4"
    long_name = mic * 200
    artist = {"name_ko": long_name, "name_en": long_name, "aliases": [long_name] * 20}
    event = {"title": long_name, "artists": [artist] * 20, "description": mic * 5000}
    body = json.dumps(event, ensure_ascii=True).encode()
    assert len(body) > 1_000_000
    organizer = api.account("organizer")
    headers = {**organizer, "Content-Type": "application/json"}
    r = api.client.post("/api/v1/events", headers=headers, content=body)
    assert r.status_code == 201, r.text[:300]
    created = r.json()
    assert created["description"] == event["description"]
    r = api.client.patch(f"/api/v1/events/{created['id']}", headers=headers, content=body)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["artists"][19]["aliases"][19] == long_name


def test_event_with_performances_cannot_be_deleted(api: ApiDriver) -> None:
    """GIVEN an event with a performance WHEN deleting it THEN 409 and it stays."""
    c = api.client
    organizer = api.account("organizer")
    event = api.event(organizer)
    api.performance(organizer, api.venue(organizer), event)
    assert_problem(c.delete(f"/api/v1/events/{event['id']}", headers=organizer), 409, "conflict")
    assert c.get(f"/api/v1/events/{event['id']}").status_code == 200
    assert len(c.get(f"/api/v1/events/{event['id']}/performances").json()) == 1


# -- performances -------------------------------------------------------------------------
def test_performance_is_created_with_its_inventory(api: ApiDriver) -> None:
    """GIVEN a venue WHEN a performance is added THEN every place is priced and available."""
    c = api.client
    organizer = api.account("organizer")
    venue = api.venue(organizer, rows=2, seats_per_row=5, ga_capacity=7)
    event = api.event(organizer)
    performance = api.performance(organizer, venue, event, ticket_limit=6)
    assert performance["ticket_limit"] == 6
    assert performance["event_id"] == event["id"]

    counted = availability(c, performance["id"])
    assert counted["capacity"] == 17
    assert counted["available"] == 17
    zones = {z["zone_id"]: z for z in counted["zones"]}
    assert (zones["S1"]["grade"], zones["S1"]["price_krw"], zones["S1"]["capacity"]) == (
        "VIP",
        198_000,
        10,
    )
    assert (zones["FLOOR"]["kind"], zones["FLOOR"]["grade"], zones["FLOOR"]["capacity"]) == (
        "ga",
        "R",
        7,
    )
    listed = c.get(f"/api/v1/events/{event['id']}/performances").json()
    assert [p["id"] for p in listed] == [performance["id"]]
    assert c.get(f"/api/v1/performances/{performance['id']}").json() == performance


def _grades_only_vip(venue: dict[str, Any]) -> dict[str, Any]:
    return {
        "grades": [{"code": "VIP", "name": "VIP", "price_krw": 1}],
        "assignment": {
            "sections": {s["id"]: "VIP" for s in venue["seat_map"]["sections"]},
            "ga_zones": {z["id"]: "VIP" for z in venue["seat_map"]["ga_zones"]},
        },
    }


def _bad_plan(case: str, venue: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = _performance_body(venue)
    if case == "unpriced-section":
        body["assignment"] = {"sections": {"S1": "VIP"}, "ga_zones": {"FLOOR": "R"}}
    elif case == "unpriced-zone":
        body["assignment"] = {"sections": {"S1": "VIP", "S2": "VIP"}}
    elif case == "unknown-grade":
        body["assignment"] = {"sections": {"S1": "VIP", "S2": "GOLD"}, "ga_zones": {"FLOOR": "R"}}
    elif case == "unknown-seat-override-grade":
        body["assignment"]["seats"] = {"S1-A-1": "GOLD"}
    elif case == "duplicate-grade":
        body["grades"] = [{"code": "VIP", "name": "VIP", "price_krw": 1}] * 2
    elif case == "unknown-section":
        body["assignment"]["sections"]["S9"] = "VIP"
    elif case == "sale-closes-after-start":
        body["sale_closes_at"] = (now + timedelta(days=31)).isoformat()
    elif case == "sale-closes-before-it-opens":
        body["sale_opens_at"] = (now + timedelta(days=2)).isoformat()
        body["sale_closes_at"] = (now + timedelta(days=1)).isoformat()
    elif case == "naive-starts-at":
        body["starts_at"] = (now + timedelta(days=30)).replace(tzinfo=None).isoformat()
    elif case == "naive-sale-opens-at":
        body["sale_opens_at"] = (now - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    elif case == "unknown-blocked-seat":
        body["blocked_seats"] = ["S1-A-1", "S1-Z-99"]
    else:
        raise AssertionError(case)
    return body


def test_performance_plan_is_validated(
    api: ApiDriver, runtime: LocalRuntime, subtests: pytest.Subtests
) -> None:
    """GIVEN a performance plan that cannot be sold WHEN adding it THEN 422 and no inventory."""
    c = api.client
    organizer = api.account("organizer")
    venue = api.venue(organizer, sections=2)
    event = api.event(organizer)
    for case in (
        "unpriced-section",
        "unpriced-zone",
        "unknown-grade",
        "unknown-seat-override-grade",
        "duplicate-grade",
        "unknown-section",
        "sale-closes-after-start",
        "sale-closes-before-it-opens",
        "naive-starts-at",
        "naive-sale-opens-at",
        "unknown-blocked-seat",
    ):
        with subtests.test(msg=case):
            r = c.post(
                f"/api/v1/events/{event['id']}/performances",
                headers=organizer,
                json=_bad_plan(case, venue),
            )
            assert_problem(r, 422, "invalid-request")
            assert c.get(f"/api/v1/events/{event['id']}/performances").json() == []
            assert _units(runtime) == 0
            assert _performance_rows(runtime) == 0


def test_performance_on_unknown_venue_or_event_is_404(api: ApiDriver) -> None:
    """GIVEN ids that do not exist WHEN adding a performance THEN 404."""
    c = api.client
    organizer = api.account("organizer")
    venue = api.venue(organizer)
    event = api.event(organizer)
    r = c.post(
        f"/api/v1/events/{event['id']}/performances",
        headers=organizer,
        json=_performance_body({**venue, "id": "ven_doesnotexist"}),
    )
    assert_problem(r, 404, "not-found")
    r = c.post(
        "/api/v1/events/evt_doesnotexist/performances",
        headers=organizer,
        json=_performance_body(venue),
    )
    assert_problem(r, 404, "not-found")


def test_blocked_seats_are_blocked_in_availability_and_seats(api: ApiDriver) -> None:
    """GIVEN blocked seats WHEN fans look and try to hold them THEN blocked, never holdable."""
    c = api.client
    blocked = ["S1-A-1", "S1-A-2", "S1-E-10"]
    _, performance = api.on_sale(blocked_seats=blocked)
    pid = performance["id"]
    counted = availability(c, pid)
    assert counted["blocked"] == 3
    assert counted["available"] == counted["capacity"] - 3
    states = seat_states(c, pid)
    assert {s for s, state in states.items() if state == "blocked"} == set(blocked)

    fan = api.account()
    before = counts(c, pid)
    body = assert_problem(post_hold(c, fan, pid, ["S1-A-1", "S1-A-3"]), 409, "seats-unavailable")
    assert body["taken"] == ["S1-A-1"]
    assert counts(c, pid) == before
    assert seat_states(c, pid)["S1-A-3"] == "available"


def test_seats_endpoint_shows_each_seats_state(api: ApiDriver) -> None:
    """GIVEN held, sold, blocked and free seats WHEN GET /seats THEN each shows its own state."""
    c = api.client
    _, performance = api.on_sale(sections=2, rows=2, seats_per_row=3, blocked_seats=["S2-B-3"])
    pid = performance["id"]
    fan = api.account()
    hold(c, fan, pid, ["S1-A-1"])
    paid = order(c, fan, hold(c, fan, pid, ["S1-B-2"])["id"])
    assert post_payment(c, fan, paid["id"]).status_code == 202
    wait_for(lambda: seat_states(c, pid)["S1-B-2"] == "sold")

    states = seat_states(c, pid)
    assert len(states) == 12  # seats only; GA places are not listed
    assert states["S1-A-1"] == "held"
    assert states["S1-B-2"] == "sold"
    assert states["S2-B-3"] == "blocked"
    assert {s for s, state in states.items() if state == "available"} == set(states) - {
        "S1-A-1",
        "S1-B-2",
        "S2-B-3",
    }
    r = c.get(f"/api/v1/performances/{pid}/seats?section=S2")
    assert r.status_code == 200
    section = r.json()
    assert {p["unit_id"] for p in section} == {f"S2-{row}-{n}" for row in "AB" for n in (1, 2, 3)}
    assert all(p["zone_id"] == "S2" and p["grade"] == "VIP" for p in section)
    r = c.get(f"/api/v1/performances/{pid}/seats?section=S1&state=available")
    assert r.status_code == 200
    assert {p["unit_id"] for p in r.json()} == {"S1-A-2", "S1-A-3", "S1-B-1", "S1-B-3"}
    bad = assert_problem(c.get(f"/api/v1/performances/{pid}/seats?state=gone"), 400, "invalid-body")
    # The parameter is named as the client sent it, not as the handler calls it.
    assert [(e["key"], e["source"]) for e in bad["errors"]] == [("state", "query")], bad
    assert "only" not in bad["detail"], bad


def test_patch_performance_moves_the_sale_window(api: ApiDriver) -> None:
    """GIVEN an on-sale performance WHEN the sale is moved to the future THEN holds are refused."""
    c = api.client
    organizer, performance = api.on_sale()
    pid = performance["id"]
    later = datetime.now(UTC) + timedelta(days=1)
    r = c.patch(
        f"/api/v1/performances/{pid}",
        headers=organizer,
        json={"sale_opens_at": later.isoformat(), "ticket_limit": 2},
    )
    assert r.status_code == 200, r.text
    assert r.json()["ticket_limit"] == 2
    fan = api.account()
    assert_problem(post_hold(c, fan, pid, ["S1-A-1"]), 409, "sale-not-open")
    assert availability(c, pid)["held"] == 0


def test_patch_performance_with_impossible_window_is_422(api: ApiDriver) -> None:
    """GIVEN a performance WHEN the sale would close after the start THEN 422, nothing changes."""
    c = api.client
    organizer, performance = api.on_sale()
    pid = performance["id"]
    late = datetime.fromisoformat(performance["starts_at"]) + timedelta(hours=1)
    r = c.patch(
        f"/api/v1/performances/{pid}",
        headers=organizer,
        json={"sale_closes_at": late.isoformat()},
    )
    assert_problem(r, 422, "invalid-request")
    assert c.get(f"/api/v1/performances/{pid}").json() == performance


def test_patch_performance_with_naive_datetime_is_422(
    api: ApiDriver, subtests: pytest.Subtests
) -> None:
    """GIVEN a performance WHEN patched with times without UTC offset THEN 422 (not a 500), the
    performance is unchanged and fans can still hold its seats."""
    c = api.client
    organizer, performance = api.on_sale()
    pid = performance["id"]
    fan = api.account()
    cases = {
        "one-naive-field": {"starts_at": "2030-01-01T20:00:00"},
        "all-naive-fields": {
            "starts_at": "2030-01-02T20:00:00",
            "sale_opens_at": "2020-01-01T00:00:00",
            "sale_closes_at": "2030-01-01T00:00:00",
        },
    }
    for name, body in cases.items():
        with subtests.test(msg=name):
            r = c.patch(f"/api/v1/performances/{pid}", headers=organizer, json=body)
            assert_problem(r, 422, "invalid-request")
    assert c.get(f"/api/v1/performances/{pid}").json() == performance
    r = post_hold(c, fan, pid, ["S1-A-1"])
    assert r.status_code == 201, r.text


def test_delete_performance_only_while_nobody_held_it(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a held performance THEN deleting it is 409; GIVEN an untouched one THEN it goes."""
    c = api.client
    organizer = api.account("organizer")
    venue = api.venue(organizer)
    event = api.event(organizer)
    used = api.performance(organizer, venue, event)
    unused = api.performance(organizer, venue, event)
    fan = api.account()
    hold(c, fan, used["id"], ["S1-A-1"])

    assert_problem(
        c.delete(f"/api/v1/performances/{used['id']}", headers=organizer), 409, "conflict"
    )
    assert availability(c, used["id"])["held"] == 1

    other = api.account("organizer")
    assert_problem(
        c.delete(f"/api/v1/performances/{unused['id']}", headers=other), 404, "not-found"
    )
    units = _units(runtime)
    r = c.delete(f"/api/v1/performances/{unused['id']}", headers=organizer)
    assert r.status_code == 204, r.text
    assert_problem(c.get(f"/api/v1/performances/{unused['id']}"), 404, "not-found")
    assert _units(runtime) == units - venue["capacity"]
    assert [p["id"] for p in c.get(f"/api/v1/events/{event['id']}/performances").json()] == [
        used["id"]
    ]
