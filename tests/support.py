"""Test helpers that drive the API the way a client would (over HTTP, never around it)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PASSWORD = "correct-horse-battery"
_counter = itertools.count()


def unique_email(prefix: str) -> str:
    return f"{prefix}{next(_counter)}-{time.time_ns()}@test.concertbook"


class ApiDriver:
    """Sets up accounts and catalog through a sync httpx-compatible client."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def account(self, role: str = "fan") -> dict[str, str]:
        email = unique_email(role)
        r = self.client.post(
            "/api/v1/accounts",
            json={"email": email, "password": PASSWORD, "display_name": role, "role": role},
        )
        assert r.status_code == 201, r.text
        r = self.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def venue(
        self,
        organizer: dict[str, str],
        sections: int = 1,
        rows: int = 5,
        seats_per_row: int = 10,
        ga_capacity: int = 20,
    ) -> dict[str, Any]:
        layout = {
            "blocks": [
                {
                    "section": f"S{n}",
                    "name": f"Section {n}",
                    "rows": rows,
                    "seats_per_row": seats_per_row,
                }
                for n in range(1, sections + 1)
            ],
            "ga_zones": [{"id": "FLOOR", "name": "Floor", "capacity": ga_capacity}]
            if ga_capacity
            else [],
        }
        r = self.client.post(
            "/api/v1/venues",
            headers=organizer,
            json={"name": "Test Arena", "city": "Seoul", "layout": layout},
        )
        assert r.status_code == 201, r.text
        return r.json()

    def event(self, organizer: dict[str, str], published: bool = True) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/events",
            headers=organizer,
            json={
                "title": "Test Concert",
                "artists": [{"name_ko": "아이유", "name_en": "IU"}],
                "status": "published" if published else "draft",
            },
        )
        assert r.status_code == 201, r.text
        return r.json()

    def performance(
        self,
        organizer: dict[str, str],
        venue: dict[str, Any],
        event: dict[str, Any],
        **overrides: Any,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        sections = [s["id"] for s in venue["seat_map"]["sections"]]
        zones = [z["id"] for z in venue["seat_map"]["ga_zones"]]
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
                "sections": dict.fromkeys(sections, "VIP"),
                "ga_zones": dict.fromkeys(zones, "R"),
            },
        }
        body.update(overrides)
        r = self.client.post(
            f"/api/v1/events/{event['id']}/performances", headers=organizer, json=body
        )
        assert r.status_code == 201, r.text
        return r.json()

    def on_sale(self, **overrides: Any) -> tuple[dict[str, str], dict[str, Any]]:
        """An organizer and a published, on-sale performance."""
        organizer = self.account("organizer")
        venue = self.venue(
            organizer,
            **{
                k: overrides.pop(k)
                for k in ("sections", "rows", "seats_per_row", "ga_capacity")
                if k in overrides
            },
        )
        event = self.event(organizer)
        return organizer, self.performance(organizer, venue, event, **overrides)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate` returns something truthy (asynchronous webhooks and workers)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
