"""What text a name, title or e-mail address may hold, and how numbers in seat maps are
bounded: every type here refuses at the edge what would be stored and shown to others.

Control characters (NUL among them), the bidirectional overrides and isolates that make
`evil<U+202E>gpj.exe` read as `evil.exe.jpg`, zero-width characters that make two names look
alike, and the byte-order mark are refused in every single-line text; a description may
also hold line breaks and tabs. The patterns are part of the OpenAPI schema.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

import msgspec

from booking.domain.errors import InvalidRequest

# C0 and C1 controls, zero-width space/joiners and marks (U+200B-U+200F), the bidi
# embeddings and overrides (U+202A-U+202E), word joiner and invisible operators
# (U+2060-U+2064), the bidi isolates (U+2066-U+2069) and the byte-order mark.
_INVISIBLE = "\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff"
SINGLE_LINE = f"^[^\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE}]*$"
MULTI_LINE = f"^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_INVISIBLE}]*$"
_ADDRESS_PART = f"[^@\\s\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE}]+"
EMAIL = f"^{_ADDRESS_PART}@{_ADDRESS_PART}\\.{_ADDRESS_PART}$"
"""local@domain.tld with no whitespace, controls or invisible characters anywhere."""

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)]
ShortName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=SINGLE_LINE)]
Description = Annotated[str, msgspec.Meta(max_length=5000, pattern=MULTI_LINE)]

COORDINATE_LIMIT = 1_000_000.0
Coordinate = Annotated[float, msgspec.Meta(ge=-COORDINATE_LIMIT, le=COORDINATE_LIMIT)]
"""A seat's position on a seat map: finite and bounded."""
Origin = Annotated[float, msgspec.Meta(ge=-COORDINATE_LIMIT / 2, le=COORDINATE_LIMIT / 2)]
Spacing = Annotated[float, msgspec.Meta(gt=0, le=1_000)]
"""A block's corner and seat pitch: 200 seats from any origin stay within a Coordinate."""


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


PATTERN_MEANING = {
    SINGLE_LINE: "text without control or invisible characters (NUL, bidi overrides, "
    "zero-width characters)",
    MULTI_LINE: "text without control or invisible characters other than line breaks and tabs",
    EMAIL: "an e-mail address (local@domain.tld) without spaces, control or invisible characters",
}
"""What each pattern asks for, in words: error messages name this, not the regex."""


def require_timezone(name: str) -> str:
    """An IANA time zone name this machine's tz database knows (`Asia/Seoul`), or 422."""
    if name not in _timezones():
        raise InvalidRequest(
            f"{name!r} is not an IANA time zone name (e.g. Asia/Seoul)", field="timezone"
        )
    return name


def normalise_email(email: str) -> str:
    """One spelling per address: NFKC (full-width `ｆａｎ` is `fan`), trimmed, lower case."""
    return unicodedata.normalize("NFKC", email).strip().lower()
