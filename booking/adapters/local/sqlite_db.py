"""One SQLite database file: WAL, synchronous=FULL, migrations at open, one writer.

Every write runs inside `BEGIN IMMEDIATE … COMMIT` on the single writer connection,
so a write's conditions see every earlier write; readers use their own connections
and see consistent snapshots. Outbox rows and idempotency records are written inside
the same transaction as the change they belong to.

Group commit: writes that arrive while the writer is busy wait together and then run
one after another in a single transaction, each inside its own SAVEPOINT, so a write
that fails rolls back only itself. Nobody hears of a write before the COMMIT that
made it durable; one fsync then serves the whole group instead of one each, which is
what turns an onsale's burst of claims from disk-bound into CPU-bound.

The writer connection lives on a thread of this process or, for the booking database,
in a writer process of its own (`sqlite_writer_process.WriterProcess`): a write is therefore a
module-level function and its arguments, never a closure.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, Literal, NamedTuple, ParamSpec, TypeVar

import msgspec

from booking.adapters.local.migrations import MIGRATIONS
from booking.adapters.local.sqlite_writer import (
    Settled,
    Tx,
    Write,
    connect,
    migrate,
    require_portable,
    run_group,
)
from booking.adapters.local.sqlite_writer_process import WriterProcess, hand_over
from booking.adapters.shifted_clock import ShiftedClock
from booking.adapters.system_clock import SystemClock
from booking.domain.errors import IdempotencyKeyReused
from booking.domain.ports import Clock, Idempotency

__all__ = ["MAX_GROUP", "SqliteDatabase", "Tx", "WriterKind"]

T = TypeVar("T")
P = ParamSpec("P")

MAX_GROUP = 256
"""Writes per transaction at most: bounds how long one group keeps the others waiting.
(1 gives every write a transaction and fsync of its own: the naive baselines.)"""

WriterKind = Literal["thread", "process"]

_json = msgspec.json.Encoder()


class SqliteDatabase:
    def __init__(
        self,
        path: Path,
        clock: Clock,
        migrations: list[str] = MIGRATIONS,
        readers: int = 4,
        max_group: int = MAX_GROUP,
        writer: WriterKind = "thread",
    ) -> None:
        if writer == "process" and not isinstance(clock, SystemClock | ShiftedClock):
            raise ValueError("a writer process reads the system or a shifted clock only")
        self.path = path
        self.writer: WriterKind = writer
        self._max_group = max_group
        self._migrations = migrations
        self._clock = clock
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer: sqlite3.Connection | None = None
        self._process: WriterProcess | None = None
        self._listeners: list[Callable[[], None]] = []
        self._queued: list[_QueuedWrite] = []
        self._queue_lock = threading.Lock()
        self._draining = False
        self.groups = 0
        """Transactions committed by `write`; with `writes`, the mean group size."""
        self.writes = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.writer == "thread":
            self._writer = self._writer_pool.submit(connect, self.path).result()
            self._writer_pool.submit(migrate, self._writer, self._migrations).result()
            return
        conn = connect(self.path)  # the schema first, then the writer process takes over
        try:
            migrate(conn, self._migrations)
        finally:
            conn.close()
        shifted = self._clock.path if isinstance(self._clock, ShiftedClock) else None
        self._process = WriterProcess(
            self.path, self._max_group, self._tell_listeners, self._count_group, shifted
        )
        self._process.start()

    @property
    def writer_pid(self) -> int | None:
        """The writer process's PID (its CPU time is the store's), if there is one."""
        return None if self._process is None else self._process.pid

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
        if self._writer is not None:  # after the writes queued before it
            self._writer_pool.submit(self._writer.close).result()
            self._writer = None
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        for conn in self._readers:
            conn.close()
        self._readers.clear()

    def on_commit_with_messages(self, listener: Callable[[], None]) -> None:
        """Called (from a writer thread of this process) after a commit that wrote outbox
        rows."""
        self._listeners.append(listener)

    def _tell_listeners(self) -> None:
        for listener in self._listeners:
            listener()

    def _count_group(self, size: int) -> None:
        self.groups += 1
        self.writes += size

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    async def write(
        self, fn: Callable[Concatenate[Tx, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(tx, *args, **kwargs)` in the writer's next group; its result once committed."""
        require_portable(fn)
        result: T = await self._submit(Write(fn, args, kwargs))
        return result

    async def _submit(self, write: Write) -> Any:
        if self._process is not None:
            return await self._process.submit(write)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._queue_lock:
            self._queued.append(_QueuedWrite(write, future, loop))
            if not self._draining:
                self._draining = True
                self._writer_pool.submit(self._drain)
        return await future

    def _drain(self) -> None:
        """Writer thread: run everything queued so far as one group, then look again."""
        with self._queue_lock:
            group, self._queued = self._queued[: self._max_group], self._queued[self._max_group :]
        try:
            self._run_group(group)
        finally:
            with self._queue_lock:
                if self._queued:
                    self._writer_pool.submit(self._drain)
                else:
                    self._draining = False

    def _run_group(self, group: list[_QueuedWrite]) -> None:
        assert self._writer is not None, "SqliteDatabase.open() was not called"
        outcomes, emitted = run_group(self._writer, self._clock.now, [w.write for w in group])
        self._count_group(len(group))
        by_loop: dict[asyncio.AbstractEventLoop, list[Settled]] = {}
        for write, (ok, value) in zip(group, outcomes, strict=True):
            by_loop.setdefault(write.loop, []).append((write.future, ok, value))
        hand_over(by_loop)
        if emitted:
            self._tell_listeners()

    async def write_idempotent(
        self,
        idem: Idempotency | None,
        result_type: type[T],
        fn: Callable[Concatenate[Tx, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn` once per idempotency key; a repeat returns the first result unchanged."""
        if idem is None:
            return await self.write(fn, *args, **kwargs)
        require_portable(fn)
        once = Write(_once, (idem, result_type, Write(fn, args, kwargs)), {}, result_type)
        result: T = await self._submit(once)
        return result

    async def stored_result(self, idem: Idempotency, result_type: type[T]) -> T | None:
        """What the first request under this key returned, or None if there was none."""
        return self.point_read(lambda conn: _stored(conn, idem, result_type))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, lambda: fn(self._reader()))

    def point_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A lookup of a few rows by key, on the caller's own thread (the event loop's).

        It takes microseconds in SQLite — less than the hop to a reader thread and back,
        which under load also waits its turn for the interpreter behind busy threads — and
        in WAL mode a reader never waits for the writer. Scans and anything sized by the
        data go through `read`.
        """
        return fn(self._reader())

    def now(self) -> datetime:
        return self._clock.now()


class _QueuedWrite(NamedTuple):
    write: Write
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _once(tx: Tx, idem: Idempotency, result_type: type[T], write: Write) -> T:
    earlier = _stored(tx.conn, idem, result_type)
    if earlier is not None:
        return earlier
    result: T = write.fn(tx, *write.args, **write.kwargs)
    tx.execute(
        "INSERT INTO idempotency(scope, key, fingerprint, result, created_at_ms)"
        " VALUES (?,?,?,?,?)",
        (idem.scope, idem.key, idem.fingerprint, _json.encode(result), tx.now_ms),
    )
    return result


def _stored(conn: sqlite3.Connection, idem: Idempotency, result_type: type[T]) -> T | None:
    """The result saved under this key; another request under it is an error."""
    row = conn.execute(
        "SELECT fingerprint, result FROM idempotency WHERE scope=? AND key=?",
        (idem.scope, idem.key),
    ).fetchone()
    if row is None:
        return None
    if row[0] != idem.fingerprint:
        raise IdempotencyKeyReused(f"Idempotency-Key {idem.key!r} was used for a different request")
    return msgspec.json.decode(row[1], type=result_type)
