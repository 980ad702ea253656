"""Images for the poster tests, made with Pillow: real files, some of them hostile."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image, ImageCms, PngImagePlugin

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


# Where the photo was taken, as a phone records it: Seoul, to the second of arc.
LATITUDE, LONGITUDE = (37.0, 33.0, 59.0), (126.0, 58.0, 41.0)
CAMERA = "Test Camera Co."
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="37,33.98N"'
    b' exif:GPSLongitude="126,58.68E"/></rdf:RDF></x:xmpmeta>'
)


def camera_exif(orientation: int | None = None) -> bytes:
    """EXIF as a phone writes it: the camera's make, the orientation, the GPS position."""
    exif = Image.Exif()
    exif[MAKE] = CAMERA
    if orientation is not None:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = LONGITUDE
    return exif.tobytes()


def photo(width: int, height: int, kind: str = "JPEG", orientation: int | None = 6) -> bytes:
    """Left half red, right half blue, carrying everything a camera or editor leaves behind
    that the format can hold: EXIF with GPS, XMP (with GPS too), ICC, comments, text."""
    image = Image.new("RGB", (width, height), "red")
    image.paste(Image.new("RGB", (width - width // 2, height), "blue"), (width // 2, 0))
    exif = camera_exif(orientation)
    out = io.BytesIO()
    if kind == "JPEG":
        image.save(
            out,
            "JPEG",
            quality=90,
            exif=exif,
            xmp=XMP,
            icc_profile=SRGB_PROFILE,
            comment=b"shot at home",
        )
    elif kind == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "shot at home")
        text.add_itxt("XML:com.adobe.xmp", XMP.decode())
        image.save(out, "PNG", exif=exif, icc_profile=SRGB_PROFILE, pnginfo=text)
    else:
        image.save(out, kind, quality=90, exif=exif, xmp=XMP, icc_profile=SRGB_PROFILE)
    return out.getvalue()


def assert_no_metadata(data: bytes) -> Image.Image:
    """The decoded image, after checking that nothing but pixels came along."""
    image = decoded(data)
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "Comment"} & set(
        image.info
    )
    for trace in (b"Exif\x00\x00", CAMERA.encode(), b"xmpmeta", b"GPSLatitude", b"shot at home"):
        assert trace not in data, trace
    return image


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


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """The bands of one pixel of a multi-band image (RGB, RGBA)."""
    value = image.getpixel(xy)
    assert isinstance(value, tuple), value
    return value


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    """Equal but for lossy compression."""
    return all(abs(a - b) <= 12 for a, b in zip(pixel[:3], colour, strict=True))
