"""The naive inventory designs a team would otherwise pick, kept runnable so the rehearsal
can measure them side by side with ours (`CONCERTBOOK_INVENTORY_STRATEGY`). They are
correct — the store still fences every claim — just slow under an onsale's contention.

Only `concertbook serve` composes them (api/cli.py), when the strategy names one: the
production wiring (booking/bootstrap.py) knows nothing of them.
"""

from __future__ import annotations

from booking.bootstrap import BookingPorts, Closable, inventory
from booking.domain.ports import Clock
from booking.settings import Settings
from rehearsal.baselines.performance_lock import PerformanceLockingBookingStore


def baseline_inventory(
    settings: Settings, ports: BookingPorts, clock: Clock
) -> tuple[BookingPorts, Closable | None]:
    """The booking store as the strategy of `settings.inventory` claims places (ours,
    `claims`, as booking/bootstrap.py builds it), and the Redis client it needs, if any."""
    if settings.inventory.inventory_strategy == "performance-lock":
        return ports.wrapped(holds=PerformanceLockingBookingStore(ports.holds)), None
    if settings.inventory.inventory_strategy == "seat-locks" and settings.aws.redis_url:
        from booking.adapters.aws.redis_guard import redis_client  # noqa: PLC0415 - aws extra
        from rehearsal.baselines.seat_locks import (  # noqa: PLC0415 - needs redis
            SeatLockingBookingStore,
        )

        # As usually deployed: every request waits its turn for a connection and a reply.
        redis = redis_client(settings.aws.redis_url, max_connections=256, timeout_seconds=5.0)
        return ports.wrapped(holds=SeatLockingBookingStore(ports.holds, redis)), redis
    return inventory(settings, ports, clock)
