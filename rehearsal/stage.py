"""The stage of a rehearsal, built through the public API like an organizer would: a venue
of numbered sections plus a standing zone, a published concert, one performance whose sale
opens at a chosen moment, and the fans (minted in bulk: the stage runs in rehearsal mode).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

SEATS_PER_ROW = 50
ROWS_PER_SECTION = 20
GA_ZONE = "FLOOR"
MINT_BATCH = 1000
"""Fans per minting call (the API's maximum)."""


@dataclass(frozen=True)
class Fan:
    account_id: str
    token: str


@dataclass
class Stage:
    base_url: str
    performance_id: str
    organizer_token: str
    sections: dict[str, list[list[str]]]
    """Seat ids per section, row by row, in seat order: adjacent seats are neighbours."""
    ga_zone: str | None
    ga_capacity: int
    ticket_limit: int
    sale_opens_at: datetime
    fans: list[Fan] = field(default_factory=list)

    @property
    def seats(self) -> int:
        return sum(len(row) for rows in self.sections.values() for row in rows)

    @property
    def capacity(self) -> int:
        return self.seats + self.ga_capacity

    def save(self, path: Path) -> None:
        document = asdict(self)
        document["sale_opens_at"] = self.sale_opens_at.isoformat()
        path.write_text(json.dumps(document))

    @classmethod
    def load(cls, path: Path) -> Stage:
        document: dict[str, Any] = json.loads(path.read_text())
        document["sale_opens_at"] = datetime.fromisoformat(document["sale_opens_at"])
        document["fans"] = [Fan(**fan) for fan in document["fans"]]
        return cls(**document)


def _layout(seats: int, ga: int) -> dict[str, Any]:
    """Sections of 20 rows × 50 seats; a last, smaller section takes the remainder."""
    per_section = SEATS_PER_ROW * ROWS_PER_SECTION
    shapes = [(ROWS_PER_SECTION, SEATS_PER_ROW)] * (seats // per_section)
    rest = seats % per_section
    if rest:
        shapes.append(_rectangle(rest))
    blocks = [
        {"section": f"S{n}", "name": f"Section {n}", "rows": rows, "seats_per_row": per_row}
        for n, (rows, per_row) in enumerate(shapes, start=1)
    ]
    zones = [{"id": GA_ZONE, "name": "Floor (standing)", "capacity": ga}] if ga else []
    return {"blocks": blocks, "ga_zones": zones}


def _rectangle(seats: int) -> tuple[int, int]:
    """Rows × seats per row for a block of exactly `seats` (at most 200 × 200)."""
    for per_row in range(min(200, seats), 0, -1):
        if seats % per_row == 0 and seats // per_row <= 200:
            return seats // per_row, per_row
    raise ValueError(f"{seats} seats make no block of at most 200 rows of 200: pick another count")


def _seat_ids(seat_map: dict[str, Any]) -> dict[str, list[list[str]]]:
    return {
        section["id"]: [
            [f"{section['id']}-{row['label']}-{seat['number']}" for seat in row["seats"]]
            for row in section["rows"]
        ]
        for section in seat_map["sections"]
    }


def _check(response: httpx.Response, expected: int = 201) -> dict[str, Any]:
    if response.status_code != expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    body: dict[str, Any] = response.json()
    return body


class _PatientTransport(httpx.AsyncBaseTransport):
    """Waits out a busy server: a 503 with Retry-After (shed before any work was done, so
    safe to send again) is retried after that delay. A stage built right after an overload
    run meets a server still working off the requests queued before it."""

    def __init__(self, attempts: int = 60) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._attempts = attempts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(self._attempts - 1):
            response = await self._inner.handle_async_request(request)
            delay = response.headers.get("retry-after")
            if response.status_code != 503 or delay is None or not delay.isdigit():
                return response
            await response.aclose()
            await asyncio.sleep(int(delay))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def prepare(
    base_url: str,
    seats: int,
    ga: int,
    fans: int,
    opens_in: timedelta,
    ticket_limit: int = 4,
    hold_ttl_seconds: int = 420,
    payment_window_seconds: int = 900,
    progress: Callable[[str], None] = lambda _: None,
) -> Stage:
    """Create the organizer, venue, concert and performance, then mint `fans` fans."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, transport=_PatientTransport()
    ) as client:
        email = f"organizer-{secrets.token_hex(6)}@rehearsal.invalid"
        password = secrets.token_urlsafe(18)
        _check(
            await client.post(
                "/api/v1/accounts",
                json={
                    "email": email,
                    "password": password,
                    "display_name": "Rehearsal organizer",
                    "role": "organizer",
                },
            )
        )
        session = _check(
            await client.post("/api/v1/sessions", json={"email": email, "password": password})
        )
        organizer = {"Authorization": f"Bearer {session['token']}"}
        venue = _check(
            await client.post(
                "/api/v1/venues",
                headers=organizer,
                json={"name": "Rehearsal Stadium", "city": "Seoul", "layout": _layout(seats, ga)},
            )
        )
        event = _check(
            await client.post(
                "/api/v1/events",
                headers=organizer,
                json={
                    "title": "Onsale rehearsal",
                    "artists": [{"name_ko": "리허설", "name_en": "Rehearsal"}],
                    "status": "published",
                },
            )
        )
        now = datetime.now(UTC)
        opens = now + opens_in
        sections = [s["id"] for s in venue["seat_map"]["sections"]]
        # Front sections are VIP, the rest R; the floor is S: fans prefer the front.
        vip = set(sections[: max(1, len(sections) // 4)])
        performance = _check(
            await client.post(
                f"/api/v1/events/{event['id']}/performances",
                headers=organizer,
                json={
                    "venue_id": venue["id"],
                    "starts_at": (now + timedelta(days=30)).isoformat(),
                    "sale_opens_at": opens.isoformat(),
                    "sale_closes_at": (now + timedelta(days=29)).isoformat(),
                    "grades": [
                        {"code": "VIP", "name": "VIP", "price_krw": 198_000},
                        {"code": "R", "name": "R", "price_krw": 154_000},
                        {"code": "S", "name": "S (standing)", "price_krw": 132_000},
                    ],
                    "assignment": {
                        "sections": {s: "VIP" if s in vip else "R" for s in sections},
                        "ga_zones": {GA_ZONE: "S"} if ga else {},
                    },
                    "ticket_limit": ticket_limit,
                    "hold_ttl_seconds": hold_ttl_seconds,
                    "payment_window_seconds": payment_window_seconds,
                },
            )
        )
        stage = Stage(
            base_url=base_url,
            performance_id=performance["id"],
            organizer_token=session["token"],
            sections=_seat_ids(venue["seat_map"]),
            ga_zone=GA_ZONE if ga else None,
            ga_capacity=ga,
            ticket_limit=ticket_limit,
            sale_opens_at=opens,
        )
        stage.fans = await mint_fans(client, organizer, fans, progress)
        return stage


async def mint_fans(
    client: httpx.AsyncClient,
    organizer: dict[str, str],
    count: int,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Fan]:
    minted: list[Fan] = []
    while len(minted) < count:
        batch = min(MINT_BATCH, count - len(minted))
        answer = _check(
            await client.post("/api/v1/rehearsal/fans", headers=organizer, json={"count": batch})
        )
        minted.extend(Fan(f["account_id"], f["token"]) for f in answer["fans"])
        progress(f"fans minted: {len(minted):,}/{count:,}")
    return minted


def prepare_sync(base_url: str, **kwargs: Any) -> Stage:
    return asyncio.run(prepare(base_url, **kwargs))


def open_sale(stage: Stage, opens_at: datetime) -> None:
    """Move the sale's opening (the stage is built with it far ahead, while fans are minted)."""
    response = httpx.patch(
        f"{stage.base_url}/api/v1/performances/{stage.performance_id}",
        headers={"Authorization": f"Bearer {stage.organizer_token}"},
        json={"sale_opens_at": opens_at.isoformat()},
        timeout=30,
    )
    _check(response, 200)
    stage.sale_opens_at = opens_at
