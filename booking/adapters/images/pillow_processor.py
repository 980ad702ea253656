"""Poster variants with Pillow: untrusted bytes in, small metadata-free WebP images out.

Refused with InvalidRequest (a permanent failure: retrying cannot help): anything
Pillow cannot decode as JPEG, PNG or WebP, a truncated file, and an image of more
than `max_pixels` pixels, checked from the header before any pixel is decoded
(a decompression bomb). Variants are upright (EXIF orientation applied), in sRGB
when the upload carried an ICC profile, and carry no EXIF, XMP or ICC data.
Decoding is CPU work: it runs in a worker thread, at most `parallel` at once.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from booking.domain.errors import InvalidRequest
from booking.domain.media import MAX_POSTER_PIXELS, ImageVariant

_FORMATS = ("JPEG", "PNG", "WEBP")
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
        self, max_pixels: int = MAX_POSTER_PIXELS, quality: int = 82, parallel: int = 2
    ) -> None:
        self._max_pixels = max_pixels
        self._quality = quality
        self._slots = threading.BoundedSemaphore(parallel)

    async def inspect(self, data: bytes) -> tuple[int, int]:
        return await asyncio.to_thread(self._inspect, data)

    async def variants(self, data: bytes, widths: Sequence[int]) -> list[ImageVariant]:
        return await asyncio.to_thread(self._variants, data, tuple(widths))

    def _inspect(self, data: bytes) -> tuple[int, int]:
        with self._slots, self._decoded(data) as image:
            return image.size

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
