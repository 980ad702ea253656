"""Posters with Pillow: untrusted bytes in, metadata-free images out.

`original` re-encodes the upload at full size in its own format family (JPEG
stays JPEG at quality 92 with the upload's chroma subsampling, PNG stays
lossless PNG, WebP stays lossy WebP at quality 92); `variants` makes WebP
widths. Both are deterministic: the same bytes in give the same bytes out (with
the same Pillow and codec builds), so content-hashed keys stay stable when the
same file is uploaded again.

Refused with InvalidRequest (a permanent failure: retrying cannot help): anything
Pillow cannot decode as JPEG, PNG or WebP, a truncated file, and an image of more
than `max_pixels` pixels, checked from the header before any pixel is decoded
(a decompression bomb). What comes out is upright (EXIF orientation applied), in
sRGB when the upload carried an ICC profile, a single frame, and carries no EXIF
(GPS included), XMP, ICC, comment or text chunk: only pixels are encoded.
Decoding is CPU work: it runs in a worker thread, at most `parallel` at once.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, UnidentifiedImageError

from booking.domain.errors import InvalidRequest
from booking.domain.media import MAX_POSTER_PIXELS, ImageVariant

_FORMATS = ("JPEG", "PNG", "WEBP")
# Format → (content type, extension) of the re-encoded original: the upload's own family.
_ORIGINAL_TYPES = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
# What a broken or hostile file makes Pillow raise while opening or decoding it.
_UNDECODABLE = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,  # raised, not only warned, where warnings are errors
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class PillowImageProcessor:
    def __init__(
        self,
        max_pixels: int = MAX_POSTER_PIXELS,
        quality: int = 82,
        parallel: int = 2,
        original_quality: int = 92,
    ) -> None:
        self._max_pixels = max_pixels
        self._quality = quality
        self._original_quality = original_quality
        self._slots = threading.BoundedSemaphore(parallel)

    async def inspect(self, data: bytes) -> tuple[int, int]:
        return await asyncio.to_thread(self._inspect, data)

    async def original(self, data: bytes) -> ImageVariant:
        return await asyncio.to_thread(self._original, data)

    async def variants(self, data: bytes, widths: Sequence[int]) -> list[ImageVariant]:
        return await asyncio.to_thread(self._variants, data, tuple(widths))

    def _inspect(self, data: bytes) -> tuple[int, int]:
        with self._slots, self._decoded(data) as image:
            return image.size

    def _original(self, data: bytes) -> ImageVariant:
        with self._slots, self._decoded(data) as decoded:
            kind = str(decoded.format)
            # -1 (the encoder's default, 4:2:0) unless the upload says otherwise.
            sampling = JpegImagePlugin.get_sampling(decoded) if kind == "JPEG" else -1
            try:
                image = _upright_srgb(decoded)
            except _UNDECODABLE as exc:
                raise InvalidRequest(f"the poster could not be decoded: {exc}") from exc
            out = io.BytesIO()
            # Nothing passed as exif/xmp/icc_profile/pnginfo/comment: pixels only.
            if kind == "JPEG":
                image.save(
                    out,
                    "JPEG",
                    quality=self._original_quality,
                    subsampling=sampling,
                    optimize=True,
                )
            elif kind == "PNG":
                image.save(out, "PNG")
            else:
                image.save(out, "WEBP", quality=self._original_quality, method=4)
            content_type, extension = _ORIGINAL_TYPES[kind]
            return ImageVariant(image.width, image.height, content_type, extension, out.getvalue())

    def _variants(self, data: bytes, widths: tuple[int, ...]) -> list[ImageVariant]:
        with self._slots, self._decoded(data) as decoded:
            try:
                image = _upright_srgb(decoded)
            except _UNDECODABLE as exc:
                raise InvalidRequest(f"the poster could not be decoded: {exc}") from exc
            made: list[ImageVariant] = []
            for width in sorted({min(w, image.width) for w in widths if w > 0}):
                height = max(1, round(image.height * width / image.width))
                resized = (
                    image
                    if width == image.width
                    else image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
                )
                made.append(ImageVariant(width, height, "image/webp", "webp", self._webp(resized)))
            return made

    def _webp(self, image: Image.Image) -> bytes:
        out = io.BytesIO()
        # Nothing passed as exif/xmp/icc_profile: the encoder writes pixels only.
        image.save(out, "WEBP", quality=self._quality, method=4)
        return out.getvalue()

    @contextmanager
    def _decoded(self, data: bytes) -> Iterator[Image.Image]:
        """The fully decoded image, its size checked before decoding."""
        try:
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
        except _UNDECODABLE as exc:
            raise InvalidRequest(f"the poster is not a readable JPEG, PNG or WebP: {exc}") from exc
        with image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > self._max_pixels:
                raise InvalidRequest(
                    f"the poster is {width} × {height} pixels; at most "
                    f"{self._max_pixels:,} pixels are accepted"
                )
            try:
                image.load()
            except _UNDECODABLE as exc:
                raise InvalidRequest(f"the poster is truncated or corrupt: {exc}") from exc
            yield image


def _upright_srgb(image: Image.Image) -> Image.Image:
    """Orientation applied, pixels in sRGB (RGB or RGBA), every metadata block left behind."""
    upright = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in {"RGBA", "LA", "PA"} or (
        upright.mode == "P" and "transparency" in upright.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    converted: Image.Image | None = None
    icc = upright.info.get("icc_profile")
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(upright, profile, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a profile that does not fit the pixels: convert them plainly
    if converted is not None:
        upright = converted
    elif upright.mode != mode:
        upright = upright.convert(mode)
    # A fresh image from the pixels alone: no info dict (EXIF, XMP, ICC, comments) survives.
    clean = Image.new(mode, upright.size)
    clean.paste(upright)
    return clean
