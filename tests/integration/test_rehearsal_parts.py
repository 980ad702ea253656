"""The rehearsal's parts that need no load: arrivals, the stage's seat layout, reading wrk,
the timeline's arithmetic, and the audit's verdict on a store with a planted violation."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from booking.bootstrap import LocalRuntime
from rehearsal import fsync
from rehearsal.audit import load_sqlite_snapshot
from rehearsal.run import audit_store
from rehearsal.schedule import ArrivalSchedule
from rehearsal.stage import _layout, _rectangle
from rehearsal.timeline import percentile, summarize
from rehearsal.wrk import parse_output
from tests.support import ApiDriver, hold, order, skip_unless_available


def test_arrivals_rise_to_every_fan_and_most_are_early() -> None:
    schedule = ArrivalSchedule(opens_at=1000.0, before_s=20, after_s=40, fans=10_000)
    counts = [schedule.arrived_by(t) for t in range(970, 1050)]
    assert counts == sorted(counts)
    assert schedule.arrived_by(980) == 0
    assert schedule.arrived_by(1000) == 6_000
    assert schedule.arrived_by(1040) == 10_000
    # Front-loaded after opening: the first quarter brings more than a quarter of the rest.
    assert schedule.arrived_by(1010) - 6_000 > 0.25 * 4_000
    assert ArrivalSchedule.from_json(schedule.to_json()) == schedule


@pytest.mark.parametrize("seats", [2_000, 15_000, 50_000, 2_750, 1_234])
def test_the_layout_has_exactly_the_seats_asked_for(seats: int) -> None:
    layout = _layout(seats, 100)
    assert sum(b["rows"] * b["seats_per_row"] for b in layout["blocks"]) == seats
    assert all(b["rows"] <= 200 and b["seats_per_row"] <= 200 for b in layout["blocks"])
    assert layout["ga_zones"][0]["capacity"] == 100


def test_a_seat_count_that_makes_no_block_is_refused() -> None:
    with pytest.raises(ValueError, match="pick another count"):
        _rectangle(40_009)  # a prime above 200 × 200


def test_wrk_output_is_read_and_garbage_is_refused() -> None:
    line = (
        'WRK-JSON {"requests":300,"duration_us":3000000,"errors":{"connect":0,"read":0,'
        '"write":0,"timeout":2,"status":100},"latency_us":{"p50":1500,"p75":2000,'
        '"p90":3000,"p99":9000,"max":12000},"statuses":{"201":200,"409":100}}'
    )
    result = parse_output("Running 3s test\n" + line + "\n")
    assert (result.rate, result.rate_of(201), result.timeouts) == (100.0, 200 / 3, 2)
    assert result.latency_ms["p99"] == 9.0
    with pytest.raises(RuntimeError, match="no result"):
        parse_output("wrk: invalid option")


def test_the_timeline_counts_each_second_and_each_kind() -> None:
    opens = 1000.0
    requests = [
        {"t": 1000.1, "name": "hold", "ms": 5, "status": 201, "error": False},
        {"t": 1000.5, "name": "hold", "ms": 7, "status": 409, "error": False},
        {"t": 1001.2, "name": "seats", "ms": 1, "status": 503, "error": False},
        {"t": 1001.3, "name": "hold", "ms": 30_000, "status": 0, "error": True, "cause": "Timeout"},
        {
            "t": 1001.4,
            "name": "pay",
            "ms": 0,
            "status": 0,
            "error": True,
            "cause": "BrokenPipeError",
        },
        {"t": 999.5, "name": "availability", "ms": 2, "status": 200, "error": False},
    ]
    samples = [
        {"at": 1000.9, "cpu_percent": 50.0, "rss_mib": 100.0, "sold": 3, "held": 1, "available": 5},
        {"at": 1001.9, "cpu_percent": 90.0, "rss_mib": 120.0, "sold": 9, "held": 0, "available": 0},
    ]
    report = summarize(requests, samples, opens)
    by_t = {row["t"]: row for row in report["timeline"]}
    assert by_t[-1]["ok"] == 1
    assert (by_t[0]["ok"], by_t[0]["conflicts"], by_t[0]["p99_ms"]) == (1, 1, 7)
    assert (by_t[1]["shed"], by_t[1]["errors"], by_t[1]["sold"]) == (1, 2, 9)
    assert report["totals"] == {
        "requests": 6,
        "ok": 2,
        "conflicts": 1,
        "shed": 1,
        "errors": 2,
        "unanswered": 2,
        "timeouts": 1,
        "tickets_sold": 9,
    }
    assert report["sold_out_at_s"] == 1.9
    assert report["server"]["peak_rss_mib"] == 120.0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([], 99) == 0.0


def test_the_audit_passes_a_clean_store_and_fails_a_seat_sold_twice(
    client: TestClient[Litestar], tmp_path: Path, runtime: LocalRuntime
) -> None:
    """GIVEN a store with two held seats and the acknowledgements the API gave WHEN it is
    audited THEN it passes; WHEN one seat is rewritten into the other hold and an
    acknowledged order is deleted THEN the audit names both violations."""
    api = ApiDriver(client)
    _, performance = api.on_sale()
    fans = [api.account("fan") for _ in range(2)]
    holds = [
        hold(client, f, performance["id"], seats=[f"S1-A-{n + 1}"]) for n, f in enumerate(fans)
    ]
    placed = order(client, fans[0], holds[0]["id"])
    database = Path(runtime.settings.local.data_dir) / "concertbook.sqlite3"
    snapshot = load_sqlite_snapshot(database)
    key = next(r.key for r in snapshot.idempotency if r.result_id == placed["id"])
    owner = snapshot.orders[placed["id"]].account_id
    acks = {"place-order": {(owner, key): placed["id"]}}
    assert audit_store(database, acks)["ok"] is True
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE units SET hold_id=?, order_id=NULL, state='held' WHERE unit_id='S1-A-1'",
            (holds[1]["id"],),
        )
        conn.execute("DELETE FROM orders WHERE id=?", (placed["id"],))
    verdict = audit_store(database, acks)
    assert verdict["ok"] is False
    assert "acknowledged" in verdict["violations"]
    assert set(verdict["violations"]) - {"acknowledged"}, verdict["violations"]


def test_the_slower_disk_delays_every_durable_commit(tmp_path: Path) -> None:
    """GIVEN fsync made 20 ms slower WHEN durable commits are counted THEN none took less
    than the delay (at most 50 a second), while commits without fsync did not wait."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    skip_unless_available(compiler is not None, "no C compiler for the slow-fsync shim")
    slowed = fsync.measure(tmp_path, seconds=0.5, delay_ms=20)
    assert slowed["fsync_delay_ms"] == 20
    assert 0 < slowed["commits_per_s_sync_full"] <= 1000 / 20
    assert slowed["commits_per_s_sync_off"] > 1000 / 20
    assert slowed["fsync_ms"] >= 19
