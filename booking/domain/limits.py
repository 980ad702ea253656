"""Rate limits and the back-off of failed log-ins, as values and the arithmetic of both.

A `Rate` is counted with GCRA (the generic cell rate algorithm): each key keeps one number,
its theoretical arrival time (TAT). A request moves it one emission interval
(`seconds / count`) later; it is let through while the TAT stays within `seconds` of now,
so a key may spend `count` requests at once and then one per interval — a sliding window
without a log of timestamps. The adapters keep the TATs (in memory or in Redis, where a
Lua script does the same arithmetic); this module says what the arithmetic is.

A `Backoff` counts the attempts of one account's log-in that have not succeeded: from the
`after`-th on, each one makes the next wait, 1 s, 2 s, 4 s … up to `max_seconds`. A
success clears the count, and so does `forget_seconds` without an attempt. Nothing locks
an account for good: once the wait has passed, the right password works.
"""

from __future__ import annotations

import msgspec

MAX_DOUBLINGS = 60
"""Past this many doublings the wait is `max_seconds` anyway (and 2.0 ** n stays finite)."""


class Rate(msgspec.Struct, frozen=True, gc=False):
    """`count` requests per `seconds`, all of them at once if they come at once."""

    count: int
    seconds: float

    @property
    def interval(self) -> float:
        """Seconds one request adds to its key's TAT."""
        return self.seconds / self.count

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
    if not slash or rate is None or rate.count < 1 or not rate.seconds > 0:
        raise ValueError("expected <requests>/<seconds>, e.g. 30/60, or off")
    return rate


def admit(tat: float | None, now: float, rate: Rate) -> tuple[float, float]:
    """GCRA for one key whose TAT is `tat` (None: no request lately): the TAT a request now
    leaves, and 0.0 if it is let through — else seconds until one would be, and the key
    keeps its TAT (a refused request costs nothing)."""
    new = (now if tat is None or tat < now else tat) + rate.interval
    over = new - now - rate.seconds
    return (new, over if over > 0 else 0.0)


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
