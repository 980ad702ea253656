"""Seat pre-claims in Redis: losers of a seat race are turned away before a store transaction.

Redis is a lock against races here, never the fence: the store's conditional
write still decides every claim, so a lost, flushed, restarted or slow Redis
only makes the losers cost a store transaction again. Every Redis call goes
through a `RedisGuard` (a time budget and a circuit breaker), so Redis can never
fail a booking, nor delay it by more than the guard's budget. Claims that arrive
together for one performance go to Redis in one script call, and so do the outcomes
that settle them (`redis_batches.py`).

It is exact, as `booking/adapters/local/memory_preclaim.py` (the same rules in memory):
it refuses only a seat an acknowledged hold or order owns, or one the store itself named
taken, and then only after the key's record showed the request is no replay. A seat
marked by a request still in flight is no reason to refuse: the newcomer waits for that
request's outcome when it runs in this process (and is refused at once if the request
won the seats), and otherwise lets the store decide.

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
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from booking.adapters.aws.redis_batches import Entry, Reply, ScriptBatches
from booking.adapters.aws.redis_guard import RedisGuard, Skipped
from booking.adapters.passing import PassingHoldsAndOrders
from booking.adapters.system_clock import SystemClock
from booking.adapters.timestamps import to_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import SeatsUnavailable
from booking.domain.holds import Hold, HoldItem, HoldRequest
from booking.domain.orders import Order, OrderStatus
from booking.domain.ports import Clock, HoldsAndOrders, Idempotency
from booking.domain.telemetry import TELEMETRY, PreclaimGuard, Telemetry

TAKEN = "taken"
"""Prefix of a mark for a seat the store reported taken by a claim Redis did not know."""

# Claims and settles of one performance, in arrival order (`redis_batches.py`): KEYS[1]
# is the performance's frees counter, then each entry's seat keys; ARGV[1] is our clock
# (epoch ms), then the entries, each tagged.
#
# `c` (claim), all-or-nothing: hold id, seat count, the in-flight mark's TTL (a crashed
# caller's marks lapse). Replies {0, frees} marked in flight, {1, i...} owned (1-based
# seat indexes), or {3, owner...} marked by requests in flight (nothing written). A later
# entry sees what an earlier one wrote.
#
# `s` (settle: the store answered a request about its seats): hold id, mode, until (epoch
# ms), the frees count when the request was marked, its key count, how many marks follow,
# the marks (1-based key indexes). Only keys still in flight for that hold change (a key
# gone meanwhile — flushed, or freed by a release that overtook a late settle — stays
# gone): `own` → `o:<hold>:<until>`; `refused` → deleted, except the marked keys, which
# become `taken:<until>` if no release came since; `drop` → deleted. Replies {1}.
#
# `k` (keep: an order keeps what its hold owned): hold id, until, key count. Keys still
# owned by that hold last until then; keys freed meanwhile stay free. Replies {1}.
_PRECLAIM = """
local now = tonumber(ARGV[1])
local frees = redis.call('GET', KEYS[1]) or '0'
local replies = {}
local k, a = 2, 2
while a <= #ARGV do
  if ARGV[a] == 'c' then
    local hold, n, ttl = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
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
      replies[#replies + 1] = owned
    elseif #busy > 1 then
      replies[#replies + 1] = busy
    else
      for i = 1, n do redis.call('SET', KEYS[k + i - 1], 'p:' .. hold, 'PX', ttl) end
      replies[#replies + 1] = {0, tonumber(frees)}
    end
    k, a = k + n, a + 4
  elseif ARGV[a] == 'k' then
    local prefix, until_ms, n = 'o:' .. ARGV[a + 1] .. ':', ARGV[a + 2], tonumber(ARGV[a + 3])
    for i = 1, n do
      local value = redis.call('GET', KEYS[k + i - 1])
      if value and string.sub(value, 1, #prefix) == prefix then
        redis.call('SET', KEYS[k + i - 1], prefix .. until_ms, 'PXAT', tonumber(until_ms) + 60000)
      end
    end
    replies[#replies + 1] = {1}
    k, a = k + n, a + 4
  else
    local hold, mode, until_ms, seen = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    local n, m = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    local mark = {}
    for i = 1, m do mark[tonumber(ARGV[a + 6 + i])] = true end
    local tidy = tonumber(until_ms) + 60000
    for i = 1, n do
      local key = KEYS[k + i - 1]
      if redis.call('GET', key) == 'p:' .. hold then
        if mode == 'own' then
          redis.call('SET', key, 'o:' .. hold .. ':' .. until_ms, 'PXAT', tidy)
        elseif mode == 'refused' and mark[i] and frees == seen then
          redis.call('SET', key, 'taken:' .. until_ms, 'PXAT', tidy)
        else
          redis.call('DEL', key)
        end
      end
    end
    replies[#replies + 1] = {1}
    k, a = k + n, a + 7 + m
  end
end
return replies
"""
_MARKED, _OWNED, _BUSY = 0, 1, 3

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


def seat_key(performance_id: str, unit_id: str) -> str:
    return f"pc:{{{performance_id}}}:{unit_id}"


def frees_key(performance_id: str) -> str:
    return f"pc:{{{performance_id}}}:frees"


class PreclaimingBookingStore(PassingHoldsAndOrders):
    """Holds and orders whose seats are pre-claimed in Redis before the inner store claims
    them."""

    def __init__(
        self,
        inner: HoldsAndOrders,
        redis: Redis,
        guard: RedisGuard | None = None,
        taken_mark_ms: int = 3_000,
        max_claims_per_call: int = 256,
        clock: Clock | None = None,
        telemetry: Telemetry = TELEMETRY,
    ) -> None:
        super().__init__(inner)
        self._telemetry = telemetry
        self._clock = clock or SystemClock()
        self._guard = guard or RedisGuard()
        self._taken_mark_ms = taken_mark_ms
        self._script = redis.register_script(_PRECLAIM)
        self._free = redis.register_script(_FREE)
        self._in_flight: dict[str, asyncio.Future[frozenset[str]]] = {}
        """This process's requests whose seats are marked in flight: the seats each won."""
        self._cleanups: set[asyncio.Task[None]] = set()
        # Claims and the settles of their outcomes share the calls: a settle rides with
        # the claims that queued beside it, at no round trip of its own in a rush.
        self.batches = ScriptBatches(
            self._script,
            self._guard,
            frees_key,
            lambda: [self._now_ms()],
            self._orphaned,
            "pre-claim",
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
        hold_id = request.hold_id
        outcome: asyncio.Future[frozenset[str]] = asyncio.get_running_loop().create_future()
        self._in_flight[hold_id] = outcome
        won: frozenset[str] = frozenset()
        settled: asyncio.Future[Any] | None = None
        try:
            try:
                hold = await self._inner.place_hold(request, idem)
            except SeatsUnavailable as exc:
                settled = self._refused(request, keys, exc, marked)
                raise
            except BaseException:
                settled = self._settle(request.performance_id, keys, hold_id, "drop")
                raise
            if hold.id == hold_id:
                won = frozenset(request.seat_ids)
                until = to_ms(hold.expires_at)
                mode = "own" if until > self._now_ms() else "drop"
                settled = self._settle(request.performance_id, keys, hold_id, mode, until)
            else:  # a replay: its stored hold's claims are not this request's to make
                settled = self._settle(request.performance_id, keys, hold_id, "drop")
            return hold
        finally:
            # The answer need not wait for Redis: the outcome is known here at once, and
            # stays known until the settle riding with the next call has landed.
            outcome.set_result(won)
            if settled is None:
                del self._in_flight[hold_id]
            else:
                settled.add_done_callback(lambda _: self._in_flight.pop(hold_id, None))

    async def _mark(
        self, request: HoldRequest, idem: Idempotency, keys: list[str]
    ) -> str | Hold | None:
        """Mark the seats in flight for this request: the frees count when marked, the
        stored hold of a replay, None when the store must decide unmarked; or refuse."""
        unknown_owners = 0
        while True:
            verdict = await self.batches.call(
                request.performance_id,
                keys,
                ("c", request.hold_id, len(keys), request.ttl_seconds * 1000),
            )
            if isinstance(verdict, Skipped):
                self._telemetry.preclaim_guarded(PreclaimGuard.UNAVAILABLE)
                return None
            if verdict[0] == _MARKED:
                return str(verdict[1])
            if verdict[0] == _OWNED:
                taken = [request.seat_ids[int(i) - 1] for i in verdict[1:]]
                return await self._refuse(idem, taken)
            # Marked by requests in flight, which may still fail: wait for their outcome
            # if they run here, else let the store decide. An owner unknown here may have
            # just finished here (the verdict predates its settling): one more look.
            outcomes = [self._in_flight.get(str(owner)) for owner in verdict[1:]]
            waits = {o for o in outcomes if o is not None}
            if len(waits) < len(outcomes):
                unknown_owners += 1
                if unknown_owners > 1:
                    self._telemetry.preclaim_guarded(PreclaimGuard.ELSEWHERE)
                    return None
            if waits:
                self._telemetry.preclaim_guarded(PreclaimGuard.IN_FLIGHT)
                await asyncio.wait(waits)
                won = frozenset().union(*(o.result() for o in waits))
                taken = [s for s in request.seat_ids if s in won]
                if taken:  # acknowledged by the store just now: owned, as Redis would say
                    return await self._refuse(idem, taken)

    async def _refuse(self, idem: Idempotency, taken: list[str]) -> Hold:
        """The store would refuse these seats too, unless this is a replay, whose stored
        answer (or 422 for another body) the key's record gives."""
        earlier = await self._inner.stored_hold(idem)
        if earlier is not None:
            self._telemetry.preclaim_guarded(PreclaimGuard.REPLAY)
            return earlier
        raise SeatsUnavailable(sorted(taken), preclaimed=True)

    def _refused(
        self, request: HoldRequest, keys: list[str], refusal: SeatsUnavailable, frees: str
    ) -> asyncio.Future[Any]:
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
            return self._settle(request.performance_id, keys, request.hold_id, "drop")
        return self._settle(
            request.performance_id, keys, request.hold_id, "refused", until, frees, marks
        )

    def _settle(
        self,
        performance_id: str,
        keys: list[str],
        hold_id: str,
        mode: str,
        until_ms: int = 0,
        frees: str = "",
        marks: Sequence[int] = (),
    ) -> asyncio.Future[Any]:
        """The store's answer, told to Redis with the next call for the performance."""
        args = ("s", hold_id, mode, until_ms, frees, len(keys), len(marks), *marks)
        return self.batches.ride(performance_id, keys, args)

    def _orphaned(self, performance_id: str, entry: Entry, reply: Reply | Skipped) -> None:
        """An entry whose caller went away, or whose call timed out and may land late.

        A claim that marked (or may have marked) seats is dropped again, so no seat stays
        marked for a hold nobody will place; a settle that may not have landed is sent
        once more after the guard's cooldown."""
        if entry.args[0] == "c" and (isinstance(reply, Skipped) or reply[0] == _MARKED):
            drop = ("s", entry.args[1], "drop", 0, "", len(entry.keys), 0)
            self._in_background(self._settle_now(performance_id, entry.keys, drop))
        elif entry.args[0] in ("s", "k") and isinstance(reply, Skipped):
            self._in_background(self._settle_now(performance_id, entry.keys, entry.args))

    async def _settle_now(
        self, performance_id: str, keys: list[str], args: tuple[Any, ...]
    ) -> None:
        all_keys = [frees_key(performance_id), *keys]
        await self._guard.call_or_retry(
            "settle", lambda: self._script(keys=all_keys, args=[self._now_ms(), *args])
        )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # shutting down: the marks lapse with their TTL
            work.close()
            return
        task = loop.create_task(work)
        self._cleanups.add(task)  # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._cleanups.discard)

    async def aclose(self) -> None:
        """Send the settles still riding; wait for the clean-ups still running and the
        retries they left with the guard, until nothing is left."""
        while True:
            await self.batches.flush()
            await asyncio.gather(*self._cleanups, return_exceptions=True)
            await self._guard.drain()
            if self.batches.idle and not self._cleanups:
                break
        await super().aclose()

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
            # Riding behind the hold's own settle, which may not have landed yet.
            self.batches.ride(order.performance_id, keys, ("k", hold_id, until, len(keys)))
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
