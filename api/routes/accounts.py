"""Sign-up, log-in, log-out, and who am I."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody

from api.deps import AccountDep, ServicesDep, bearer_token
from api.rate_limits import LOG_IN, SIGN_UP, rate_limits
from api.schemas import (
    AccountOut,
    LogIn,
    SessionOut,
    SignUp,
)
from booking.domain.text import normalise_email


def _out(account: AccountDep) -> AccountOut:
    return AccountOut(
        account.id, account.email, account.display_name, account.role, account.created_at
    )


class AccountController(Controller):
    path = "/api/v1"
    tags = ["accounts"]

    @post("/accounts", summary="Create a fan or organizer account")
    async def sign_up(
        self, request: Request[Any, Any, Any], data: JSONBody[SignUp], services: ServicesDep
    ) -> AccountOut:
        await rate_limits(request).check(request.scope, SIGN_UP)
        account = await services.accounts.sign_up(
            data.email, data.password, data.display_name, data.role
        )
        return _out(account)

    @post("/sessions", summary="Log in: exchange email and password for a bearer token")
    async def log_in(
        self, request: Request[Any, Any, Any], data: JSONBody[LogIn], services: ServicesDep
    ) -> SessionOut:
        await rate_limits(request).check(request.scope, LOG_IN, normalise_email(data.email))
        token, session = await services.accounts.log_in(data.email, data.password)
        return SessionOut(token, "Bearer", session.expires_at, session.account_id)

    @delete("/sessions/current", summary="Log out: revoke the bearer token sent")
    async def log_out(
        self, request: Request[Any, Any, Any], account: AccountDep, services: ServicesDep
    ) -> None:
        token = bearer_token(request)
        if token is not None:
            await services.accounts.log_out(token)

    @get("/me", summary="The account of the bearer token")
    async def me(self, account: AccountDep) -> AccountOut:
        return _out(account)
