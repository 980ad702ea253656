"""The workload: a small, contested stage and fans who hold, replay, release, order, pay and
cancel at random, every request recorded in the history.

Seats are few and asked for in overlapping pairs, so most holds race another; a standing
zone is small enough to sell out; holds and payment windows last seconds, so expiry runs
into orders and payments all the time. Each client picks a fan, a Idempotency-Key and a
body, and sometimes repeats the request (a replay) or reuses the key with another body.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from checker.history import History, Op

PASSWORD = "checker-password-2026"
SECTION, ROWS, SEATS_PER_ROW = "S1", 2, 10
GA_ZONE, GA_CAPACITY = "FLOOR", 6
HOLD_TTL_SECONDS = 3
PAYMENT_WINDOW_SECONDS = 4
TICKET_LIMIT = 8
CLIENT_TIMEOUT_SECONDS = 8.0

# What each operation may answer besides 2xx, a 5xx or no answer; anything else is an
# unexpected answer (a violation of the documented contract).
EXPECTED_PROBLEMS: dict[str, set[tuple[int, str]]] = {
    "place-hold": {(409, "seats-unavailable"), (409, "ticket-limit-exceeded")},
    "replay-hold": {(409, "seats-unavailable"), (409, "ticket-limit-exceeded")},
    "reuse-key": {
        (422, "idempotency-key-reused"),
        (409, "seats-unavailable"),
        (409, "ticket-limit-exceeded"),
    },
    "release": {(409, "hold-not-active"), (410, "hold-expired")},
    "place-order": {(409, "hold-not-active"), (410, "hold-expired")},
    "replay-order": {(409, "hold-not-active"), (410, "hold-expired")},
    "pay": {(409, "order-not-payable"), (409, "payment-in-progress"), (410, "order-expired")},
    "cancel": {(409, "conflict"), (410, "order-expired")},
    "availability": set(),
}


@dataclass(frozen=True)
class Stage:
    performance_id: str
    seats: list[str]
    capacity: int
    fans: list[tuple[str, dict[str, str]]]
    """(account id, auth headers) per fan."""


async def _account(client: httpx.AsyncClient, role: str) -> tuple[str, dict[str, str]]:
    email = f"{role}-{uuid.uuid4().hex[:12]}@check.concertbook"
    r = await client.post(
        "/api/v1/accounts",
        json={"email": email, "password": PASSWORD, "display_name": role, "role": role},
    )
    r.raise_for_status()
    session = await client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    session.raise_for_status()
    return r.json()["id"], {"Authorization": f"Bearer {session.json()['token']}"}


async def build_stage(url: str, fans: int) -> Stage:
    """A venue of 2 × 10 seats and 6 standing places, one performance on sale now."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        _, organizer = await _account(client, "organizer")
        layout = {
            "blocks": [
                {"section": SECTION, "name": SECTION, "rows": ROWS, "seats_per_row": SEATS_PER_ROW}
            ],
            "ga_zones": [{"id": GA_ZONE, "name": "Floor", "capacity": GA_CAPACITY}],
        }
        venue = await client.post(
            "/api/v1/venues",
            headers=organizer,
            json={"name": "Check Hall", "city": "Seoul", "layout": layout},
        )
        venue.raise_for_status()
        event = await client.post(
            "/api/v1/events",
            headers=organizer,
            json={
                "title": "Check",
                "artists": [{"name_ko": "체크", "name_en": "Check"}],
                "status": "published",
            },
        )
        event.raise_for_status()
        now = time.time()

        def at(offset: float) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + offset))

        performance = await client.post(
            f"/api/v1/events/{event.json()['id']}/performances",
            headers=organizer,
            json={
                "venue_id": venue.json()["id"],
                "starts_at": at(86_400 * 30),
                "sale_opens_at": at(-60),
                "sale_closes_at": at(86_400 * 29),
                "grades": [{"code": "R", "name": "R", "price_krw": 99_000}],
                "assignment": {"sections": {SECTION: "R"}, "ga_zones": {GA_ZONE: "R"}},
                "ticket_limit": TICKET_LIMIT,
                "hold_ttl_seconds": HOLD_TTL_SECONDS,
                "payment_window_seconds": PAYMENT_WINDOW_SECONDS,
            },
        )
        performance.raise_for_status()
        accounts = [await _account(client, "fan") for _ in range(fans)]
    seats = [
        f"{SECTION}-{chr(65 + row)}-{n}" for row in range(ROWS) for n in range(1, SEATS_PER_ROW + 1)
    ]
    return Stage(performance.json()["id"], seats, len(seats) + GA_CAPACITY, accounts)


