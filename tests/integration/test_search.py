"""Concert search over HTTP, the same behaviour on SQLite FTS5 and on a real OpenSearch.

The catalogue is written through the API; the outbox relay feeds the indexer;
every assertion waits for the index to catch up (search is eventually consistent).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap import ManagedSearchIndex, build_local, search_index
from booking.domain.search import ConcertListing, ListingArtist, SearchQuery, Withdrawal
from booking.settings import Settings
from tests.support import ApiDriver, assert_problem, wait_for
from workers.local import background

INDEXES = ["fts", "opensearch"]


def settings_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if kind == "fts":
        return Settings.of(data_dir=tmp_path, sweep_interval_seconds=0.2)
    url: str = request.getfixturevalue("opensearch_url")
    return Settings.of(
        data_dir=tmp_path,
        sweep_interval_seconds=0.2,
        opensearch_url=url,
        opensearch_index=f"concerts-test-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture(params=INDEXES)
def search_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiDriver]:
    runtime = build_local(settings_for(request.param, tmp_path, request))
    with TestClient(create_app(runtime, background=background)) as client:
        yield ApiDriver(client)


def search(api: ApiDriver, **params: Any) -> dict[str, Any]:
    r = api.client.get("/api/v1/search/concerts", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def titles(page: dict[str, Any]) -> list[str]:
    return [hit["listing"]["title"] for hit in page["hits"]]


def found(api: ApiDriver, expected: set[str], **params: Any) -> dict[str, Any]:
    """The page once the index shows exactly `expected` (by title)."""

    def check() -> dict[str, Any] | None:
        page = search(api, **params)
        return page if set(titles(page)) == expected else None

    page = wait_for(check, timeout=20, interval=0.2)
    assert page is not None, (params, titles(search(api, **params)), expected)
    result: dict[str, Any] = page
    return result


def add_concert(
    api: ApiDriver,
    organizer: dict[str, str],
    venue: dict[str, Any],
    title: str,
    artist: dict[str, Any],
    genre: str,
    days_ahead: int,
    published: bool = True,
    **performance: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    r = api.client.post(
        "/api/v1/events",
        headers=organizer,
        json={
            "title": title,
            "artists": [artist],
            "genre": genre,
            "status": "published" if published else "draft",
        },
    )
    assert r.status_code == 201, r.text
    event = r.json()
    starts = datetime.now(UTC) + timedelta(days=days_ahead)
    return event, api.performance(
        organizer, venue, event, starts_at=starts.isoformat(), **performance
    )


def venue_in(api: ApiDriver, organizer: dict[str, str], name: str, city: str, **layout: Any) -> Any:
    blocks = layout.get("blocks", [{"section": "A", "name": "A", "rows": 2, "seats_per_row": 5}])
    r = api.client.post(
        "/api/v1/venues",
        headers=organizer,
        json={"name": name, "city": city, "layout": {"blocks": blocks, "ga_zones": []}},
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def catalogue(search_api: ApiDriver) -> dict[str, Any]:
    api = search_api
    organizer = api.account("organizer")
    seoul = venue_in(api, organizer, "KSPO Dome", "Seoul")
    busan = venue_in(api, organizer, "Busan Asiad Main Stadium", "Busan")
    tiny = venue_in(
        api,
        organizer,
        "Blue Square",
        "Seoul",
        blocks=[{"section": "A", "name": "A", "rows": 1, "seats_per_row": 2}],
    )
    iu = add_concert(
        api,
        organizer,
        seoul,
        "아이유 콘서트 HER",
        {"name_ko": "아이유", "name_en": "IU"},
        "ballad",
        30,
    )
    bts = add_concert(
        api,
        organizer,
        busan,
        "BTS World Tour",
        {"name_ko": "방탄소년단", "name_en": "BTS", "aliases": ["Bangtan Boys"]},
        "k-pop",
        60,
    )
    # Every seat blocked: a concert with no seats left.
    blackpink = add_concert(
        api,
        organizer,
        tiny,
        "BORN PINK",
        {"name_ko": "블랙핑크", "name_en": "BLACKPINK"},
        "k-pop",
        90,
        blocked_seats=[
            f"A-{row['label']}-{seat['number']}"
            for row in tiny["seat_map"]["sections"][0]["rows"]
            for seat in row["seats"]
        ],
    )
    draft = add_concert(
        api,
        organizer,
        seoul,
        "Secret Encore",
        {"name_ko": "비밀", "name_en": "Secret"},
        "k-pop",
        40,
        published=False,
    )
    found(api, {"아이유 콘서트 HER", "BTS World Tour", "BORN PINK"})
    return {"organizer": organizer, "iu": iu, "bts": bts, "blackpink": blackpink, "draft": draft}


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("아이유", "아이유 콘서트 HER"),
        ("IU", "아이유 콘서트 HER"),
        ("방탄소년단", "BTS World Tour"),
        ("BTS", "BTS World Tour"),
        ("방탄", "BTS World Tour"),  # part of a Korean word
        ("bangtan", "BTS World Tour"),  # an alias
        ("blackpin", "BORN PINK"),  # part of an English word
        ("Blakpink", "BORN PINK"),  # a small typo
        ("world tuor", "BTS World Tour"),  # two letters swapped
        ("wrold tour", "BTS World Tour"),
        ("blakcpink", "BORN PINK"),
        ("아이우", "아이유 콘서트 HER"),  # one syllable wrong
        ("블랙핑크", "BORN PINK"),
        ("busan", "BTS World Tour"),  # the city
    ],
)
def test_finds_concerts_in_korean_and_english(
    search_api: ApiDriver, catalogue: dict[str, Any], text: str, title: str
) -> None:
    page = search(search_api, q=text)
    assert titles(page)[:1] == [title], (text, titles(page))


def test_drafts_and_unmatched_words_find_nothing(
    search_api: ApiDriver, catalogue: dict[str, Any]
) -> None:
    assert titles(search(search_api, q="Secret Encore")) == []
    assert titles(search(search_api, q="비밀")) == []
    assert titles(search(search_api, q="zzqx")) == []


def test_filters_facets_sort_and_pages(search_api: ApiDriver, catalogue: dict[str, Any]) -> None:
    everything = search(search_api)
    assert everything["total"] == 3
    assert titles(everything) == ["아이유 콘서트 HER", "BTS World Tour", "BORN PINK"]  # by date
    facets = {
        name: {f["value"].lower(): f["count"] for f in v}
        for name, v in everything["facets"].items()
    }
    assert facets == {"city": {"seoul": 2, "busan": 1}, "genre": {"k-pop": 2, "ballad": 1}}

    assert set(titles(search(search_api, city="seoul"))) == {"아이유 콘서트 HER", "BORN PINK"}
    assert titles(search(search_api, genre="K-POP", has_seats="true")) == ["BTS World Tour"]
    assert titles(search(search_api, has_seats="false")) == ["BORN PINK"]
    later = (datetime.now(UTC) + timedelta(days=45)).isoformat()
    assert titles(search(search_api, **{"from": later})) == ["BTS World Tour", "BORN PINK"]
    assert titles(search(search_api, to=later)) == ["아이유 콘서트 HER"]

    first = search(search_api, limit=2)
    assert len(first["hits"]) == 2 and first["next_offset"] == 2
    rest = search(search_api, limit=2, offset=2)
    assert titles(rest) == ["BORN PINK"] and rest["next_offset"] is None
    seats = {h["listing"]["title"]: h["listing"]["seats_left"] for h in everything["hits"]}
    assert seats == {"아이유 콘서트 HER": 10, "BTS World Tour": 10, "BORN PINK": 0}


def test_edits_unpublishing_and_deletes_reach_the_index(
    search_api: ApiDriver, catalogue: dict[str, Any]
) -> None:
    api, organizer = search_api, catalogue["organizer"]
    iu_event, iu_performance = catalogue["iu"]
    r = api.client.patch(
        f"/api/v1/events/{iu_event['id']}", headers=organizer, json={"title": "아이유 앙코르"}
    )
    assert r.status_code == 200, r.text
    found(api, {"아이유 앙코르"}, q="아이유")
    found(api, set(), q="HER")

    draft_event, _ = catalogue["draft"]
    r = api.client.patch(
        f"/api/v1/events/{draft_event['id']}", headers=organizer, json={"status": "published"}
    )
    assert r.status_code == 200, r.text
    found(api, {"Secret Encore"}, q="secret")
    r = api.client.patch(
        f"/api/v1/events/{draft_event['id']}", headers=organizer, json={"status": "draft"}
    )
    assert r.status_code == 200, r.text
    found(api, set(), q="secret")

    r = api.client.delete(f"/api/v1/performances/{iu_performance['id']}", headers=organizer)
    assert r.status_code == 204, r.text
    found(api, set(), q="아이유")


def test_a_moved_venue_moves_its_concerts_in_search(
    search_api: ApiDriver, catalogue: dict[str, Any]
) -> None:
    """The indexer keeps seat maps it read; a venue edit must still reach every listing."""
    api, organizer = search_api, catalogue["organizer"]
    _, bts = catalogue["bts"]
    r = api.client.patch(
        f"/api/v1/venues/{bts['venue_id']}", headers=organizer, json={"city": "Daegu"}
    )
    assert r.status_code == 200, r.text
    found(api, {"BTS World Tour"}, city="daegu")
    found(api, set(), city="busan")


def test_seats_left_follow_holds(search_api: ApiDriver, catalogue: dict[str, Any]) -> None:
    api = search_api
    _, bts = catalogue["bts"]
    fan = api.account("fan")
    r = api.client.post(
        f"/api/v1/performances/{bts['id']}/holds",
        headers={**fan, "Idempotency-Key": uuid.uuid4().hex},
        json={"seats": ["A-A-1", "A-A-2", "A-A-3"]},
    )
    assert r.status_code == 201, r.text

    def seats_left() -> int | None:
        hits = search(api, q="BTS")["hits"]
        left = hits[0]["listing"]["seats_left"]
        return left if left == 7 else None

    assert wait_for(seats_left, timeout=20, interval=0.2) == 7


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "invalid-body"),
        ({"limit": 51}, "invalid-body"),
        ({"offset": -1}, "invalid-body"),
        ({"offset": 995, "limit": 10}, "invalid-request"),
        ({"sort": "price"}, "invalid-body"),
        (
            {"from": "2030-01-02T00:00:00+00:00", "to": "2030-01-01T00:00:00+00:00"},
            "invalid-request",
        ),
        ({"from": "2030-01-01T00:00:00"}, "invalid-request"),
        ({"from": "tomorrow"}, "invalid-body"),
        ({"has_seats": "maybe"}, "invalid-body"),
        ({"q": "x" * 201}, "invalid-body"),
    ],
)
def test_bad_search_input_is_a_typed_problem(
    client: TestClient[Litestar],
    params: dict[str, Any],
    code: str,
) -> None:
    status = 400 if code == "invalid-body" else 422
    assert_problem(client.get("/api/v1/search/concerts", params=params), status, code)


def listing(performance_id: str, version: int, title: str) -> ConcertListing:
    starts = datetime(2030, 5, 1, 19, tzinfo=UTC)
    return ConcertListing(
        performance_id=performance_id,
        event_id="evt_1",
        version=version,
        title=title,
        artists=[ListingArtist("아이유", "IU", [])],
        genre="ballad",
        description="",
        venue_name="KSPO Dome",
        city="Seoul",
        starts_at=starts,
        timezone="Asia/Seoul",
        sale_opens_at=starts - timedelta(days=30),
        sale_closes_at=starts - timedelta(hours=1),
        min_price_krw=99_000,
        max_price_krw=165_000,
        capacity=10,
        seats_left=10,
        has_seats_left=True,
        poster_ref=None,
    )


@pytest.mark.parametrize("kind", INDEXES)
def test_late_and_repeated_writes_never_regress_a_listing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = settings_for(kind, tmp_path, request)

    async def scenario() -> list[str]:
        from booking.adapters.system_clock import SystemClock

        index: ManagedSearchIndex = search_index(settings, SystemClock())
        await index.start()
        try:
            await index.upsert([listing("prf_a", 3, "Third")])
            await index.upsert([listing("prf_a", 2, "Second")])  # late
            await index.upsert([listing("prf_a", 3, "Third")])  # repeated
            await index.upsert([listing("prf_b", 1, "Kept")])
            await index.remove([Withdrawal("prf_b", 5)])
            await index.upsert([listing("prf_b", 4, "Resurrected")])  # older than the removal
            await index.upsert([listing("prf_c", 1, "Draft")])
            await index.remove([Withdrawal("prf_c", 2)])
            await index.upsert([listing("prf_c", 3, "Published again")])  # newer: shows again
            if hasattr(index, "refresh"):
                await index.refresh()
            page = await index.search(SearchQuery(limit=50))
            return sorted(f"{h.listing.performance_id}:{h.listing.title}" for h in page.hits)
        finally:
            await index.stop()

    assert asyncio.run(scenario()) == ["prf_a:Third", "prf_c:Published again"]
