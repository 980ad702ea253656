"""Past its bound on requests in progress the server sheds at once: 503 problem+json with
Retry-After for the excess, normal answers for the rest, never a 500 or a hang."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

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
