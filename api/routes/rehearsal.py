"""The rehearsal's one route: fan accounts with ready sessions, in bulk, for the load
generator (`concertbook rehearse`). Mounted only in rehearsal mode (CONCERTBOOK_REHEARSAL=1),
never on a stage that sells real tickets."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from api.deps import AccountDep, ServicesDep
from api.schemas import RehearsalFan, RehearsalFansIn, RehearsalFansOut


class RehearsalController(Controller):
    """Mounted only in rehearsal mode (CONCERTBOOK_REHEARSAL=1)."""

    path = "/api/v1/rehearsal"
    tags = ["rehearsal"]

    @post("/fans", summary="Rehearsal mode: fan accounts with ready sessions, in bulk")
    async def fans(
        self, data: JSONBody[RehearsalFansIn], account: AccountDep, services: ServicesDep
    ) -> RehearsalFansOut:
        minted = await services.accounts.rehearsal_fans(account, data.count)
        return RehearsalFansOut([RehearsalFan(fan.id, token) for fan, token in minted])
