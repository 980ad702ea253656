"""GIVEN one on-sale performance of 50 numbered seats and 40 standing places
WHEN 500 clients of 100 fans rush it at once over real HTTP against a real server
(holds, replayed requests, orders racing the hold expiry, payments racing the
deadline, declined cards, duplicated and late webhooks)
THEN no place is sold twice, nothing acknowledged is lost, every Idempotency-Key
has exactly one effect, no fan exceeds the ticket limit and nothing answers 5xx.

The rush runs once per backend (module-scoped fixture); each test below asserts
one family of invariants about it, so a failure names what broke. The store is
audited while the rush runs (sampled snapshots) and once background work has
settled (expiry, webhooks, capture, tickets), straight from its database.
Set RUSH_SEED to replay a run's client choices (timing still varies).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import ssl
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rehearsal.audit import (
    Snapshot,
    audit,
    audit_anytime,
    load_gateway,
    load_snapshot,
    unsettled,
)
from tests.live_server import BACKENDS, LiveServer, live_server
from tests.redis_server import redis_binary, start_redis
from tests.support import skip_unless_available

pytestmark = pytest.mark.slow

FANS = 100
CLIENTS_PER_FAN = 5
CLIENTS = FANS * CLIENTS_PER_FAN
ROWS = "ABCDE"
SEATS_PER_ROW = 10
SEATS = [f"S1-{row}-{n}" for row in ROWS for n in range(1, SEATS_PER_ROW + 1)]
GA_ZONE = "FLOOR"
GA_CAPACITY = 40
CAPACITY = len(SEATS) + GA_CAPACITY
HOLD_TTL_SECONDS = 2
PAYMENT_WINDOW_SECONDS = 3
TICKET_LIMIT = 4
PASSWORD = "correct-horse-battery"
SEED = int(os.environ.get("RUSH_SEED", str(time.time_ns() % 1_000_000)))

RUSH_TIMEOUT_SECONDS = 75.0
SETTLE_TIMEOUT_SECONDS = 45.0
SAMPLE_EVERY_SECONDS = 0.5
MAX_SAMPLES = 200

SERVER_SETTINGS: dict[str, object] = {
    # Every client is let in: the race is about contention at the store, not shedding
    # (tests/integration/test_overload.py covers that).
    "max_in_flight": 10_000,
    # The default cadence: lapsed holds stay unswept for up to a second, so claims take
    # places of expired holds and orders race expiry before the sweeper marks them.
    "sweep_interval_seconds": 1.0,
    "gateway_duplicate_rate": 0.5,
    "gateway_late_rate": 0.2,
}

# Every answer a client may get in this scenario; anything else is a failure.
EXPECTED: dict[str, set[tuple[int, str | None]]] = {
    "me": {(200, None)},
    "place-hold": {(201, None), (409, "seats-unavailable"), (409, "ticket-limit-exceeded")},
    "release": {(200, None), (409, "hold-not-active"), (410, "hold-expired")},
    "place-order": {(201, None), (409, "hold-not-active"), (410, "hold-expired")},
    "pay-order": {
        (202, None),
        (409, "order-not-payable"),
        (409, "payment-in-progress"),
        (410, "order-expired"),
    },
    "cancel-order": {(200, None), (409, "conflict"), (410, "order-expired")},
    "seats": {(200, None)},
    "payments": {(200, None)},
}
IDEMPOTENT_OPS = ("place-hold", "place-order", "pay-order")


@dataclass(frozen=True)
class Fan:
    account_id: str
    headers: dict[str, str]
    client: httpx.AsyncClient | None = None
    """The fan's own connections (one pool per fan: httpx pools scan all their connections)."""


@dataclass(frozen=True)
class Replay:
    op: str
    key: str
    mode: str
    first: tuple[int, Any]
    second: tuple[int, Any]


