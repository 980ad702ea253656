"""The AWS capacity model (benchmarks/capacity_model.py): its arithmetic holds together,
and docs/capacity-model.md shows exactly the tables it prints."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import capacity_model as cm
from booking.adapters.aws.dynamodb_table import INVENTORY_SHARDS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "capacity-model.md"
PROD = ROOT / "terraform" / "envs" / "prod" / "main.tf"

# The rush's rates: everything that arrives within the window (checkout does not).
RUSH_RATES = (
    "attempts",
    "won",
    "lost",
    "turned_away",
    "refused_by_table",
    "polls",
    "wcu_won",
    "wcu_refused",
    "indexer_reads",
)


def scenario(
    onsale: cm.Onsale | None = None, seconds: float = 10, redis: bool = True
) -> cm.Scenario:
    onsale = onsale or cm.Onsale()
    return cm.scenarios_of(onsale, cm.load_capacity(None), [seconds])[0 if redis else 1]


def markdown_tables(text: str) -> list[str]:
    """Every run of lines that start with '|', in order."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append("\n".join(current))
            current = []
    return tables


def test_the_document_shows_what_the_calculator_prints() -> None:
    printed = cm.from_args(cm.parse_args([])).tables()
    assert markdown_tables(DOC.read_text()) == printed, (
        "docs/capacity-model.md is out of date: run `python -m benchmarks.capacity_model` "
        "and copy its tables into the document"
    )
    assert "python -m benchmarks.capacity_model" in DOC.read_text()


