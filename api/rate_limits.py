"""Rate limits of the routes a bot would hammer: per client address and per account.

Sign-up counts per address; log-in per address and per e-mail address (the account's
back-off after failed log-ins is the account service's own); hold attempts, orders and
payments per address and per account, each route counted apart. Past a limit: 429
rate-limited with Retry-After (api/problems.py). The counts are kept by the runtime's
`RateLimiter` (booking/domain/ports.py): in memory, or in Redis so that every process of
a stage shares them. Which limit applies where is an HTTP matter, so it is decided here.

The client address is the connection's peer (on Lambda, Mangum puts API Gateway's
`requestContext.http.sourceIp` there), or, for a request from a trusted proxy
(CONCERTBOOK_TRUSTED_PROXIES), the right-most address of X-Forwarded-For that is not a
trusted proxy: the left part of the header is whatever the client wrote. An IPv6 client
counts as its /64, which one subscriber usually has whole.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from litestar import Request
from litestar.types import Scope

from booking.domain.errors import RateLimited
from booking.domain.limits import Rate
from booking.domain.ports import RateLimiter
from booking.settings import Settings

SIGN_UP = "sign-up"
LOG_IN = "log-in"
HOLD = "hold"
ORDER = "order"
PAY = "pay"

_NOUNS = {
    SIGN_UP: "sign-ups",
    LOG_IN: "log-in attempts",
    HOLD: "hold attempts",
    ORDER: "orders",
    PAY: "payment attempts",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimits:
    def __init__(self, limiter: RateLimiter, settings: Settings) -> None:
        self._limiter = limiter
        self._proxies: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in settings.limits.trusted_proxies
        )
        # Rehearsal generators are a few machines (often one), each sending for thousands of
        # fans: a limit per address would measure the limit, not the stage.
        booking = None if settings.rehearsal else settings.limits.rate_limit_booking_per_address
        self._rules: dict[str, tuple[Rate | None, Rate | None]] = {
            SIGN_UP: (settings.limits.rate_limit_signup_per_address, None),
            LOG_IN: (
                settings.limits.rate_limit_login_per_address,
                settings.limits.rate_limit_login_per_account,
            ),
            HOLD: (booking, settings.limits.rate_limit_booking_per_account),
            ORDER: (booking, settings.limits.rate_limit_booking_per_account),
            PAY: (booking, settings.limits.rate_limit_booking_per_account),
        }

    async def check(self, scope: Scope, action: str, subject: str | None = None) -> None:
        """Counts one `action` of this request's client and of `subject` (an account id or,
        for a log-in, the e-mail address); raises RateLimited if a limit is reached."""
        by_address, by_subject = self._rules[action]
        limits: list[tuple[str, Rate]] = []
        if by_address is not None:
            limits.append((f"{action}:ip:{self.client_address(scope)}", by_address))
        if by_subject is not None and subject is not None:
            limits.append((f"{action}:id:{subject}", by_subject))
        if not limits:
            return
        wait = await self._limiter.acquire(limits)
        if wait > 0:
            raise RateLimited(
                f"too many {_NOUNS[action]} from this client or account;"
                f" retry in {math.ceil(wait)} s",
                wait,
            )

    def client_address(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if self._proxies and self._trusted(peer):
            hops = [
                hop.strip()
                for name, value in scope["headers"]
                if name == b"x-forwarded-for"
                for hop in value.decode("latin-1").split(",")
                if hop.strip()
            ]
            for hop in reversed(hops):
                peer = hop
                if not self._trusted(hop):
                    break
        return _subject(peer)

    def _trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._proxies)


def _subject(address: str) -> str:
    """What an address counts as: itself, or for IPv6 its /64 (an IPv4 address written as
    IPv6, `::ffff:192.0.2.7`, as the IPv4 address)."""
    if ":" not in address:
        return address
    try:
        parsed = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))


def rate_limits(request: Request[Any, Any, Any]) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits
