"""One SQLite database file: WAL, synchronous=FULL, migrations at open, one writer thread.

Every write runs inside `BEGIN IMMEDIATE … COMMIT` on the single writer connection,
so a write's conditions see every earlier write; readers use their own connections
and see consistent snapshots. Outbox rows and idempotency records are written inside
the same transaction as the change they belong to.

Group commit: writes that arrive while the writer is busy wait together and then run
one after another in a single transaction, each inside its own SAVEPOINT, so a write
that fails rolls back only itself. Nobody hears of a write before the COMMIT that
made it durable; one fsync then serves the whole group instead of one each, which is
what turns an onsale's burst of claims from disk-bound into CPU-bound.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import msgspec

from booking.adapters.local.migrations import MIGRATIONS
from booking.adapters.timestamps import to_ms
from booking.domain.errors import IdempotencyKeyReused
from booking.domain.messages import OutboxMessage, encode_message, topic_of
from booking.domain.ports import Clock, Idempotency

T = TypeVar("T")

MAX_GROUP = 256
"""Writes per transaction at most: bounds how long one group keeps the others waiting.
(1 gives every write a transaction and fsync of its own: the naive baselines.)"""

_json = msgspec.json.Encoder()


class Tx:
    """A write transaction in progress, with the moment it runs at."""

    def __init__(self, conn: sqlite3.Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.now_ms = to_ms(now)
        self.emitted = False

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[object, ...]]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def emit(self, message: OutboxMessage) -> None:
        self.conn.execute(
            "INSERT INTO outbox(topic, payload, created_at_ms, available_at_ms) VALUES (?,?,?,?)",
            (topic_of(message), encode_message(message), self.now_ms, self.now_ms),
        )
        self.emitted = True


class SqliteDatabase:
    def __init__(
        self,
        path: Path,
        clock: Clock,
        migrations: list[str] = MIGRATIONS,
        readers: int = 4,
        max_group: int = MAX_GROUP,
    ) -> None:
        self.path = path
        self._max_group = max_group
        self._migrations = migrations
        self._clock = clock
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer: sqlite3.Connection | None = None
        self._listeners: list[Callable[[], None]] = []
        self._queued: list[_QueuedWrite] = []
        self._queue_lock = threading.Lock()
        self._draining = False
        self.groups = 0
        """Transactions committed by `write`; with `writes`, the mean group size."""
        self.writes = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._writer_pool.submit(self._connect).result()
        self._writer_pool.submit(self._migrate, self._writer, self._migrations).result()

    def close(self) -> None:
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        for conn in self._readers:
            conn.close()
        self._readers.clear()

    def on_commit_with_messages(self, listener: Callable[[], None]) -> None:
        """Called (from the writer thread) after a commit that wrote outbox rows."""
        self._listeners.append(listener)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection, migrations: list[str]) -> None:
        # The version is read inside the write lock: processes opening one file together
        # (several servers, or a server and a tool) apply each migration exactly once.
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= len(migrations):
                    conn.execute("COMMIT")
                    return
                for statement in migrations[version].split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    async def write(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            self._queued.append(_QueuedWrite(fn, future, loop))
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
        conn = self._writer
        assert conn is not None, "SqliteDatabase.open() was not called"
        outcomes: list[tuple[bool, object]] = []
        emitted = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write in group:
                tx = Tx(conn, self._clock.now())
                conn.execute("SAVEPOINT write")
                try:
                    result = write.fn(tx)
                except Exception as exc:  # handed to the writer's caller
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE write")
                    outcomes.append((True, result))
                    emitted = emitted or tx.emitted
            conn.execute("COMMIT")
        except Exception as exc:  # the group's transaction failed as a whole
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(False, exc)] * len(group)
            emitted = False
        self.groups += 1
        self.writes += len(group)
        for write, (ok, value) in zip(group, outcomes, strict=True):
            write.loop.call_soon_threadsafe(_settle, write.future, ok, value)
        if emitted:
            for listener in self._listeners:
                listener()

    async def write_idempotent(
        self, idem: Idempotency | None, result_type: type[T], fn: Callable[[Tx], T]
    ) -> T:
        """Run `fn` once per idempotency key; a repeat returns the first result unchanged."""
        if idem is None:
            return await self.write(fn)

        def once(tx: Tx) -> T:
            earlier = _stored(tx.conn, idem, result_type)
            if earlier is not None:
                return earlier
            result = fn(tx)
            tx.execute(
                "INSERT INTO idempotency(scope, key, fingerprint, result, created_at_ms)"
                " VALUES (?,?,?,?,?)",
                (idem.scope, idem.key, idem.fingerprint, _json.encode(result), tx.now_ms),
            )
            return result

        return await self.write(once)

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
    fn: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], ok: bool, value: object) -> None:
    if future.cancelled():  # the caller went away; the write stands all the same
        return
    if ok:
        future.set_result(value)
    else:
        assert isinstance(value, BaseException)
        future.set_exception(value)


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
