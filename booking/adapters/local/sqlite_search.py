"""Concert search on SQLite FTS5 with the trigram tokenizer: works with no services at all.

Trigrams match inside words in any script, so "방탄" finds "방탄소년단" and
"blackpin" finds "BLACKPINK" without a Korean analyser. Candidates come from
the FTS index; scoring, typo tolerance and facets are computed here, which suits the
catalogue of one organiser or city. A word matches approximately when it shares half its
trigrams with the text, or is one edit away from a word of it (two from a word of eight
letters or more; an edit being a letter or syllable added, dropped, changed, or two
neighbours swapped): "world tuor", "Gloden Huor" and "아이우" find what they meant. When
no candidate shares a trigram with the query, every listing is scored.

Removed listings stay as tombstones with their version, so a late, older
upsert cannot bring them back (the same rule OpenSearch's external versions give).
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections import Counter
from collections.abc import AsyncIterable, Sequence
from pathlib import Path

import msgspec
from rapidfuzz.distance import OSA

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.adapters.timestamps import to_ms
from booking.batches import chunks
from booking.domain.ports import Clock
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

SEARCH_MIGRATIONS = [
    """
CREATE TABLE listings (
    performance_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    city TEXT,
    genre TEXT,
    starts_at_ms INTEGER,
    seats_left INTEGER,
    text TEXT,
    doc BLOB
);
CREATE INDEX listings_by_start ON listings(starts_at_ms) WHERE removed = 0;
CREATE VIRTUAL TABLE listing_text USING fts5(performance_id UNINDEXED, text, tokenize='trigram');
"""
]

# A misspelt word still counts when it shares this share of its trigrams with the text.
TYPO_OVERLAP = 0.5
_CANDIDATES = 2_000

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(ConcertListing).decode


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def trigrams(word: str) -> set[str]:
    return {word[i : i + 3] for i in range(len(word) - 2)}


def _is_hangul(word: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in word)


def word_score(word: str, text: str, tokens: list[str]) -> float:
    """How well one query word matches a listing's text: 1 exact, less for a near miss, 0 none."""
    if len(word) < 3:
        # Too short for trigrams: a Korean syllable pair may sit inside a word ("방탄"),
        # a Latin one must start a word ("IU" must not match "stadIUm").
        hit = word in text if _is_hangul(word) else any(t.startswith(word) for t in tokens)
        return 1.0 if hit else 0.0
    if word in text:
        return 1.0 if word in tokens else 0.9
    wanted = trigrams(word)
    overlap = len(wanted & trigrams(text)) / len(wanted)
    if overlap >= TYPO_OVERLAP:
        return overlap * 0.8
    return 0.6 if _one_typo_away(word, tokens) else 0.0


def _one_typo_away(word: str, tokens: list[str]) -> bool:
    """Within the edits a typo makes of some word of the text (or, for Korean, of a run of
    syllables inside one: names sit inside longer words)."""
    allowed = 2 if len(word) >= 8 else 1
    hangul = _is_hangul(word)
    for token in tokens:
        candidates = [token]
        if hangul and len(token) > len(word):
            candidates += [token[i : i + len(word)] for i in range(len(token) - len(word) + 1)]
        for candidate in candidates:
            if OSA.distance(word, candidate, score_cutoff=allowed) <= allowed:
                return True
    return False


class SqliteSearchIndex:
    def __init__(self, path: Path, clock: Clock) -> None:
        self._db = SqliteDatabase(path, clock, migrations=SEARCH_MIGRATIONS)

    async def start(self) -> None:
        self._db.open()

    async def stop(self) -> None:
        self._db.close()

    async def upsert(self, listings: Sequence[ConcertListing]) -> None:
        await self._db.write(_upsert, listings)

    async def remove(self, withdrawals: Sequence[Withdrawal]) -> None:
        await self._db.write(_remove, withdrawals)

    async def rebuild(self, listings: AsyncIterable[ConcertListing]) -> int:
        """Load everything into the live tables: one process owns this file, no alias needed."""
        count = 0
        async for batch in chunks(listings, 200):
            await self.upsert(batch)
            count += len(batch)
        return count

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self._db.read(lambda conn: _search(conn, query))


