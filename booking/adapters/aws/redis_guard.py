"""The Redis client and guard every Redis wrapper shares: Redis is an optimisation here, so
a call that fails or is slow only skips it, never fails or delays a booking much."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.credentials import CredentialProvider

_log = logging.getLogger(__name__)
T = TypeVar("T")


def redis_client(
    url: str,
    max_connections: int = 64,
    timeout_seconds: float = 0.5,
    credential_provider: CredentialProvider | None = None,
) -> Redis:
    """A client that gives up fast: Redis is an optimisation, a booking never waits on it.

    The blocking pool waits (briefly) for a free connection where the default pool
    raises. One retry without backoff, on connection errors only, replaces a connection
    Redis dropped (restart, failover); the default is ten backed-off retries, also of
    timeouts, which would only pile more load on a Redis that is already too slow.
    `timeout_seconds` bounds the wait for a pooled connection, a connect and a reply each;
    they run on the event loop's clock, so a process too busy to run its loop trips them.
    `credential_provider` authenticates each new connection (ElastiCache IAM tokens).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        socket_keepalive=True,
        health_check_interval=10,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis_errors.ConnectionError,)),
        credential_provider=credential_provider,
    )
    return Redis.from_pool(pool)


class Skipped(enum.Enum):
    """What a guarded call returns when Redis was skipped or failed."""

    SKIPPED = "skipped"


class RedisGuard:
    """Runs Redis calls within a time budget; after a failure, skips Redis for a cooldown.

    Share one guard between the Redis wrappers of a process so one failure trips all.
    """

    def __init__(self, budget_seconds: float = 1.0, cooldown_seconds: float = 1.0) -> None:
        self._budget = budget_seconds
        self._cooldown = cooldown_seconds
        self._closed_at = 0.0
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._closed_at

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T | Skipped:
        if not self.available:
            return Skipped.SKIPPED
        try:
            async with asyncio.timeout(self._budget):
                return await fn()
        # Any failure, also an unexpected one, only costs the optimisation; cancellation
        # (BaseException) still propagates.
        except Exception as exc:
            if self.available:  # one warning per trip, not one per request
                _log.warning(
                    "Redis skipped for %.1fs after %s failed: %s: %s",
                    self._cooldown,
                    what,
                    type(exc).__name__,
                    exc,
                )
            self._closed_at = time.monotonic() + self._cooldown
            return Skipped.SKIPPED

    async def call_or_retry(self, what: str, fn: Callable[[], Awaitable[object]]) -> None:
        """A cleanup that must land: tried now, else once more in the background after the
        cooldown. A write whose reply timed out can still land when a stalled Redis resumes
        (a pre-claim the store then refused); its cleanup has to come after it."""
        if isinstance(await self.call(what, fn), Skipped):
            task = asyncio.get_running_loop().create_task(self._retry(what, fn))
            self._retries.add(task)  # a reference, or the task may be collected mid-flight
            task.add_done_callback(self._retries.discard)

    async def _retry(self, what: str, fn: Callable[[], Awaitable[object]]) -> None:
        await asyncio.sleep(self._cooldown)
        await self.call(what, fn)

    async def drain(self) -> None:
        """Wait for the cleanups still pending (a graceful shutdown; at most a cooldown)."""
        await asyncio.gather(*self._retries, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the cleanups still waiting (at shutdown; their keys expire with the TTL)."""
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
