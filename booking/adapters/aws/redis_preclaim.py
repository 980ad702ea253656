"""Seat pre-claims in Redis: losers of a seat race are turned away before a store transaction.

Redis is a lock against races here, never the fence: the store's conditional
write still decides every claim, so a lost, flushed, restarted or slow Redis
only makes the losers cost a store transaction again. Every Redis call goes
through a `RedisGuard` (a time budget and a circuit breaker), so Redis can never
fail a booking, nor delay it by more than the guard's budget. Claims that arrive
together for one performance go to Redis in one script call (`ClaimBatches`).

Keys (`{performance_id}` is a Redis Cluster hash tag, so one script may touch
all keys of a performance on a cluster too):
  pc:{performance_id}:<unit_id>            hold id of the pre-claim, or "taken"
  pc:{performance_id}:idem:<scope>:<key>   an Idempotency-Key seen with this performance
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, NamedTuple, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from booking.adapters.delegating import DelegatingBookingStore
from booking.adapters.system_clock import SystemClock
from booking.domain.catalog import UnitKind
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import Hold, HoldItem, HoldRequest
from booking.domain.orders import Order
from booking.domain.ports import (
    BookingStore,
    Clock,
    Idempotency,
)

_log = logging.getLogger(__name__)
T = TypeVar("T")

TAKEN = "taken"
"""Value of a short mark for a seat the store reported taken (no hold of ours owns it)."""

# The claims of several holds of one performance, in arrival order, each all-or-nothing:
# a seat key held by another value means none of that hold's keys is written, and a
# later hold of the batch sees what an earlier one claimed. KEYS: per hold its
# Idempotency-Key mark, then its seat keys; ARGV: per hold its id, seat count, seat TTL
# and mark TTL. Returns per hold {0} claimed, {1, i...} taken (1-based seat indexes), or
# {2} a known Idempotency-Key. Re-running it for a hold id is harmless (a client retry).
_CLAIM = """
local verdicts = {}
local k, a = 1, 1
while a <= #ARGV do
  local hold, n, ttl, mark_ttl = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  local verdict
  if redis.call('EXISTS', KEYS[k]) == 1 then
    verdict = {2}
  else
    verdict = {1}
    for i = 1, n do
      local owner = redis.call('GET', KEYS[k + i])
      if owner and owner ~= hold then verdict[#verdict + 1] = i end
    end
    if #verdict == 1 then
      for i = 1, n do redis.call('SET', KEYS[k + i], hold, 'PX', ttl) end
      redis.call('SET', KEYS[k], '1', 'PX', mark_ttl)
      verdict = {0}
    end
  end
  verdicts[#verdicts + 1] = verdict
  k, a = k + n + 1, a + 4
end
return verdicts
"""
_CLAIMED, _TAKEN, _REPLAY = 0, 1, 2

# Compare-and-set: each key whose value is one of ARGV[3..] gets ARGV[1] for ARGV[2] ms,
# or is deleted when ARGV[1] is empty. Keys of other holds are never touched.
_SWAP = """
local expected = {}
for i = 3, #ARGV do expected[ARGV[i]] = true end
local changed = 0
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and expected[value] then
    if ARGV[1] == '' then redis.call('DEL', key)
    else redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
    changed = changed + 1
  end
end
return changed
"""

# The idempotency mark outlives the seat keys written with it, so a replay that still
# finds its own claims also finds its mark.
_IDEM_GRACE_MS = 5_000


def redis_client(url: str, max_connections: int = 64, timeout_seconds: float = 0.5) -> Redis:
    """A client that gives up fast: Redis is an optimisation, a booking never waits on it.

    The blocking pool waits (briefly) for a free connection where the default pool
    raises. One retry without backoff, on connection errors only, replaces a connection
    Redis dropped (restart, failover); the default is ten backed-off retries, also of
    timeouts, which would only pile more load on a Redis that is already too slow.
    `timeout_seconds` bounds the wait for a pooled connection, a connect and a reply each;
    they run on the event loop's clock, so a process too busy to run its loop trips them.
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


def seat_key(performance_id: str, unit_id: str) -> str:
    return f"pc:{{{performance_id}}}:{unit_id}"


def idem_key(performance_id: str, idem: Idempotency) -> str:
    return f"pc:{{{performance_id}}}:idem:{idem.scope}:{idem.key}"


class _Turn(enum.Enum):
    """Handed to the first claim queued behind a script call that has just returned."""

    YOURS = "yours"


class _Claim(NamedTuple):
    keys: list[str]  # the Idempotency-Key mark, then the seat keys
    args: tuple[str, int, int, int]
    future: asyncio.Future[list[int] | Skipped | _Turn]


class ClaimBatches:
    """One script call in flight per performance; the claims that arrive meanwhile leave
    together in the next one.

    The Redis analogue of the store's group commit: a claim arriving when no call is in
    flight is sent at once, from its own request (no extra wait when the sale is quiet);
    in a rush, claims queue behind the call in flight and, when it returns, the first of
    them sends the whole queue — one round trip shared by every claim that arrived during
    the last. A claim whose caller went away is released again, so its seats do not stay
    pre-claimed for a hold nobody will place.
    """

    def __init__(
        self,
        script: AsyncScript,
        guard: RedisGuard,
        release: Callable[[list[str], str], Coroutine[Any, Any, None]],
        max_claims: int = 256,
    ) -> None:
        self._script = script
        self._guard = guard
        self._release = release
        self._max_claims = max_claims
        """Claims per script call at most: bounds how long one call keeps Redis busy."""
        self._queued: dict[str, list[_Claim]] = {}
        """Per performance with a call in flight: the claims waiting for the next one."""
        self._cleanups: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Script calls made; with `claims`, the mean batch size."""
        self.claims = 0

    async def claim(
        self, performance_id: str, keys: list[str], hold_id: str, ttl_ms: int
    ) -> list[int] | Skipped:
        """The verdict for one hold: `keys` are its Idempotency-Key mark, then its seats."""
        loop = asyncio.get_running_loop()
        args = (hold_id, len(keys) - 1, ttl_ms, ttl_ms + _IDEM_GRACE_MS)
        claim = _Claim(keys, args, loop.create_future())
        queued = self._queued.get(performance_id)
        if queued is None:
            batch, queued = [claim], []
        else:
            queued.append(claim)
            try:
                verdict = await claim.future
            except asyncio.CancelledError:
                if claim.future.done() and not claim.future.cancelled():
                    self._hand_over(performance_id)  # it was our turn: pass it on
                raise
            if not isinstance(verdict, _Turn):
                return verdict
            claim = claim._replace(future=loop.create_future())
            queued = self._queued[performance_id]  # who queued since (we were taken out)
            batch = [claim, *queued[: self._max_claims - 1]]
            queued = queued[self._max_claims - 1 :]
        self._queued[performance_id] = queued  # the rest wait for the next turn
        try:
            await self._send(batch)
        except asyncio.CancelledError:
            # Our reply was lost with the call; whatever Redis wrote for us is freed.
            self._clean_up(keys[1:], hold_id)
            raise
        finally:
            self._hand_over(performance_id)
        verdict = claim.future.result()
        assert not isinstance(verdict, _Turn)
        return verdict

    def _hand_over(self, performance_id: str) -> None:
        queued = self._queued[performance_id]
        while queued and queued[0].future.cancelled():  # gone before it was sent
            queued.pop(0)
        if queued:
            queued.pop(0).future.set_result(_Turn.YOURS)
        else:
            del self._queued[performance_id]

    async def _send(self, batch: list[_Claim]) -> None:
        batch = [claim for claim in batch if not claim.future.cancelled()]
        keys = [key for claim in batch for key in claim.keys]
        args = [arg for claim in batch for arg in claim.args]
        self.calls += 1
        self.claims += len(batch)
        try:
            replies = await self._guard.call(
                "pre-claim", lambda: self._script(keys=keys, args=args)
            )
        except asyncio.CancelledError:  # the sender went away: the others go to the store
            for claim in batch:
                if not claim.future.done():
                    claim.future.set_result(Skipped.SKIPPED)
            raise
        for n, claim in enumerate(batch):
            verdict = replies if isinstance(replies, Skipped) else [int(v) for v in replies[n]]
            if not claim.future.cancelled():
                claim.future.set_result(verdict)
            elif not isinstance(verdict, Skipped) and verdict[0] == _CLAIMED:
                self._clean_up(claim.keys[1:], claim.args[0])

    def _clean_up(self, seat_keys: list[str], hold_id: str) -> None:
        """Free a gone caller's claims in the background (only keys still its own)."""
        task = asyncio.get_running_loop().create_task(self._release(seat_keys, hold_id))
        self._cleanups.add(task)  # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._cleanups.discard)

    async def aclose(self) -> None:
        """Wait for the clean-ups still running."""
        await asyncio.gather(*self._cleanups, return_exceptions=True)


class PreclaimingBookingStore(DelegatingBookingStore):
    """A BookingStore that pre-claims seats in Redis before the inner store claims them."""

    def __init__(
        self,
        inner: BookingStore,
        redis: Redis,
        guard: RedisGuard | None = None,
        taken_mark_ms: int = 3_000,
        max_claims_per_call: int = 256,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(inner)
        self._clock = clock or SystemClock()
        self._guard = guard or RedisGuard()
        self._taken_mark_ms = taken_mark_ms
        self._swap = redis.register_script(_SWAP)
        self.batches = ClaimBatches(
            redis.register_script(_CLAIM), self._guard, self._release, max_claims_per_call
        )

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        if not request.seat_ids:  # GA is a count, not places to pre-claim
            return await self._inner.place_hold(request, idem)
        keys = [seat_key(request.performance_id, s) for s in request.seat_ids]
        verdict = await self.batches.claim(
            request.performance_id,
            [idem_key(request.performance_id, idem), *keys],
            request.hold_id,
            request.ttl_seconds * 1000,
        )
        # A replay skips the refusal: the store returns (or refuses) what the key stored.
        if not isinstance(verdict, Skipped) and verdict[0] == _TAKEN:
            # Refused early, unless this is a replay whose mark was lost (a flush): one
            # cheap read tells, and a loser still never spends a store transaction.
            earlier = await self._inner.stored_hold(idem)
            if earlier is not None:
                return earlier
            raise SeatsUnavailable(sorted(request.seat_ids[i - 1] for i in verdict[1:]))
        try:
            hold = await self._inner.place_hold(request, idem)
        except SeatsUnavailable as exc:
            await self._refused(request, keys, exc.taken)
            raise
        except BaseException:
            await self._release(keys, request.hold_id)
            raise
        if hold.id != request.hold_id:  # a replay its mark missed: the keys are not its
            await self._release(keys, request.hold_id)
        return hold

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        order = await self._inner.place_order(order_id, hold_id, payment_window, idem)
        # The places are the order's until its deadline and free after it: a payment window
        # shorter than the hold's lifetime must not leave them refused by their pre-claims.
        left_ms = int((order.payment_deadline - self._clock.now()).total_seconds() * 1000)
        keys = [
            seat_key(order.performance_id, i.unit_id)
            for i in order.items
            if i.kind is UnitKind.SEAT
        ]
        if keys and left_ms > 0:
            await self._guard.call_or_retry(
                "keep for the order",
                lambda: self._swap(keys=keys, args=[hold_id, left_ms, hold_id]),
            )
        return order

    async def release_hold(self, hold_id: str) -> Hold:
        hold = await self._inner.release_hold(hold_id)
        await self._free(hold.performance_id, hold.items, hold.id)
        return hold

    async def close_order(self, order_id: str, refund: bool) -> Order:
        order = await self._inner.close_order(order_id, refund)
        await self._free(order.performance_id, order.items, order.hold_id)
        return order

    async def _refused(self, request: HoldRequest, keys: list[str], taken: Sequence[str]) -> None:
        """Free what the store did not give us; mark briefly what it said is taken."""
        lost = set(taken)
        marks = [k for k, s in zip(keys, request.seat_ids, strict=True) if s in lost]
        free = [k for k, s in zip(keys, request.seat_ids, strict=True) if s not in lost]
        await self._release(free, request.hold_id)
        if marks:
            await self._guard.call_or_retry(
                "mark taken",
                lambda: self._swap(keys=marks, args=[TAKEN, self._taken_mark_ms, request.hold_id]),
            )

    async def _free(self, performance_id: str, items: list[HoldItem], hold_id: str) -> None:
        """After the store freed the places: drop their pre-claims and stale taken marks."""
        keys = [seat_key(performance_id, i.unit_id) for i in items if i.kind is UnitKind.SEAT]
        await self._release(keys, hold_id, TAKEN)

    async def _release(self, keys: list[str], *owners: str) -> None:
        if keys:
            await self._guard.call_or_retry(
                "release", lambda: self._swap(keys=keys, args=["", 0, *owners])
            )
