"""Poster variants with Pillow: upright, without metadata, never upscaled; bombs refused."""

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
    close_to,
    decoded,
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
        assert close_to(image.getpixel((image.width // 2, 5)), RED)
        assert close_to(image.getpixel((image.width // 2, image.height - 5)), BLUE)
        assert dict(image.getexif()) == {}
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)


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
    assert image.getpixel((10, 10))[3] == pytest.approx(128, abs=3)


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
