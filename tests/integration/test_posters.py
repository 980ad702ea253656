"""Posters on the local runtime, over HTTP: upload, variants in the background, CDN-like serving."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from booking.bootstrap import LocalRuntime
from booking.domain.media import MAX_POSTER_BYTES
from tests.posters import (
    BLUE,
    RED,
    assert_no_metadata,
    close_to,
    decoded,
    photo,
    pixel,
    png_claiming,
    two_tone_jpeg,
)
from tests.support import ApiDriver, assert_problem, query, wait_for

IMMUTABLE = "public, max-age=31536000, immutable"


def put_poster(api: ApiDriver, organizer: dict[str, str], event_id: str, body: bytes) -> Any:
    return api.client.put(f"/api/v1/events/{event_id}/poster", headers=organizer, content=body)


def variants_of(api: ApiDriver, event_id: str) -> dict[str, str]:
    poster = api.client.get(f"/api/v1/events/{event_id}").json()["poster"]
    return dict(poster["variants"]) if poster else {}


def test_upload_then_variants_served_immutable_with_etag(api: ApiDriver) -> None:
    organizer = api.account("organizer")
    event = api.event(organizer)
    r = put_poster(api, organizer, event["id"], two_tone_jpeg(1600, 900, orientation=6))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["poster_ref"].startswith("posters/") and body["poster_ref"].endswith(".jpg")
    assert body["poster"]["original"] == "/media/" + body["poster_ref"]

    urls = wait_for(lambda: variants_of(api, event["id"]))
    assert set(urls) == {"320", "640", "900"}  # upright 900 × 1600: 1280 would upscale
    for width, url in urls.items():
        assert url.startswith("/media/posters/") and url.endswith(f"-{width}.webp")
        got = api.client.get(url)
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/webp"
        assert got.headers["cache-control"] == IMMUTABLE
        etag = got.headers["etag"]
        assert decoded(got.content).size[0] == int(width)
        again = api.client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["cache-control"] == IMMUTABLE and again.headers["etag"] == etag
    original = api.client.get(body["poster"]["original"])
    assert original.status_code == 200 and original.headers["content-type"] == "image/jpeg"


def test_the_served_original_is_reencoded_without_metadata_and_upright(
    api: ApiDriver,
    runtime: LocalRuntime,
) -> None:
    """GIVEN a phone photo (EXIF with GPS and orientation 6, XMP with GPS, ICC, a comment)
    WHEN it is uploaded THEN the original served is a JPEG re-encoded from the pixels alone,
    upright, keyed by the hash of those bytes; the uploaded bytes are stored nowhere and
    served nowhere; uploading the same file again changes nothing."""
    organizer = api.account("organizer")
    event = api.event(organizer)
    upload = photo(1600, 900, "JPEG", orientation=6)
    r = put_poster(api, organizer, event["id"], upload)
    assert r.status_code == 200, r.text
    body = r.json()
    served = api.client.get(body["poster"]["original"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    image = assert_no_metadata(served.content)
    assert image.format == "JPEG" and image.size == (900, 1600)  # upright
    assert close_to(pixel(image, (450, 5)), RED) and close_to(pixel(image, (450, 1595)), BLUE)
    digest = hashlib.sha256(served.content).hexdigest()
    assert body["poster_ref"] == f"posters/{digest}.jpg"

    raw = hashlib.sha256(upload).hexdigest()
    assert api.client.get(f"/media/posters/{raw}.jpg").status_code == 404
    media = Path(runtime.settings.local.data_dir) / "media"
    stored = [p.read_bytes() for p in media.rglob("*") if p.is_file()]
    assert stored and upload not in stored
    assert all(b"Exif\x00\x00" not in data for data in stored)

    urls = wait_for(lambda: variants_of(api, event["id"]))
    for url in urls.values():
        assert_no_metadata(api.client.get(url).content)
    shown = api.client.get(f"/api/v1/events/{event['id']}").json()
    again = put_poster(api, organizer, event["id"], upload)
    assert again.status_code == 200 and again.json()["poster_ref"] == body["poster_ref"]
    assert api.client.get(f"/api/v1/events/{event['id']}").json() == shown


def test_variants_follow_the_newest_poster_and_messages_repeat_harmlessly(
    api: ApiDriver,
    client: TestClient[Litestar],
    runtime: LocalRuntime,
) -> None:
    organizer = api.account("organizer")
    event = api.event(organizer)
    first = put_poster(api, organizer, event["id"], two_tone_jpeg(700, 400, None, "red", "red"))
    second = put_poster(api, organizer, event["id"], two_tone_jpeg(700, 400, None, "blue", "blue"))
    assert first.status_code == second.status_code == 200
    old_key, new_key = first.json()["poster_ref"], second.json()["poster_ref"]
    assert old_key != new_key

    urls = wait_for(lambda: variants_of(api, event["id"]))
    assert set(urls) == {"320", "640", "700"}
    image = decoded(api.client.get(urls["320"]).content)
    assert close_to(pixel(image, (5, 5)), BLUE)  # the second poster's, not the first's

    # A late or repeated PosterUploaded (of the old poster, or again of the new) changes nothing.
    posters = runtime.services.posters
    before = api.client.get(f"/api/v1/events/{event['id']}").json()
    client.blocking_portal.call(posters.make_variants, event["id"], old_key)
    client.blocking_portal.call(posters.make_variants, event["id"], new_key)
    assert api.client.get(f"/api/v1/events/{event['id']}").json() == before
    # Uploading the same poster again is no change either.
    again = put_poster(api, organizer, event["id"], two_tone_jpeg(700, 400, None, "blue", "blue"))
    assert again.json()["revision"] == before["revision"]
    # Both uploads were announced once each, in the transaction that pointed the event at them.
    rows = query(
        runtime.settings.local.data_dir / "concertbook.sqlite3",
        "SELECT payload FROM outbox WHERE topic='PosterUploaded'",
    )
    announced = [bytes(p).decode() for (p,) in rows]
    assert len(announced) == 2 and old_key in announced[0] and new_key in announced[1]


def test_replacing_poster_ref_by_hand_drops_the_variants(api: ApiDriver) -> None:
    organizer = api.account("organizer")
    event = api.event(organizer)
    put_poster(api, organizer, event["id"], two_tone_jpeg(400, 300))
    wait_for(lambda: variants_of(api, event["id"]))
    r = api.client.patch(
        f"/api/v1/events/{event['id']}", headers=organizer, json={"poster_ref": "elsewhere.jpg"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["poster"] is None and r.json()["poster_ref"] == "elsewhere.jpg"


def test_bad_posters_are_typed_problems(api: ApiDriver) -> None:
    organizer = api.account("organizer")
    event = api.event(organizer)
    whole = two_tone_jpeg(800, 600)
    for body in (
        whole[: len(whole) // 2],  # truncated
        png_claiming(100_000, 100_000),  # decompression bomb
        png_claiming(8_000, 7_000),
        b"GIF89a" + b"\x00" * 100,  # not a type we take
        b"",
    ):
        assert_problem(put_poster(api, organizer, event["id"], body), 422, "invalid-request")
    too_big = b"\xff\xd8\xff" + b"\x00" * MAX_POSTER_BYTES
    assert_problem(put_poster(api, organizer, event["id"], too_big), 413, "body-too-large")
    assert_problem(put_poster(api, api.account("fan"), event["id"], whole), 404, "not-found")
    other = api.account("organizer")
    assert_problem(put_poster(api, other, event["id"], whole), 404, "not-found")
    assert api.client.get(f"/api/v1/events/{event['id']}").json()["poster"] is None


def test_poster_uploads_point_at_the_put_endpoint_locally(api: ApiDriver) -> None:
    organizer = api.account("organizer")
    event = api.event(organizer)
    r = api.client.post(f"/api/v1/events/{event['id']}/poster-uploads", headers=organizer)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "method": "PUT",
        "url": f"/api/v1/events/{event['id']}/poster",
        "fields": {},
        "key": None,
        "max_bytes": MAX_POSTER_BYTES,
        "expires_at": None,
    }
    fan = api.account("fan")
    path = f"/api/v1/events/{event['id']}/poster-uploads"
    assert_problem(api.client.post(path, headers=fan), 404, "not-found")  # not its event
    assert_problem(
        api.client.post("/api/v1/events/evt_nope/poster-uploads", headers=organizer),
        404,
        "not-found",
    )
    assert_problem(api.client.post(path), 401, "authentication-required")