@dataclass
class Rush:
    """The clients' shared notebook: every answer, every acknowledgement, every replay."""

    client: httpx.AsyncClient
    performance_id: str
    fans: list[Fan]
    start: asyncio.Event = field(default_factory=asyncio.Event)
    outcomes: Counter[tuple[str, int, str | None]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    broken_promises: list[str] = field(default_factory=list)
    acked: dict[str, dict[tuple[str, str], str]] = field(
        default_factory=lambda: {op: {} for op in IDEMPOTENT_OPS}
    )
    replays: list[Replay] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    in_flight: int = 0
    peak_in_flight: int = 0
    requests: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    async def send(
        self,
        op: str,
        method: str,
        url: str,
        fan: Fan | None = None,
        json: Any = None,
        key: str | None = None,
    ) -> tuple[int, Any]:
        headers = dict(fan.headers) if fan else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        began = time.monotonic()
        client = fan.client if fan and fan.client else self.client
        try:
            response = await client.request(method, url, headers=headers, json=json)
        except httpx.HTTPError as exc:
            self.outcomes[(op, 0, type(exc).__name__)] += 1
            self.unexpected.append(f"{op} {url}: no answer ({exc!r})")
            return 0, None
        finally:
            self.in_flight -= 1
        self.latency[op].append(time.monotonic() - began)
        body: Any = response.json() if response.content else None
        code = None
        if response.status_code >= 400 and isinstance(body, dict):
            code = str(body.get("type", "")).removeprefix("/problems/")
        self.outcomes[(op, response.status_code, code)] += 1
        if code == "hold-not-active" and "expired" in str(body.get("detail")):
            self.notes[f"{op} 409 hold-not-active for an expired hold (410 before the sweep)"] += 1
        if op == "place-hold" and response.status_code == 201 and body["status"] != "active":
            self.notes[f"place-hold 201 already {body['status']} when answered"] += 1
        if (response.status_code, code) not in EXPECTED[op]:
            self.unexpected.append(f"{op} {url} → {response.status_code}: {response.text[:300]}")
        if op in IDEMPOTENT_OPS and key is not None and 200 <= response.status_code < 300:
            assert fan is not None
            self.acked[op].setdefault((fan.account_id, key), body["id"])
        return response.status_code, body

    @property
    def holds_url(self) -> str:
        return f"/api/v1/performances/{self.performance_id}/holds"

    async def late_replay(
        self, op: str, url: str, fan: Fan, json: Any, key: str, first: tuple[int, Any], at: str
    ) -> None:
        """The same request again once the thing made has lapsed (`at`), as a slow retry would."""
        await asyncio.sleep(_until(at, 0.3))
        second = await self.send(op, "POST", url, fan, json, key)
        self.replays.append(Replay(op, key, "late", first, second))

    async def idempotent(
        self, op: str, url: str, fan: Fan, json: Any, key: str, mode: str
    ) -> tuple[int, Any]:
        """Send once, or twice with the same key: both at once, or as a retry after the answer."""
        second: tuple[int, Any] | None
        if mode == "concurrent":
            first, second = await asyncio.gather(
                self.send(op, "POST", url, fan, json, key),
                self.send(op, "POST", url, fan, json, key),
            )
        else:
            first = await self.send(op, "POST", url, fan, json, key)
            second = await self.send(op, "POST", url, fan, json, key) if mode == "retry" else None
        if second is not None:
            self.replays.append(Replay(op, key, mode, first, second))
        for answer in (first, second) if second is not None else (first,):
            if 200 <= answer[0] < 300:
                return answer
        return first


# -- what each client does ----------------------------------------------------------------


def _until(moment: str, offset: float) -> float:
    target = datetime.fromisoformat(moment) + timedelta(seconds=offset)
    return max(0.0, (target - datetime.now(UTC)).total_seconds())


def _places(rng: random.Random, free_seats: list[str] | None) -> dict[str, Any]:
    """1–4 seats (side by side in a row, or scattered), 1–3 standing places, or both."""
    kind = rng.choices(["row", "scattered", "ga", "mixed"], [0.4, 0.2, 0.3, 0.1])[0]
    if kind == "ga":
        return {"ga": [{"zone": GA_ZONE, "quantity": rng.randint(1, 3)}]}
    count = rng.randint(1, 4) if kind != "mixed" else rng.randint(1, 2)
    if free_seats and rng.random() < 0.8:
        seats = rng.sample(free_seats, min(count, len(free_seats)))
    elif kind == "row":
        row, first = rng.choice(ROWS), rng.randint(1, SEATS_PER_ROW - count + 1)
        seats = [f"S1-{row}-{n}" for n in range(first, first + count)]
    else:
        seats = rng.sample(SEATS, count)
    body: dict[str, Any] = {"seats": seats}
    if kind == "mixed":
        body["ga"] = [{"zone": GA_ZONE, "quantity": rng.randint(1, 2)}]
    return body


def _replay_mode(rng: random.Random, share: float) -> str:
    roll = rng.random()
    if roll < share / 2:
        return "concurrent"
    return "retry" if roll < share else "once"


async def _hold(
    rush: Rush, fan: Fan, rng: random.Random, idx: int
) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """Try for places; a fan who lost the race looks at the seat map and tries twice more.

    Returns the hold with the request and key that made it.
    """
    free: list[str] | None = None
    for attempt in range(3):
        wanted = _places(rng, free)
        key = f"c{idx}-hold-{attempt}"
        status, body = await rush.idempotent(
            "place-hold", rush.holds_url, fan, wanted, key, _replay_mode(rng, 0.3)
        )
        if status == 201:
            seats = sorted(i["unit_id"] for i in body["items"] if i["kind"] == "seat")
            ga = sum(1 for i in body["items"] if i["kind"] == "ga")
            if seats != sorted(wanted.get("seats", [])) or ga != sum(
                g["quantity"] for g in wanted.get("ga", [])
            ):
                rush.broken_promises.append(f"hold {body['id']} gave {body['items']} for {wanted}")
            return dict(body), wanted, key
        if body is None or body.get("type") != "/problems/seats-unavailable":
            return None
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        _, seat_map = await rush.send(
            "seats", "GET", f"/api/v1/performances/{rush.performance_id}/seats", fan
        )
        free = [s["unit_id"] for s in seat_map or [] if s["state"] == "available"]
    return None


async def _release(rush: Rush, fan: Fan, rng: random.Random, idx: int, hold_id: str) -> None:
    status, _ = await rush.send("release", "POST", f"/api/v1/holds/{hold_id}/release", fan)
    if rng.random() < 0.3:  # and then try to order it anyway
        again, order = await rush.send(
            "place-order", "POST", "/api/v1/orders", fan, {"hold_id": hold_id}, f"c{idx}-o"
        )
        if status == 200 and again == 201:
            rush.broken_promises.append(f"order {order['id']} made from released hold {hold_id}")


async def _pay(rush: Rush, fan: Fan, rng: random.Random, idx: int, order: dict[str, Any]) -> None:
    plan = rng.choices(
        ["pay", "double-click", "declined-then-pay", "pay-at-deadline", "cancel", "abandon"],
        [35, 6, 14, 25, 8, 12],
    )[0]
    rush.actions[f"order→{plan}"] += 1
    url = f"/api/v1/orders/{order['id']}/payments"
    if plan == "abandon":
        return
    if plan == "cancel":
        status, _ = await rush.send(
            "cancel-order", "POST", f"/api/v1/orders/{order['id']}/cancel", fan
        )
        paid, _ = await rush.send(
            "pay-order", "POST", url, fan, {"method": "tok_visa"}, f"c{idx}-p"
        )
        if status == 200 and paid == 202:
            rush.broken_promises.append(f"cancelled order {order['id']} accepted a payment")
        return
    if plan == "double-click":  # two payments at once, each with its own fresh key
        answers = await asyncio.gather(
            *(
                rush.send("pay-order", "POST", url, fan, {"method": "tok_visa"}, f"c{idx}-dbl{n}")
                for n in (1, 2)
            )
        )
        accepted = sum(1 for status, _ in answers if status == 202)
        blocked = any(
            status == 409 and body["type"] == "/problems/payment-in-progress"
            for status, body in answers
        )
        if accepted > 1 or (blocked and not accepted):  # one payment in progress per order
            rush.broken_promises.append(f"double-click on {order['id']} answered {answers}")
        return
    if plan == "pay-at-deadline":  # accepted just in time, its webhook arrives just too late
        await asyncio.sleep(_until(order["payment_deadline"], rng.uniform(-1.0, 0.0)))
    if plan == "declined-then-pay":
        status, _ = await rush.send(
            "pay-order", "POST", url, fan, {"method": "tok_declined"}, f"c{idx}-pay-declined"
        )
        if status != 202:
            return
        for _ in range(15):  # the decline arrives by webhook
            await asyncio.sleep(0.2)
            _, tried = await rush.send("payments", "GET", url, fan)
            if tried and all(p["status"] == "declined" for p in tried):
                break
    method = rng.choice(["tok_visa", "tok_mastercard", "tok_kbcard"])
    await rush.idempotent(
        "pay-order", url, fan, {"method": method}, f"c{idx}-pay", _replay_mode(rng, 0.3)
    )


async def _fan_client(rush: Rush, idx: int) -> None:
    rng = random.Random(f"{SEED}-{idx}")
    fan = rush.fans[idx % len(rush.fans)]
    await rush.start.wait()
    made = await _hold(rush, fan, rng, idx)
    if made is None:
        rush.actions["no hold"] += 1
        return
    hold, wanted, key = made
    await _use_hold(rush, fan, rng, idx, hold)
    if rng.random() < 0.08:  # a retry that comes back after the hold lapsed
        await rush.late_replay(
            "place-hold", rush.holds_url, fan, wanted, key, (201, hold), hold["expires_at"]
        )


async def _use_hold(
    rush: Rush, fan: Fan, rng: random.Random, idx: int, hold: dict[str, Any]
) -> None:
    action = rng.choices(["order", "order-at-expiry", "release", "abandon"], [55, 20, 13, 12])[0]
    rush.actions[f"hold→{action}"] += 1
    if action == "abandon":
        return
    if action == "release":
        await _release(rush, fan, rng, idx, hold["id"])
        return
    if action == "order-at-expiry":  # race the expiry: 201 before it, 410 (or 409) after
        await asyncio.sleep(_until(hold["expires_at"], rng.uniform(-0.6, 0.3)))
    status, order = await rush.idempotent(
        "place-order",
        "/api/v1/orders",
        fan,
        {"hold_id": hold["id"]},
        f"c{idx}-order",
        _replay_mode(rng, 0.2),
    )
    if status != 201:
        return
    await _pay(rush, fan, rng, idx, order)
    if rng.random() < 0.08:  # a retry that comes back after the payment deadline
        await rush.late_replay(
            "place-order",
            "/api/v1/orders",
            fan,
            {"hold_id": hold["id"]},
            f"c{idx}-order",
            (201, order),
            order["payment_deadline"],
        )


# -- the organizer, the fans, the rush ------------------------------------------------------


async def _setup(client: httpx.AsyncClient) -> tuple[str, list[Fan]]:
    async def account(role: str, n: int) -> Fan:
        email = f"{role}{n}-{SEED}@rush.concertbook"
        r = await client.post(
            "/api/v1/accounts",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": f"{role} {n}",
                "role": role,
            },
        )
        assert r.status_code == 201, r.text
        r = await client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return Fan(r.json()["account_id"], {"Authorization": f"Bearer {r.json()['token']}"})

    organizer = await account("organizer", 0)
    layout = {
        "blocks": [
            {"section": "S1", "name": "Seats", "rows": len(ROWS), "seats_per_row": SEATS_PER_ROW}
        ],
        "ga_zones": [{"id": GA_ZONE, "name": "Standing", "capacity": GA_CAPACITY}],
    }
    r = await client.post(
        "/api/v1/venues",
        headers=organizer.headers,
        json={"name": "Rush Arena", "city": "Seoul", "layout": layout},
    )
    assert r.status_code == 201, r.text
    venue = r.json()
    assert venue["capacity"] == CAPACITY
    r = await client.post(
        "/api/v1/events",
        headers=organizer.headers,
        json={
            "title": "Rush Concert",
            "artists": [{"name_ko": "뉴진스", "name_en": "NewJeans"}],
            "status": "published",
        },
    )
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    r = await client.post(
        f"/api/v1/events/{r.json()['id']}/performances",
        headers=organizer.headers,
        json={
            "venue_id": venue["id"],
            "starts_at": (now + timedelta(days=30)).isoformat(),
            "sale_opens_at": (now - timedelta(minutes=1)).isoformat(),
            "sale_closes_at": (now + timedelta(days=29)).isoformat(),
            "grades": [
                {"code": "VIP", "name": "VIP", "price_krw": 198_000},
                {"code": "GA", "name": "Standing", "price_krw": 132_000},
            ],
            "assignment": {"sections": {"S1": "VIP"}, "ga_zones": {GA_ZONE: "GA"}},
            "ticket_limit": TICKET_LIMIT,
            "hold_ttl_seconds": HOLD_TTL_SECONDS,
            "payment_window_seconds": PAYMENT_WINDOW_SECONDS,
        },
    )
    assert r.status_code == 201, r.text
    performance_id = r.json()["id"]
    gate = asyncio.Semaphore(20)

    async def fan(n: int) -> Fan:
        async with gate:
            return await account("fan", n)

    return performance_id, list(await asyncio.gather(*(fan(n) for n in range(FANS))))


