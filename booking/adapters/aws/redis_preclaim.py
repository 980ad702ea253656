"""Seat pre-claims in Redis: losers of a seat race are turned away before a store transaction.

Redis is a lock against races here, never the fence: the store's conditional
write still decides every claim, so a lost, flushed, restarted or slow Redis
only makes the losers cost a store transaction again. Every Redis call goes
through a `RedisGuard` (a time budget and a circuit breaker), so Redis can never
fail a booking, nor delay it by more than the guard's budget. Claims that arrive
together for one performance go to Redis in one script call (`ClaimBatches`).

It is exact, as `booking/adapters/local/memory_preclaim.py` (the same rules in memory):
it refuses only a seat an acknowledged hold or order owns, or one the store itself named
taken, and then only after the key's record showed the request is no replay. A seat
marked by a request still in flight is no reason to refuse: the newcomer waits for that
request's outcome when it runs in this process, and otherwise lets the store decide.

Keys (`{performance_id}` is a Redis Cluster hash tag, so one script may touch
all keys of a performance on a cluster too):
  pc:{performance_id}:<unit_id>   `p:<hold id>` in flight, `o:<hold id>:<until>` owned by
                                  an acknowledged hold or its order, or `taken:<until>`
  pc:{performance_id}:frees       how many times places were given back: a taken mark
                                  learned before a release is not written after it
`<until>` is the instant (epoch ms, the store's clock: ours) the claim lapses; the
scripts compare it with our clock, so Redis's own clock decides nothing. Redis expires
the keys a minute later, to tidy up.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from booking.adapters.timestamps import to_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import Hold, HoldItem, HoldRequest
from booking.domain.orders import Order, OrderStatus
from booking.domain.ports import (
    BookingStore,
    Clock,
    Idempotency,
)

_log = logging.getLogger(__name__)
T = TypeVar("T")

TAKEN = "taken"
"""Prefix of a mark for a seat the store reported taken by a claim Redis did not know."""

# The claims of several holds of one performance, in arrival order, each all-or-nothing.
# KEYS[1] is the performance's frees counter, then per hold its seat keys; ARGV[1] is
# our clock (epoch ms), then per hold its id, seat count and the in-flight mark's TTL (a
# crashed caller's marks lapse). Returns per hold {0, frees} marked in flight, {1, i...}
# owned (1-based seat indexes), or {3, owner...} marked by requests in flight (nothing
# written). A later hold of the batch sees what an earlier one marked.
_CLAIM = """
local now = tonumber(ARGV[1])
local frees = tonumber(redis.call('GET', KEYS[1]) or '0')
local verdicts = {}
local k, a = 2, 2
while a <= #ARGV do
  local hold, n, ttl = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local owned, busy = {1}, {3}
  for i = 1, n do
    local value = redis.call('GET', KEYS[k + i - 1])
    if value then
      if string.sub(value, 1, 2) == 'p:' then
        if string.sub(value, 3) ~= hold then busy[#busy + 1] = string.sub(value, 3) end
      elseif tonumber(string.match(value, ':(%d+)$')) > now then
        owned[#owned + 1] = i
      end
    end
  end
  if #owned > 1 then
    verdicts[#verdicts + 1] = owned
  elseif #busy > 1 then
    verdicts[#verdicts + 1] = busy
  else
    for i = 1, n do redis.call('SET', KEYS[k + i - 1], 'p:' .. hold, 'PX', ttl) end
    verdicts[#verdicts + 1] = {0, frees}
  end
  k, a = k + n, a + 3
end
return verdicts
"""
_MARKED, _OWNED, _BUSY = 0, 1, 3

# The store answered a request (ARGV[1] its hold id) about KEYS[2..]: ARGV[2] `own`, each
# key still in flight for it becomes `o:<hold>:<ARGV[3]>` (a key gone meanwhile — flushed,
# or freed by a release that overtook a late settle — stays gone); `refused`, its
# keys in flight are deleted, except those at the indexes ARGV[5..], which become
# `taken:<ARGV[3]>` if KEYS[1] (the frees counter) still reads ARGV[4]; `drop`, its keys
# in flight are deleted.
_SETTLE = """
local hold, mode, until_ms, frees = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local tidy = tonumber(until_ms) + 60000
local mark = {}
for i = 5, #ARGV do mark[tonumber(ARGV[i])] = true end
local unchanged = (redis.call('GET', KEYS[1]) or '0') == frees
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if mode == 'own' then
    if value == 'p:' .. hold then
      redis.call('SET', KEYS[i], 'o:' .. hold .. ':' .. until_ms, 'PXAT', tidy)
    end
  elseif value == 'p:' .. hold then
    if mode == 'refused' and mark[i - 1] and unchanged then
      redis.call('SET', KEYS[i], 'taken:' .. until_ms, 'PXAT', tidy)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 1
"""

# An order keeps what its hold owned: each of KEYS still owned by hold ARGV[1] lasts
# until ARGV[2]; keys freed meanwhile stay free.
_KEEP = """
local prefix = 'o:' .. ARGV[1] .. ':'
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and string.sub(value, 1, #prefix) == prefix then
    redis.call('SET', key, prefix .. ARGV[2], 'PXAT', tonumber(ARGV[2]) + 60000)
  end
end
return 1
"""

# The store gave places back: KEYS[2..] owned by hold ARGV[1], still marked in flight for
# it (its settling may come late, after a Redis outage) or marked taken are deleted, and
# the frees counter KEYS[1] counts one more release.
_FREE = """
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
local prefix = 'o:' .. ARGV[1] .. ':'
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value and (string.sub(value, 1, #prefix) == prefix or value == 'p:' .. ARGV[1]
                or string.sub(value, 1, 6) == 'taken:') then
    redis.call('DEL', KEYS[i])
  end
end
return 1
"""


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


def frees_key(performance_id: str) -> str:
    return f"pc:{{{performance_id}}}:frees"


class _Turn(enum.Enum):
    """Handed to the first claim queued behind a script call that has just returned."""

    YOURS = "yours"


Verdict = list[int | str]
"""`[0, frees]` marked in flight, `[1, seat index...]` owned, `[3, hold id...]` busy."""


class _Claim(NamedTuple):
    keys: list[str]  # the seat keys
    args: tuple[str, int, int]
    future: asyncio.Future[Verdict | Skipped | _Turn]


class ClaimBatches:
    """One script call in flight per performance; the claims that arrive meanwhile leave
    together in the next one.

    The Redis analogue of the store's group commit: a claim arriving when no call is in
    flight is sent at once, from its own request (no extra wait when the sale is quiet);
    in a rush, claims queue behind the call in flight and, when it returns, the first of
    them sends the whole queue — one round trip shared by every claim that arrived during
    the last. A claim whose caller went away is dropped again, so its seats do not stay
    marked for a hold nobody will place.
    """

    def __init__(
        self,
        script: AsyncScript,
        guard: RedisGuard,
        drop: Callable[[str, list[str], str], Coroutine[Any, Any, None]],
        now_ms: Callable[[], int],
        max_claims: int = 256,
    ) -> None:
        self._script = script
        self._now_ms = now_ms
        self._guard = guard
        self._drop = drop
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
    ) -> Verdict | Skipped:
        """The verdict for one hold's seat `keys`."""
        loop = asyncio.get_running_loop()
        claim = _Claim(keys, (hold_id, len(keys), ttl_ms), loop.create_future())
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
            await self._send(performance_id, batch)
        except asyncio.CancelledError:
            # Our reply was lost with the call; whatever Redis marked for us is dropped.
            self._clean_up(performance_id, keys, hold_id)
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

    async def _send(self, performance_id: str, batch: list[_Claim]) -> None:
        batch = [claim for claim in batch if not claim.future.cancelled()]
        keys = [frees_key(performance_id)] + [key for claim in batch for key in claim.keys]
        args = [self._now_ms(), *(arg for claim in batch for arg in claim.args)]
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
            if isinstance(replies, Skipped):
                # A call that timed out may still land when a stalled Redis resumes: its
                # marks are dropped after it, or they would make others wait in vain.
                self._clean_up(performance_id, claim.keys, claim.args[0])
            verdict = replies if isinstance(replies, Skipped) else _verdict(replies[n])
            if not claim.future.cancelled():
                claim.future.set_result(verdict)
            elif not isinstance(verdict, Skipped) and verdict[0] == _MARKED:
                self._clean_up(performance_id, claim.keys, claim.args[0])

    def _clean_up(self, performance_id: str, seat_keys: list[str], hold_id: str) -> None:
        """Drop a gone caller's marks in the background (only keys still its own)."""
        task = asyncio.get_running_loop().create_task(
            self._drop(performance_id, seat_keys, hold_id)
        )
        self._cleanups.add(task)  # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._cleanups.discard)

    async def aclose(self) -> None:
        """Wait for the clean-ups still running."""
        await asyncio.gather(*self._cleanups, return_exceptions=True)


def _verdict(reply: list[int | bytes]) -> Verdict:
    return [v.decode() if isinstance(v, bytes) else int(v) for v in reply]


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
        self._settle = redis.register_script(_SETTLE)
        self._keep = redis.register_script(_KEEP)
        self._free = redis.register_script(_FREE)
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        """Outcomes of this process's requests whose seats are marked in flight."""
        self.batches = ClaimBatches(
            redis.register_script(_CLAIM),
            self._guard,
            self._drop,
            self._now_ms,
            max_claims_per_call,
        )

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        if not request.seat_ids:  # GA is a count, not places to pre-claim
            return await self._inner.place_hold(request, idem)
        keys = [seat_key(request.performance_id, s) for s in request.seat_ids]
        marked = await self._mark(request, idem, keys)
        if isinstance(marked, Hold):
            return marked
        if marked is None:
            # The store decides, and what it grants stays unmarked: a mark written without
            # one in flight first could outlive a release that overtook it.
            return await self._inner.place_hold(request, idem)
        performance_id, hold_id = request.performance_id, request.hold_id
        outcome = asyncio.get_running_loop().create_future()
        self._in_flight[hold_id] = outcome
        try:
            try:
                hold = await self._inner.place_hold(request, idem)
            except SeatsUnavailable as exc:
                await self._refused(request, keys, exc, marked)
                raise
            except BaseException:
                await self._drop(performance_id, keys, hold_id)
                raise
            if hold.id == hold_id:
                await self._own(performance_id, keys, hold)
            else:  # a replay: its stored hold's claims are not this request's to make
                await self._drop(performance_id, keys, hold_id)
            return hold
        finally:
            del self._in_flight[hold_id]
            outcome.set_result(None)

    async def _mark(
        self, request: HoldRequest, idem: Idempotency, keys: list[str]
    ) -> str | Hold | None:
        """Mark the seats in flight for this request: the frees count when marked, the
        stored hold of a replay, None when the store must decide unmarked; or refuse."""
        unknown_owners = 0
        while True:
            verdict = await self.batches.claim(
                request.performance_id, keys, request.hold_id, request.ttl_seconds * 1000
            )
            if isinstance(verdict, Skipped):
                return None
            if verdict[0] == _MARKED:
                return str(verdict[1])
            if verdict[0] == _OWNED:
                # Owned by an acknowledged claim: the store would refuse too, unless this
                # is a replay, whose stored answer (or 422) the key's record gives.
                earlier = await self._inner.stored_hold(idem)
                if earlier is not None:
                    return earlier
                raise SeatsUnavailable(sorted(request.seat_ids[int(i) - 1] for i in verdict[1:]))
            # Marked by requests in flight, which may still fail: wait for their outcome
            # if they run here, else let the store decide. An owner unknown here may have
            # just finished here (the verdict predates its settling): one more look.
            outcomes = [self._in_flight.get(str(owner)) for owner in verdict[1:]]
            waits = {o for o in outcomes if o is not None}
            if len(waits) < len(outcomes):
                unknown_owners += 1
                if unknown_owners > 1:
                    return None
            if waits:
                await asyncio.wait(waits)

    async def _own(self, performance_id: str, keys: list[str], hold: Hold) -> None:
        until = to_ms(hold.expires_at)
        mode = "own" if until > self._now_ms() else "drop"
        await self._settle_keys(performance_id, keys, hold.id, mode, until)

    async def _refused(
        self, request: HoldRequest, keys: list[str], refusal: SeatsUnavailable, frees: str
    ) -> None:
        """Drop our marks; remember briefly the seats the store named taken, never past the
        instant their claim lapses nor a release heard of since we marked."""
        now = self._now_ms()
        until = now + self._taken_mark_ms
        marks = []
        for index, seat in enumerate(request.seat_ids, start=1):
            if seat not in refusal.taken:
                continue
            lapses = refusal.until_ms.get(seat, now)  # unknown: not remembered at all
            if lapses is not None:
                until = min(until, lapses)
            marks.append(index)
        if not marks or until <= now:
            await self._drop(request.performance_id, keys, request.hold_id)
            return
        await self._settle_keys(
            request.performance_id, keys, request.hold_id, "refused", until, frees, marks
        )

    async def _drop(self, performance_id: str, keys: list[str], hold_id: str) -> None:
        await self._settle_keys(performance_id, keys, hold_id, "drop")

    async def _settle_keys(
        self,
        performance_id: str,
        keys: list[str],
        hold_id: str,
        mode: str,
        until_ms: int = 0,
        frees: str = "",
        marks: Sequence[int] = (),
    ) -> None:
        if not keys:
            return
        performance_key = frees_key(performance_id)
        await self._guard.call_or_retry(
            f"settle ({mode})",
            lambda: self._settle(
                keys=[performance_key, *keys], args=[hold_id, mode, until_ms, frees, *marks]
            ),
        )

    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        order = await self._inner.place_order(order_id, hold_id, payment_window, idem)
        # The places are the order's until its deadline and free after it. A replay of a
        # closed order keeps nothing: only keys still the hold's own are kept.
        until = to_ms(order.payment_deadline)
        keys = [
            seat_key(order.performance_id, i.unit_id)
            for i in order.items
            if i.kind is UnitKind.SEAT
        ]
        if keys and order.status is OrderStatus.PENDING_PAYMENT and until > self._now_ms():
            await self._guard.call_or_retry(
                "keep for the order", lambda: self._keep(keys=keys, args=[hold_id, until])
            )
        return order

    async def release_hold(self, hold_id: str) -> Hold:
        try:
            hold = await self._inner.release_hold(hold_id)
        except Exception:
            # The release may have been written before the error (an answer lost on the
            # way back): its places must not be refused on a claim that may be gone.
            with contextlib.suppress(Exception):
                known = await self._inner.get_hold(hold_id)
                if known is not None:
                    await self._freed(known.performance_id, known.items, known.id)
            raise
        await self._freed(hold.performance_id, hold.items, hold.id)
        return hold

    async def close_order(self, order_id: str, refund: bool) -> Order:
        try:
            order = await self._inner.close_order(order_id, refund)
        except Exception:
            with contextlib.suppress(Exception):  # as for a release that may have happened
                known = await self._inner.get_order(order_id)
                if known is not None:
                    await self._freed(known.performance_id, known.items, known.hold_id)
            raise
        await self._freed(order.performance_id, order.items, order.hold_id)
        return order

    async def _freed(self, performance_id: str, items: list[HoldItem], hold_id: str) -> None:
        """After the store freed the places: their claims and taken marks go, and the
        performance counts one more release."""
        keys = [seat_key(performance_id, i.unit_id) for i in items if i.kind is UnitKind.SEAT]
        if keys:
            all_keys = [frees_key(performance_id), *keys]
            await self._guard.call_or_retry(
                "free", lambda: self._free(keys=all_keys, args=[hold_id])
            )
