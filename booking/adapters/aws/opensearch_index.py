"""Concert search on OpenSearch: Korean (nori) and English analysis, bulk writes, alias swaps.

Searches and writes go through an alias; `rebuild` fills a new physical index
and moves the alias in one atomic `_aliases` call, so searches never see an
empty or half-built index. Every write carries the listing's version with
`version_type=external_gte`: a late or repeated batch is refused (409) where
the index already holds something newer, and that refusal is success here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Sequence
from typing import Any
from urllib.parse import urlparse

import botocore.session
import msgspec
from opensearchpy import AsyncOpenSearch, AWSV4SignerAsyncAuth
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, RequestError
from opensearchpy.helpers import async_bulk

from booking.batches import chunks
from booking.domain.errors import StoreUnavailable
from booking.domain.search import (
    FACETS,
    ConcertListing,
    FacetCount,
    SearchHit,
    SearchPage,
    SearchQuery,
    SearchSort,
    Withdrawal,
    next_offset,
)

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(ConcertListing).decode
_to_builtins = msgspec.to_builtins

# Korean text through nori (morphemes, particles dropped), everything through the
# standard tokenizer too; edge n-grams at index time make partial words match.
INDEX_SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "refresh_interval": "1s",
    "analysis": {
        "tokenizer": {"korean_tokenizer": {"type": "nori_tokenizer", "decompound_mode": "mixed"}},
        "filter": {
            "prefixes": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20},
        },
        "normalizer": {
            "folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
        },
        "analyzer": {
            "korean": {
                "type": "custom",
                "tokenizer": "korean_tokenizer",
                "filter": ["nori_part_of_speech", "nori_readingform", "lowercase"],
            },
            "korean_prefixes": {
                "type": "custom",
                "tokenizer": "korean_tokenizer",
                "filter": ["nori_part_of_speech", "nori_readingform", "lowercase", "prefixes"],
            },
            "folded": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            },
            "folded_prefixes": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "prefixes"],
            },
        },
    },
}

_SEARCHED_TEXT: dict[str, Any] = {
    "type": "text",
    "analyzer": "folded",
    "fields": {
        "ko": {"type": "text", "analyzer": "korean"},
        "prefix": {"type": "text", "analyzer": "folded_prefixes", "search_analyzer": "folded"},
        "ko_prefix": {
            "type": "text",
            "analyzer": "korean_prefixes",
            "search_analyzer": "korean",
        },
    },
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "performance_id": {"type": "keyword"},
        "event_id": {"type": "keyword"},
        "title": _SEARCHED_TEXT,
        "artists": _SEARCHED_TEXT,
        "venue_name": _SEARCHED_TEXT,
        "description": {"type": "text", "analyzer": "korean"},
        "city": {"type": "keyword", "normalizer": "folded", "copy_to": "places"},
        "city_facet": {"type": "keyword"},
        "genre": {"type": "keyword", "normalizer": "folded"},
        "genre_facet": {"type": "keyword"},
        "places": {"type": "text", "analyzer": "folded"},
        "starts_at": {"type": "date"},
        "seats_left": {"type": "integer"},
        "has_seats_left": {"type": "boolean"},
        "min_price_krw": {"type": "long"},
        # The listing as the API returns it; stored, never searched.
        "listing": {"type": "object", "enabled": False},
    },
}

# Field weights: an artist's name matters most, then the title, then where.
_TEXT_FIELDS = [
    "artists^4",
    "artists.ko^4",
    "title^2",
    "title.ko^2",
    "venue_name",
    "venue_name.ko",
    "places",
]
_PREFIX_FIELDS = ["artists.prefix^2", "artists.ko_prefix^2", "title.prefix", "title.ko_prefix"]


def document(listing: ConcertListing) -> dict[str, Any]:
    names = [n for a in listing.artists for n in (a.name_ko, a.name_en, *a.aliases)]
    return {
        "performance_id": listing.performance_id,
        "event_id": listing.event_id,
        "title": listing.title,
        "artists": names,
        "venue_name": listing.venue_name,
        "description": listing.description,
        "city": listing.city,
        "city_facet": listing.city,
        "genre": listing.genre,
        "genre_facet": listing.genre,
        "starts_at": listing.starts_at.isoformat(),
        "seats_left": listing.seats_left,
        "has_seats_left": listing.has_seats_left,
        "min_price_krw": listing.min_price_krw,
        "listing": _to_builtins(listing),
    }


def search_body(query: SearchQuery) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if query.city:
        filters.append({"term": {"city": query.city}})
    if query.genre:
        filters.append({"term": {"genre": query.genre}})
    dates = {}
    if query.starts_from:
        dates["gte"] = query.starts_from.isoformat()
    if query.starts_before:
        dates["lt"] = query.starts_before.isoformat()
    if dates:
        filters.append({"range": {"starts_at": dates}})
    if query.has_seats_left is not None:
        filters.append({"term": {"has_seats_left": query.has_seats_left}})
    text = query.text.strip()
    must: list[dict[str, Any]] = []
    if text:
        must.append(
            {
                "bool": {
                    "should": [
                        {
                            "multi_match": {
                                "query": text,
                                "fields": _TEXT_FIELDS,
                                "operator": "and",
                                "fuzziness": "AUTO",
                                "prefix_length": 1,
                            }
                        },
                        {
                            "multi_match": {
                                "query": text,
                                "fields": _PREFIX_FIELDS,
                                "operator": "and",
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    sort: list[Any] = [{"starts_at": "asc"}, {"performance_id": "asc"}]
    if query.effective_sort() is SearchSort.RELEVANCE:
        sort = ["_score", *sort]
    return {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
        "sort": sort,
        "from": query.offset,
        "size": query.limit,
        "track_total_hits": True,
        "track_scores": True,
        "_source": ["listing"],
        "aggs": {name: {"terms": {"field": f"{name}_facet", "size": 20}} for name in FACETS},
    }


def _client(url: str, region: str | None) -> AsyncOpenSearch:
    host = urlparse(url).hostname or ""
    auth = None
    if host.endswith(".amazonaws.com"):
        # Amazon OpenSearch Service: requests are signed with the function's own role.
        credentials = botocore.session.get_session().get_credentials()
        auth = AWSV4SignerAsyncAuth(credentials, region or "ap-northeast-2", "es")
    return AsyncOpenSearch(
        hosts=[url],
        http_auth=auth,
        http_compress=True,
        timeout=10,
        max_retries=2,
        retry_on_timeout=True,
    )


class OpenSearchIndex:
    def __init__(self, url: str, alias: str, region: str | None = None, replicas: int = 0) -> None:
        self._url = url
        self._region = region
        self._alias = alias
        self._replicas = replicas
        self._client: AsyncOpenSearch | None = None

    @property
    def alias(self) -> str:
        return self._alias

    @property
    def client(self) -> AsyncOpenSearch:
        assert self._client is not None, "start() the index first"
        return self._client

    async def start(self) -> None:
        self._client = _client(self._url, self._region)
        try:
            if not await self.client.indices.exists_alias(name=self._alias):
                await self._create_index(self._new_index_name(), aliases={self._alias: {}})
        except (OpenSearchConnectionError, ConnectionTimeout):
            # Search is not on the booking path: start anyway, searches answer 503 until it is up.
            log.warning("OpenSearch unreachable at start", extra={"url": self._url})

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def upsert(self, listings: Sequence[ConcertListing]) -> None:
        await self._bulk([_index_action(self._alias, listing) for listing in listings])

    async def remove(self, withdrawals: Sequence[Withdrawal]) -> None:
        await self._bulk(
            [
                {
                    "_op_type": "delete",
                    "_index": self._alias,
                    "_id": w.performance_id,
                    "version": w.version,
                    "version_type": "external_gte",
                }
                for w in withdrawals
            ]
        )

    async def search(self, query: SearchQuery) -> SearchPage:
        try:
            response = await self.client.search(index=self._alias, body=search_body(query))
        except (OpenSearchConnectionError, ConnectionTimeout) as exc:
            raise StoreUnavailable("search is unavailable for a moment; retry") from exc
        except NotFoundError as exc:
            raise StoreUnavailable("the search index is being created; retry") from exc
        hits = response["hits"]
        total = int(hits["total"]["value"])
        aggregations = response.get("aggregations", {})
        return SearchPage(
            hits=[
                SearchHit(
                    msgspec.convert(hit["_source"]["listing"], ConcertListing),
                    round(float(hit.get("_score") or 0.0), 3),
                )
                for hit in hits["hits"]
            ],
            total=total,
            facets={
                name: [
                    FacetCount(str(bucket["key"]), int(bucket["doc_count"]))
                    for bucket in aggregations.get(name, {}).get("buckets", [])
                ]
                for name in FACETS
            },
            next_offset=next_offset(query, total),
        )

    async def rebuild(self, listings: AsyncIterable[ConcertListing]) -> int:
        """Fill a new index, then point the alias at it and drop the old ones in one step."""
        fresh = self._new_index_name()
        await self._create_index(fresh, aliases={})
        count = 0
        async for batch in chunks(listings, 500):
            await self._bulk([_index_action(fresh, listing) for listing in batch])
            count += len(batch)
        await self.client.indices.refresh(index=fresh)
        try:
            current = list(await self.client.indices.get_alias(name=self._alias))
        except NotFoundError:
            current = []
        actions: list[dict[str, Any]] = [{"add": {"index": fresh, "alias": self._alias}}]
        actions += [{"remove_index": {"index": old}} for old in current]
        await self.client.indices.update_aliases(body={"actions": actions})
        log.info("search index rebuilt", extra={"index": fresh, "listings": count})
        return count

    async def refresh(self) -> None:
        """Make every write so far searchable now (tests; production waits for refresh_interval)."""
        await self.client.indices.refresh(index=self._alias)

    def _new_index_name(self) -> str:
        return f"{self._alias}-{time.time_ns() // 1_000_000}"

    async def _create_index(self, name: str, aliases: dict[str, Any]) -> None:
        body = {
            "settings": {**INDEX_SETTINGS, "number_of_replicas": self._replicas},
            "mappings": MAPPINGS,
            "aliases": aliases,
        }
        try:
            await self.client.indices.create(index=name, body=body)
        except RequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise

    async def _bulk(self, actions: list[dict[str, Any]]) -> None:
        if not actions:
            return
        _, errors = await async_bulk(
            self.client, actions, raise_on_error=False, raise_on_exception=True
        )
        failures = [e for e in errors if _status(e) not in {200, 201, 404, 409}]  # type: ignore[union-attr]
        if failures:
            raise RuntimeError(f"{len(failures)} search writes failed, first: {failures[0]}")


def _index_action(index: str, listing: ConcertListing) -> dict[str, Any]:
    return {
        "_op_type": "index",
        "_index": index,
        "_id": listing.performance_id,
        "version": listing.version,
        "version_type": "external_gte",
        "_source": document(listing),
    }


def _status(error: dict[str, Any]) -> int:
    (outcome,) = error.values()
    return int(outcome.get("status", 0))
