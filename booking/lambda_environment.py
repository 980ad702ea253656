"""One event loop and one started runtime per Lambda execution environment.

Every function (API, workers, indexer) imports its module once per execution
environment and is then invoked many times, one invocation at a time. The
runtime (stores, clients, keys) is built and started on the first invocation
and kept: Lambda freezes the process between invocations and thaws it for the
next, and the idle loop simply picks up where it was. `asyncio.run` per
invocation would instead close the loop that the cached clients belong to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from booking.bootstrap import Runtime
from booking.runtimes import build_runtime
from booking.settings import Settings

T = TypeVar("T")


def _from_env() -> Runtime:
    return build_runtime(Settings.from_env())


class LambdaEnvironment:
    def __init__(self, build: Callable[[], Runtime] = _from_env) -> None:
        self._build = build
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        # Libraries that call `asyncio.get_event_loop()` (Mangum) must find ours.
        asyncio.set_event_loop(self._loop)
        return self._loop

    def runtime(self) -> Runtime:
        """The started runtime, built on first use; a failed start is retried next time."""
        loop = self.loop()
        if self._runtime is None:
            runtime = self._build()
            loop.run_until_complete(runtime.start())
            self._runtime = runtime
        return self._runtime

    def run(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run one invocation's work on the environment's loop and runtime."""
        runtime = self.runtime()
        return self.loop().run_until_complete(work(runtime))

    def close(self) -> None:
        """Stop the runtime and close the loop (tests, tools). Lambda never calls this: an
        execution environment is frozen after each invocation and eventually discarded."""
        runtime, loop = self._runtime, self._loop
        self._runtime = self._loop = None
        if loop is None or loop.is_closed():
            return
        try:
            if runtime is not None:
                loop.run_until_complete(runtime.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