async def _sample(server: LiveServer, stop: asyncio.Event, found: dict[str, list[str]]) -> int:
    """Audit the store every half second while the rush runs (bounded in count)."""
    samples = 0
    while samples < MAX_SAMPLES and not stop.is_set():
        snapshot = await asyncio.to_thread(load_snapshot, server.backend, server.stores)
        samples += 1
        for family, problems in audit_anytime(snapshot).items():
            found[family].extend(f"[sample {samples}] {p}" for p in problems[:5])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_SECONDS)
    return samples


async def _settle(server: LiveServer, trace: list[str]) -> tuple[float, list[str]]:
    """Wait until expiry, webhooks, capture and ticketing have caught up (bounded in time)."""
    began = time.monotonic()
    reasons = ["never looked"]
    while time.monotonic() - began < SETTLE_TIMEOUT_SECONDS:
        snapshot = await asyncio.to_thread(load_snapshot, server.backend, server.stores)
        gateway = await asyncio.to_thread(load_gateway, server.backend, server.stores)
        found = unsettled(snapshot, gateway)
        if found != reasons:
            trace.append(f"{time.monotonic() - began:.1f}s: {found}")
        reasons = found
        if not reasons:
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - began, reasons


@dataclass
class RushResult:
    server: LiveServer
    rush: Rush
    seconds: dict[str, float]
    samples: int
    sampled: dict[str, list[str]]
    unsettled: list[str]
    availability: dict[str, Any]
    lost_via_api: list[str]
    tickets_per_fan: list[int]
    settle_trace: list[str]
    final: dict[str, list[str]] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    summary: dict[str, Any] = field(default_factory=dict)


