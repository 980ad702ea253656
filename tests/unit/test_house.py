"""The house's sizes: modules of one concept each and narrow ports (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Protocol

from booking.domain import ports

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 500
MAX_PORT_METHODS = 10


def test_no_module_of_the_booking_package_is_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "booking").rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_port_has_more_than_ten_methods() -> None:
    found = {
        name: sorted(
            member
            for member, value in inspect.getmembers(port)
            if not member.startswith("_") and inspect.isfunction(value)
        )
        for name, port in inspect.getmembers(ports, inspect.isclass)
        if port.__module__ == ports.__name__ and Protocol in port.__mro__
    }
    assert "HoldStore" in found and "PaymentStore" in found
    assert {name: len(m) for name, m in found.items() if len(m) > MAX_PORT_METHODS} == {}
