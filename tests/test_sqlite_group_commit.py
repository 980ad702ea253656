"""Group commit in the local store: concurrent writes share one transaction and one fsync,
yet each succeeds or fails on its own and is durable before its caller hears of it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.adapters.system_clock import SystemClock

SCHEMA = ["CREATE TABLE seats(id TEXT PRIMARY KEY, owner TEXT NOT NULL)"]


class Refused(Exception):
    pass


def claim(seat: str, owner: str, refuse: bool = False) -> object:
    def write(tx: Tx) -> str:
        taken = tx.execute("SELECT owner FROM seats WHERE id=?", (seat,)).fetchone()
        if taken is not None:
            raise Refused(f"{seat} belongs to {taken[0]}")
        tx.execute("INSERT INTO seats VALUES (?,?)", (seat, owner))
        if refuse:  # after writing: the savepoint must take the row back
            raise Refused(f"{owner} gave up {seat}")
        return owner

    return write


async def _race(db: SqliteDatabase, writes: list[object]) -> list[object]:
    return await asyncio.gather(*(db.write(w) for w in writes), return_exceptions=True)  # type: ignore[arg-type]


def test_a_burst_of_writes_shares_transactions_and_each_stands_or_falls_alone(
    tmp_path: Path,
) -> None:
    """GIVEN 300 concurrent claims on 100 seats, three per seat, every seventh claimant giving
    up after its insert WHEN they run THEN each seat has at most one owner, every answer
    matches what is stored, refused writes left nothing behind, and the 300 writes took
    far fewer transactions than 300."""
    db = SqliteDatabase(tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA)
    db.open()
    try:
        writes = [claim(f"seat-{n % 100}", f"fan-{n}", refuse=n % 7 == 0) for n in range(300)]
        answers = asyncio.run(_race(db, writes))
    finally:
        db.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        stored = dict(conn.execute("SELECT id, owner FROM seats").fetchall())
    winners = [a for a in answers if isinstance(a, str)]
    refusals = [a for a in answers if isinstance(a, Refused)]
    assert len(winners) + len(refusals) == 300, [
        a for a in answers if not isinstance(a, str | Refused)
    ]
    assert sorted(winners) == sorted(stored.values())
    assert len(stored) == 100  # somebody kept every seat: a refusal did not roll back others
    assert all(f"fan-{n}" not in stored.values() for n in range(0, 300, 7))
    assert db.groups < db.writes == 300


def test_a_failed_commit_fails_every_write_of_its_group(tmp_path: Path) -> None:
    """GIVEN a write that breaks the transaction itself (a constraint the savepoint cannot
    absorb is simulated by a statement that ends the transaction) WHEN it shares a group
    THEN no caller is told its write succeeded unless it is stored."""
    db = SqliteDatabase(tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA)
    db.open()

    def ends_transaction(tx: Tx) -> None:
        tx.execute("COMMIT")  # leaves the group without its transaction
        tx.execute("BEGIN")
        tx.execute("ROLLBACK")
        raise sqlite3.OperationalError("transaction ended under the writer")

    try:
        writes = [claim(f"seat-{n}", f"fan-{n}") for n in range(20)]
        writes.insert(10, ends_transaction)
        answers = asyncio.run(_race(db, writes))
    finally:
        db.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        stored = dict(conn.execute("SELECT id, owner FROM seats").fetchall())
    told_ok = {a for a in answers if isinstance(a, str)}
    assert told_ok <= set(stored.values())


@pytest.mark.parametrize("size", [1, 2])
def test_writes_are_durable_before_their_callers_hear_of_them(tmp_path: Path, size: int) -> None:
    """GIVEN a write that returned WHEN another connection reads the file THEN it is there."""
    db = SqliteDatabase(tmp_path / "db.sqlite3", SystemClock(), migrations=SCHEMA)
    db.open()

    async def one_by_one() -> None:
        for n in range(size):
            await db.write(claim(f"seat-{n}", "fan"))
            with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
                assert conn.execute("SELECT count(*) FROM seats").fetchone()[0] == n + 1

    try:
        asyncio.run(one_by_one())
    finally:
        db.close()