async def _run(server: LiveServer) -> RushResult:
    timeout = httpx.Timeout(60.0)
    tls = ssl.create_default_context()  # built once: each client would load the CA store
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=server.base_url, timeout=timeout, verify=tls)
        )
        t0 = time.monotonic()
        performance_id, accounts = await _setup(client)
        setup_seconds = time.monotonic() - t0
        # Each fan's five clients share the fan's pool, big enough for all of them at once.
        # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them
        # under a request in flight (a client-side race, not the server's fault).
        limits = httpx.Limits(max_connections=CLIENTS_PER_FAN * 3, keepalive_expiry=2.0)
        fans = [
            Fan(
                a.account_id,
                a.headers,
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=server.base_url, timeout=timeout, limits=limits, verify=tls
                    )
                ),
            )
            for a in accounts
        ]
        rush = Rush(client, performance_id, fans)
        # Open the connections first, so the burst below is 500+ requests in flight at once.
        await asyncio.gather(
            *(rush.send("me", "GET", "/api/v1/me", fans[i % FANS]) for i in range(CLIENTS))
        )
        rush.peak_in_flight = 0
        stop_sampling = asyncio.Event()
        sampled: dict[str, list[str]] = defaultdict(list)
        sampler = asyncio.create_task(_sample(server, stop_sampling, sampled))
        clients = [asyncio.create_task(_fan_client(rush, i)) for i in range(CLIENTS)]
        await asyncio.sleep(0.1)  # every client waits at the start line
        t1, cpu1 = time.monotonic(), time.process_time()
        rush.start.set()
        try:
            await asyncio.wait_for(asyncio.gather(*clients), RUSH_TIMEOUT_SECONDS)
        finally:
            stop_sampling.set()
            samples = await sampler
        rush_seconds, rush_cpu = time.monotonic() - t1, time.process_time() - cpu1
        settle_trace: list[str] = []
        settle_seconds, unsettled_reasons = await _settle(server, settle_trace)
        r = await client.get(f"/api/v1/performances/{performance_id}/availability")
        assert r.status_code == 200, r.text
        availability = r.json()
        # Through the API as well: every acknowledged order is there, tickets add up per fan.
        by_account = {f.account_id: f for f in fans}
        lost = []
        for (account, _), order_id in rush.acked["place-order"].items():
            r = await client.get(f"/api/v1/orders/{order_id}", headers=by_account[account].headers)
            if r.status_code != 200:
                lost.append(f"GET /orders/{order_id} → {r.status_code}")
        tickets_per_fan = []
        for fan in fans:
            r = await client.get("/api/v1/tickets", params={"limit": 100}, headers=fan.headers)
            assert r.status_code == 200, r.text
            tickets_per_fan.append(sum(1 for t in r.json() if t["status"] == "valid"))
    seconds = {
        "setup": setup_seconds,
        "rush": rush_seconds,
        "settle": settle_seconds,
        "client_cpu_in_rush": rush_cpu,
    }
    return RushResult(
        server,
        rush,
        {k: round(v, 1) for k, v in seconds.items()},
        samples,
        sampled,
        unsettled_reasons,
        availability,
        lost,
        tickets_per_fan,
        settle_trace,
    )


