"""Rate limits and the back-off of failed log-ins, as values and the arithmetic of both.

A `Rate` of `count` requests per `seconds` is a sliding window: a request is let through
while the key's `count`-th latest admitted request is at least `seconds` old, so no
window of `seconds` ever holds more than `count` of its requests, whether they came all
at once or spread out, and a client at or under the rate is never refused. Each key keeps
the times of its latest `count` admitted requests (fewer once older ones lapse), so its
memory follows its traffic of the last window. (GCRA, one number per key, lets a key spend
`count` at once and then one per `seconds / count`: up to 2 × `count` − 1 in a window.)
The adapters keep the times (in memory or in Redis, where a Lua script does the same
arithmetic); this module says what the arithmetic is.

A `Backoff` counts the attempts of one account's log-in that have not succeeded: from the
`after`-th on, each one makes the next wait, 1 s, 2 s, 4 s … up to `max_seconds`. A
success clears the count, and so does `forget_seconds` without an attempt. Nothing locks
an account for good: once the wait has passed, the right password works.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

MAX_DOUBLINGS = 60
"""Past this many doublings the wait is `max_seconds` anyway (and 2.0 ** n stays finite)."""


class Rate(msgspec.Struct, frozen=True, gc=False):
    """`count` requests per `seconds`, all of them at once if they come at once."""

    count: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}"


def parse_rate(text: str) -> Rate | None:
    """`'30/60'` → 30 requests per 60 s; `'0'`, `'off'` or empty → no limit."""
    value = text.strip().lower()
    if value in {"", "0", "off", "none"}:
        return None
    count, slash, seconds = value.partition("/")
    try:
        rate = Rate(int(count), float(seconds))
    except ValueError:
        rate = None
    if not slash or rate is None or rate.count < 1 or not 0 < rate.seconds < math.inf:
        raise ValueError("expected <requests>/<seconds>, e.g. 30/60, or off")
    return rate


def admit(admitted: Sequence[float], now: float, rate: Rate) -> float:
    """0.0 if a request now is let through by `rate`, given the times of the key's latest
    admitted requests (`admitted`, oldest first, none after `now`); else the seconds until
    one would be. A refused request is not admitted, so it costs nothing."""
    if len(admitted) < rate.count:
        return 0.0
    wait = admitted[-rate.count] + rate.seconds - now
    return wait if wait > 0 else 0.0


class Backoff(msgspec.Struct, frozen=True, gc=False):
    """How failed log-ins of one account slow the next attempt down."""

    after: int = 5
    """Attempts without a success that are free; each further one makes the next wait."""
    seconds: float = 1.0
    """The first wait; each further failure doubles it."""
    max_seconds: float = 60.0
    """The longest wait."""
    forget_seconds: float = 900.0
    """A count this long without an attempt starts afresh."""

    def delay(self, attempts: int) -> float:
        """Seconds the next attempt waits after `attempts` without a success."""
        if attempts < self.after:
            return 0.0
        doublings = min(attempts - self.after, MAX_DOUBLINGS)
        return float(min(self.max_seconds, self.seconds * 2.0**doublings))
