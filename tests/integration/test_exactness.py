"""Exactness over HTTP on both runtimes: the pre-claim (in memory locally, in Redis on the
aws runtime) refuses only what the store would refuse, and a replay gets what was stored.

Each test is one of the ways a pre-claim once answered for the store wrongly: a free seat
refused because a doomed request had marked it, a cancelled order's seats kept from other
fans by a replay of the order, a replayed hold answered 409 by its own seats, and a key
reused with another body answered 409 instead of 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer, start_aws, start_local
from tests.moto_server import create_table
from tests.redis_server import redis_binary, start_redis
from tests.support import PASSWORD, assert_problem, skip_unless_available, unique_email

pytestmark = pytest.mark.slow


class Stage:
    """A server of one runtime, and how to start it again on the same data."""

    def __init__(self, runtime: str, folder: Path, settings: dict[str, object]) -> None:
        self.runtime, self.folder, self.settings = runtime, folder, settings
        self.server = self._start()

    def _start(self) -> LiveServer:
        start = start_local if self.runtime == "local" else start_aws
        return start(self.folder / "data", self.settings)

    def restart(self) -> None:
        self.server.stop()
        self.server = self._start()

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url


@pytest.fixture(params=["local", "aws"])
def stage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stage]:
    """`local`: SQLite with the in-memory pre-claim; `aws`: DynamoDB (moto) behind the Redis
    pre-claim."""
    settings: dict[str, object] = {"max_in_flight": 10_000}
    with contextlib.ExitStack() as cleanup:
        if request.param == "aws":
            binary = redis_binary()
            skip_unless_available(binary is not None, "redis-server is not installed")
            assert binary is not None
            redis = start_redis(binary, tmp_path / "redis")
            cleanup.callback(redis.stop)
            endpoint: str = request.getfixturevalue("moto_endpoint")
            table = asyncio.run(create_table(endpoint, stream=False))
            settings.update(
                table_name=table,
                aws_endpoint_url=endpoint,
                redis_url=redis.url,
                redis_timeout_seconds=5,
                sweep_interval_seconds=5,
            )
        stage = Stage(request.param, tmp_path, settings)
        cleanup.callback(stage.stop)
        yield stage


def _account(client: httpx.Client, role: str = "fan") -> dict[str, str]:
    email = unique_email(role)
    r = client.post(
        "/api/v1/accounts",
        json={"email": email, "password": PASSWORD, "display_name": role, "role": role},
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _performance(client: httpx.Client, ga_capacity: int, hold_ttl_seconds: int = 420) -> str:
    organizer = _account(client, "organizer")
    layout = {
        "blocks": [{"section": "S1", "name": "S1", "rows": 1, "seats_per_row": 12}],
        "ga_zones": [{"id": "FLOOR", "name": "Floor", "capacity": ga_capacity}],
    }
    venue = client.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": "Hall", "city": "Seoul", "layout": layout},
    ).json()
    event = client.post(
        "/api/v1/events",
        headers=organizer,
        json={
            "title": "Exact",
            "artists": [{"name_ko": "아이유", "name_en": "IU"}],
            "status": "published",
        },
    ).json()
    r = client.post(
        f"/api/v1/events/{event['id']}/performances",
        headers=organizer,
        json={
            "venue_id": venue["id"],
            "starts_at": "2031-01-01T19:00:00+09:00",
            "sale_opens_at": "2020-01-01T20:00:00+09:00",
            "sale_closes_at": "2030-12-31T20:00:00+09:00",
            "grades": [{"code": "R", "name": "R", "price_krw": 1000}],
            "assignment": {"sections": {"S1": "R"}, "ga_zones": {"FLOOR": "R"}},
            "ticket_limit": 20,
            "hold_ttl_seconds": hold_ttl_seconds,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _hold(
    client: httpx.Client, fan: dict[str, str], performance_id: str, body: dict[str, Any], key: str
) -> httpx.Response:
    return client.post(
        f"/api/v1/performances/{performance_id}/holds",
        headers={**fan, "Idempotency-Key": key},
        json=body,
    )


def _order(client: httpx.Client, fan: dict[str, str], hold_id: str, key: str) -> httpx.Response:
    return client.post(
        "/api/v1/orders", headers={**fan, "Idempotency-Key": key}, json={"hold_id": hold_id}
    )


def test_a_free_seat_is_never_refused_for_a_doomed_request(stage: Stage) -> None:
    """GIVEN a standing zone of one place, sold out WHEN, per seat, three requests for the
    seat and a standing place (which cannot succeed) race one request for the seat alone
    THEN the lone request gets the seat, every time."""
    with httpx.Client(base_url=stage.url, timeout=60) as client:
        performance_id = _performance(client, ga_capacity=1)
        fans = [_account(client) for _ in range(4)]
        r = _hold(client, fans[0], performance_id, {"ga": [{"zone": "FLOOR", "quantity": 1}]}, "ga")
        assert r.status_code == 201, r.text

    async def race(seat: str) -> list[httpx.Response]:
        doomed = {"seats": [seat], "ga": [{"zone": "FLOOR", "quantity": 1}]}
        async with httpx.AsyncClient(base_url=stage.url, timeout=60) as client:
            bodies = [(fans[n], doomed) for n in range(3)]
            bodies.insert(random.randrange(4), (fans[3], {"seats": [seat]}))
            return await asyncio.gather(
                *(
                    client.post(
                        f"/api/v1/performances/{performance_id}/holds",
                        headers={**fan, "Idempotency-Key": uuid.uuid4().hex},
                        json=body,
                    )
                    for fan, body in bodies
                )
            )

    refused = []
    for n in range(1, 11):
        seat = f"S1-A-{n}"
        answers = asyncio.run(race(seat))
        lone = [r for r in answers if "ga" not in r.request.content.decode()]
        assert len(lone) == 1
        if lone[0].status_code != 201:
            refused.append((seat, lone[0].status_code, lone[0].text))
        for r in answers:
            if r is not lone[0]:
                assert_problem(r, 409, "seats-unavailable")
    assert refused == []


def test_a_replayed_order_of_a_cancelled_order_keeps_no_seat(stage: Stage) -> None:
    """GIVEN hold, order with key K, cancel WHEN the order is replayed with K THEN the stored
    order comes back (201) and another fan still gets the seats at once."""
    with httpx.Client(base_url=stage.url, timeout=60) as client:
        performance_id = _performance(client, ga_capacity=1)
        fan, other = _account(client), _account(client)
        seats = {"seats": ["S1-A-1", "S1-A-2"]}
        hold = _hold(client, fan, performance_id, seats, "h1").json()
        first = _order(client, fan, hold["id"], "K")
        assert first.status_code == 201, first.text
        cancelled = client.post(f"/api/v1/orders/{first.json()['id']}/cancel", headers=fan)
        assert cancelled.status_code == 200, cancelled.text
        replay = _order(client, fan, hold["id"], "K")
        assert (replay.status_code, replay.json()) == (201, first.json())
        r = _hold(client, other, performance_id, seats, "h2")
        assert r.status_code == 201, r.text


def test_a_replayed_hold_gets_its_stored_answer_after_a_restart_and_an_order(
    stage: Stage,
) -> None:
    """GIVEN a hold with key K, the server restarted, then the hold ordered WHEN K is replayed
    THEN 201 with the stored body, not a refusal by the seat its own order keeps."""
    with httpx.Client(base_url=stage.url, timeout=60) as client:
        performance_id = _performance(client, ga_capacity=1)
        fan = _account(client)
        body = {"seats": ["S1-A-3"]}
        first = _hold(client, fan, performance_id, body, "K")
        assert first.status_code == 201, first.text
    stage.restart()
    with httpx.Client(base_url=stage.url, timeout=60) as client:
        assert _order(client, fan, first.json()["id"], "O").status_code == 201
        replay = _hold(client, fan, performance_id, body, "K")
        assert (replay.status_code, replay.json()) == (201, first.json())


def test_a_replayed_hold_gets_its_stored_answer_after_its_seat_went_to_another(
    stage: Stage,
) -> None:
    """GIVEN a hold with key K, released, its lifetime (and any grace after it) passed, and
    its seat held by another fan WHEN K is replayed THEN 201 with the stored body."""
    with httpx.Client(base_url=stage.url, timeout=60) as client:
        performance_id = _performance(client, ga_capacity=1, hold_ttl_seconds=1)
        fan, other = _account(client), _account(client)
        body = {"seats": ["S1-A-4"]}
        first = _hold(client, fan, performance_id, body, "K")
        assert first.status_code == 201, first.text
        r = client.post(f"/api/v1/holds/{first.json()['id']}/release", headers=fan)
        assert r.status_code == 200, r.text
        time.sleep(7)  # past the hold's second and the five the key was once remembered
        assert _hold(client, other, performance_id, body, "theirs").status_code == 201
        replay = _hold(client, fan, performance_id, body, "K")
        assert (replay.status_code, replay.json()) == (201, first.json())


def test_a_key_reused_with_another_body_is_422_whatever_the_seats_state(stage: Stage) -> None:
    """GIVEN key K first used for a standing place WHEN K comes back naming a seat another fan
    holds THEN 422 idempotency-key-reused, not a lost race."""
    with httpx.Client(base_url=stage.url, timeout=60) as client:
        performance_id = _performance(client, ga_capacity=2)
        fan, other = _account(client), _account(client)
        assert _hold(client, other, performance_id, {"seats": ["S1-A-5"]}, "t").status_code == 201
        r = _hold(client, fan, performance_id, {"ga": [{"zone": "FLOOR", "quantity": 1}]}, "K")
        assert r.status_code == 201, r.text
        r = _hold(client, fan, performance_id, {"seats": ["S1-A-5"]}, "K")
        assert_problem(r, 422, "idempotency-key-reused")
