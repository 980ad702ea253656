"""The local stand-in for SQS and DynamoDB Streams: in-process consumers of the outbox.

Rows are handed to every handler of their topic, in id order; a row whose
handler fails is retried with backoff and, after `max_attempts`, parked as
`dead` with its reason (the local dead-letter queue). Handlers are idempotent,
so a retry after a partial success is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Mapping, Sequence

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.adapters.outbox_dispatch import BatchSubscription, Handler, dispatch_batch
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.messages import decode_message
from booking.domain.telemetry import TELEMETRY, Telemetry

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: SqliteDatabase,
        handlers: Mapping[str, Sequence[Handler]],
        batch_handlers: Sequence[BatchSubscription] = (),
        max_attempts: int = 5,
        batch_size: int = 1000,
        idle_poll_seconds: float = 0.5,
        min_interval_seconds: float = 1.0,
        busy_batch: int = 10,
        telemetry: Telemetry = TELEMETRY,
        measure_interval_seconds: float = 1.0,
    ) -> None:
        self._telemetry = telemetry
        self._measure_interval = measure_interval_seconds
        self._measure_at = 0.0
        self._db = db
        self._handlers = handlers
        self._batch_handlers = batch_handlers
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._min_interval = min_interval_seconds
        self._busy_batch = busy_batch
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        db.on_commit_with_messages(wake)

    async def run(self) -> None:
        """Drain as rows arrive: at once while they trickle in (fresh search, prompt mail),
        but once batches come back busy (`busy_batch` rows or more: a rush) at most one
        partial batch per `min_interval` — like a Lambda batching window — so an
        onsale's thousands of holds a second cost a search-listing rebuild or two a
        second, not one each."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            batch_size = await self.drain_once()
            if batch_size >= self._batch_size:
                continue  # a backlog: keep going
            if batch_size >= self._busy_batch:
                await asyncio.sleep(max(0.0, started + self._min_interval - loop.time()))
                continue
            if batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # not wait_for: it can swallow a cancel (3.11)
                async with asyncio.timeout(self._idle_poll):
                    await self._wake.wait()

    async def drain_once(self) -> int:
        """Process one batch of due rows; how many there were (0: nothing to do)."""

        now_ms = to_ms(self._db.now())
        loop_now = asyncio.get_running_loop().time()
        measure = loop_now >= self._measure_at
        if measure:
            self._measure_at = loop_now + self._measure_interval

        def due(
            conn: sqlite3.Connection,
        ) -> tuple[list[tuple[int, str, bytes, int]], tuple[int, int | None] | None]:
            rows = conn.execute(
                "SELECT id, topic, payload, attempts FROM outbox"
                " WHERE status='pending' AND available_at_ms <= ? ORDER BY id LIMIT ?",
                (now_ms, self._batch_size),
            ).fetchall()
            if not measure:
                return rows, None
            # The backlog in the same read, at most once a `measure_interval` (a rush's
            # backlog is thousands of rows): what waits, due or backing off, and since when.
            backlog = conn.execute(
                "SELECT COUNT(*), MIN(created_at_ms) FROM outbox WHERE status='pending'"
            ).fetchone()
            return rows, backlog

        batch, backlog = await self._db.read(due)
        if backlog is not None:
            waiting, oldest_ms = backlog
            oldest = None if oldest_ms is None else from_ms(oldest_ms)
            self._telemetry.outbox_backlog(waiting, oldest)
        if not batch:
            return 0
        outcomes = [await self._dispatch(topic, payload) for _, topic, payload, _ in batch]
        if self._batch_handlers:
            decodable = [
                (i, topic, decode_message(payload))
                for i, (_, topic, payload, _) in enumerate(batch)
                if outcomes[i] is None
            ]
            failed = await dispatch_batch(
                self._batch_handlers, [t for _, t, _ in decodable], [m for _, _, m in decodable]
            )
            for position, error in failed.items():
                outcomes[decodable[position][0]] = error
        await self._db.write(_settle, batch, outcomes, self._max_attempts)
        return len(batch)

    async def _dispatch(self, topic: str, payload: bytes) -> str | None:
        try:
            message = decode_message(payload)
            for handler in self._handlers.get(topic, ()):
                await handler(message)
        except Exception as exc:
            log.warning("outbox handler failed", extra={"topic": topic, "error": repr(exc)})
            return f"{type(exc).__name__}: {exc}"
        return None


def _settle(
    tx: Tx,
    batch: list[tuple[int, str, bytes, int]],
    outcomes: list[str | None],
    max_attempts: int,
) -> None:
    """Done rows marked done, failed ones retried later or, at `max_attempts`, dead."""
    done: list[tuple[object, ...]] = []
    for (row_id, topic, _, attempts), error in zip(batch, outcomes, strict=True):
        if error is None:
            done.append((attempts + 1, row_id))
        elif attempts + 1 >= max_attempts:
            log.error(
                "outbox message dead-lettered",
                extra={"outbox_id": row_id, "topic": topic, "reason": error},
            )
            tx.execute(
                "UPDATE outbox SET status='dead', attempts=?, last_error=? WHERE id=?",
                (attempts + 1, error, row_id),
            )
        else:
            backoff_ms = 200 * 2**attempts
            tx.execute(
                "UPDATE outbox SET attempts=?, last_error=?, available_at_ms=? WHERE id=?",
                (attempts + 1, error, tx.now_ms + backoff_ms, row_id),
            )
    # One call for the whole batch: in a rush it is a thousand rows a second.
    tx.executemany("UPDATE outbox SET status='done', attempts=? WHERE id=?", done)
