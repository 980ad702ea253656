"""Demo data: a K-pop concert with two performances at a 15,000-place arena.

24 seated sections around a standing floor: 12,000 numbered seats (row A of
each section accessible, a few seats behind the sound desk obstructed) and a
3,000-place standing zone, sold at grades VIP / R / S / A in KRW.
Loading twice changes nothing: the organizer's account marks it as loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from booking.bootstrap import Services
from booking.domain.accounts import Account, Role
from booking.domain.catalog import Artist, EventStatus, GradeAssignment, Performance, PriceGrade
from booking.domain.errors import EmailTaken
from booking.domain.venues import GaZone, SeatBlock, seat_map_from_blocks
from booking.services.catalog import PerformancePlan

ORGANIZER_EMAIL = "organizer@demo.concertbook"
FAN_EMAIL = "fan@demo.concertbook"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - published demo credentials
SEOUL = ZoneInfo("Asia/Seoul")

GRADES = [
    PriceGrade(code="VIP", name="VIP석", price_krw=198_000),
    PriceGrade(code="R", name="R석", price_krw=165_000),
    PriceGrade(code="S", name="S석", price_krw=143_000),
    PriceGrade(code="A", name="A석", price_krw=110_000),
]


@dataclass(frozen=True)
class DemoCatalog:
    organizer: Account
    performances: list[Performance]


def arena_blocks() -> list[SeatBlock]:
    """24 sections of 20 rows × 25 seats, placed on a ring around the floor."""
    blocks = []
    for i in range(24):
        angle = 2 * math.pi * i / 24
        blocks.append(
            SeatBlock(
                section=str(101 + i),
                name=f"{101 + i}구역",
                rows=20,
                seats_per_row=25,
                origin_x=round(200 + 150 * math.cos(angle), 1),
                origin_y=round(200 + 150 * math.sin(angle), 1),
                accessible_rows=[1],
                obstructed_seats=[12, 13, 14] if i == 12 else [],
            )
        )
    return blocks


def grade_of_section(index: int) -> str:
    """Sections facing the stage sell higher: VIP nearest, A at the back."""
    distance = min(index, 24 - index)  # 0 = centre front
    return "VIP" if distance <= 2 else "R" if distance <= 5 else "S" if distance <= 9 else "A"


async def load_demo(services: Services, now: datetime) -> DemoCatalog | None:
    try:
        organizer = await services.accounts.sign_up(
            ORGANIZER_EMAIL, DEMO_PASSWORD, "Demo Entertainment", Role.ORGANIZER
        )
    except EmailTaken:
        return None
    await services.accounts.sign_up(FAN_EMAIL, DEMO_PASSWORD, "Demo Fan", Role.FAN)
    seat_map = seat_map_from_blocks(
        arena_blocks(), [GaZone(id="FLOOR", name="스탠딩 플로어", capacity=3_000)]
    )
    venue = await services.catalog.create_venue(
        organizer, "KSPO Dome (demo layout)", "Seoul", "Asia/Seoul", seat_map, None
    )
    event = await services.catalog.create_event(
        organizer,
        "IU 2027 Concert: The Golden Hour",
        [
            Artist(name_ko="아이유", name_en="IU", aliases=["이지은", "Lee Ji-eun", "Dlwlrma"]),
        ],
        "k-pop",
        "Two nights in Seoul. 아이유 콘서트 — 서울 2회 공연.",
        None,
        EventStatus.PUBLISHED,
        None,
    )
    assignment = GradeAssignment(
        sections={str(101 + i): grade_of_section(i) for i in range(24)},
        ga_zones={"FLOOR": "R"},
    )
    performances = []
    show_day = now.astimezone(SEOUL).replace(hour=19, minute=0, second=0, microsecond=0)
    for day in (30, 31):
        starts_at = show_day + timedelta(days=day)
        performances.append(
            await services.catalog.create_performance(
                organizer,
                event.id,
                PerformancePlan(
                    venue_id=venue.id,
                    starts_at=starts_at,
                    timezone="Asia/Seoul",
                    sale_opens_at=now - timedelta(minutes=1),
                    sale_closes_at=starts_at - timedelta(hours=3),
                    grades=GRADES,
                    assignment=assignment,
                    blocked_seats=["113-A-1", "113-A-2"],  # camera platform
                    ticket_limit=4,
                    hold_ttl_seconds=420,
                    payment_window_seconds=900,
                ),
                None,
            )
        )
    return DemoCatalog(organizer, performances)
