"""The local outbox relay on a real SQLite file: delivered rows are done, a failing
handler's row is retried with backoff and, after its last attempt, parked as dead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from booking.adapters.local.outbox_relay import OutboxRelay
from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.domain.messages import HoldPlaced, OutboxMessage


class SteppedClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 5, 1, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


def announce(tx: Tx, hold_id: str) -> None:
    tx.emit(HoldPlaced(hold_id, "prf_1", 1))


def test_done_retried_and_dead_rows(tmp_path: Path) -> None:
    """GIVEN three messages, one whose handler always fails
    WHEN the relay drains them, the clock passing each retry's backoff
    THEN the two delivered once are done, and the failing one is tried
    `max_attempts` times, spaced by the backoff, then parked as dead with its error."""
    clock = SteppedClock()
    db = SqliteDatabase(tmp_path / "relay.sqlite3", clock)
    db.open()
    seen: list[str] = []

    async def handler(message: OutboxMessage) -> None:
        assert isinstance(message, HoldPlaced)
        seen.append(message.hold_id)
        if message.hold_id == "hld_bad":
            raise RuntimeError("mail server down")

    async def scenario() -> None:
        relay = OutboxRelay(db, {"HoldPlaced": [handler]}, max_attempts=3)
        for hold_id in ("hld_1", "hld_bad", "hld_2"):
            await db.write(announce, hold_id)

        assert await relay.drain_once() == 3
        assert await relay.drain_once() == 0  # the failed row waits out its backoff
        clock.at += timedelta(milliseconds=200)
        assert await relay.drain_once() == 1
        clock.at += timedelta(milliseconds=399)
        assert await relay.drain_once() == 0
        clock.at += timedelta(milliseconds=1)
        assert await relay.drain_once() == 1
        clock.at += timedelta(hours=1)
        assert await relay.drain_once() == 0

    try:
        asyncio.run(scenario())
        rows = asyncio.run(
            db.read(
                lambda conn: conn.execute(
                    "SELECT payload, status, attempts, last_error FROM outbox ORDER BY id"
                ).fetchall()
            )
        )
    finally:
        db.close()
    assert seen == ["hld_1", "hld_bad", "hld_2", "hld_bad", "hld_bad"]
    assert [(r[1], r[2]) for r in rows] == [("done", 1), ("dead", 3), ("done", 1)]
    assert rows[1][3] == "RuntimeError: mail server down"
