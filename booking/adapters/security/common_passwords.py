"""The common passwords a new one is checked against: zxcvbn's list of the 30,000 most
frequent passwords in breach corpora (from its maintained package, not typed in here),
lower-cased, loaded once per process on first use."""

from __future__ import annotations

import functools


@functools.cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415 - 70 ms: on first use

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])
