"""Search benchmark: indexer throughput per batch size, index freshness, query latency.

Measures SQLite FTS5 and OpenSearch side by side in one run, on one catalogue
held in the embedded runtime's SQLite store:

- throughput: `ListingIndexer.apply` over batches of CatalogChanged messages
  (store reads + listing builds + one bulk write per batch), and the bulk write
  alone, in documents per second, for each batch size;
- freshness: an event is renamed through the catalogue service while the outbox
  relay runs; the time until a search finds the new title (p50, p99);
- query latency: a mix of Korean, English, partial, misspelt and filtered
  searches (p50, p99).

Run: `make bench-search` (starts its own OpenSearch) or
`python -m benchmarks.search --opensearch-url URL --report reports/search-benchmark.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from booking.adapters.local.sqlite_catalog import SqliteCatalogStore
from booking.bootstrap import LocalRuntime, ManagedSearchIndex, build_local, search_index
from booking.domain.accounts import Account, Role
from booking.domain.catalog import Artist, EventStatus, GradeAssignment, PriceGrade
from booking.domain.messages import CatalogChanged
from booking.domain.search import SearchQuery
from booking.domain.venues import SeatBlock, seat_map_from_blocks
from booking.services.catalog import PerformancePlan
from booking.services.listing_indexer import ListingIndexer
from booking.settings import Settings
from workers.local import background

ARTISTS = [
    ("아이유", "IU", ["이지은", "Dlwlrma"]),
    ("방탄소년단", "BTS", ["Bangtan Boys"]),
    ("블랙핑크", "BLACKPINK", []),
    ("세븐틴", "SEVENTEEN", ["SVT"]),
    ("뉴진스", "NewJeans", []),
    ("르세라핌", "LE SSERAFIM", []),
    ("스트레이 키즈", "Stray Kids", ["SKZ"]),
    ("트와이스", "TWICE", []),
    ("에스파", "aespa", []),
    ("엔시티 127", "NCT 127", []),
    ("아이브", "IVE", []),
    ("있지", "ITZY", []),
    ("투모로우바이투게더", "TOMORROW X TOGETHER", ["TXT"]),
    ("에이티즈", "ATEEZ", []),
    ("임영웅", "Lim Young-woong", []),
    ("성시경", "Sung Si-kyung", []),
]
CITIES = ["Seoul", "Busan", "Incheon", "Daegu", "Gwangju", "Tokyo", "Osaka", "Bangkok"]
GENRES = ["k-pop", "ballad", "trot", "indie"]
QUERIES: list[dict[str, Any]] = [
    {"text": "아이유"},
    {"text": "BTS"},
    {"text": "방탄"},
    {"text": "blakpink"},
    {"text": "stray"},
    {"text": "세븐틴", "city": "Seoul"},
    {"text": "", "genre": "ballad", "has_seats_left": True},
    {"text": "tour", "sort": "date"},
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def build_catalogue(runtime: LocalRuntime, performances: int) -> tuple[Account, list[str]]:
    """`performances` concerts over a few events per artist, in small venues."""
    services = runtime.services
    organizer = await services.accounts.sign_up(
        f"bench-{uuid.uuid4().hex[:6]}@bench.concertbook",
        "violet-harbour-lantern",
        "Bench",
        Role.ORGANIZER,
    )
    seat_map = seat_map_from_blocks(
        [SeatBlock(section="A", name="A", rows=1, seats_per_row=10)], []
    )
    venues = [
        await services.catalog.create_venue(
            organizer, f"{city} Arena", city, "Asia/Seoul", seat_map, None
        )
        for city in CITIES
    ]
    now = datetime.now(UTC)
    event_ids = []
    for n in range(performances):
        if n % 5 == 0:
            ko, en, aliases = ARTISTS[(n // 5) % len(ARTISTS)]
            event = await services.catalog.create_event(
                organizer,
                f"{en} World Tour {2027 + n // 400}",
                [Artist(name_ko=ko, name_en=en, aliases=aliases)],
                GENRES[(n // 5) % len(GENRES)],
                f"{ko} 콘서트",
                None,
                EventStatus.PUBLISHED,
                None,
            )
            event_ids.append(event.id)
        starts = now + timedelta(days=10 + n % 300, hours=n % 7)
        await services.catalog.create_performance(
            organizer,
            event_ids[-1],
            PerformancePlan(
                venue_id=venues[n % len(venues)].id,
                starts_at=starts,
                timezone="Asia/Seoul",
                sale_opens_at=now,
                sale_closes_at=starts - timedelta(hours=1),
                grades=[PriceGrade(code="R", name="R", price_krw=154_000)],
                assignment=GradeAssignment(sections={"A": "R"}),
                blocked_seats=[],
                ticket_limit=4,
                hold_ttl_seconds=420,
                payment_window_seconds=900,
            ),
            None,
        )
        if (n + 1) % 500 == 0:
            progress(f"  catalogue: {n + 1}/{performances} performances")
    return organizer, event_ids


async def all_performance_ids(runtime: LocalRuntime) -> list[str]:
    rows = await runtime.db.read(
        lambda conn: conn.execute("SELECT id FROM performances ORDER BY id").fetchall()
    )
    return [row[0] for row in rows]


async def timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def measure_throughput(
    runtime: LocalRuntime, index: ManagedSearchIndex, ids: list[str], batch: int, cap: int
) -> dict[str, float]:
    indexer = ListingIndexer(SqliteCatalogStore(runtime.db), runtime.booking.inventory, index)
    chosen = ids[:cap]
    messages = [CatalogChanged(kind="performance", id=pid) for pid in chosen]
    elapsed = 0.0
    for start in range(0, len(messages), batch):
        part = messages[start : start + batch]
        elapsed += await timed(lambda part=part: indexer.apply(part))  # type: ignore[misc]
    listings, _ = await indexer.listings(chosen)
    write_only = 0.0
    for start in range(0, len(listings), batch):
        chunk = listings[start : start + batch]
        write_only += await timed(lambda chunk=chunk: index.upsert(chunk))  # type: ignore[misc]
    return {
        "batch_size": batch,
        "documents": len(chosen),
        "indexer_docs_per_s": round(len(chosen) / elapsed, 1),
        "bulk_write_docs_per_s": round(len(listings) / write_only, 1),
    }


async def measure_freshness(
    runtime: LocalRuntime, organizer: Account, event_ids: list[str], samples: int
) -> list[float]:
    """Rename an event while the relay runs; how long until search finds the new title."""
    latencies = []
    async with background(runtime):
        # First let the relay work off the catalogue's own backlog of messages.
        while await pending_messages(runtime):  # noqa: ASYNC110 - polling another task's table
            await asyncio.sleep(0.05)
        for n in range(samples):
            token = f"fresh{uuid.uuid4().hex[:10]}"
            event_id = event_ids[n % len(event_ids)]
            started = time.perf_counter()
            await runtime.services.catalog.update_event(organizer, event_id, {"title": token})
            while True:
                page = await runtime.services.search.search(SearchQuery(text=token, limit=1))
                if page.hits:
                    break
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)
    return latencies


async def pending_messages(runtime: LocalRuntime) -> int:
    rows = await runtime.db.read(
        lambda conn: conn.execute("SELECT count(*) FROM outbox WHERE status='pending'").fetchall()
    )
    return int(rows[0][0])


async def measure_queries(index: ManagedSearchIndex, rounds: int) -> list[float]:
    latencies = []
    for _ in range(rounds):
        for params in QUERIES:
            query = SearchQuery(**params)
            started = time.perf_counter()
            await index.search(query)
            latencies.append(time.perf_counter() - started)
    return latencies


def summary(values: list[float]) -> dict[str, float]:
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sinks = ["fts"] + (["opensearch"] if args.opensearch_url else [])
    results: dict[str, Any] = {
        "performances": args.performances,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sinks": {},
    }
    with tempfile.TemporaryDirectory(prefix="concertbook-bench-") as tmp:
        for sink in sinks:
            progress(f"{sink}: building a catalogue of {args.performances} performances")
            settings = Settings.of(
                data_dir=Path(tmp) / sink,
                opensearch_url=args.opensearch_url if sink == "opensearch" else None,
                opensearch_index=f"concerts-bench-{uuid.uuid4().hex[:8]}",
            )
            runtime = build_local(settings)
            await runtime.start()
            try:
                organizer, event_ids = await build_catalogue(runtime, args.performances)
                ids = await all_performance_ids(runtime)
                throughput = []
                for batch in args.batch_sizes:
                    index = search_index(
                        Settings.of(
                            data_dir=Path(tmp) / f"{sink}-b{batch}",
                            opensearch_url=settings.aws.opensearch_url,
                            opensearch_index=f"concerts-bench-{uuid.uuid4().hex[:8]}",
                        ),
                        runtime.clock,
                    )
                    await index.start()
                    try:
                        cap = min(len(ids), args.single_cap if batch == 1 else len(ids))
                        row = await measure_throughput(runtime, index, ids, batch, cap)
                    finally:
                        await index.stop()
                    progress(f"  {sink} batch {batch}: {row}")
                    throughput.append(row)
                # The runtime's own index is fed by the relay from here on.
                await runtime.indexer.reindex()
                freshness = await measure_freshness(runtime, organizer, event_ids, args.freshness)
                progress(f"  {sink} freshness: {summary(freshness)}")
                queries = await measure_queries(runtime.search_index, args.query_rounds)
                progress(f"  {sink} queries: {summary(queries)}")
                results["sinks"][sink] = {
                    "throughput": throughput,
                    "freshness": summary(freshness),
                    "query_latency": summary(queries),
                }
            finally:
                await runtime.stop()
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| index | batch size | indexer docs/s | bulk write docs/s |",
        "|---|---:|---:|---:|",
    ]
    for sink, data in results["sinks"].items():
        for row in data["throughput"]:
            lines.append(
                f"| {sink} | {row['batch_size']} | {row['indexer_docs_per_s']:,} "
                f"| {row['bulk_write_docs_per_s']:,} |"
            )
    lines += ["", "| index | freshness p50 | p99 | query p50 | p99 |", "|---|---:|---:|---:|---:|"]
    for sink, data in results["sinks"].items():
        f, q = data["freshness"], data["query_latency"]
        fresh, query = (
            f"{f['p50_ms']} ms | {f['p99_ms']} ms",
            f"{q['p50_ms']} ms | {q['p99_ms']} ms",
        )
        lines.append(f"| {sink} | {fresh} | {query} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=None, help="also measure this OpenSearch")
    parser.add_argument(
        "--start-opensearch",
        action="store_true",
        help="start the embedded OpenSearch of tools/opensearch for the run",
    )
    parser.add_argument("--performances", type=int, default=2_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100, 500])
    parser.add_argument("--single-cap", type=int, default=300, help="documents at batch size 1")
    parser.add_argument("--freshness", type=int, default=100, help="freshness samples")
    parser.add_argument("--query-rounds", type=int, default=50)
    parser.add_argument("--report", type=Path, default=Path("reports/search-benchmark.json"))
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.start_opensearch:
            from tests.opensearch_server import opensearch_server  # noqa: PLC0415 - dev harness

            logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            args.opensearch_url = stack.enter_context(opensearch_server(logs))
        results = asyncio.run(run(args))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(markdown(results))
    progress(f"written {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
