"""Venues (organizer-private), events and performances (public once published)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.deps import AccountDep, ServicesDep, ViewerDep, idempotency
from api.schemas import (
    EventIn,
    EventPatch,
    PerformanceIn,
    PerformancePatch,
    PosterUploadOut,
    VenueIn,
    VenueOut,
    VenuePatch,
    VenueSummary,
)
from booking.domain.catalog import Event, Performance
from booking.domain.errors import InvalidRequest
from booking.domain.media import MAX_POSTER_BYTES
from booking.domain.venues import Venue, seat_map_from_blocks
from booking.services.catalog import PerformancePlan

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size")]
After = Annotated[str | None, QueryParameter(max_length=64, description="Cursor: last id seen")]
IMMUTABLE = "public, max-age=31536000, immutable"
VENUE_BODY_LIMIT = 8 * 1024 * 1024  # a 100,000-seat map as a full JSON document
PERFORMANCE_BODY_LIMIT = VENUE_BODY_LIMIT  # 10,000 blocked seats, a grade for each of 100,000
# The longest event the schema allows is about 93,000 characters (20 artists with 20
# aliases each, the description); JSON may escape each as \uXXXX\uXXXX (12 bytes).
EVENT_BODY_LIMIT = 1_280 * 1024


def _venue_out(venue: Venue) -> VenueOut:
    return VenueOut(
        venue.id,
        venue.name,
        venue.city,
        venue.timezone,
        venue.capacity,
        venue.seat_map,
        venue.created_at,
    )


def _changes(patch_body: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(patch_body).items() if v is not None}


class VenueController(Controller):
    path = "/api/v1/venues"
    tags = ["venues"]

    @post(
        "/",
        summary="Create a venue from a seat-map document or from blocks",
        request_max_body_size=VENUE_BODY_LIMIT,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[VenueIn],
        account: AccountDep,
        services: ServicesDep,
    ) -> VenueOut:
        if (data.seat_map is None) == (data.layout is None):
            raise InvalidRequest("give exactly one of 'seat_map' or 'layout'")
        if data.layout is not None:
            seat_map = seat_map_from_blocks(data.layout.blocks, data.layout.ga_zones)
        else:
            assert data.seat_map is not None
            seat_map = data.seat_map
        idem = idempotency(request, account, "create-venue", data, required=False)
        venue = await services.catalog.create_venue(
            account, data.name, data.city, data.timezone, seat_map, idem
        )
        return _venue_out(venue)

    @get("/", summary="Your venues")
    async def list_venues(self, account: AccountDep, services: ServicesDep) -> list[VenueSummary]:
        return [
            VenueSummary(v.id, v.name, v.city, v.timezone, v.capacity, v.created_at)
            for v in await services.catalog.venues(account)
        ]

    @get("/{venue_id:str}", summary="One of your venues with its seat map")
    async def get_venue(
        self, venue_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> VenueOut:
        return _venue_out(await services.catalog.venue(account, venue_id))

    @patch("/{venue_id:str}", summary="Rename or move a venue (the seat map is fixed)")
    async def update(
        self,
        venue_id: FromPath[str],
        data: JSONBody[VenuePatch],
        account: AccountDep,
        services: ServicesDep,
    ) -> VenueOut:
        return _venue_out(await services.catalog.update_venue(account, venue_id, _changes(data)))

    @delete("/{venue_id:str}", summary="Delete a venue that has no performances")
    async def remove(
        self, venue_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> None:
        await services.catalog.delete_venue(account, venue_id)


class EventController(Controller):
    path = "/api/v1/events"
    tags = ["events"]

    @post(
        "/",
        summary="Create an event (draft until published)",
        request_max_body_size=EVENT_BODY_LIMIT,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[EventIn],
        account: AccountDep,
        services: ServicesDep,
    ) -> Event:
        idem = idempotency(request, account, "create-event", data, required=False)
        return await services.catalog.create_event(
            account,
            data.title,
            data.artists,
            data.genre,
            data.description,
            data.poster_ref,
            data.status,
            idem,
        )

    @get("/", summary="Published events, or with mine=true the organizer's own")
    async def list_events(
        self,
        viewer: ViewerDep,
        services: ServicesDep,
        mine: FromQuery[bool] = False,
        limit: Limit = 50,
        after: After = None,
    ) -> list[Event]:
        return await services.catalog.events(viewer, mine, limit, after)

    @get("/{event_id:str}", summary="One event")
    async def get_event(
        self, event_id: FromPath[str], viewer: ViewerDep, services: ServicesDep
    ) -> Event:
        return await services.catalog.event(viewer, event_id)

    @patch(
        "/{event_id:str}",
        summary="Change or publish an event",
        request_max_body_size=EVENT_BODY_LIMIT,
    )
    async def update(
        self,
        event_id: FromPath[str],
        data: JSONBody[EventPatch],
        account: AccountDep,
        services: ServicesDep,
    ) -> Event:
        return await services.catalog.update_event(account, event_id, _changes(data))

    @delete("/{event_id:str}", summary="Delete an event that has no performances")
    async def remove(
        self, event_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> None:
        await services.catalog.delete_event(account, event_id)

    @post(
        "/{event_id:str}/performances",
        summary="Add a performance; its inventory is created",
        request_max_body_size=PERFORMANCE_BODY_LIMIT,
    )
    async def create_performance(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[str],
        data: JSONBody[PerformanceIn],
        account: AccountDep,
        services: ServicesDep,
    ) -> Performance:
        idem = idempotency(request, account, "create-performance", data, required=False)
        plan = PerformancePlan(**msgspec.structs.asdict(data))
        return await services.catalog.create_performance(account, event_id, plan, idem)

    @get("/{event_id:str}/performances", summary="Performances of an event")
    async def list_performances(
        self, event_id: FromPath[str], viewer: ViewerDep, services: ServicesDep
    ) -> list[Performance]:
        return await services.catalog.performances(viewer, event_id)


class MediaController(Controller):
    path = "/"
    tags = ["media"]

    @put(
        "/api/v1/events/{event_id:str}/poster",
        summary="Upload the event's poster (raw JPEG, PNG or WebP body, at most 5 MiB);"
        " its resized variants follow in the background",
        request_max_body_size=MAX_POSTER_BYTES + 1,
    )
    async def upload_poster(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[str],
        account: AccountDep,
        services: ServicesDep,
    ) -> Event:
        return await services.posters.upload(account, event_id, await request.body())

    @post(
        "/api/v1/events/{event_id:str}/poster-uploads",
        summary="How to upload the event's poster: a presigned S3 form (aws runtime with a"
        " media bucket), else the PUT endpoint above",
    )
    async def poster_upload(
        self, event_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> PosterUploadOut:
        form = await services.posters.request_upload(account, event_id)
        if form is None:
            return PosterUploadOut(
                "PUT", f"/api/v1/events/{event_id}/poster", {}, None, MAX_POSTER_BYTES, None
            )
        return PosterUploadOut(
            "POST", form.url, form.fields, form.key, form.max_bytes, form.expires_at
        )

    @get(
        "/media/{key:path}",
        summary="Media by content-hashed key: immutable, cacheable forever by a CDN",
        media_type="application/octet-stream",
    )
    async def media(
        self, request: Request[Any, Any, Any], key: FromPath[str], services: ServicesDep
    ) -> Response[bytes]:
        stored = await services.catalog.media(key.lstrip("/"))
        etag = f'"{stored.key.rsplit("/", 1)[-1].split(".")[0]}"'
        headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(stored.data, media_type=stored.content_type, headers=headers)


class PerformanceController(Controller):
    path = "/api/v1/performances"
    tags = ["performances"]

    @get("/{performance_id:str}", summary="One performance with its prices")
    async def get_performance(
        self, performance_id: FromPath[str], viewer: ViewerDep, services: ServicesDep
    ) -> Performance:
        return await services.catalog.performance(viewer, performance_id)

    @patch("/{performance_id:str}", summary="Move the sale window or change limits")
    async def update(
        self,
        performance_id: FromPath[str],
        data: JSONBody[PerformancePatch],
        account: AccountDep,
        services: ServicesDep,
    ) -> Performance:
        return await services.catalog.update_performance(account, performance_id, _changes(data))

    @delete("/{performance_id:str}", summary="Delete a performance nobody has held or bought")
    async def remove(
        self, performance_id: FromPath[str], account: AccountDep, services: ServicesDep
    ) -> None:
        await services.catalog.delete_performance(account, performance_id)
