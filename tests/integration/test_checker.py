"""`concertbook check` proves itself: every planted bug is caught in a short default run, a
correct server passes with faults, and each check fails on the history that breaks it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checker.checks import (
    check_no_false_refusal,
    check_one_claim_at_a_time,
    check_replays,
    claims,
)
from checker.history import History, Op
from rehearsal.audit import HoldRow, IdempotencyRow, Snapshot
from tests.redis_server import redis_binary
from tests.support import skip_unless_available

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "check"
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "check", "--out", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = (
        json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    )
    return done.returncode, summary, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("bug", "caught_by"),
    [
        ("check-then-act", "one claim at a time"),
        ("sticky-preclaim", "no false refusal"),
        ("ack-before-commit", "acknowledged and durable"),
        ("replay-reruns", "one effect per key"),
    ],
)
def test_each_planted_bug_is_caught(tmp_path: Path, bug: str, caught_by: str) -> None:
    code, summary, output = _check(tmp_path, "--plant", bug, "--seconds", "10")
    assert code == 1, output
    assert summary["checks"][caught_by] > 0, summary
    assert (tmp_path / "check" / "report.html").read_text().count("<line") > 100


@pytest.mark.slow
def test_a_correct_server_passes_with_its_process_killed_paused_and_its_writer_killed(
    tmp_path: Path,
) -> None:
    # Room for all three faults when a restart is slow on a busy machine (a kill waits for
    # the new server's health, and a pause outlives a hold).
    code, summary, output = _check(
        tmp_path, "--seconds", "16", "--faults", "kill,writer-kill,pause", "--fault-every", "2.5"
    )
    assert code == 0, output
    assert summary["faults"] >= 3
    assert summary["outcomes"]["ok"] > 50 and summary["outcomes"]["unknown"] > 0


@pytest.mark.slow
def test_a_correct_server_passes_with_redis_flushed_and_restarted(tmp_path: Path) -> None:
    skip_unless_available(redis_binary() is not None, "redis-server is not installed")
    code, summary, output = _check(
        tmp_path, "--seconds", "10", "--faults", "redis-flush,redis-restart", "--fault-every", "2"
    )
    assert code == 0, output
    assert summary["faults"] >= 3


# -- each check on a history made by hand ---------------------------------------------
T0 = 1_800_000_000.0


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


def _hold(ident: str, units: tuple[str, ...], start: float, life: float, status: str) -> HoldRow:
    return HoldRow(
        ident,
        "p",
        "fan",
        status,
        int((T0 + start + life) * 1000),
        len(units),
        units,
        _at(start),
        _at(start + life),
    )


def _snapshot(*holds: HoldRow, keys: dict[str, str] | None = None) -> Snapshot:
    return Snapshot(
        taken_at_ms=int((T0 + 100) * 1000),
        performances={},
        units=[],
        holds={h.id: h for h in holds},
        orders={},
        payments={},
        tickets=[],
        idempotency=[IdempotencyRow("fan", "place-hold", k, h) for k, h in (keys or {}).items()],
        limit_counters={},
        outbox_pending=0,
        outbox_dead=[],
    )


def _op(
    ident: int,
    kind: str,
    start: float,
    end: float,
    status: int,
    answer: Any,
    key: str = "k",
    body: dict[str, Any] | None = None,
) -> Op:
    outcome = "ok" if status < 300 else "fail" if status < 500 else "unknown"
    return Op(
        ident,
        0,
        kind,
        "fan",
        key,
        body or {},
        None,
        T0 + start,
        T0 + end,
        outcome,  # type: ignore[arg-type]
        status,
        answer,
    )


def _refusal(ident: int, start: float, end: float, seat: str) -> Op:
    answer = {"type": "/problems/seats-unavailable", "taken": [seat]}
    return _op(ident, "place-hold", start, end, 409, answer, key=f"r{ident}")


def test_a_refusal_is_true_while_an_acknowledged_or_stored_hold_owns_the_seat() -> None:
    history = History([_refusal(1, 1.0, 1.01, "A-1"), _refusal(2, 6.0, 6.01, "A-1")])
    snapshot = _snapshot(_hold("h1", ("A-1",), 0.5, 5.0, "expired"))
    problems = check_no_false_refusal(history, claims(history, snapshot))
    assert len(problems) == 1 and "#2 " in problems[0]  # at 6 s the hold had lapsed


def test_a_refusal_naming_a_seat_nobody_held_is_false() -> None:
    history = History([_refusal(1, 1.0, 1.01, "A-2")])
    snapshot = _snapshot(_hold("h1", ("A-1",), 0.5, 5.0, "active"))
    assert check_no_false_refusal(history, claims(history, snapshot))


def test_two_holds_in_force_on_one_seat_at_once_are_caught() -> None:
    first = _op(1, "place-hold", 0.0, 0.1, 201, {"id": "h1", "items": []}, key="a")
    second = _op(2, "place-hold", 1.0, 1.1, 201, {"id": "h2", "items": []}, key="b")
    history = History([first, second])
    snapshot = _snapshot(
        _hold("h1", ("A-1",), 0.0, 5.0, "active"),
        _hold("h2", ("A-1",), 1.0, 5.0, "active"),
        keys={"a": "h1", "b": "h2"},
    )
    assert check_one_claim_at_a_time(claims(history, snapshot))
    lapsed = _snapshot(
        _hold("h1", ("A-1",), 0.0, 0.5, "expired"),
        _hold("h2", ("A-1",), 1.0, 5.0, "active"),
        keys={"a": "h1", "b": "h2"},
    )
    assert not check_one_claim_at_a_time(claims(history, lapsed))


def test_a_replay_must_get_the_stored_answer() -> None:
    body = {"seats": ["A-1"]}
    first = _op(1, "place-hold", 0.0, 0.1, 201, {"id": "h1"}, body=body)
    same = _op(2, "replay-hold", 0.2, 0.3, 201, {"id": "h1"}, body=body)
    assert check_replays(History([first, same])) == []
    other = _op(3, "replay-hold", 0.4, 0.5, 201, {"id": "h2"}, body=body)
    refused = _op(
        4, "replay-hold", 0.6, 0.7, 409, {"type": "/problems/seats-unavailable"}, body=body
    )
    assert len(check_replays(History([first, same, other, refused]))) == 2
