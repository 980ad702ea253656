"""Inventory reads: availability counts, each place's state, sales (from the place items)."""

from __future__ import annotations

from collections import defaultdict

from booking.adapters.aws.dynamodb_booking.common import (
    _STATE_INDEX,
    DynamoBookingBase,
    _visible_state,
)
from booking.adapters.timestamps import to_ms
from booking.domain.ports import (
    Availability,
    GradeSales,
    PlaceState,
    PlaceStatus,
    Sales,
    ZoneAvailability,
)


class DynamoInventory(DynamoBookingBase):
    async def availability(self, performance_id: str) -> Availability:
        self._db.operation = "availability"
        now = self._clock.now()
        now_ms = to_ms(now)
        counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
        for unit in await self._all_units(performance_id):
            row = counts[(str(unit["zone_id"]), str(unit["kind"]), str(unit["grade"]))]
            row[0] = int(unit["price_krw"])
            row[1] += 1
            row[2 + _STATE_INDEX[_visible_state(unit, now_ms)]] += 1
        zones = [
            ZoneAvailability(zone, kind, grade, *row)
            for (zone, kind, grade), row in sorted(counts.items())
        ]
        return Availability(
            performance_id=performance_id,
            as_of=now,
            capacity=sum(z.capacity for z in zones),
            available=sum(z.available for z in zones),
            held=sum(z.held for z in zones),
            sold=sum(z.sold for z in zones),
            blocked=sum(z.blocked for z in zones),
            zones=zones,
        )

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        now_ms = self._now_ms()
        return sorted(
            (
                PlaceStatus(
                    str(u["sk"]),
                    str(u["zone_id"]),
                    str(u["grade"]),
                    PlaceState(_visible_state(u, now_ms)),
                )
                for u in await self._all_units(performance_id)
                if u["kind"] == "seat" and (zone_id is None or u["zone_id"] == zone_id)
            ),
            key=lambda p: p.unit_id,
        )

    async def sales(self, performance_id: str) -> Sales:
        sold = [u for u in await self._all_units(performance_id) if u["state"] == "sold"]
        by_grade: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for unit in sold:
            by_grade[str(unit["grade"])][0] += 1
            by_grade[str(unit["grade"])][1] += int(unit["price_krw"])
        grades = [GradeSales(g, n, krw) for g, (n, krw) in sorted(by_grade.items())]
        return Sales(
            performance_id=performance_id,
            as_of=self._clock.now(),
            sold=len(sold),
            revenue_krw=sum(g.revenue_krw for g in grades),
            paid_orders=len({u["order_id"] for u in sold}),
            grades=grades,
        )
