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
import contextlib
import functools
import itertools
import logging
import pickle
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from booking.adapters.shifted_clock import ShiftedClock
from booking.adapters.system_clock import SystemClock
from booking.adapters.timestamps import to_ms
from booking.domain.errors import StoreUnavailable
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


def _frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


class _Frames:
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


def _read_outcome(ok: bool, payload: bytes, result_type: type | None) -> Outcome:
    try:
        if payload[:1] == _MSGPACK and result_type is not None:
            return ok, _msgpack_decoder(result_type).decode(payload[1:])
        return ok, pickle.loads(payload)  # noqa: S301 - from our own writer process
    except Exception as exc:  # the write's caller hears of it, nobody else
        return False, TypeError(f"the write's outcome could not be read back: {exc!r}")


def _read_ready(sock: socket.socket) -> bytes:
    """The writer's first frame, within the socket's timeout (nothing follows it unasked)."""
    buffer = b""
    while len(buffer) < _LENGTH.size or len(buffer) < _LENGTH.size + _LENGTH.unpack_from(buffer)[0]:
        chunk = sock.recv(_RECEIVE)
        if not chunk:
            raise EOFError
        buffer += chunk
    return buffer[_LENGTH.size :]


def _take(frames: _Frames, waiting: list[tuple[int, Write]]) -> None:
    for frame in frames.next_frames():
        waiting.extend(pickle.loads(frame))  # noqa: S301 - from the API process that started us


def serve(path: Path, sock: socket.socket, max_group: int, clock_file: Path | None) -> None:
    """The writer process: groups of writes off `sock`, one transaction each, outcomes back,
    until the API process closes its end. Its clock is the system's, or the API process's
    shifted clock when `clock_file` names it (booking/adapters/shifted_clock.py)."""
    clock: Clock = SystemClock() if clock_file is None else ShiftedClock(clock_file)
    conn = connect(path)
    frames = _Frames(sock)
    sock.sendall(_frame(b"ready"))
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
        sock.sendall(_frame(pickle.dumps((reply, emitted), pickle.HIGHEST_PROTOCOL)))
    conn.close()


class _Pending(NamedTuple):
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    result_type: type | None


