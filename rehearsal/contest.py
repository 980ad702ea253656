"""The hold attempts of the generator runs (wrk, vegeta): fans racing for seats a map shows free.

The stage's seats are cut into groups of 1–4 adjacent seats of a row, in a shuffled order;
attempt n asks for group n // CONTENDERS, so every group is asked for by CONTENDERS fans at
once and one of them gets it. Every design under test therefore meets the same contention
— one winner and one loser per group — however fast it runs.

(Attempts at random seats anywhere, regardless of what is taken, were measured before: the
faster a design, the sooner the stage filled and the more of its attempts lost, so its
held/s understated its lead. Fans pick from the free seats their map shows, and it is
at those that they collide.)
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from rehearsal.stage import Stage

CONTENDERS = 2
"""Fans asking for each seat group at the same moment."""
TICKET_LIMIT = 20
"""Places per fan on the generators' stages (the most a performance allows): 20,000 fans
make tens of thousands of attempts in a run, and the per-fan limit — checked by every
design in the same transaction — should not be what refuses them."""


def seat_groups(stage: Stage, seed: int = 0) -> list[list[str]]:
    """Every seat of the stage in exactly one group of 1–4 adjacent seats, shuffled."""
    rng = random.Random(seed)  # noqa: S311 - choices of simulated fans
    groups: list[list[str]] = []
    for rows in stage.sections.values():
        for row in rows:
            at = 0
            while at < len(row):
                size = rng.randint(1, 4)
                groups.append(row[at : at + size])
                at += size
    rng.shuffle(groups)
    return groups


def attempts(groups: list[list[str]], count: int) -> Iterator[list[str]]:
    """The seats of attempts 0..count-1: each group CONTENDERS times in a row, then the
    next; past the last group the first comes round again (by then all taken)."""
    for n in range(count):
        yield groups[(n // CONTENDERS) % len(groups)]
