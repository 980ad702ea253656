"""End to end over real HTTP: a concert is created, found by search, booked, and confirmed by mail.

`concertbook serve` runs in its own process, once with SQLite FTS5 and once
with a real OpenSearch as its search index; the outbox relay feeds the indexer
and the workers. The fan's confirmation is the `.eml` the notification worker
writes, with one QR code per ticket.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.live_server import LiveServer, start_local
from tests.support import ApiDriver, hold, order, post_payment, tickets_of, wait_for


@pytest.fixture(params=["fts", "opensearch"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    settings: dict[str, object] = {"sweep_interval_seconds": 0.2}
    if request.param == "opensearch":
        settings["opensearch_url"] = request.getfixturevalue("opensearch_url")
        settings["opensearch_index"] = f"concerts-e2e-{tmp_path.name[-12:].lower()}"
    live = start_local(tmp_path / "data", settings)
    try:
        yield live
    finally:
        live.stop()


def search_hits(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/v1/search/concerts", params=params)
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["hits"]
    return hits


@pytest.mark.slow
def test_create_find_book_and_get_the_confirmation(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        api = ApiDriver(client)
        organizer = api.account("organizer")
        venue = api.venue(organizer, sections=1, rows=2, seats_per_row=5, ga_capacity=10)
        r = client.post(
            "/api/v1/events",
            headers=organizer,
            json={
                "title": "세븐틴 FOLLOW AGAIN",
                "artists": [{"name_ko": "세븐틴", "name_en": "SEVENTEEN", "aliases": ["SVT"]}],
                "genre": "k-pop",
                "status": "published",
            },
        )
        assert r.status_code == 201, r.text
        performance = api.performance(organizer, venue, r.json())

        for text in ("세븐틴", "seventeen", "svt", "SEVENTEN"):  # the last one misspelt
            hits = wait_for(partial(search_hits, client, q=text), timeout=20, interval=0.2)
            assert [h["listing"]["performance_id"] for h in hits] == [performance["id"]], text
        assert hits[0]["listing"]["seats_left"] == 20

        fan = api.account("fan")
        held = hold(
            client, fan, performance["id"], ["S1-A-1", "S1-A-2"], [{"zone": "FLOOR", "quantity": 1}]
        )
        placed = order(client, fan, held["id"])
        assert post_payment(client, fan, placed["id"]).status_code == 202
        tickets = wait_for(lambda: tickets_of(client, fan, placed["id"]), timeout=20)
        assert len(tickets) == 3

        mail_folder = server.data_dir / "mail"
        mails = wait_for(lambda: sorted(mail_folder.glob("*.eml")), timeout=20, interval=0.2)
        assert len(mails) == 1
        mail = message_from_bytes(mails[0].read_bytes(), policy=policy.default)
        assert isinstance(mail, EmailMessage)
        assert "세븐틴 FOLLOW AGAIN" in str(mail["Subject"])
        plain = mail.get_body(preferencelist=("plain",))
        assert plain is not None
        for ticket in tickets:
            assert ticket["code"] in plain.get_content()
        codes = [
            part
            for part in mail.walk()
            if part.get_content_type() == "image/png" and not part.is_multipart()
        ]
        assert len(codes) == len(tickets)
        for part in codes:
            image = Image.open(io.BytesIO(part.get_content()))
            image.load()
            assert image.format == "PNG" and image.width == image.height

        def seats_left() -> int | None:
            left = search_hits(client, q="seventeen")[0]["listing"]["seats_left"]
            return left if left == 17 else None

        assert wait_for(seats_left, timeout=20, interval=0.2) == 17
