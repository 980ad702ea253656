"""One script call in flight per performance; what arrives meanwhile leaves together in the
next one — the Redis analogue of the store's group commit.

A script here takes its entries concatenated: KEYS = [a key of the performance (its hash
tag), then each entry's keys], ARGV = [the call's own arguments, then each entry's] and
returns one reply per entry. An entry arriving when no call is in flight for its
performance is sent at once, from its own request (no wait when the sale is quiet); in a
rush, entries queue behind the call in flight and, when it returns, the first of them
sends the whole queue — one round trip shared by every entry that arrived during the last.

An entry whose caller need not wait for its reply *rides*: it leaves with the next call
for its performance, at the head of it, or after `ride_delay` in a call of its own if none
comes.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any, NamedTuple

from redis.commands.core import AsyncScript

from booking.adapters.aws.redis_guard import RedisGuard, Skipped

Reply = list[Any]


class _Turn(enum.Enum):
    """Handed to the first entry queued behind a script call that has just returned."""

    YOURS = "yours"


class Entry(NamedTuple):
    keys: list[str]
    args: tuple[Any, ...]
    future: asyncio.Future[Reply | Skipped | _Turn]


class ScriptBatches:
    """Batches of one script's entries, per performance.

    `leading_key(performance)` is the call's first key; `leading_args()` its first
    arguments. `orphaned(performance, entry, reply)` hears of every entry whose caller went
    away before its reply, and of every entry of a call that timed out (which may still
    land when a stalled Redis resumes), so what it wrote can be undone.
    """

    def __init__(
        self,
        script: AsyncScript,
        guard: RedisGuard,
        leading_key: Callable[[str], str],
        leading_args: Callable[[], list[Any]],
        orphaned: Callable[[str, Entry, Reply | Skipped], None],
        what: str,
        max_entries: int = 256,
        ride_delay: float = 0.002,
    ) -> None:
        self._script = script
        self._guard = guard
        self._leading_key = leading_key
        self._leading_args = leading_args
        self._orphaned = orphaned
        self._what = what
        self._max_entries = max_entries
        """Entries per script call at most: bounds how long one call keeps Redis busy."""
        self._queued: dict[str, list[Entry]] = {}
        """Per performance with a call in flight: the entries waiting for the next one."""
        self._riders: dict[str, list[Entry]] = {}
        self._ride_delay = ride_delay
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._lone_calls: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Script calls made; with `entries`, the mean batch size."""
        self.entries = 0

    async def call(
        self, performance_id: str, keys: list[str], args: tuple[Any, ...]
    ) -> Reply | Skipped:
        """The reply for one entry."""
        loop = asyncio.get_running_loop()
        entry = Entry(keys, args, loop.create_future())
        queued = self._queued.get(performance_id)
        if queued is None:
            batch, queued = [entry], []
        else:
            queued.append(entry)
            try:
                reply = await entry.future
            except asyncio.CancelledError:
                if entry.future.done() and not entry.future.cancelled():
                    self._hand_over(performance_id)  # it was our turn: pass it on
                raise
            if not isinstance(reply, _Turn):
                return reply
            entry = entry._replace(future=loop.create_future())
            queued = self._queued[performance_id]  # who queued since (we were taken out)
            batch = [entry, *queued[: self._max_entries - 1]]
            queued = queued[self._max_entries - 1 :]
        self._queued[performance_id] = queued  # the rest wait for the next turn
        try:
            await self._send(performance_id, batch)
        except asyncio.CancelledError:
            # Our reply was lost with the call; whatever Redis did for us is undone.
            self._orphaned(performance_id, entry, Skipped.SKIPPED)
            raise
        finally:
            self._hand_over(performance_id)
        reply = entry.future.result()
        assert not isinstance(reply, _Turn)
        return reply

    def ride(
        self, performance_id: str, keys: list[str], args: tuple[Any, ...]
    ) -> asyncio.Future[Reply | Skipped | _Turn]:
        """Send an entry with the next call for its performance; its reply comes in the
        returned future (the orphan handler hears of it if the call timed out)."""
        loop = asyncio.get_running_loop()
        entry = Entry(keys, args, loop.create_future())
        self._riders.setdefault(performance_id, []).append(entry)
        if performance_id not in self._timers:
            self._timers[performance_id] = loop.call_later(
                self._ride_delay, self._send_riders, performance_id
            )
        return entry.future

    def _send_riders(self, performance_id: str) -> None:
        """No call took the riders along in time: they leave in one of their own."""
        del self._timers[performance_id]
        if not self._riders.get(performance_id):
            return
        loop = asyncio.get_running_loop()
        if performance_id in self._queued:  # a call in flight: try again after it
            self._timers[performance_id] = loop.call_later(
                self._ride_delay, self._send_riders, performance_id
            )
            return
        self._queued[performance_id] = []  # in flight from now: later entries queue
        task = loop.create_task(self._lone_call(performance_id))
        self._lone_calls.add(task)  # a reference, or the task may be collected mid-flight
        task.add_done_callback(self._lone_calls.discard)

    async def _lone_call(self, performance_id: str) -> None:
        """A call of the riders alone (the caller has marked it in flight)."""
        try:
            await self._send(performance_id, [])
        finally:
            self._hand_over(performance_id)

    @property
    def idle(self) -> bool:
        """Nothing rides and no call of riders alone is in flight."""
        return not any(self._riders.values()) and not self._lone_calls

    async def flush(self) -> None:
        """Send what still rides, and wait for it."""
        while any(self._riders.values()):
            for performance_id, riders in list(self._riders.items()):
                if riders and performance_id not in self._queued:
                    timer = self._timers.pop(performance_id, None)
                    if timer is not None:
                        timer.cancel()
                    self._queued[performance_id] = []
                    await self._lone_call(performance_id)
            await asyncio.sleep(self._ride_delay)  # a call in flight takes the others
        await asyncio.gather(*self._lone_calls, return_exceptions=True)

    def _hand_over(self, performance_id: str) -> None:
        queued = self._queued[performance_id]
        while queued and queued[0].future.cancelled():  # gone before it was sent
            queued.pop(0)
        if queued:
            queued.pop(0).future.set_result(_Turn.YOURS)
        else:
            del self._queued[performance_id]

    async def _send(self, performance_id: str, batch: list[Entry]) -> None:
        riders = self._riders.pop(performance_id, [])  # first: they happened first
        batch = riders + [entry for entry in batch if not entry.future.cancelled()]
        keys = [self._leading_key(performance_id)] + [k for e in batch for k in e.keys]
        args = [*self._leading_args(), *(a for e in batch for a in e.args)]
        self.calls += 1
        self.entries += len(batch)
        try:
            replies = await self._guard.call(self._what, lambda: self._script(keys=keys, args=args))
        except asyncio.CancelledError:  # the sender went away: the others go on without
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_result(Skipped.SKIPPED)
            raise
        for n, entry in enumerate(batch):
            reply = replies if isinstance(replies, Skipped) else _decoded(replies[n])
            if isinstance(replies, Skipped) or entry.future.cancelled():
                self._orphaned(performance_id, entry, reply)
            if not entry.future.cancelled():
                entry.future.set_result(reply)


def _decoded(reply: Any) -> Reply:
    values = reply if isinstance(reply, list) else [reply]
    return [v.decode() if isinstance(v, bytes) else v for v in values]