class WriterProcess:
    """The API process's end of a writer process: sends writes, settles their futures.

    Writes submitted in one turn of an event loop leave in one frame; the process takes
    everything that has arrived as its next group. A thread of this process waits for the
    outcomes (blocked in `recv`, without the interpreter lock) and settles each loop's
    futures in one callback. If the process dies, the writes it had are failed as
    `StoreUnavailable` (a retry with the same Idempotency-Key is safe) and the next write
    starts a new one.
    """

    def __init__(
        self,
        path: Path,
        max_group: int,
        on_messages: Callable[[], None],
        on_group: Callable[[int], None],
        clock_file: Path | None = None,
    ) -> None:
        self._path = path
        self._clock_file = clock_file
        self._max_group = max_group
        self._on_messages = on_messages
        self._on_group = on_group
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._outgoing: list[tuple[int, Write]] = []
        self._flush_scheduled: set[asyncio.AbstractEventLoop] = set()
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._sent: set[int] = set()
        """Writes the current process has and has not answered yet."""
        self._receivers: list[threading.Thread] = []
        self._closing = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            command = [
                sys.executable,
                "-m",
                __name__,
                "--database",
                str(self._path),
                "--fd",
                str(theirs.fileno()),
                "--max-group",
                str(self._max_group),
                *(["--clock-file", str(self._clock_file)] if self._clock_file else []),
            ]
            process = subprocess.Popen(  # noqa: S603 - our own module, no shell
                command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
            )
        ours.settimeout(STARTUP_SECONDS)
        try:
            ready = [_read_ready(ours)]
        except (OSError, EOFError) as exc:
            process.kill()
            process.wait()
            ours.close()
            raise RuntimeError(f"the SQLite writer for {self._path} did not start") from exc
        if ready != [b"ready"]:
            raise RuntimeError(f"the SQLite writer for {self._path} said {ready!r}")
        ours.settimeout(None)
        sent: set[int] = set()
        self._process, self._sock, self._sent = process, ours, sent
        receiver = threading.Thread(
            target=self._receive,
            args=(ours, process, sent),
            name="sqlite-writer-replies",
            daemon=True,
        )
        self._receivers.append(receiver)
        receiver.start()

    def submit(self, write: Write) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        ident = next(self._ids)
        with self._lock:
            if self._closing:
                raise StoreUnavailable("the database is closing")
            self._pending[ident] = _Pending(future, loop, write.result_type)
            self._outgoing.append((ident, write))
            if loop not in self._flush_scheduled:
                self._flush_scheduled.add(loop)
                loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        with self._lock:
            if loop is not None:
                self._flush_scheduled.discard(loop)
            outgoing, self._outgoing = self._outgoing, []
            if not outgoing:
                return
            if self._process is None or self._process.poll() is not None:
                self._restart()
            try:
                payload = pickle.dumps(outgoing, pickle.HIGHEST_PROTOCOL)
            except Exception:  # find the write that cannot leave; it fails alone
                for one in outgoing:
                    self._send([one])
                return
            self._send(outgoing, payload)

    def _send(self, writes: list[tuple[int, Write]], payload: bytes | None = None) -> None:
        """With the lock held."""
        idents = [ident for ident, _ in writes]
        if payload is None:
            try:
                payload = pickle.dumps(writes, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # handed to the write's caller
                name = writes[0][1].fn.__qualname__
                self._settle_failed(idents, TypeError(f"{name} cannot reach the writer: {exc!r}"))
                return
        assert self._sock is not None
        self._sent.update(idents)
        try:
            self._sock.sendall(_frame(payload))
        except OSError as exc:
            self._sent.difference_update(idents)
            self._settle_failed(idents, _stopped(exc))

    def _settle_failed(self, idents: list[int], error: BaseException) -> None:
        """With the lock held."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Settled]]
        by_loop = {}
        for ident in idents:
            pending = self._pending.pop(ident, None)
            if pending is not None:
                by_loop.setdefault(pending.loop, []).append((pending.future, False, error))
        hand_over(by_loop)

    def _restart(self) -> None:
        """With the lock held, once the process has gone."""
        if self._closing:
            raise StoreUnavailable("the database is closing")
        log.error("the SQLite writer stopped; starting another", extra={"db": str(self._path)})
        if self._sock is not None:
            self._sock.close()
        self.start()

    def _receive(
        self, sock: socket.socket, process: subprocess.Popen[bytes], sent: set[int]
    ) -> None:
        frames = _Frames(sock)
        try:
            while True:
                for frame in frames.next_frames():
                    outcomes, emitted = pickle.loads(frame)  # noqa: S301 - our own child
                    self._on_group(len(outcomes))  # counted before anyone hears of it
                    self._settle(outcomes, sent)
                    if emitted:
                        self._on_messages()
        except (EOFError, OSError):
            pass
        except Exception:  # never leave writes unanswered: end this process, fail them below
            log.exception("reading the SQLite writer's replies failed")
            process.kill()
        process.wait()
        with self._lock:
            # What this process took and never answered: committed or not, nobody can say.
            lost = list(sent)
            sent.clear()
            if lost:
                self._settle_failed(lost, _stopped(EOFError(f"exit status {process.returncode}")))

    def _settle(self, outcomes: list[tuple[int, bool, bytes]], sent: set[int]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Settled]]
        by_loop = {}
        with self._lock:
            pending = [(self._pending.pop(ident), ok, payload) for ident, ok, payload in outcomes]
            sent.difference_update(ident for ident, _, _ in outcomes)
        for waiting, ok, payload in pending:  # decoded outside the lock
            settled = (waiting.future, *_read_outcome(ok, payload, waiting.result_type))
            by_loop.setdefault(waiting.loop, []).append(settled)
        hand_over(by_loop)

    def close(self, timeout: float = 30.0) -> None:
        """Once the writes already submitted are answered; the process then exits."""
        with self._lock:
            self._closing = True
        self._flush()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)  # the process drains, replies and exits
        for receiver in self._receivers:
            receiver.join(timeout)
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._sock is not None:
            self._sock.close()


def _stopped(cause: BaseException) -> StoreUnavailable:
    error = StoreUnavailable("the database writer stopped before it answered; retry")
    error.__cause__ = cause
    return error


def hand_over(by_loop: dict[asyncio.AbstractEventLoop, list[Settled]]) -> None:
    """Each loop's outcomes settled in one callback (from any thread)."""
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[Settled]) -> None:
    for future, ok, value in settled:
        if future.cancelled():  # the caller went away; the write stands all the same
            continue
        if ok:
            future.set_result(value)
        else:
            assert isinstance(value, BaseException)
            future.set_exception(value)


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
