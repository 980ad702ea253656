"""The write side of one SQLite file: transactions, group commit, and the writer process.

A write is a module-level function `fn(tx, *args)` and its arguments, so it can run
where the writer connection lives: on a thread of this process, or in a process of its
own (`WriterProcess`). Writes that arrive together run one after another in a single
`BEGIN IMMEDIATE … COMMIT`, each inside its own SAVEPOINT, so a write that fails rolls
back only itself and one fsync serves the whole group (`run_group`).

Why a process: SQLite's statements run without the interpreter lock, but every one of
them has to take it back to return, and under load the event loop holds it. Measured on
the hold path, the writer thread waited for the lock through most of its time (wall
time per write about three times its CPU time) and, as the only writer, held every hold
behind it. In a process of its own the writer keeps its own interpreter; the API process
sends it writes and reads the outcomes over a socket pair.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import pickle
import signal
import socket
import sqlite3
import struct
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from booking.adapters.shifted_clock import ShiftedClock
from booking.adapters.system_clock import SystemClock
from booking.adapters.timestamps import to_ms
from booking.domain.messages import OutboxMessage, encode_message, topic_of
from booking.domain.ports import Clock

log = logging.getLogger(__name__)


class Tx:
    """A write transaction in progress, with the moment it runs at."""

    def __init__(self, conn: sqlite3.Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.now_ms = to_ms(now)
        self.emitted = False

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def emit(self, message: OutboxMessage) -> None:
        self.conn.execute(
            "INSERT INTO outbox(topic, payload, created_at_ms, available_at_ms) VALUES (?,?,?,?)",
            (topic_of(message), encode_message(message), self.now_ms, self.now_ms),
        )
        self.emitted = True


class Write(NamedTuple):
    """One write: `fn(tx, *args, **kwargs)`; module-level, so another process can run it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result_type: type | None = None
    """A msgspec type the result is known to be: it travels back from a writer process
    as msgpack, about ten times cheaper than pickling the Struct."""


Outcome = tuple[bool, object]
"""(True, result) or (False, the exception the write raised)."""
Settled = tuple["asyncio.Future[Any]", bool, object]
"""A write's future and its outcome."""


def require_portable(fn: Callable[..., Any]) -> None:
    """Writes are sent by reference: a lambda or nested function cannot leave the process."""
    if "<" in fn.__qualname__:
        raise TypeError(
            f"{fn.__qualname__}: a write must be a module-level function given its arguments"
        )


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    # Every write of a group runs in a SAVEPOINT, whose statement journal would otherwise
    # be a temporary file created and deleted per group.
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[str]) -> None:
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


def run_group(
    conn: sqlite3.Connection, now: Callable[[], datetime], group: Sequence[Write]
) -> tuple[list[Outcome], bool]:
    """Every write of `group` in one transaction, each in its savepoint; the outcomes in
    order, and whether a committed write put messages in the outbox. Nobody hears of a
    write before the COMMIT that made it durable."""
    outcomes: list[Outcome] = []
    emitted = False
    try:
        conn.execute("BEGIN IMMEDIATE")
        for write in group:
            tx = Tx(conn, now())
            conn.execute("SAVEPOINT write")
            try:
                result = write.fn(tx, *write.args, **write.kwargs)
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
        return [(False, exc)] * len(group), False
    return outcomes, emitted


# -- the writer process -------------------------------------------------------------------
_LENGTH = struct.Struct("!I")
_RECEIVE = 1 << 20
STARTUP_SECONDS = 60.0


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


