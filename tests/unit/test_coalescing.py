"""Single flight: a burst of identical reads is one store query; sequential reads are fresh."""

from __future__ import annotations

import asyncio

import pytest

from booking.adapters.coalescing import SingleFlight


def test_a_burst_shares_one_query_and_later_callers_query_again() -> None:
    queries = 0

    async def slow_count() -> int:
        nonlocal queries
        queries += 1
        await asyncio.sleep(0.05)
        return queries

    async def scenario() -> tuple[list[int], int]:
        flights = SingleFlight()
        burst = await asyncio.gather(*(flights.run("k", slow_count) for _ in range(100)))
        later = await flights.run("k", slow_count)
        return burst, later

    burst, later = asyncio.run(scenario())
    assert burst == [1] * 100
    assert later == 2  # nothing is cached once the query is over


def test_a_failure_reaches_every_waiting_caller_and_a_cancelled_one_spoils_nothing() -> None:
    async def failing() -> int:
        await asyncio.sleep(0.02)
        raise RuntimeError("store down")

    async def answer() -> int:
        await asyncio.sleep(0.05)
        return 7

    async def scenario() -> tuple[list[int | BaseException], int]:
        flights = SingleFlight()
        failed = await asyncio.gather(
            *(flights.run("f", failing) for _ in range(5)), return_exceptions=True
        )
        first = asyncio.create_task(flights.run("a", answer))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(flights.run("a", answer))
        await asyncio.sleep(0.01)
        first.cancel()  # the caller whose query it is goes away
        return failed, await second

    failed, value = asyncio.run(scenario())
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert value == 7


@pytest.mark.parametrize("keys", [("a", "b")])
def test_different_keys_do_not_share(keys: tuple[str, str]) -> None:
    async def scenario() -> list[str]:
        flights = SingleFlight()

        def query(key: str):  # type: ignore[no-untyped-def]
            async def run() -> str:
                await asyncio.sleep(0.01)
                return key

            return run

        return list(await asyncio.gather(*(flights.run(k, query(k)) for k in keys)))

    assert asyncio.run(scenario()) == list(keys)
