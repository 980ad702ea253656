"""The tests' OpenSearch is a real one: cluster health, Korean analysis, search, versioning.

The analysis names (nori_tokenizer, nori_part_of_speech, nori_readingform, nori) are those of
Amazon OpenSearch Service's analysis-nori plugin, so these checks hold there too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest


@pytest.fixture(scope="module")
def search(opensearch_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=opensearch_url, timeout=30) as client:
        yield client


@pytest.fixture
def index_name(search: httpx.Client) -> Iterator[str]:
    """A fresh index name for one test; the index is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    search.delete(f"/{name}", params={"ignore_unavailable": "true"})


def tokens(search: httpx.Client, text: str, **analysis: Any) -> list[str]:
    r = search.post("/_analyze", json={"text": text, **analysis})
    assert r.status_code == 200, r.text
    return [token["token"] for token in r.json()["tokens"]]


def test_a_single_node_cluster_answers(search: httpx.Client) -> None:
    r = search.get("/_cluster/health", params={"wait_for_status": "yellow", "timeout": "30s"})
    assert r.status_code == 200, r.text
    health = r.json()
    assert health["status"] in {"green", "yellow"}, health
    assert health["number_of_nodes"] == 1, health
    assert search.get("/").json()["version"]["number"].startswith("2.19."), search.get("/").text


def test_the_nori_analyzer_splits_korean_into_morphemes(search: httpx.Client) -> None:
    # The particle 의 ("of") goes (part-of-speech stop tags); the group name stays one word.
    assert tokens(search, "방탄소년단의 콘서트", analyzer="nori") == ["방탄소년단", "콘서트"]
    assert tokens(search, "아이유 콘서트", analyzer="nori") == ["아이유", "콘서트"]
    # Compounds are split; the ending of 했어요 goes, the verb stem stays; Latin is lowercased.
    assert tokens(search, "잠실종합운동장에서 IU 공연을 예매했어요", analyzer="nori") == [
        *("잠실", "종합", "운동", "장", "iu", "공연", "예매"),
    ]


def test_the_nori_tokenizer_takes_decompound_mode_and_user_rules(search: httpx.Client) -> None:
    assert tokens(search, "가곡역", tokenizer={"type": "nori_tokenizer"}) == ["가곡", "역"]
    mixed = {"type": "nori_tokenizer", "decompound_mode": "mixed"}
    assert tokens(search, "가곡역", tokenizer=mixed) == ["가곡역", "가곡", "역"]
    none = {"type": "nori_tokenizer", "decompound_mode": "none"}
    assert tokens(search, "가곡역", tokenizer=none) == ["가곡역"]
    # Without a rule, 세 reads as a determiner ("three") and is dropped with the stop tags.
    assert tokens(search, "세종시", tokenizer="nori_tokenizer", filter=["nori_part_of_speech"]) == [
        "종시"
    ]
    ruled = {"type": "nori_tokenizer", "user_dictionary_rules": ["세종시", "주경기장"]}
    assert tokens(search, "세종시 주경기장", tokenizer=ruled, filter=["nori_part_of_speech"]) == [
        *("세종시", "주경기장"),
    ]
    # Hanja to its hangul reading.
    assert tokens(search, "鄕歌", tokenizer="nori_tokenizer", filter=["nori_readingform"]) == [
        "향가"
    ]
    bad = search.post(
        "/_analyze",
        json={"text": "x", "tokenizer": {"type": "nori_tokenizer", "decompound_mode": "some"}},
    )
    assert bad.status_code == 400, bad.text


def test_korean_and_english_titles_are_found_by_prefix(
    search: httpx.Client, index_name: str
) -> None:
    settings = {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": {
                "filter": {"prefixes": {"type": "edge_ngram", "min_gram": 1, "max_gram": 12}},
                "analyzer": {
                    "korean": {
                        "type": "custom",
                        "tokenizer": "nori_tokenizer",
                        "filter": ["nori_part_of_speech", "lowercase"],
                    },
                    "korean_prefixes": {
                        "type": "custom",
                        "tokenizer": "nori_tokenizer",
                        "filter": ["nori_part_of_speech", "lowercase", "prefixes"],
                    },
                },
            },
        },
        "mappings": {
            "properties": {
                "title": {
                    "type": "text",
                    "analyzer": "korean_prefixes",
                    "search_analyzer": "korean",
                }
            }
        },
    }
    r = search.put(f"/{index_name}", json=settings)
    assert r.status_code == 200, r.text
    documents = {
        "iu": "아이유 콘서트 HEREH 월드투어",
        "coldplay": "Coldplay Music of the Spheres Tour",
    }
    bulk = "".join(
        f'{{"index": {{"_id": "{doc_id}"}}}}\n{{"title": "{title}"}}\n'
        for doc_id, title in documents.items()
    )
    r = search.post(
        f"/{index_name}/_bulk",
        params={"refresh": "true"},
        content=bulk.encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and not r.json()["errors"], r.text

    def found(query: str) -> list[str]:
        r = search.post(f"/{index_name}/_search", json={"query": {"match": {"title": query}}})
        assert r.status_code == 200, r.text
        return [hit["_id"] for hit in r.json()["hits"]["hits"]]

    assert found("아이") == ["iu"]  # a prefix of 아이유
    assert found("아이유의 월드") == ["iu"]  # particle dropped, 월드 a part of 월드투어
    assert found("콘서트") == ["iu"]
    assert found("cold") == ["coldplay"]
    assert found("SPHERES") == ["coldplay"]
    assert found("방탄소년단") == []


def test_external_versions_only_move_forward(search: httpx.Client, index_name: str) -> None:
    doc = f"/{index_name}/_doc/performance-1"
    r = search.put(
        doc,
        params={"version": 5, "version_type": "external", "refresh": "true"},
        json={"title": "아이유 콘서트", "seats_left": 10},
    )
    assert r.status_code == 201, r.text
    assert r.json()["_version"] == 5

    stale = search.put(
        doc,
        params={"version": 3, "version_type": "external"},
        json={"title": "아이유 콘서트", "seats_left": 99},
    )
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["type"] == "version_conflict_engine_exception"

    current = search.get(doc)
    assert current.status_code == 200, current.text
    assert current.json()["_version"] == 5
    assert current.json()["_source"]["seats_left"] == 10
