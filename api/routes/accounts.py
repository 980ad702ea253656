"""Sign-up, log-in, log-out, and who am I."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post

from api.deps import bearer_token
from api.schemas import AccountOut, LogIn, SessionOut, SignUp
from booking.bootstrap import Services
from booking.domain.accounts import Account


def _out(account: Account) -> AccountOut:
    return AccountOut(
        account.id, account.email, account.display_name, account.role, account.created_at
    )


class AccountController(Controller):
    path = "/api/v1"
    tags = ["accounts"]

    @post("/accounts", summary="Create a fan or organizer account")
    async def sign_up(self, data: SignUp, services: Services) -> AccountOut:
        account = await services.accounts.sign_up(
            data.email, data.password, data.display_name, data.role
        )
        return _out(account)

    @post("/sessions", summary="Log in: exchange email and password for a bearer token")
    async def log_in(self, data: LogIn, services: Services) -> SessionOut:
        token, session = await services.accounts.log_in(data.email, data.password)
        return SessionOut(token, "Bearer", session.expires_at, session.account_id)

    @delete("/sessions/current", summary="Log out: revoke the bearer token sent")
    async def log_out(self, request: Request[Any, Any, Any], account: Account, services: Services) -> None:
        token = bearer_token(request)
        if token is not None:
            await services.accounts.log_out(token)

    @get("/me", summary="The account of the bearer token")
    async def me(self, account: Account) -> AccountOut:
        return _out(account)
