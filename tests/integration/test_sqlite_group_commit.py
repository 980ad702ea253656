"""Group commit in the local store: concurrent writes share one transaction and one fsync,
yet each succeeds or fails on its own and is durable before its caller hears of it — with
the writer connection on a thread of this process or in a writer process of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx, WriterKind
from booking.adapters.system_clock import SystemClock
from booking.domain.catalog import UnitKind
from booking.domain.errors import NotFound, SeatsUnavailable, StoreUnavailable
from booking.domain.messages import HoldPlaced
from booking.domain.ports import Idempotency

SCHEMA = [
    "CREATE TABLE seats(id TEXT PRIMARY KEY, owner TEXT NOT NULL);\n"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, topic TEXT, payload BLOB,"
    " created_at_ms INTEGER, available_at_ms INTEGER);\n"
    "CREATE TABLE idempotency(scope TEXT, key TEXT, fingerprint TEXT, result BLOB,"
    " created_at_ms INTEGER, PRIMARY KEY (scope, key))"
]
KINDS: list[WriterKind] = ["thread", "process"]


class Refused(Exception):
    pass


def claim(tx: Tx, seat: str, owner: str, refuse: bool = False) -> str:
    taken = tx.execute("SELECT owner FROM seats WHERE id=?", (seat,)).fetchone()
    if taken is not None:
        raise Refused(f"{seat} belongs to {taken[0]}")
    tx.execute("INSERT INTO seats VALUES (?,?)", (seat, owner))
    if refuse:  # after writing: the savepoint must take the row back
        raise Refused(f"{owner} gave up {seat}")
    return owner


class Claimed(msgspec.Struct, frozen=True):
    seat: str
    owner: str
    at: datetime
    kind: UnitKind


def claim_once(tx: Tx, seat: str, owner: str) -> Claimed:
    claim(tx, seat, owner)
    return Claimed(seat, owner, tx.now, UnitKind.SEAT)


def ends_transaction(tx: Tx) -> None:
    tx.execute("COMMIT")  # leaves the group without its transaction
    tx.execute("BEGIN")
    tx.execute("ROLLBACK")
    raise sqlite3.OperationalError("transaction ended under the writer")


def refuse_seats(tx: Tx, seats: list[str]) -> None:
    raise SeatsUnavailable(seats, {"FLOOR": 2})


def refuse_missing(tx: Tx, hold_id: str) -> None:
    raise NotFound("hold", hold_id)


def returns_a_lock(tx: Tx) -> object:
    return threading.Lock()  # cannot be pickled, so cannot leave a writer process


def announce(tx: Tx, hold_id: str) -> None:
    tx.emit(HoldPlaced(hold_id, "prf_1", 1))


def sleep_in_writer(tx: Tx, seconds: float) -> None:
    time.sleep(seconds)


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(
        tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA, writer=request.param
    )
    database.open()
    try:
        yield database
    finally:
        database.close()


def stored(db: SqliteDatabase) -> dict[str, str]:
    with sqlite3.connect(db.path) as conn:
        return dict(conn.execute("SELECT id, owner FROM seats").fetchall())


def run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


def test_a_burst_of_writes_shares_transactions_and_each_stands_or_falls_alone(
    db: SqliteDatabase,
) -> None:
    """GIVEN 300 concurrent claims on 100 seats, three per seat, every seventh claimant giving
    up after its insert WHEN they run THEN each seat has at most one owner, every answer
    matches what is stored, refused writes left nothing behind, and the 300 writes took
    far fewer transactions than 300."""

    async def race() -> list[object]:
        return await asyncio.gather(
            *(db.write(claim, f"seat-{n % 100}", f"fan-{n}", n % 7 == 0) for n in range(300)),
            return_exceptions=True,
        )

    answers = run(race)
    kept = stored(db)
    winners = [a for a in answers if isinstance(a, str)]
    refusals = [a for a in answers if isinstance(a, Refused)]
    assert len(winners) + len(refusals) == 300, [
        a for a in answers if not isinstance(a, str | Refused)
    ]
    assert sorted(winners) == sorted(kept.values())
    assert len(kept) == 100  # somebody kept every seat: a refusal did not roll back others
    assert all(f"fan-{n}" not in kept.values() for n in range(0, 300, 7))
    assert db.groups < db.writes == 300


def test_a_failed_commit_fails_every_write_of_its_group(db: SqliteDatabase) -> None:
    """GIVEN a write that breaks the transaction itself (a constraint the savepoint cannot
    absorb is simulated by a statement that ends the transaction) WHEN it shares a group
    THEN no caller is told its write succeeded unless it is stored."""

    async def race() -> list[object]:
        writes: list[Awaitable[object]] = [
            db.write(claim, f"seat-{n}", f"fan-{n}") for n in range(20)
        ]
        writes.insert(10, db.write(ends_transaction))
        return await asyncio.gather(*writes, return_exceptions=True)

    answers = run(race)
    told_ok = {a for a in answers if isinstance(a, str)}
    assert told_ok <= set(stored(db).values())


@pytest.mark.parametrize("size", [1, 2])
def test_writes_are_durable_before_their_callers_hear_of_them(
    db: SqliteDatabase, size: int
) -> None:
    """GIVEN a write that returned WHEN another connection reads the file THEN it is there."""

    async def one_by_one() -> None:
        for n in range(size):
            await db.write(claim, f"seat-{n}", "fan")
            assert len(stored(db)) == n + 1

    run(one_by_one)


def test_an_idempotent_write_returns_its_struct_and_a_replay_the_same(
    db: SqliteDatabase,
) -> None:
    """GIVEN an idempotent write returning a Struct (sent back from a writer process as
    msgpack) WHEN it runs and is replayed under its key THEN both answers equal the first,
    field for field, and the seat was claimed once."""
    idem = Idempotency("fan:claim", "key-1", "print")

    async def twice() -> tuple[Claimed, Claimed]:
        first = await db.write_idempotent(idem, Claimed, claim_once, "seat-1", "fan")
        again = await db.write_idempotent(idem, Claimed, claim_once, "seat-1", "fan")
        return first, again

    first, again = run(twice)
    assert first == again
    assert isinstance(first, Claimed) and first.kind is UnitKind.SEAT
    assert first.at.tzinfo is not None
    assert stored(db) == {"seat-1": "fan"}


def test_domain_errors_reach_the_caller_whole(db: SqliteDatabase) -> None:
    """GIVEN writes that refuse with domain errors WHEN they fail THEN the caller gets the
    same error type with its detail and its fields (the API renders them as problems)."""

    async def both() -> tuple[object, object]:
        return await asyncio.gather(
            db.write(refuse_seats, ["A-1", "A-2"]),
            db.write(refuse_missing, "hld_x"),
            return_exceptions=True,
        )

    seats, missing = run(both)
    assert isinstance(seats, SeatsUnavailable)
    assert seats.taken == ["A-1", "A-2"]
    assert seats.extra == {"taken": ["A-1", "A-2"], "ga_short": {"FLOOR": 2}}
    assert (
        seats.detail
        == "seats already taken: A-1, A-2; zone FLOOR has 2 fewer places than requested"
    )
    assert isinstance(missing, NotFound)
    assert missing.detail == "hold 'hld_x' does not exist"
    assert missing.extra == {"resource": "hold"}


def test_a_write_must_be_a_module_level_function(db: SqliteDatabase) -> None:
    """GIVEN a closure WHEN it is written THEN it is refused at once, on either writer (a
    closure cannot reach a writer process, so none may be written anywhere)."""
    seat = "seat-1"

    async def closure() -> None:
        await db.write(lambda tx: claim(tx, seat, "fan"))

    with pytest.raises(TypeError, match="module-level"):
        run(closure)
    assert stored(db) == {}


def test_listeners_hear_of_commits_that_wrote_messages(db: SqliteDatabase) -> None:
    """GIVEN a listener WHEN a write puts a message in the outbox THEN it is called after
    the commit; a write without messages does not call it."""
    heard = threading.Event()
    db.on_commit_with_messages(heard.set)

    async def plain() -> None:
        await db.write(claim, "seat-1", "fan")

    run(plain)
    assert not heard.wait(0.2)

    async def with_message() -> None:
        await db.write(announce, "hld_1")

    run(with_message)
    assert heard.wait(5)
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


def test_a_result_that_cannot_leave_the_writer_process_fails_alone(tmp_path: Path) -> None:
    """GIVEN a write whose result cannot be sent back from the writer process WHEN it shares
    a group with others THEN it fails with a TypeError and the others succeed."""
    db = SqliteDatabase(tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA, writer="process")
    db.open()

    async def mixed() -> tuple[object, object, object]:
        return await asyncio.gather(
            db.write(claim, "seat-1", "fan-1"),
            db.write(returns_a_lock),
            db.write(claim, "seat-2", "fan-2"),
            return_exceptions=True,
        )

    try:
        first, lock, second = run(mixed)
    finally:
        db.close()
    assert (first, second) == ("fan-1", "fan-2")
    assert isinstance(lock, TypeError)
    assert stored(db) == {"seat-1": "fan-1", "seat-2": "fan-2"}


def test_a_writer_process_that_dies_fails_its_writes_and_is_replaced(tmp_path: Path) -> None:
    """GIVEN a writer process busy with a write WHEN it is killed THEN that write and the ones
    queued behind it fail as StoreUnavailable (a retry is safe), none of them is stored,
    and the next write runs in a new writer process."""
    db = SqliteDatabase(tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA, writer="process")
    db.open()
    first_pid = db.writer_pid
    assert first_pid is not None

    async def killed_mid_write() -> list[object]:
        busy = asyncio.ensure_future(db.write(sleep_in_writer, 5.0))
        await asyncio.sleep(0.5)  # the writer is inside the sleeping write
        queued = [asyncio.ensure_future(db.write(claim, f"seat-{n}", "fan")) for n in range(3)]
        await asyncio.sleep(0.2)
        os.kill(first_pid, signal.SIGKILL)
        return await asyncio.gather(busy, *queued, return_exceptions=True)

    async def afterwards() -> str:
        return await db.write(claim, "seat-9", "later")

    try:
        answers = run(killed_mid_write)
        assert all(isinstance(a, StoreUnavailable) for a in answers), answers
        assert run(afterwards) == "later"
        assert db.writer_pid not in (None, first_pid)
    finally:
        db.close()
    assert stored(db) == {"seat-9": "later"}


def test_closing_waits_for_writes_already_submitted(tmp_path: Path) -> None:
    """GIVEN writes submitted to a writer process WHEN the database closes right away THEN
    every one of them is answered and stored, and the writer process has exited."""
    db = SqliteDatabase(tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA, writer="process")
    db.open()
    pid = db.writer_pid

    async def submit_then_close() -> list[object]:
        writes = [asyncio.ensure_future(db.write(claim, f"seat-{n}", "fan")) for n in range(50)]
        await asyncio.sleep(0)  # they leave for the writer at the end of this turn
        await asyncio.to_thread(db.close)
        return await asyncio.gather(*writes)

    assert run(submit_then_close) == ["fan"] * 50
    assert len(stored(db)) == 50
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
