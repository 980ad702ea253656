"""Pure domain rules: seat maps, pricing plans, payment ordering, webhook signatures."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from booking.domain.catalog import (
    GradeAssignment,
    Performance,
    PriceGrade,
    check_performance_plan,
    inventory_units,
)
from booking.domain.errors import InvalidRequest, InvalidSignature
from booking.domain.ids import new_id
from booking.domain.payments import (
    PaymentStatus,
    advances,
    verify_webhook_signature,
    webhook_signature,
)
from booking.domain.venues import (
    GaZone,
    SeatBlock,
    SeatMap,
    Venue,
    iter_seats,
    row_label,
    seat_map_from_blocks,
    validate_seat_map,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _venue(seat_map: SeatMap) -> Venue:
    return Venue("ven_1", "acc_1", "Arena", "Seoul", "Asia/Seoul", seat_map, NOW)


def test_row_labels_continue_past_z() -> None:
    assert [row_label(n) for n in (1, 26, 27, 52, 53)] == ["A", "Z", "AA", "AZ", "BA"]


def test_blocks_make_numbered_seats_with_positions_and_flags() -> None:
    seat_map = seat_map_from_blocks(
        [
            SeatBlock(
                section="101",
                name="101",
                rows=3,
                seats_per_row=4,
                origin_x=10,
                origin_y=5,
                accessible_rows=[1],
                obstructed_seats=[4],
            )
        ],
        [GaZone(id="FLOOR", name="Floor", capacity=100)],
    )
    seats = list(iter_seats(seat_map))
    assert len(seats) == 12
    assert seats[0].id == "101-A-1"
    assert (seats[0].x, seats[0].y) == (10, 5)
    assert seats[5].id == "101-B-2"
    assert (seats[5].x, seats[5].y) == (11, 6)
    assert all(s.accessible == (s.row == "A") for s in seats)
    assert all(s.obstructed == (s.number == 4) for s in seats)
    assert _venue(seat_map).capacity == 112


def test_seat_map_document_round_trips_and_rejects_duplicates() -> None:
    doc = {
        "sections": [
            {
                "id": "A",
                "name": "A",
                "rows": [
                    {"label": "1", "seats": [{"number": 1, "x": 0, "y": 0, "accessible": True}]}
                ],
            }
        ]
    }
    seat_map = msgspec.convert(doc, SeatMap)
    assert validate_seat_map(seat_map) is seat_map
    twice = {"sections": [doc["sections"][0], doc["sections"][0]]}
    with pytest.raises(InvalidRequest, match="unique"):
        validate_seat_map(msgspec.convert(twice, SeatMap))
    with pytest.raises(InvalidRequest, match="at least one"):
        validate_seat_map(SeatMap())


def _plan(venue: Venue, assignment: GradeAssignment, blocked: list[str] | None = None) -> None:
    check_performance_plan(
        venue,
        [
            PriceGrade(code="VIP", name="VIP", price_krw=198_000),
            PriceGrade(code="R", name="R", price_krw=154_000),
        ],
        assignment,
        blocked or [],
        NOW,
        NOW + timedelta(days=1),
        NOW + timedelta(days=2),
    )


def test_every_place_must_have_a_price() -> None:
    seat_map = seat_map_from_blocks(
        [
            SeatBlock(section="A", name="A", rows=1, seats_per_row=2),
            SeatBlock(section="B", name="B", rows=1, seats_per_row=2),
        ],
        [GaZone(id="FLOOR", name="Floor", capacity=5)],
    )
    venue = _venue(seat_map)
    with pytest.raises(InvalidRequest, match="no price grade"):
        _plan(venue, GradeAssignment(sections={"A": "VIP"}, ga_zones={"FLOOR": "R"}))
    with pytest.raises(InvalidRequest, match="GA zones without"):
        _plan(venue, GradeAssignment(sections={"A": "VIP", "B": "R"}))
    with pytest.raises(InvalidRequest, match="not defined"):
        _plan(venue, GradeAssignment(sections={"A": "VIP", "B": "X"}, ga_zones={"FLOOR": "R"}))
    # seat overrides can price a section that has no section-wide grade
    _plan(
        venue,
        GradeAssignment(
            sections={"A": "VIP"}, ga_zones={"FLOOR": "R"}, seats={"B-A-1": "R", "B-A-2": "VIP"}
        ),
    )


def test_inventory_prices_seats_by_override_then_section_and_blocks() -> None:
    seat_map = seat_map_from_blocks(
        [SeatBlock(section="A", name="A", rows=1, seats_per_row=3)],
        [GaZone(id="FLOOR", name="Floor", capacity=2)],
    )
    performance = Performance(
        id="prf_1",
        event_id="evt_1",
        organizer_id="acc_1",
        venue_id="ven_1",
        starts_at=NOW,
        timezone="Asia/Seoul",
        sale_opens_at=NOW,
        sale_closes_at=NOW,
        grades=[
            PriceGrade(code="VIP", name="VIP", price_krw=198_000),
            PriceGrade(code="R", name="R", price_krw=154_000),
        ],
        assignment=GradeAssignment(
            sections={"A": "VIP"}, ga_zones={"FLOOR": "R"}, seats={"A-A-3": "R"}
        ),
        blocked_seats=["A-A-2"],
        ticket_limit=4,
        hold_ttl_seconds=60,
        payment_window_seconds=60,
        created_at=NOW,
    )
    units = {u.unit_id: u for u in inventory_units(performance, _venue(seat_map))}
    assert set(units) == {"A-A-1", "A-A-2", "A-A-3", "FLOOR#00001", "FLOOR#00002"}
    assert units["A-A-1"].price_krw == 198_000
    assert units["A-A-3"].price_krw == 154_000
    assert units["A-A-2"].blocked
    assert units["FLOOR#00002"].grade == "R"


def test_payments_only_move_forward() -> None:
    assert advances(PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED)
    assert advances(PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)
    assert not advances(PaymentStatus.CAPTURED, PaymentStatus.AUTHORIZED)
    assert not advances(PaymentStatus.DECLINED, PaymentStatus.AUTHORIZED)
    assert not advances(PaymentStatus.AUTHORIZED, PaymentStatus.AUTHORIZED)


def test_webhook_signature_checks_body_secret_and_age() -> None:
    body = b'{"id":"whe_1"}'
    header = webhook_signature(b"secret", 1_000, body)
    verify_webhook_signature(b"secret", header, body, now=1_010)
    for secret, sent, now, text in [
        (b"other", header, 1_010, "does not match"),
        (b"secret", header, 2_000, "outside"),
        (b"secret", None, 1_010, "missing"),
        (b"secret", "t=abc,v1=00", 1_010, "malformed"),
    ]:
        with pytest.raises(InvalidSignature, match=text):
            verify_webhook_signature(secret, sent, body, now=now)
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(b"secret", header, body + b" ", now=1_010)


def test_ids_sort_by_creation_and_use_the_id_alphabet() -> None:
    """GIVEN ids made across milliseconds THEN they sort in creation order, carry their
    prefix, and are 10 time digits + 12 random digits of the lowercase id alphabet."""

    made = []
    for _ in range(5):
        made += [new_id("hld") for _ in range(3)]
        time.sleep(0.002)
    assert [m[:14] for m in made] == sorted(m[:14] for m in made)
    assert len(set(made)) == len(made)
    for ident in made:
        prefix, _, rest = ident.partition("_")
        assert prefix == "hld" and len(rest) == 22
        assert set(rest) <= set("0123456789abcdefghjkmnpqrstvwxyz")


def test_ids_made_on_several_threads_and_after_a_fork_are_all_different() -> None:
    """GIVEN ids drawn from per-thread pools of randomness WHEN eight threads make them at
    once, and a forked child makes some THEN no random part repeats (the time part may)."""
    made: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        mine = [new_id("x") for _ in range(2000)]
        with lock:
            made.extend(mine)

    new_id("x")  # the parent's pool holds bytes a child could take again
    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, ",".join(new_id("x") for _ in range(300)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    child = os.read(read, 1 << 20).decode().split(",")
    os.close(read)
    parent_after = [new_id("x") for _ in range(300)]
    random_parts = [ident[-12:] for ident in made + child + parent_after]
    assert len(set(random_parts)) == len(random_parts)