class Frames:
    """Length-prefixed frames off a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _parsed(self) -> list[bytes]:
        frames = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[_LENGTH.size : end]))
            del self._buffer[:end]
        return frames

    def next_frames(self) -> list[bytes]:
        """At least one frame (blocking for it), and every other one already received;
        EOFError once the other side has closed."""
        frames = self._parsed()
        while True:
            try:
                # Blocking until a first frame is complete; after it, only what is there.
                chunk = self._sock.recv(_RECEIVE, socket.MSG_DONTWAIT if frames else 0)
            except BlockingIOError:
                return frames
            if not chunk:
                if frames:
                    return frames
                raise EOFError
            self._buffer += chunk
            frames += self._parsed()

    def waiting(self) -> bool:
        """Whether bytes have arrived that were not read yet."""
        try:
            return bool(self._sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK))
        except BlockingIOError:
            return False


def _portable_outcome(ok: bool, value: object, result_type: type | None) -> tuple[bool, bytes]:
    """An outcome as it travels back, encoded on its own so that one that cannot travel
    fails only its own write: a result of a known msgspec type as msgpack, the rest (and
    every error) pickled."""
    try:
        if ok and result_type is not None:
            return ok, _MSGPACK + msgspec.msgpack.encode(value)
        return ok, pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # reported to the caller instead
        what = "result" if ok else "error"
        error = TypeError(f"the write's {what} cannot leave the writer: {exc!r}")
        return False, pickle.dumps(error, pickle.HIGHEST_PROTOCOL)


_MSGPACK = b"M"
"""First byte of an outcome in msgpack (a pickle starts with its protocol byte, 0x80)."""


@functools.cache
def _msgpack_decoder(result_type: type) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(result_type)


def read_outcome(ok: bool, payload: bytes, result_type: type | None) -> Outcome:
    try:
        if payload[:1] == _MSGPACK and result_type is not None:
            return ok, _msgpack_decoder(result_type).decode(payload[1:])
        return ok, pickle.loads(payload)  # noqa: S301 - from our own writer process
    except Exception as exc:  # the write's caller hears of it, nobody else
        return False, TypeError(f"the write's outcome could not be read back: {exc!r}")


def read_ready(sock: socket.socket) -> bytes:
    """The writer's first frame, within the socket's timeout (nothing follows it unasked)."""
    buffer = b""
    while len(buffer) < _LENGTH.size or len(buffer) < _LENGTH.size + _LENGTH.unpack_from(buffer)[0]:
        chunk = sock.recv(_RECEIVE)
        if not chunk:
            raise EOFError
        buffer += chunk
    return buffer[_LENGTH.size :]


def _take(frames: Frames, waiting: list[tuple[int, Write]]) -> None:
    for frame in frames.next_frames():
        waiting.extend(pickle.loads(frame))  # noqa: S301 - from the API process that started us


def serve(path: Path, sock: socket.socket, max_group: int, clock_file: Path | None) -> None:
    """The writer process: groups of writes off `sock`, one transaction each, outcomes back,
    until the API process closes its end. Its clock is the system's, or the API process's
    shifted clock when `clock_file` names it (booking/adapters/shifted_clock.py)."""
    clock: Clock = SystemClock() if clock_file is None else ShiftedClock(clock_file)
    conn = connect(path)
    frames = Frames(sock)
    sock.sendall(frame(b"ready"))
    waiting: list[tuple[int, Write]] = []
    closed = False
    while waiting or not closed:
        try:
            # Everything that arrived meanwhile joins what a full group left over.
            if not waiting or frames.waiting():
                _take(frames, waiting)
        except EOFError:
            closed = True
            continue
        group, waiting = waiting[:max_group], waiting[max_group:]
        outcomes, emitted = run_group(conn, clock.now, [write for _, write in group])
        reply = [
            (ident, *_portable_outcome(*outcome, write.result_type))
            for (ident, write), outcome in zip(group, outcomes, strict=True)
        ]
        sock.sendall(frame(pickle.dumps((reply, emitted), pickle.HIGHEST_PROTOCOL)))
    conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the writer process of one SQLite file")
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--max-group", type=int, required=True)
    parser.add_argument("--clock-file", type=Path, default=None)
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group; the API process ends the writer by closing
    # its end of the socket, after the writes in flight, so the writer ignores it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with socket.socket(fileno=args.fd) as sock:
        serve(args.database, sock, args.max_group, args.clock_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
