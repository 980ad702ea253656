"""The API process's end of a writer process (booking/adapters/local/sqlite_writer.py):
starts it, sends it the writes of each turn of the event loop in one frame, and settles
their futures from the outcomes it sends back; a writer that dies fails what it had
with StoreUnavailable and is started again."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from booking.adapters.local.sqlite_writer import (
    STARTUP_SECONDS,
    Frames,
    Settled,
    Write,
    frame,
    read_outcome,
    read_ready,
    serve,
)
from booking.domain.errors import StoreUnavailable

log = logging.getLogger(__name__)


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
                serve.__module__,
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
            ready = [read_ready(ours)]
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
            self._sock.sendall(frame(payload))
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
        frames = Frames(sock)
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
            settled = (waiting.future, *read_outcome(ok, payload, waiting.result_type))
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
