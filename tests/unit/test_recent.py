"""`Recent`, the short-lived map behind the session and performance caches."""

from __future__ import annotations

from booking.services.recent import Recent


class Timer:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


def test_an_entry_is_trusted_for_its_ttl_then_read_again() -> None:
    timer = Timer()
    recent: Recent[str, int] = Recent(maxsize=10, ttl=5.0, timer=timer)
    recent.put("a", 1)
    timer.at = 4.9
    assert recent.get("a") == 1
    timer.at = 5.0
    assert recent.get("a") is None
    assert len(recent) == 0


def test_a_full_map_drops_what_lapsed_then_its_oldest_entries() -> None:
    timer = Timer()
    recent: Recent[int, int] = Recent(maxsize=8, ttl=10.0, timer=timer)
    for n in range(4):
        recent.put(n, n)
    timer.at = 5.0
    for n in range(4, 8):
        recent.put(n, n)
    timer.at = 11.0  # the first four lapsed: room without dropping a live one
    recent.put(8, 8)
    assert [n for n in range(9) if recent.get(n) is not None] == [4, 5, 6, 7, 8]
    for n in range(9, 13):
        recent.put(n, n)  # full of live entries at 12: the oldest quarter (two) goes
    assert len(recent) == 7
    assert [n for n in range(13) if recent.get(n) is not None] == [6, 7, 8, 9, 10, 11, 12]


def test_pop_clear_and_a_zero_ttl() -> None:
    recent: Recent[str, int] = Recent(maxsize=10, ttl=5.0)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.pop("a")
    recent.pop("missing")
    assert recent.get("a") is None and recent.get("b") == 2
    recent.clear()
    assert len(recent) == 0
    never: Recent[str, int] = Recent(maxsize=10, ttl=0)
    never.put("a", 1)
    assert never.get("a") is None