def _upsert(tx: Tx, listings: Sequence[ConcertListing]) -> None:
    for listing in listings:
        text = normalise(listing.search_text())
        changed = tx.execute(
            "INSERT INTO listings(performance_id, version, removed, city, genre, starts_at_ms,"
            " seats_left, text, doc) VALUES (?,?,0,?,?,?,?,?,?)"
            " ON CONFLICT(performance_id) DO UPDATE SET version=excluded.version, removed=0,"
            " city=excluded.city, genre=excluded.genre, starts_at_ms=excluded.starts_at_ms,"
            " seats_left=excluded.seats_left, text=excluded.text, doc=excluded.doc"
            " WHERE excluded.version >= listings.version",
            (
                listing.performance_id,
                listing.version,
                normalise(listing.city),
                normalise(listing.genre),
                to_ms(listing.starts_at),
                listing.seats_left,
                text,
                _encode(listing),
            ),
        ).rowcount
        if changed:
            tx.execute("DELETE FROM listing_text WHERE performance_id=?", (listing.performance_id,))
            tx.execute(
                "INSERT INTO listing_text(performance_id, text) VALUES (?,?)",
                (listing.performance_id, text),
            )


def _search(conn: sqlite3.Connection, query: SearchQuery) -> SearchPage:
    clauses: list[str] = ["removed = 0"]
    params: list[object] = []
    if query.city:
        clauses.append("city = ?")
        params.append(normalise(query.city))
    if query.genre:
        clauses.append("genre = ?")
        params.append(normalise(query.genre))
    if query.starts_from:
        clauses.append("starts_at_ms >= ?")
        params.append(to_ms(query.starts_from))
    if query.starts_before:
        clauses.append("starts_at_ms < ?")
        params.append(to_ms(query.starts_before))
    if query.has_seats_left is not None:
        clauses.append("seats_left > 0" if query.has_seats_left else "seats_left = 0")
    words = normalise(query.text).split()
    base = list(clauses)
    long_trigrams = sorted({t for w in words if len(w) >= 3 for t in trigrams(w)})
    if long_trigrams and all(len(w) >= 3 for w in words):
        # Any shared trigram nominates a candidate; scoring below decides.
        clauses.append(
            "performance_id IN (SELECT performance_id FROM listing_text"
            " WHERE listing_text MATCH ? LIMIT ?)"
        )
        # Each trigram an FTS5 string: quotes doubled, so no text is read as syntax.
        quoted = ('"' + t.replace('"', '""') + '"' for t in long_trigrams)
        params.extend([" OR ".join(quoted), _CANDIDATES])
    rows = conn.execute(
        f"SELECT text, doc, starts_at_ms FROM listings WHERE {' AND '.join(clauses)}", params
    ).fetchall()
    scored = _scored(rows, words)
    if not scored and len(clauses) > len(base):
        # No listing shares a trigram with every typo ("아이우"): score them all.
        rows = conn.execute(
            f"SELECT text, doc, starts_at_ms FROM listings WHERE {' AND '.join(base)}",
            params[: len(params) - 2],
        ).fetchall()
        scored = _scored(rows, words)
    if query.effective_sort() is SearchSort.RELEVANCE:
        scored.sort(key=lambda s: (-s[0], s[1]))
    else:
        scored.sort(key=lambda s: s[1])

    listings = [(_decode(doc), score) for score, _, doc in scored]
    facets = {
        name: [
            FacetCount(value, count)
            for value, count in sorted(
                Counter(getattr(listing, name) for listing, _ in listings).items(),
                key=lambda vc: (-vc[1], vc[0]),
            )
        ]
        for name in FACETS
    }
    page = listings[query.offset : query.offset + query.limit]
    return SearchPage(
        hits=[SearchHit(listing, round(score, 3)) for listing, score in page],
        total=len(listings),
        facets=facets,
        next_offset=next_offset(query, len(listings)),
    )


def _scored(rows: list[tuple[str, bytes, int]], words: list[str]) -> list[tuple[float, int, bytes]]:
    scored: list[tuple[float, int, bytes]] = []
    for text, doc, starts_at_ms in rows:
        score = 0.0
        if words:
            tokens = text.split()
            scores = [word_score(w, text, tokens) for w in words]
            if min(scores) == 0.0:
                continue  # every word must match, if only approximately
            score = sum(scores)
        scored.append((score, starts_at_ms, doc))
    return scored


def _remove(tx: Tx, withdrawals: Sequence[Withdrawal]) -> None:
    for w in withdrawals:
        changed = tx.execute(
            "INSERT INTO listings(performance_id, version, removed) VALUES (?,?,1)"
            " ON CONFLICT(performance_id) DO UPDATE SET version=excluded.version,"
            " removed=1, text=NULL, doc=NULL WHERE excluded.version >= listings.version",
            (w.performance_id, w.version),
        ).rowcount
        if changed:
            tx.execute("DELETE FROM listing_text WHERE performance_id=?", (w.performance_id,))
