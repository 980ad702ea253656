"""Full reindex: a fresh index behind the alias, searches answered throughout, no write lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from benchmarks.search import build_catalogue
from booking.adapters.aws.opensearch_index import OpenSearchIndex
from booking.bootstrap import build_local
from booking.domain.messages import CatalogChanged
from booking.domain.search import SearchQuery
from booking.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_reindex_swaps_the_alias_without_a_gap_and_keeps_writes_made_meanwhile(
    opensearch_url: str, tmp_path: Path
) -> None:
    alias = f"concerts-reindex-{uuid.uuid4().hex[:8]}"
    settings = Settings.of(data_dir=tmp_path, opensearch_url=opensearch_url, opensearch_index=alias)
    runtime = build_local(settings)

    async def scenario() -> None:
        await runtime.start()
        try:
            assert isinstance(runtime.search_index, OpenSearchIndex)
            index = runtime.search_index
            organizer, event_ids = await build_catalogue(runtime, 60)
            assert await runtime.indexer.reindex() == 60
            await index.refresh()
            before = set(await index.client.indices.get_alias(name=alias))
            assert (await index.search(SearchQuery(limit=50))).total == 60

            answers: list[int] = []
            done = asyncio.Event()

            async def keep_searching() -> None:
                while not done.is_set():
                    answers.append((await index.search(SearchQuery(limit=1))).total)
                    await asyncio.sleep(0.01)

            async def edit_meanwhile() -> None:
                # A catalogue edit while the new index fills; the live feed writes it to
                # whichever index the alias names at that moment.
                await asyncio.sleep(0.05)
                await runtime.services.catalog.update_event(
                    organizer, event_ids[0], {"title": "Renamed Meanwhile"}
                )
                await runtime.indexer.apply([CatalogChanged(kind="event", id=event_ids[0])])

            searcher = asyncio.create_task(keep_searching())
            await asyncio.gather(runtime.indexer.reindex(), edit_meanwhile())
            done.set()
            await searcher

            after = set(await index.client.indices.get_alias(name=alias))
            assert len(after) == 1 and after.isdisjoint(before)
            assert not await index.client.indices.exists(index=",".join(before))
            assert answers and min(answers) >= 60  # never an empty or half-built index
            await index.refresh()
            renamed = await index.search(SearchQuery(text="Renamed Meanwhile", limit=50))
            assert renamed.total == 5  # the event's five performances, in the new index
        finally:
            await runtime.stop()

    asyncio.run(scenario())


@pytest.mark.slow
def test_concertbook_reindex_command_rebuilds_the_local_index(tmp_path: Path) -> None:
    runtime = build_local(Settings.of(data_dir=tmp_path))

    async def seed() -> None:
        await runtime.start()
        try:
            await build_catalogue(runtime, 12)
        finally:
            await runtime.stop()

    asyncio.run(seed())  # no relay ran: the index is still empty
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "reindex", "--data", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rebuilt with 12 listings" in result.stderr

    async def search_all() -> int:
        runtime = build_local(Settings.of(data_dir=tmp_path))  # a database opens once
        await runtime.start()
        try:
            return (await runtime.services.search.search(SearchQuery(limit=50))).total
        finally:
            await runtime.stop()

    assert asyncio.run(search_all()) == 12
