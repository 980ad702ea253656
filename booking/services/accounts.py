"""Sign-up, log-in and bearer-token sessions."""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from datetime import timedelta

from booking.domain.accounts import Account, Role, Session
from booking.domain.errors import (
    AuthenticationRequired,
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidRequest,
    RateLimited,
)
from booking.domain.ids import new_id
from booking.domain.limits import Backoff
from booking.domain.passwords import PasswordPolicy, normalise_password
from booking.domain.ports import AccountStore, Clock, PasswordHasher, RateLimiter
from booking.domain.telemetry import TELEMETRY, Telemetry
from booking.domain.text import normalise_email
from booking.services.recent import Recent

SESSION_TTL = timedelta(days=7)
SESSION_CACHE_SECONDS = 30.0
"""How long a process trusts a session it has looked up or created (every request needs
one; a fan's requests during a sale come seconds apart): a log-out through this process
applies at once; on a stage's other processes, within this long
(CONCERTBOOK_SESSION_CACHE_SECONDS)."""
REHEARSAL_FANS_PER_CALL = 1000
UNUSABLE_PASSWORD_HASH = "!rehearsal"  # noqa: S105 - deliberately not a hash
"""Matches no password (not an argon2 hash): rehearsal fans can only use their token."""


def token_hash(token: str) -> str:
    """Only a hash of the bearer token is stored, so a leaked database grants no sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def __init__(
        self,
        store: AccountStore,
        hasher: PasswordHasher,
        clock: Clock,
        cache_seconds: float = SESSION_CACHE_SECONDS,
        *,
        limiter: RateLimiter,
        policy: PasswordPolicy,
        backoff: Backoff = Backoff(),  # noqa: B008 - a frozen value
        telemetry: Telemetry = TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._limiter = limiter
        self._policy = policy
        self._backoff = backoff
        self._dummy_hash: str | None = None
        self._sessions: Recent[str, tuple[Session, Account]] = Recent(
            maxsize=200_000, ttl=cache_seconds
        )

    async def sign_up(self, email: str, password: str, display_name: str, role: Role) -> Account:
        email = normalise_email(email)
        password = normalise_password(password)
        self._policy.check(password, email, display_name)
        if await self._store.account_by_email(email) is not None:
            raise EmailTaken(f"{email} already has an account")
        account = Account(
            id=new_id("acc"),
            email=email,
            display_name=display_name,
            role=role,
            created_at=self._clock.now(),
        )
        await self._store.add_account(account, await self._hasher.hash(password))
        return account

    async def log_in(self, email: str, password: str) -> tuple[str, Session]:
        """A session for the right password. Each attempt counts against the account's
        back-off until one succeeds (`Backoff`: from the fifth failure on, the next attempt
        waits 1 s, 2 s, 4 s … ), so guessing costs time and the right password still works
        once the wait is over; an unknown e-mail address gets the same count and the same
        argon2 verification (against a hash of nothing), so neither the answer nor its
        time tells whether the address has an account."""
        email = normalise_email(email)
        key = f"log-in:{email}"
        wait = await self._limiter.attempt(key, self._backoff)
        if wait > 0:
            raise RateLimited(
                f"too many failed log-ins for this account; retry in {math.ceil(wait)} s", wait
            )
        nobody = await self._nobody()
        stored = await self._store.account_by_email(email)
        known = None
        if stored is not None and stored.password_hash != UNUSABLE_PASSWORD_HASH:
            known = stored.password_hash
        verified = await self._hasher.verify(known or nobody, normalise_password(password))
        if stored is None or known is None or not verified:
            raise InvalidCredentials("email or password is wrong")
        await self._limiter.clear(key)
        token = secrets.token_urlsafe(32)
        session = Session(
            token_hash=token_hash(token),
            account_id=stored.account.id,
            expires_at=self._clock.now() + SESSION_TTL,
        )
        await self._store.add_session(session)
        self._sessions.put(session.token_hash, (session, stored.account))
        self._telemetry.acting_for(stored.account.id)
        return token, session

    async def _nobody(self) -> str:
        """A hash no password matches (of a random one), made by the first log-in whatever
        its address: what an unknown e-mail address, or an account that cannot log in, is
        verified against."""
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(secrets.token_urlsafe(32))
        return self._dummy_hash

    async def authenticate(self, token: str) -> Account:
        hashed = token_hash(token)
        cached = self._sessions.get(hashed)
        if cached is None:
            found = await self._store.session_with_account(hashed)
            if found is None:
                raise AuthenticationRequired("the bearer token is unknown or expired")
            cached = found
            self._sessions.put(hashed, found)
        session, account = cached
        if session.expires_at <= self._clock.now():
            raise AuthenticationRequired("the bearer token is unknown or expired")
        self._telemetry.acting_for(account.id)
        return account

    async def log_out(self, token: str) -> None:
        hashed = token_hash(token)
        self._sessions.pop(hashed)
        await self._store.delete_session(hashed)

    async def rehearsal_fans(self, organizer: Account, count: int) -> list[tuple[Account, str]]:
        """Fan accounts with a session each, for an onsale rehearsal on a stage running in
        rehearsal mode: tens of thousands of sign-ups would otherwise spend minutes in
        argon2. They cannot log in with a password; their tokens expire like any other."""
        if organizer.role is not Role.ORGANIZER:
            raise Forbidden("only organizers create rehearsal fans")
        if not 1 <= count <= REHEARSAL_FANS_PER_CALL:
            raise InvalidRequest(f"count must be 1–{REHEARSAL_FANS_PER_CALL}")
        now = self._clock.now()

        async def one(n: int) -> tuple[Account, str]:
            account_id = new_id("acc")
            account = Account(
                id=account_id,
                email=f"{account_id}@rehearsal.invalid",
                display_name=f"Rehearsal fan {n + 1}",
                role=Role.FAN,
                created_at=now,
            )
            await self._store.add_account(account, UNUSABLE_PASSWORD_HASH)
            token = secrets.token_urlsafe(32)
            session = Session(token_hash(token), account_id, now + SESSION_TTL)
            await self._store.add_session(session)
            self._sessions.put(session.token_hash, (session, account))
            return account, token

        # Concurrent on purpose: the stores batch concurrent writes.
        return list(await asyncio.gather(*(one(n) for n in range(count))))
