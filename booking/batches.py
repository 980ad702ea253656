"""Cutting a stream of items into lists, for bulk writes."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def chunks(items: AsyncIterable[T], size: int) -> AsyncIterator[list[T]]:
    """Lists of `size` items (the last one shorter) as they arrive."""
    batch: list[T] = []
    async for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
