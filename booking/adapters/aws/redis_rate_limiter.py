"""`RedisRateLimiter`: the RateLimiter port in Redis, so every API process and Lambda of a
stage counts against the same limits.

One script call per check: `_ACQUIRE` keeps the sliding windows of booking/domain/limits.py
over all the limits of a request and counts it against all or none; `_ATTEMPT` counts a
log-in attempt and sets the account's back-off. Time is Redis's own (`TIME`), in
microseconds, so the clocks of many machines never disagree about a window. Keys:

  rw:<key>   one limit's window: the times of its latest admitted requests, newest first,
             at most its count, expiring a window after the newest
  lf:<key>   an account's failed log-ins: `n` attempts without a success, `u` blocked until

A request's keys (its address and its account) lie in different hash slots: this is for a
Redis that is not a cluster, as the stage's ElastiCache replication group is.

Redis stays an optimisation of the limits, not a gate: while the guard skips Redis (a
failure, a timeout), each process counts in its own memory instead, so the limits still
hold per process and no request waits for a Redis that does not answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from booking.adapters.aws.redis_guard import RedisGuard, Skipped
from booking.adapters.memory_rate_limiter import MemoryRateLimiter
from booking.domain.limits import MAX_DOUBLINGS, Backoff, Rate

MICROS = 1_000_000

# KEYS: one per limit. ARGV: per limit its count and its window in µs. Replies 0 (counted
# against every limit) or µs until every limit would let it through.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local oldest = redis.call('LINDEX', key, tonumber(ARGV[2 * i - 1]) - 1)
  if oldest then
    local over = tonumber(oldest) + tonumber(ARGV[2 * i]) - now
    if over > wait then wait = over end
  end
end
if wait > 0 then return math.ceil(wait) end
local stamp = string.format('%.0f', now)
for i, key in ipairs(KEYS) do
  redis.call('LPUSH', key, stamp)
  redis.call('LTRIM', key, 0, tonumber(ARGV[2 * i - 1]) - 1)
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i]) / 1000))
end
return 0
"""

# KEYS[1]: an account's failures. ARGV: after, first wait, longest wait, forget (µs but the
# first). Replies 0 (go ahead, counted) or µs until the back-off has passed.
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if blocked > now then return math.ceil(blocked - now) end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local delay = 0
if n >= tonumber(ARGV[1]) then
  local doublings = math.min(n - tonumber(ARGV[1]), tonumber(ARGV[5]))
  delay = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ doublings)
end
redis.call('HSET', KEYS[1], 'u', string.format('%.0f', now + delay))
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(delay, tonumber(ARGV[4])) / 1000))
return 0
"""


def _micros(seconds: float) -> int:
    return max(1, round(seconds * MICROS))


class RedisRateLimiter:
    def __init__(
        self,
        redis: Redis,
        guard: RedisGuard | None = None,
        fallback: MemoryRateLimiter | None = None,
    ) -> None:
        self._redis = redis
        self._guard = guard or RedisGuard()
        self._fallback = fallback or MemoryRateLimiter()
        self._acquire = redis.register_script(_ACQUIRE)
        self._attempt = redis.register_script(_ATTEMPT)

    async def acquire(self, limits: Sequence[tuple[str, Rate]]) -> float:
        keys = [f"rw:{key}" for key, _ in limits]
        args: list[int] = []
        for _, rate in limits:
            args += (rate.count, _micros(rate.seconds))
        waited = await self._guard.call("rate limit", lambda: self._acquire(keys=keys, args=args))
        if isinstance(waited, Skipped):
            return self._fallback.acquire_now(limits)
        return int(waited) / MICROS

    async def attempt(self, key: str, backoff: Backoff) -> float:
        args = [
            backoff.after,
            _micros(backoff.seconds),
            _micros(backoff.max_seconds),
            _micros(backoff.forget_seconds),
            MAX_DOUBLINGS,
        ]
        waited = await self._guard.call(
            "log-in back-off", lambda: self._attempt(keys=[f"lf:{key}"], args=args)
        )
        if isinstance(waited, Skipped):
            return self._fallback.attempt_now(key, backoff)
        return int(waited) / MICROS

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        await self._guard.call("log-in back-off", lambda: self._redis.delete(f"lf:{key}"))
