"""Images for the poster tests, made with Pillow: real files, some of them hostile."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageCms

RED, BLUE = (255, 0, 0), (0, 0, 255)
ORIENTATION = 0x0112
MAKE = 0x010F
# Made once: a profile carries its creation time, and the same poster must be the same bytes.
SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def two_tone_jpeg(
    width: int, height: int, orientation: int | None = None, left: str = "red", right: str = "blue"
) -> bytes:
    """Left half one colour, right half another; EXIF (camera make, orientation) and ICC."""
    image = Image.new("RGB", (width, height), left)
    image.paste(Image.new("RGB", (width - width // 2, height), right), (width // 2, 0))
    exif = Image.Exif()
    exif[MAKE] = "Test Camera Co."
    if orientation is not None:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes(), icc_profile=SRGB_PROFILE)
    return out.getvalue()


def png(width: int, height: int, colour: tuple[int, ...] = (0, 128, 0, 128)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims `width` × `height` pixels: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    pixels = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    """Equal but for lossy compression."""
    return all(abs(a - b) <= 12 for a, b in zip(pixel[:3], colour, strict=True))
