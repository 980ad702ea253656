"""What a log line says about the work it belongs to: the request (or message) id and the
account it acts for, kept in a context variable for the task that does the work.

Each request runs in a task of its own (uvicorn, Mangum), and each queue message in one of
`asyncio.gather`'s, so a value set for one never shows in another. The account is kept as
its id and written to logs only as `account_hash`: a keyed SHA-256 (HMAC) truncated to 16
hex digits — the same account gives the same hash in every process of a stage that shares
the key, and the hash cannot be turned back into the id, nor an id guessed and checked
without the key.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import hmac
import itertools
import re
import secrets
from collections.abc import Iterator

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
"""An incoming X-Request-Id we keep: 1-128 characters a header and a log line carry safely."""


class WorkContext:
    """The request or message being worked on; `account_id` once the caller is known."""

    __slots__ = ("account_id", "request_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.account_id: str | None = None


CURRENT: contextvars.ContextVar[WorkContext | None] = contextvars.ContextVar(
    "concertbook_work", default=None
)

_PROCESS = secrets.token_hex(4)
_SEQUENCE = itertools.count(1)


def new_request_id() -> str:
    """Unique per process (a random prefix) and cheap (a counter): no syscall per request."""
    return f"{_PROCESS}-{next(_SEQUENCE):x}"


def sane_request_id(value: bytes) -> str | None:
    """An incoming id worth keeping, or None (too long, or characters a log should not get)."""
    return value.decode() if _SANE_REQUEST_ID.fullmatch(value) else None


def bind_account(account_id: str) -> None:
    """The work in progress acts for this account (no-op outside a request)."""
    work = CURRENT.get()
    if work is not None:
        work.account_id = account_id


@contextlib.contextmanager
def working_on(request_id: str) -> Iterator[WorkContext]:
    """A context for one request or message, reset afterwards (a caller in the same task,
    such as an in-process ASGI client, gets its own back)."""
    work = WorkContext(request_id)
    token = CURRENT.set(work)
    try:
        yield work
    finally:
        CURRENT.reset(token)


class AccountHasher:
    """The keyed hash of account ids in logs; the key is the stage's (`set_key`)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)  # until a stage's key is set: per process

    def set_key(self, secret: bytes) -> None:
        """Derive the logging key from a secret every process of the stage shares."""
        self._key = hmac.new(secret, b"concertbook log account hash", hashlib.sha256).digest()
        self.hash.cache_clear()

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one instance per process
    def hash(self, account_id: str) -> str:
        return hmac.new(self._key, account_id.encode(), hashlib.sha256).hexdigest()[:16]


ACCOUNT_HASH = AccountHasher()
