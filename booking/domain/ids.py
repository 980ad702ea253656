"""Identifiers: a readable prefix plus a time-ordered random part."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Every byte to the digit of its low five bits: the random part in one C call.
_RANDOM_DIGITS = bytes(ord(_ALPHABET[b & 31]) for b in range(256))
_last_stamp = (-1, "")
_RANDOM_BATCH = 4096
"""Bytes of the system's randomness fetched at once: one system call per 341 ids (a call
per id gave the interpreter lock away on the hot path and waited to get it back)."""


class _Randomness(threading.local):
    def __init__(self) -> None:
        self.pool = b""
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.pool):
            self.pool, self.at = os.urandom(_RANDOM_BATCH), 0
        self.at += n
        return self.pool[self.at - n : self.at]


_randomness = _Randomness()  # per thread: two threads never take the same bytes


def _forget_after_fork() -> None:  # a forked child must not reuse its parent's bytes
    _randomness.pool, _randomness.at = b"", 0


os.register_at_fork(after_in_child=_forget_after_fork)


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
    rand = _randomness.take(12).translate(_RANDOM_DIGITS).decode()
    return f"{prefix}_{_last_stamp[1]}{rand}"
