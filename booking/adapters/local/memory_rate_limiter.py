"""`MemoryRateLimiter`: the RateLimiter port in this process's memory (the local runtime's
one API process, and the Redis limiter's stand-in while Redis is skipped).

On the hold path a request's check is one dict lookup and one store per limit, on the
event loop's thread, without suspending; lapsed entries are swept once a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from booking.domain.limits import Backoff, Rate, admit

SWEEP_EVERY_SECONDS = 60.0


class MemoryRateLimiter:
    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self._timer = timer
        self._tats: dict[str, float] = {}
        """Per key, its theoretical arrival time (GCRA); lapsed once it is in the past."""
        self._failures: dict[str, tuple[int, float, float]] = {}
        """Per account key: (attempts without a success, blocked until, forgotten at)."""
        self._sweep_at = timer() + SWEEP_EVERY_SECONDS

    async def acquire(self, limits: Sequence[tuple[str, Rate]]) -> float:
        return self.acquire_now(limits)

    def acquire_now(self, limits: Sequence[tuple[str, Rate]]) -> float:
        now = self._timer()
        if now >= self._sweep_at:
            self._sweep(now)
        tats = self._tats
        if len(limits) == 1:  # the usual case: no list of new TATs to keep
            key, rate = limits[0]
            tat, wait = admit(tats.get(key), now, rate)
            if not wait:
                tats[key] = tat
            return wait
        admitted = [admit(tats.get(key), now, rate) for key, rate in limits]
        wait = max(wait for _, wait in admitted)
        if not wait:
            for (key, _), (tat, _) in zip(limits, admitted, strict=True):
                tats[key] = tat
        return wait

    async def attempt(self, key: str, backoff: Backoff) -> float:
        return self.attempt_now(key, backoff)

    def attempt_now(self, key: str, backoff: Backoff) -> float:
        now = self._timer()
        attempts, until, forget_at = self._failures.get(key, (0, 0.0, 0.0))
        if until > now:
            return until - now
        if forget_at <= now:
            attempts = 0
        attempts += 1
        delay = backoff.delay(attempts)
        self._failures[key] = (
            attempts,
            now + delay,
            now + max(delay, backoff.forget_seconds),
        )
        return 0.0

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _sweep(self, now: float) -> None:
        self._sweep_at = now + SWEEP_EVERY_SECONDS
        self._tats = {k: tat for k, tat in self._tats.items() if tat > now}
        self._failures = {k: v for k, v in self._failures.items() if v[2] > now}
