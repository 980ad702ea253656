"""Event posters: the upload, its variants, and direct uploads to object storage.

Two ways in, one outcome:

- `upload` (`PUT /events/{id}/poster`, either runtime): the bytes are checked
  and re-encoded, the clean original is stored under its hash and the event
  points at it, with `PosterUploaded` in the same transaction; `make_variants`,
  fed by the outbox (on AWS through the `images` queue), adds the widths.
- `request_upload` + `accept_upload` (aws runtime): the browser posts straight
  to S3 under `uploads/<event>/<token>` (private) with a presigned form; the S3
  event worker checks and re-encodes the object, stores original and variants,
  points the event at them and deletes the upload.

The uploaded bytes themselves are never published: what is stored and served
as the original is `ImageProcessor.original`, the image re-encoded in its own
format, upright, without EXIF (GPS included), XMP or ICC data, and keyed by
the hash of those re-encoded bytes. Variants are made from that original.

Recording is idempotent and ordered: a repeat changes nothing, variants are
written only while the event still points at the original they were made from
(`poster_ref`, compared on a fresh read and guarded by the event's revision),
and an upload older than the event's current poster does not replace it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import msgspec

from booking.domain.accounts import Account
from booking.domain.catalog import Event
from booking.domain.errors import Conflict, InvalidRequest
from booking.domain.media import (
    MAX_POSTER_BYTES,
    POSTER_WIDTHS,
    ImageVariant,
    Poster,
    event_of_upload,
    poster_key,
    sniff_image,
    upload_key,
    variant_key,
)
from booking.domain.messages import PosterUploaded
from booking.domain.ports import (
    Clock,
    EventStore,
    ImageProcessor,
    MediaStore,
    PosterUploads,
    UploadForm,
)
from booking.services.catalog import CatalogService

log = logging.getLogger(__name__)

UPLOAD_FORM_LIFETIME = timedelta(minutes=10)
_WRITE_ATTEMPTS = 5


class UploadOutcome(msgspec.Struct, frozen=True):
    """What the S3 event worker did with one object: `accepted`, `rejected` or `ignored`."""

    key: str
    status: str
    detail: str
    event_id: str | None = None


class PosterService:
    def __init__(
        self,
        catalog: CatalogService,
        store: EventStore,
        media: MediaStore,
        images: ImageProcessor,
        clock: Clock,
        uploads: PosterUploads | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._media = media
        self._images = images
        self._clock = clock
        self._uploads = uploads

    # -- through the API ----------------------------------------------------------------
    async def upload(self, organizer: Account, event_id: str, image: bytes) -> Event:
        """Store the re-encoded poster under its content hash, point the event at it;
        variants follow."""
        event = await self._catalog.own_event(organizer, event_id)
        sniff_image(image)  # size and magic bytes before any decoding
        original = await self._images.original(image)  # a bomb or a broken file is a 422 now
        key = poster_key(original.data, original.extension)
        await self._media.put(key, original.content_type, original.data)
        pointed = await self._point_at(event.id, key, self._clock.now())
        if pointed is None:
            raise Conflict(f"event {event_id} was deleted while its poster was uploaded")
        return pointed

    async def request_upload(self, organizer: Account, event_id: str) -> UploadForm | None:
        """A presigned form for one poster upload, or None where uploads go through the API."""
        event = await self._catalog.own_event(organizer, event_id)
        if self._uploads is None:
            return None
        key = upload_key(event.id, uuid.uuid4().hex)
        return await self._uploads.presign(key, MAX_POSTER_BYTES, UPLOAD_FORM_LIFETIME)

    # -- background work ----------------------------------------------------------------
    async def make_variants(self, event_id: str, key: str) -> None:
        """The `PosterUploaded` handler: variants of `key` while the event still shows it."""
        event = await self._store.get_event(event_id)
        if event is None or event.poster_ref != key:
            log.info("poster replaced or event gone; no variants", extra={"key": key})
            return
        if event.poster is not None and event.poster.variants:
            return  # a duplicate message: made already
        stored = await self._media.get(key)
        if stored is None:
            log.error("poster original missing; no variants", extra={"key": key})
            return
        try:
            variants = await self._images.variants(stored.data, POSTER_WIDTHS)
        except InvalidRequest as exc:  # permanent: a retry would fail the same way
            log.error("poster cannot be processed", extra={"key": key, "reason": exc.detail})
            return
        await self._record_variants(event_id, key, await self._put_variants(variants))

    async def accept_upload(self, key: str, uploaded_at: datetime) -> UploadOutcome:
        """Check a direct upload, store its clean original and variants, point its event at
        them, delete the upload.

        A bad object is deleted and reported as `rejected` (never raised: retrying cannot
        fix it); only transient failures (storage, table) raise, so that they are retried.
        """
        event_id = event_of_upload(key)
        if event_id is None or self._uploads is None:
            return UploadOutcome(key, "ignored", "not a poster upload key")
        try:
            data = await self._uploads.read(key, MAX_POSTER_BYTES)
            if data is None:
                return UploadOutcome(key, "ignored", "already handled", event_id)
            sniff_image(data)
            clean = await self._images.original(data)
            variants = await self._images.variants(clean.data, POSTER_WIDTHS)
        except InvalidRequest as exc:
            log.warning("poster upload rejected", extra={"key": key, "reason": exc.detail})
            await self._uploads.discard(key)
            return UploadOutcome(key, "rejected", exc.detail, event_id)
        original = poster_key(clean.data, clean.extension)
        await self._media.put(original, clean.content_type, clean.data)
        urls = await self._put_variants(variants)
        event = await self._point_at(event_id, original, uploaded_at)
        if event is None:
            outcome = UploadOutcome(key, "ignored", "the event no longer exists", event_id)
        elif event.poster_ref != original:
            outcome = UploadOutcome(key, "ignored", "a newer poster was uploaded", event_id)
        else:
            await self._record_variants(event_id, original, urls)
            outcome = UploadOutcome(key, "accepted", original, event_id)
        await self._uploads.discard(key)
        return outcome

    # -- recording ----------------------------------------------------------------------
    async def _put_variants(self, variants: list[ImageVariant]) -> dict[str, str]:
        """Each variant under its content-hashed key; width → URL."""
        urls: dict[str, str] = {}
        for variant in variants:
            key = variant_key(variant)
            await self._media.put(key, variant.content_type, variant.data)
            urls[str(variant.width)] = self._media.url(key)
        return urls

    async def _point_at(self, event_id: str, key: str, uploaded_at: datetime) -> Event | None:
        """The event showing poster `key` (unless a newer upload did first); None if gone."""
        for _ in range(_WRITE_ATTEMPTS):
            event = await self._store.get_event(event_id)
            if event is None:
                return None
            current = event.poster
            if event.poster_ref == key and current is not None:
                return event  # the same poster again
            if current is not None and current.uploaded_at and current.uploaded_at > uploaded_at:
                return event  # an upload made after this one is shown already
            updated = msgspec.structs.replace(
                event,
                poster_ref=key,
                poster=Poster(original=self._media.url(key), uploaded_at=uploaded_at),
                updated_at=self._clock.now(),
                revision=event.revision + 1,
            )
            try:
                await self._store.set_event_poster(updated, PosterUploaded(event_id, key))
            except Conflict:
                continue  # edited meanwhile: read it again and decide again
            return updated
        raise Conflict(f"event {event_id} keeps changing; upload the poster again")

    async def _record_variants(self, event_id: str, key: str, variants: dict[str, str]) -> None:
        for _ in range(_WRITE_ATTEMPTS):
            event = await self._store.get_event(event_id)
            if event is None or event.poster_ref != key or event.poster is None:
                return  # gone, or showing another poster now: these variants are not its
            if event.poster.variants == variants:
                return
            updated = msgspec.structs.replace(
                event,
                poster=msgspec.structs.replace(event.poster, variants=variants),
                updated_at=self._clock.now(),
                revision=event.revision + 1,
            )
            try:
                await self._store.update_event(updated)
            except Conflict:
                continue
            return
        raise Conflict(f"event {event_id} keeps changing; its poster variants will be retried")
