"""Posters with Pillow: originals re-encoded and variants, upright, without metadata, never
upscaled; bombs refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from booking.adapters.images.pillow_processor import PillowImageProcessor
from booking.domain.errors import InvalidRequest
from booking.domain.media import POSTER_WIDTHS
from tests.posters import (
    BLUE,
    ORIENTATION,
    RED,
    assert_no_metadata,
    close_to,
    decoded,
    photo,
    pixel,
    png,
    png_claiming,
    two_tone_jpeg,
)


def variants(data: bytes, processor: PillowImageProcessor | None = None) -> list[Any]:
    return asyncio.run((processor or PillowImageProcessor()).variants(data, POSTER_WIDTHS))


def test_variants_are_upright_by_exif_and_carry_no_metadata() -> None:
    # Stored 1000 × 500, left red and right blue; orientation 6 = turn 90° clockwise to view,
    # so upright it is 500 × 1000 with red on top.
    made = variants(two_tone_jpeg(1000, 500, orientation=6))
    assert [(v.width, v.height) for v in made] == [(320, 640), (500, 1000)]
    for variant in made:
        image = decoded(variant.data)
        assert image.format == "WEBP" and variant.content_type == "image/webp"
        assert image.size == (variant.width, variant.height)
        assert close_to(pixel(image, (image.width // 2, 5)), RED)
        assert close_to(pixel(image, (image.width // 2, image.height - 5)), BLUE)
        assert dict(image.getexif()) == {}
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)


def original(data: bytes, processor: PillowImageProcessor | None = None) -> Any:
    return asyncio.run((processor or PillowImageProcessor()).original(data))


@pytest.mark.parametrize(
    ("kind", "content_type", "extension"),
    [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp")],
)
def test_original_is_reencoded_upright_in_its_format_without_metadata(
    kind: str, content_type: str, extension: str
) -> None:
    # A camera's file: EXIF with GPS and orientation 6, XMP with GPS, ICC, comments.
    upload = photo(800, 400, kind, orientation=6)
    source = decoded(upload)
    assert source.getexif().get_ifd(0x8825) and "exif" in source.info  # GPS and all
    clean = original(upload)
    assert (clean.content_type, clean.extension) == (content_type, extension)
    assert (clean.width, clean.height) == (400, 800)  # turned upright, full size
    image = assert_no_metadata(clean.data)
    assert image.format == kind and image.size == (400, 800)
    assert close_to(pixel(image, (200, 5)), RED)
    assert close_to(pixel(image, (200, 795)), BLUE)
    # Deterministic: the same upload is the same bytes (so the same content-hashed key).
    assert original(upload).data == clean.data
    # Re-encoding the clean original changes nothing that matters: it stays clean and upright.
    again = original(clean.data)
    assert (again.width, again.height) == (400, 800)
    assert_no_metadata(again.data)


def test_original_keeps_transparency_and_jpeg_quality() -> None:
    clean = original(png(300, 200))
    image = decoded(clean.data)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.getpixel((10, 10)) == (0, 128, 0, 128)  # PNG stays lossless
    upload = two_tone_jpeg(1600, 900)
    jpeg = decoded(original(upload).data)
    assert jpeg.format == "JPEG" and jpeg.size == (1600, 900)
    assert close_to(pixel(jpeg, (5, 5)), RED) and close_to(pixel(jpeg, (1595, 5)), BLUE)


def test_original_refuses_what_variants_refuse() -> None:
    whole = two_tone_jpeg(800, 600)
    for bad in (whole[: len(whole) // 2], png_claiming(100_000, 100_000), b"GIF89a"):
        with pytest.raises(InvalidRequest):
            original(bad)


def test_widths_are_the_requested_ones_and_never_upscaled() -> None:
    made = variants(two_tone_jpeg(1600, 900))
    assert [(v.width, v.height) for v in made] == [(320, 180), (640, 360), (1280, 720)]
    small = variants(two_tone_jpeg(200, 100))
    assert [(v.width, v.height) for v in small] == [(200, 100)]
    source = decoded(two_tone_jpeg(1600, 900))
    assert ORIENTATION not in source.getexif() and source.getexif()  # the source had EXIF


def test_transparency_is_kept() -> None:
    (variant,) = variants(png(300, 200))
    image = decoded(variant.data)
    assert image.mode == "RGBA"
    assert pixel(image, (10, 10))[3] == pytest.approx(128, abs=3)


def test_decompression_bombs_are_refused_before_decoding() -> None:
    processor = PillowImageProcessor()
    for width, height in ((8_000, 7_000), (100_000, 100_000)):
        bomb = png_claiming(width, height)
        assert len(bomb) < 1000
        with pytest.raises(InvalidRequest, match=r"pixels|readable"):
            variants(bomb, processor)
        with pytest.raises(InvalidRequest):
            asyncio.run(processor.inspect(bomb))
    with pytest.raises(InvalidRequest, match="pixels"):
        variants(two_tone_jpeg(100, 100), PillowImageProcessor(max_pixels=9_999))


def test_truncated_and_fake_images_are_refused() -> None:
    whole = two_tone_jpeg(800, 600)
    for broken in (whole[: len(whole) // 2], b"\xff\xd8\xff" + b"not a jpeg" * 100, b""):
        with pytest.raises(InvalidRequest):
            variants(broken)
        with pytest.raises(InvalidRequest):
            asyncio.run(PillowImageProcessor().inspect(broken))