def _latency(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1], 2),
        "max": round(ordered[-1], 2),
    }


def _summarize(result: RushResult) -> dict[str, Any]:
    rush, s = result.rush, result.snapshot
    assert s is not None
    return {
        "seed": SEED,
        "backend": result.server.variant,
        "seconds": result.seconds,
        "settle_trace": result.settle_trace,
        "server_cpu_seconds": result.server.cpu_seconds(),
        "requests": rush.requests,
        "peak_in_flight": rush.peak_in_flight,
        "samples_audited": result.samples,
        "acknowledged": {op: len(acks) for op, acks in rush.acked.items()},
        "replays": dict(Counter(f"{r.op}/{r.mode}" for r in rush.replays)),
        "actions": dict(rush.actions),
        "notes": dict(rush.notes),
        "outcomes": {
            f"{op} {status} {code or ''}".strip(): n
            for (op, status, code), n in sorted(rush.outcomes.items())
        },
        "latency_seconds": {op: _latency(v) for op, v in rush.latency.items() if op != "me"},
        "sold_places": sum(1 for u in s.units if u.state == "sold"),
        "sold_seats": sum(1 for u in s.units if u.state == "sold" and u.kind == "seat"),
        "holds_by_status": dict(Counter(h.status for h in s.holds.values())),
        "orders_by_status": dict(Counter(o.status for o in s.orders.values())),
        "payments_by_status": dict(Counter(p.status for p in s.payments.values())),
        "valid_tickets": sum(1 for t in s.tickets if t.status == "valid"),
        "availability": {
            k: result.availability[k] for k in ("available", "held", "sold", "blocked", "capacity")
        },
    }


