"""Password hashing with argon2id at OWASP's minimum cost or above."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP: argon2id with m = 19 MiB, t = 2, p = 1 at least.
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1


class Argon2PasswordHasher:
    def __init__(self) -> None:
        self._argon2 = _Argon2(
            time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID
        )

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