class Client:
    """One client of the workload: a connection pool, a random source and the history."""

    def __init__(self, number: int, url: str, stage: Stage, history: History, seed: int):
        self.number = number
        self.url = url
        self.stage = stage
        self.history = history
        self.rng = random.Random(seed)

    async def call(
        self,
        http: httpx.AsyncClient,
        kind: str,
        method: str,
        path: str,
        fan: tuple[str, dict[str, str]],
        body: dict[str, Any] | None = None,
        key: str | None = None,
        target: str | None = None,
        replay_of: int | None = None,
    ) -> Op:
        op = self.history.invoke(
            Op(
                0,
                self.number,
                kind,
                fan[0],
                key,
                body or {},
                target,
                time.time(),
                replay_of=replay_of,
            )
        )
        headers = dict(fan[1])
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            r = await http.request(method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            op.completed, op.outcome, op.answer = time.time(), "unknown", type(exc).__name__
            return op
        op.completed, op.status = time.time(), r.status_code
        try:
            op.answer = r.json()
        except ValueError:
            op.answer = r.text[:200]
        if r.status_code < 300:
            op.outcome = "ok"
        elif r.status_code < 500:
            op.outcome = "fail"
        else:
            op.outcome = "unknown"
        return op

    def _seats(self) -> list[str]:
        """One or two adjacent seats: neighbours overlap, so requests race each other."""
        seats = self.stage.seats
        start = self.rng.randrange(len(seats))
        return seats[start : start + self.rng.choice((1, 1, 2))]

    async def run(self, deadline: float) -> None:
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        async with httpx.AsyncClient(
            base_url=self.url, timeout=CLIENT_TIMEOUT_SECONDS, limits=limits
        ) as http:
            while time.time() < deadline:
                await self.journey(http)
                await asyncio.sleep(self.rng.uniform(0, 0.03))

    async def journey(self, http: httpx.AsyncClient) -> None:
        rng = self.rng
        fan = rng.choice(self.stage.fans)
        body: dict[str, Any] = {"seats": self._seats()}
        if rng.random() < 0.25:
            body["ga"] = [{"zone": GA_ZONE, "quantity": 1}]
        if rng.random() < 0.1:
            body = {"ga": [{"zone": GA_ZONE, "quantity": rng.choice((1, 2))}]}
        path = f"/api/v1/performances/{self.stage.performance_id}/holds"
        key = uuid.uuid4().hex
        held = await self.call(http, "place-hold", "POST", path, fan, body, key)
        if rng.random() < 0.2:  # the same request again: the stored answer
            await self.call(http, "replay-hold", "POST", path, fan, body, key, replay_of=held.id)
        if rng.random() < 0.05:  # the same key, another body: 422
            other = {"seats": self._seats()}
            if other != body:
                await self.call(http, "reuse-key", "POST", path, fan, other, key, replay_of=held.id)
        if held.outcome == "unknown":
            await asyncio.sleep(rng.uniform(0.2, 0.5))  # no answer: a fan waits, then retries
        if held.outcome != "ok":
            await asyncio.sleep(rng.uniform(0.05, 0.2))  # a fan looks at the map again
            return
        await self.after_hold(http, fan, held.answer["id"])

    async def after_hold(
        self, http: httpx.AsyncClient, fan: tuple[str, dict[str, str]], hold_id: str
    ) -> None:
        """Release it, let it lapse, or order it and pay, cancel or let the order lapse."""
        rng = self.rng
        choice = rng.random()
        if choice < 0.2:
            await self.call(
                http, "release", "POST", f"/api/v1/holds/{hold_id}/release", fan, target=hold_id
            )
            return
        if choice > 0.75:
            return  # left to lapse
        await asyncio.sleep(rng.uniform(0, HOLD_TTL_SECONDS * 0.5))
        order_key = uuid.uuid4().hex
        ordered = await self.call(
            http,
            "place-order",
            "POST",
            "/api/v1/orders",
            fan,
            {"hold_id": hold_id},
            order_key,
            target=hold_id,
        )
        if rng.random() < 0.2:
            await self.call(
                http,
                "replay-order",
                "POST",
                "/api/v1/orders",
                fan,
                {"hold_id": hold_id},
                order_key,
                target=hold_id,
                replay_of=ordered.id,
            )
        if ordered.outcome != "ok":
            return
        order_id = ordered.answer["id"]
        await asyncio.sleep(rng.uniform(0, PAYMENT_WINDOW_SECONDS * 0.5))
        step = rng.random()
        if step < 0.55:
            card = "tok_visa" if rng.random() < 0.85 else "tok_declined"
            await self.call(
                http,
                "pay",
                "POST",
                f"/api/v1/orders/{order_id}/payments",
                fan,
                {"method": card},
                uuid.uuid4().hex,
                target=order_id,
            )
        elif step < 0.8:
            await self.call(
                http, "cancel", "POST", f"/api/v1/orders/{order_id}/cancel", fan, target=order_id
            )


async def sample_availability(
    url: str, stage: Stage, history: History, deadline: float, every: float = 0.5
) -> None:
    """The counts while the run goes on: each read must add up to the capacity."""
    sampler = Client(-1, url, stage, history, 0)
    viewer: tuple[str, dict[str, str]] = ("viewer", {})
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_SECONDS) as http:
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                await sampler.call(
                    http,
                    "availability",
                    "GET",
                    f"/api/v1/performances/{stage.performance_id}/availability",
                    viewer,
                )
            await asyncio.sleep(every)