# Every adapter family, and on the local one each way of claiming places: ours behind the
# in-process pre-claim (the default), behind Redis, without a pre-claim, with the writer on
# a thread instead of its own process, and the naive baselines the rehearsal compares
# against — all must keep every invariant; they differ only in speed.
VARIANTS: dict[str, tuple[str, dict[str, object], bool]] = {
    **{backend: (backend, {}, False) for backend in sorted(BACKENDS)},
    "local/redis-preclaim": ("local", {}, True),
    "local/no-preclaim": ("local", {"preclaim": 0}, False),
    "local/writer-thread": ("local", {"sqlite_writer": "thread"}, False),
    "local/seat-locks": ("local", {"inventory_strategy": "seat-locks"}, True),
    "local/performance-lock": ("local", {"inventory_strategy": "performance-lock"}, False),
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    backend, settings, needs_redis = VARIANTS[request.param]
    folder = tmp_path_factory.mktemp(f"rush-{request.param.replace('/', '-')}")
    with contextlib.ExitStack() as stack:
        if needs_redis:
            binary = redis_binary()
            skip_unless_available(binary is not None, "redis-server is not installed")
            assert binary is not None
            redis = start_redis(binary, folder / "redis")
            stack.callback(redis.stop)
            settings = {**settings, "redis_url": redis.url}
        running = stack.enter_context(
            live_server(backend, folder / "data", **SERVER_SETTINGS, **settings)
        )
        running.variant = request.param
        yield running


@pytest.fixture(scope="module")
def result(server: LiveServer) -> RushResult:
    outcome = asyncio.run(_run(server))
    # One snapshot for the audit and the figures, read while the server still runs.
    outcome.snapshot = load_snapshot(server.backend, server.stores)
    gateway = load_gateway(server.backend, server.stores)
    outcome.final = audit(
        outcome.snapshot,
        gateway,
        availability=outcome.availability,
        acknowledged=outcome.rush.acked,
        settled=True,
    )
    outcome.summary = _summarize(outcome)
    orphans = gateway.orphans(outcome.snapshot)
    outcome.summary["gateway_payments_unknown_to_store"] = dict(Counter(orphans.values()))
    print(f"\nrush summary ({server.variant}):", outcome.summary)
    return outcome


def _found(result: RushResult, *families: str) -> dict[str, list[str]]:
    """Problems of the given audit families, at rest and in the samples taken mid-rush."""
    found = {f"{f} (at rest)": result.final.get(f, [])[:15] for f in families}
    found |= {f"{f} (mid-rush)": result.sampled.get(f, [])[:15] for f in families}
    return {k: v for k, v in found.items() if v}


# -- the invariants ------------------------------------------------------------------------


def test_no_5xx_and_only_expected_answers(result: RushResult) -> None:
    server_errors = {k: n for k, n in result.rush.outcomes.items() if k[1] >= 500 or k[1] == 0}
    assert not server_errors, f"seed {SEED}: {server_errors}: {result.rush.unexpected[:10]}"
    assert not result.rush.unexpected, f"seed {SEED}: {result.rush.unexpected[:20]}"


def test_each_place_is_sold_at_most_once(result: RushResult) -> None:
    assert not _found(result, "single sale", "unit states"), SEED
    assert sum(result.tickets_per_fan) == result.summary["valid_tickets"], (
        "valid tickets listed through the API differ from the store's"
    )


def test_places_are_conserved(result: RushResult) -> None:
    assert not _found(result, "conservation"), SEED
    a = result.availability
    assert a["available"] + a["held"] + a["sold"] + a["blocked"] == a["capacity"] == CAPACITY


def test_one_effect_per_idempotency_key(result: RushResult) -> None:
    assert not _found(result, "acknowledged"), SEED


def test_replays_get_the_original_answer(result: RushResult) -> None:
    """Sending the same request with the same Idempotency-Key returns the first answer."""
    problems = []
    for r in result.rush.replays:
        (s1, b1), (s2, b2) = r.first, r.second
        ok1, ok2 = 200 <= s1 < 300, 200 <= s2 < 300
        if ok1 and ok2 and b1 != b2:
            diff = {
                k: (b1.get(k), b2.get(k)) for k in b1.keys() | b2.keys() if b1.get(k) != b2.get(k)
            }
            problems.append(f"{r.op} {r.key} ({r.mode}) {b1['id']}: {diff}")
        elif r.mode in ("retry", "late") and ok1 and not ok2:
            problems.append(f"{r.op} {r.key}: retry of a success answered {s2}: {b2}")
    replays = len(result.rush.replays)
    assert not problems, f"seed {SEED}: {len(problems)} of {replays} replays: {problems[:10]}"


def test_closed_things_stay_closed(result: RushResult) -> None:
    """All or nothing holds; no order from a released hold; no payment for a cancelled order."""
    assert not result.rush.broken_promises, f"seed {SEED}: {result.rush.broken_promises[:20]}"


def test_no_order_from_an_expired_hold_nor_payment_after_the_deadline(result: RushResult) -> None:
    assert not _found(result, "expiry rules"), SEED


def test_ticket_limit_is_never_exceeded(result: RushResult) -> None:
    assert not _found(result, "ticket limits"), SEED
    assert max(result.tickets_per_fan) <= TICKET_LIMIT


def test_nothing_acknowledged_is_lost(result: RushResult) -> None:
    s = result.snapshot
    assert s is not None
    stored: dict[str, Mapping[str, object]] = {
        "place-hold": s.holds,
        "place-order": s.orders,
        "pay-order": s.payments,
    }
    missing = [
        f"{op} {key} → {object_id}"
        for op, acks in result.rush.acked.items()
        for (_, key), object_id in acks.items()
        if object_id not in stored[op]
    ]
    assert not missing, f"seed {SEED}: {missing[:20]}"
    assert not result.lost_via_api, f"seed {SEED}: {result.lost_via_api[:20]}"


def test_background_work_settles_and_money_matches_sales(result: RushResult) -> None:
    """Expiry, webhooks (duplicated, late), capture and tickets catch up; nothing dead-letters."""
    assert not result.unsettled, f"seed {SEED}: not settled: {result.unsettled}"
    assert not _found(result, "settled", "background", "money"), SEED
    log_errors = [
        line
        for line in result.server.log_text().splitlines()
        if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", line)
    ]
    assert not log_errors, f"seed {SEED}: {log_errors[:20]}"


def test_the_rush_was_a_real_contest(result: RushResult) -> None:
    """So that the tests above cannot pass vacuously."""
    rush, summary = result.rush, result.summary
    assert rush.peak_in_flight >= CLIENTS, summary
    assert result.samples >= 5, summary
    assert rush.outcomes[("place-hold", 409, "seats-unavailable")] > 0, summary
    assert rush.outcomes[("place-order", 410, "hold-expired")] > 0, summary
    assert rush.outcomes[("pay-order", 202, None)] > 0, summary
    assert summary["sold_seats"] > 0 and summary["sold_places"] > summary["sold_seats"], summary
    assert summary["orders_by_status"].get("expired", 0) > 0, summary
    assert summary["payments_by_status"].get("declined", 0) > 0, summary
    assert any(r.mode == "concurrent" and 200 <= r.first[0] < 300 for r in rush.replays), summary
    assert any(r.mode == "retry" and 200 <= r.first[0] < 300 for r in rush.replays), summary
    assert any(r.mode == "late" for r in rush.replays), summary
