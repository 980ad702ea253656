"""Identifiers: a readable prefix plus a time-ordered random part."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Every byte to the digit of its low five bits: the random part in one C call.
_RANDOM_DIGITS = bytes(ord(_ALPHABET[b & 31]) for b in range(256))
_last_stamp = (-1, "")


def _stamp(millis: int) -> str:
    stamp = ""
    for _ in range(10):
        millis, rem = divmod(millis, 32)
        stamp = _ALPHABET[rem] + stamp
    return stamp


def new_id(prefix: str) -> str:
    """`<prefix>_<10 chars of ms time><12 random chars>`: sortable by creation, unguessable."""
    global _last_stamp  # noqa: PLW0603 - ids of one millisecond share its time part
    millis = time.time_ns() // 1_000_000
    if _last_stamp[0] != millis:
        _last_stamp = (millis, _stamp(millis))
    # One call for all the randomness: a system call per character showed in profiles.
    rand = secrets.token_bytes(12).translate(_RANDOM_DIGITS).decode()
    return f"{prefix}_{_last_stamp[1]}{rand}"