def test_main_prints_every_table_as_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert cm.main(["--seconds", "30", "--documented"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#### Assumptions")
    assert "| 30 s, Redis | 30 s, no Redis |" in out
    assert "docs/DYNAMODB.md" in out
    assert len(markdown_tables(out)) == len(
        cm.model(cm.Onsale(), cm.load_capacity(None), [30]).sections
    )


@pytest.mark.parametrize("redis", [True, False])
def test_ten_seconds_need_six_times_the_rates_of_sixty(redis: bool) -> None:
    fast, slow = scenario(seconds=10, redis=redis), scenario(seconds=60, redis=redis)
    for rate in RUSH_RATES:
        assert getattr(fast, rate) == pytest.approx(6 * getattr(slow, rate)), rate
    assert fast.checkout == slow.checkout  # checkout follows the rush at its own pace
    assert fast.wcu_checkout == slow.wcu_checkout


@pytest.mark.parametrize("redis", [True, False])
def test_doubling_the_fans_doubles_the_attempts_and_adds_only_their_cost(redis: bool) -> None:
    base = cm.Onsale()
    one, two = scenario(base, redis=redis), scenario(replace(base, fans=2 * base.fans), redis=redis)
    assert two.attempts == pytest.approx(2 * one.attempts)
    assert two.polls == pytest.approx(2 * one.polls)
    assert two.won == one.won  # the seats, not the fans, bound the winners
    assert two.wcu_won == one.wcu_won
    # Every added attempt loses; the share that reaches the table pays a hold's WCU.
    added = one.attempts
    reaching = 1 - base.redis_refusal if redis else 1.0
    hold_wcu = one.steps["hold"].wcu
    assert two.wcu_refused - one.wcu_refused == pytest.approx(added * reaching * hold_wcu)
    assert two.wcu - one.wcu == pytest.approx(added * reaching * hold_wcu)
    if redis:
        assert two.redis_calls - one.redis_calls == pytest.approx(
            added * (1 + 2 * reaching + base.polls_per_attempt)
        )


def test_losers_turned_away_by_redis_cost_the_table_no_writes() -> None:
    perfect = replace(cm.Onsale(), redis_refusal=1.0)
    with_redis, without = scenario(perfect), scenario(perfect, redis=False)
    assert with_redis.refused_by_table == 0
    assert with_redis.wcu_refused == 0
    assert without.wcu_refused == pytest.approx(without.lost * without.steps["hold"].wcu)
    # ... but their requests still read the session, account, performance and event.
    assert with_redis.rcu_accounts == without.rcu_accounts
    assert with_redis.redis_calls > with_redis.attempts


def test_the_parts_add_up() -> None:
    s = scenario()
    assert s.won + s.lost == pytest.approx(s.attempts)
    assert s.turned_away + s.refused_by_table == pytest.approx(s.lost)
    assert s.answered_by_redis + s.to_table == pytest.approx(s.requests)
    checkout_requests = s.checkout * cm.CHECKOUT_REQUESTS
    busy = (s.turned_away + s.polls) * s.onsale.redis_ms
    busy += (s.won + s.refused_by_table + checkout_requests) * s.onsale.table_ms
    assert s.concurrency == pytest.approx(busy / 1000)


def test_a_sold_order_costs_what_docs_dynamodb_measured() -> None:
    documented = cm.load_capacity(None).for_seats(2)
    assert sum(s.wcu for s in documented.values()) == 54
    assert sum(s.rcu for s in documented.values()) == pytest.approx(15.5)
    three = cm.load_capacity(None).for_seats(3)
    assert sum(s.wcu for s in three.values()) == 54 + 2 + 2 + 2 + 4
    if cm.REPORT.exists():
        report = cm.load_capacity(cm.REPORT)
        assert report.source == "reports/dynamodb-capacity.json"
        assert sum(s.wcu for s in report.steps.values()) == 54


def test_the_report_is_read_step_by_step(tmp_path: Path) -> None:
    figures = {
        step: {"rcu": float(n), "wcu": float(10 * n)}
        for n, step in enumerate(("place_order", "add_payment", "confirm_order"), start=2)
    }
    figures["issue_tickets"] = {"rcu": 5.0, "wcu": 50.0}
    report = tmp_path / "capacity.json"
    report.write_text(
        json.dumps(
            {
                "hold_2_seats": {"place_hold": {"rcu": 1.0, "wcu": 10.0}},
                "order_and_payment_2_seats": figures,
            }
        )
    )
    capacity = cm.load_capacity(report)
    assert [capacity.steps[s].wcu for s in cm.STEPS] == [10, 20, 30, 40, 50]
    assert capacity.source == str(report.resolve())
    assert cm.load_capacity(tmp_path / "missing.json").source == "docs/DYNAMODB.md"


def test_shards_needed_follow_the_place_writes() -> None:
    s = scenario()
    per_shard = s.place_wcu / INVENTORY_SHARDS
    assert per_shard < cm.PARTITION_WCU  # with Redis, 16 shards carry the 10 s rush
    assert scenario(redis=False).place_wcu / INVENTORY_SHARDS > cm.PARTITION_WCU
    # Each won seat is written at 2 WCU by its hold; nothing else in the rush is cheaper.
    assert s.place_wcu >= s.won * s.onsale.seats_per_order * cm.TRANSACT_ITEM_WCU


def test_a_full_inventory_read_is_billed_per_4_kb_of_each_shard() -> None:
    inventory = cm.Inventory(seats=16 * 1_000, item_bytes=4_096)
    assert inventory.shard_rcu == 1_000
    assert inventory.full_read_rcu == 16_000
    assert inventory.reads_per_second == 3
    assert 100 < cm.place_item_bytes() < 400


def test_the_cost_counts_every_order_once_whatever_the_window() -> None:
    inventory = cm.Inventory(50_000, cm.place_item_bytes())
    fast = {c.item: c for c in cm.onsale_cost(scenario(seconds=10), inventory, cm.Prices())}
    slow = {c.item: c for c in cm.onsale_cost(scenario(seconds=60), inventory, cm.Prices())}
    for item in ("DynamoDB writes", "DynamoDB reads", "Lambda, workers", "API Gateway"):
        assert fast[item].usd == pytest.approx(slow[item].usd), item
    # Only the warm environments the faster rush needs differ.
    assert fast["API provisioned concurrency"].usd > slow["API provisioned concurrency"].usd


def test_impossible_onsales_are_refused() -> None:
    with pytest.raises(ValueError, match="fewer hold attempts"):
        cm.model(cm.Onsale(fans=100, attempts_per_fan=1), cm.load_capacity(None), [10])
    with pytest.raises(ValueError, match="share"):
        cm.model(cm.Onsale(redis_refusal=1.5), cm.load_capacity(None), [10])


def test_the_constants_match_the_prod_stage() -> None:
    prod = PROD.read_text()
    api = re.search(r"^\s*api\s*=\s*\{([^}]*)\}", prod, re.MULTILINE)
    assert api is not None
    assert f"memory_mb = {cm.PROD_API_MEMORY_MB}" in api.group(1)
    assert f"reserved_concurrency = {cm.PROD_API_RESERVED}" in api.group(1)
    assert re.search(rf"api_throttling_rate_limit\s*=\s*{cm.API_ACCOUNT_RPS}\b", prod)
    assert re.search(r'redis_node_type\s*=\s*"cache\.r7g\.large"', prod)
    assert re.search(r"redis_multi_az\s*=\s*true", prod)  # primary + replica: REDIS_NODES
