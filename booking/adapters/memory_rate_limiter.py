"""`MemoryRateLimiter`: the RateLimiter port in this process's memory (the local runtime's
one API process, and the Redis limiter's stand-in while Redis is skipped).

On the hold path a request's check is one dict lookup and a list append per limit, on the
event loop's thread, without suspending; lapsed keys are swept once a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from booking.domain.limits import Backoff, Rate, admit

SWEEP_EVERY_SECONDS = 60.0


class _Window:
    """One key's sliding window (booking/domain/limits.py)."""

    __slots__ = ("admitted", "lapses_at")

    def __init__(self) -> None:
        self.admitted: list[float] = []
        """The times of the latest admitted requests, oldest first, at most the rate's count."""
        self.lapses_at = 0.0
        """When the newest of them leaves the window: then the key can be forgotten."""

    def record(self, now: float, rate: Rate) -> None:
        admitted = self.admitted
        admitted.append(now)
        if len(admitted) > rate.count:
            del admitted[: len(admitted) - rate.count]
        self.lapses_at = now + rate.seconds


class MemoryRateLimiter:
    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self._timer = timer
        self._windows: dict[str, _Window] = {}
        self._failures: dict[str, tuple[int, float, float]] = {}
        """Per account key: (attempts without a success, blocked until, forgotten at)."""
        self._sweep_at = timer() + SWEEP_EVERY_SECONDS

    async def acquire(self, limits: Sequence[tuple[str, Rate]]) -> float:
        return self.acquire_now(limits)

    def acquire_now(self, limits: Sequence[tuple[str, Rate]]) -> float:
        now = self._timer()
        if now >= self._sweep_at:
            self._sweep(now)
        windows = [self._window(key) for key, _ in limits]
        wait = 0.0
        for window, (_, rate) in zip(windows, limits, strict=True):
            wait = max(wait, admit(window.admitted, now, rate))
        if not wait:  # counted against every limit or none
            for window, (_, rate) in zip(windows, limits, strict=True):
                window.record(now, rate)
        return wait

    def _window(self, key: str) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        return window

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
        self._windows = {k: w for k, w in self._windows.items() if w.lapses_at > now}
        self._failures = {k: v for k, v in self._failures.items() if v[2] > now}
