"""Password hashing with argon2id at OWASP's minimum cost or above, off the event loop.

One hash or verification takes ~40 ms of CPU. On the event loop that is 40 ms in which no
other request moves (four clients guessing passwords took `GET /me` from 1.6 ms to 99 ms at
the median); here it runs on a pool of its own threads (argon2-cffi releases the GIL while
it works), as many at once as `threads` — by default the cores less one, so the event loop
keeps a core for everything else. More log-ins than that wait their turn in the pool.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP: argon2id with m = 19 MiB, t = 2, p = 1 at least.
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1


def default_threads() -> int:
    """The cores this process may run on, less one for the event loop; at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


class Argon2PasswordHasher:
    def __init__(self, threads: int = 0) -> None:
        self._argon2 = _Argon2(
            time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID
        )
        self.threads = threads if threads > 0 else default_threads()
        # Its threads start on first use and end once the hasher is collected.
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._argon2.hash, password
        )

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.verify_now, password_hash, password
        )

    def verify_now(self, password_hash: str, password: str) -> bool:
        """On the calling thread (the pool's)."""
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
