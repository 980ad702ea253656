"""One SQLite database file: WAL, synchronous=FULL, migrations at open, one writer thread.

Every write runs as `BEGIN IMMEDIATE … COMMIT` on the single writer connection,
so a transaction's conditions see every earlier commit; readers use their own
connections and see consistent snapshots. Outbox rows and idempotency records
are written inside the same transaction as the change they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import msgspec

from booking.adapters.local.migrations import MIGRATIONS
from booking.adapters.timestamps import to_ms
from booking.domain.errors import IdempotencyKeyReused
from booking.domain.messages import OutboxMessage, encode_message, topic_of
from booking.domain.ports import Clock, Idempotency

T = TypeVar("T")

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

    def emit(self, message: OutboxMessage) -> None:
        self.conn.execute(
            "INSERT INTO outbox(topic, payload, created_at_ms, available_at_ms) VALUES (?,?,?,?)",
            (topic_of(message), encode_message(message), self.now_ms, self.now_ms),
        )
        self.emitted = True


class SqliteDatabase:
    def __init__(
        self, path: Path, clock: Clock, migrations: list[str] = MIGRATIONS, readers: int = 4
    ) -> None:
        self.path = path
        self._migrations = migrations
        self._clock = clock
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None
        self._listeners: list[Callable[[], None]] = []

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._writer_pool.submit(self._connect).result()
        self._writer_pool.submit(self._migrate, self._writer, self._migrations).result()

    def close(self) -> None:
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)

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
        return conn

    def _run_write(self, fn: Callable[[Tx], T]) -> T:
        assert self._writer is not None, "SqliteDatabase.open() was not called"
        tx = Tx(self._writer, self._clock.now())
        with _transaction(self._writer):
            result = fn(tx)
        if tx.emitted:
            for listener in self._listeners:
                listener()
        return result

    async def write(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer_pool, self._run_write, fn)

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
        return await self.read(lambda conn: _stored(conn, idem, result_type))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, lambda: fn(self._reader()))

    def now(self) -> datetime:
        return self._clock.now()


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


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
