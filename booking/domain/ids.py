"""Identifiers: a readable prefix plus a time-ordered random part."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """`<prefix>_<10 chars of ms time><12 random chars>`: sortable by creation, unguessable."""
    millis = time.time_ns() // 1_000_000
    stamp = ""
    for _ in range(10):
        millis, rem = divmod(millis, 32)
        stamp = _ALPHABET[rem] + stamp
    # One call for all the randomness: a system call per character showed in profiles.
    rand = "".join(_ALPHABET[b & 31] for b in secrets.token_bytes(12))
    return f"{prefix}_{stamp}{rand}"
