"""Past its bound on requests in progress the server sheds at once: 503 problem+json with
Retry-After for the excess, normal answers for the rest, never a 500 or a hang."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient

from api.app import create_app
from api.overload import InFlightLimit
from booking.bootstrap import LocalRuntime
from tests.live_server import live_server
from tests.support import ApiDriver


async def _burst(base_url: str, path: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        return list(await asyncio.gather(*(client.get(path) for _ in range(count))))


def test_a_burst_beyond_the_bound_is_shed_with_retry_after(tmp_path: Path) -> None:
    """GIVEN a server that serves 2 API requests at once WHEN 150 clients open a 1,000-seat
    map together THEN some are served and the rest get 503 `overloaded` with Retry-After,
    and health probes are never shed."""
    with live_server("local", tmp_path / "data", max_in_flight=2) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            _, performance = ApiDriver(client).on_sale(rows=20, seats_per_row=50)
        path = f"/api/v1/performances/{performance['id']}/seats"
        answers = asyncio.run(_burst(server.base_url, path, 150))
        health = asyncio.run(_burst(server.base_url, "/healthz", 50))
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) == {200, 503}, statuses
    for shed in (r for r in answers if r.status_code == 503):
        assert shed.headers["retry-after"] == "1"
        assert shed.headers["content-type"].startswith("application/problem+json")
        assert shed.json()["type"] == "/problems/overloaded"
    assert all(len(r.json()) == 1000 for r in answers if r.status_code == 200)
    assert {r.status_code for r in health} == {200}


def test_checkout_keeps_a_share_of_the_bound_that_browsing_cannot_take() -> None:
    """GIVEN a bound of 8 (6 for browsing) and requests that stay in progress WHEN 6 seat
    maps are being served THEN a 7th map is shed, while orders and payments are still let
    in up to the full bound, and shed past it."""
    limit = InFlightLimit(8)

    async def scenario() -> dict[str, list[int]]:
        release = asyncio.Event()
        entered = asyncio.Condition()

        async def slow_app(scope: Any, receive: Any, send: Any) -> None:
            async with entered:
                entered.notify_all()
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        async def in_progress(count: int) -> None:
            async with entered:
                await entered.wait_for(lambda: limit.in_flight >= count)

        app: Any = limit.middleware(slow_app)  # Litestar's ASGI types are narrower than httpx's
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
            maps = [
                asyncio.create_task(client.get("/api/v1/performances/p/seats")) for _ in range(6)
            ]
            await in_progress(6)
            # Bounded so that a regression (the map let in to wait) fails instead of hanging.
            seventh_map = await asyncio.wait_for(client.get("/api/v1/performances/p/seats"), 30)
            checkout = [
                asyncio.create_task(client.post("/api/v1/orders")),
                asyncio.create_task(client.post("/api/v1/payments/webhook")),
            ]
            await in_progress(8)
            third_checkout = await asyncio.wait_for(client.post("/api/v1/orders/o/payments"), 30)
            release.set()
            admitted = await asyncio.gather(*maps, *checkout)
        return {
            "admitted": [r.status_code for r in admitted],
            "shed": [seventh_map.status_code, third_checkout.status_code],
        }

    outcome = asyncio.run(scenario())
    assert outcome == {"admitted": [200] * 8, "shed": [503, 503]}
    assert limit.in_flight == 0


def test_a_running_app_keeps_its_startup_objects_out_of_full_collections(
    runtime: LocalRuntime,
) -> None:
    """GIVEN an app that has started THEN what existed at its start is frozen (a full
    collection, which stops every request, walks only what came later) WHEN it stops THEN
    it is unfrozen, so a process that starts apps again can collect the old ones."""
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(runtime)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
