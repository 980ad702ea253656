"""The simulator's state port, the same checks on both adapters: its own SQLite file and the
stage's DynamoDB table (moto). On DynamoDB each check uses two state objects on one table,
as two Lambdas or processes would: neither remembers what the other did, the table does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from booking.adapters.aws.dynamodb_gateway_state import DynamoGatewayState
from booking.adapters.aws.dynamodb_table import Dynamo, dynamodb_client
from booking.adapters.local.sqlite_db import SqliteDatabase
from booking.adapters.local.sqlite_gateway_state import GATEWAY_MIGRATIONS, SqliteGatewayState
from booking.adapters.payments.simulated_gateway import GatewayBehaviour, SimulatedGateway
from booking.adapters.payments.state import GatewayState, Scheduled
from booking.adapters.system_clock import SystemClock
from booking.domain.errors import Conflict
from booking.domain.payments import (
    GatewayPayment,
    PaymentStatus,
    WebhookEvent,
    verify_webhook_signature,
)
from tests.moto_server import AWS_TEST_ENV, create_table

SECRET = b"state-test-secret"


States = tuple[GatewayState, GatewayState]
Scenario = Callable[[GatewayState, GatewayState], Awaitable[None]]


@pytest.fixture(params=["sqlite", "dynamodb"])
def on_states(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], None]:
    """Runs a scenario on two views of one gateway state (two processes' on DynamoDB)."""
    clock = SystemClock()

    async def sqlite(scenario: Scenario) -> None:
        db = SqliteDatabase(tmp_path / "gw.sqlite3", clock, migrations=GATEWAY_MIGRATIONS)
        db.open()
        try:
            await scenario(SqliteGatewayState(db), SqliteGatewayState(db))
        finally:
            db.close()

    async def dynamodb(scenario: Scenario) -> None:
        endpoint: str = request.getfixturevalue("moto_endpoint")
        table = await create_table(endpoint, stream=False)
        region = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
        async with (
            dynamodb_client(region, endpoint) as one,
            dynamodb_client(region, endpoint) as two,
        ):
            await scenario(
                DynamoGatewayState(Dynamo(one, table), clock),
                DynamoGatewayState(Dynamo(two, table), clock),
            )

    run = sqlite if request.param == "sqlite" else dynamodb
    return lambda scenario: asyncio.run(run(scenario))


def _payment(status: PaymentStatus = PaymentStatus.AUTHORIZED, n: int = 1) -> GatewayPayment:
    return GatewayPayment(id=f"gwp_state{n}", reference=f"ord_{n}", amount_krw=1000, status=status)


def test_a_key_stores_one_payment_and_its_webhooks_once(
    on_states: Callable[[Scenario], None],
) -> None:
    """GIVEN one idempotency key WHEN two processes add a payment under it at once THEN one
    is stored, both get that one, and only its webhook is pending."""

    async def scenario(a: GatewayState, b: GatewayState) -> None:
        first, second = _payment(n=1), _payment(n=2)
        stored = await asyncio.gather(
            a.add(first, "key-1", [Scheduled(b"one", 0)]),
            b.add(second, "key-1", [Scheduled(b"two", 0)]),
        )
        assert stored[0] == stored[1]
        assert stored[0] in (first, second)
        assert await b.get(stored[0].id) == stored[0]
        due = await a.claim_due(10, 30_000)
        assert [w.body for w in due] == [b"one" if stored[0] == first else b"two"]

    on_states(scenario)


def test_replace_is_compare_and_set(on_states: Callable[[Scenario], None]) -> None:
    """GIVEN an authorized payment WHEN two processes move it from authorized at once THEN one
    move wins with its webhook, the other is refused and stores nothing."""

    async def scenario(a: GatewayState, b: GatewayState) -> None:
        payment = await a.add(_payment(), "key-cas", [])
        captured = msgspec.structs.replace(payment, status=PaymentStatus.CAPTURED)
        voided = msgspec.structs.replace(payment, status=PaymentStatus.VOIDED)
        won = await asyncio.gather(
            a.replace(payment, captured, [Scheduled(b"captured", 0)]),
            b.replace(payment, voided, [Scheduled(b"voided", 0)]),
        )
        assert sorted(won) == [False, True]
        winner = captured if won[0] else voided
        assert await b.get(payment.id) == winner
        assert [w.body for w in await b.claim_due(10, 30_000)] == [winner.status.encode()]

    on_states(scenario)


def test_a_claimed_webhook_is_not_claimed_again_until_retried_or_its_lease_lapses(
    on_states: Callable[[Scenario], None],
) -> None:
    """GIVEN a due webhook claimed by one deliverer THEN another finds nothing; retried
    without delay it is due again with its attempts counted; finished, it is gone; a
    webhook not yet due is never claimed; a lapsed lease is claimed again."""

    async def scenario(a: GatewayState, b: GatewayState) -> None:
        await a.add(_payment(), "key-lease", [Scheduled(b"now", 0), Scheduled(b"later", 60_000)])
        (claimed,) = await a.claim_due(10, 30_000)
        assert (claimed.body, claimed.attempts) == (b"now", 0)
        assert await b.claim_due(10, 30_000) == []
        await a.retry(claimed, 1, 0)
        (again,) = await b.claim_due(10, 1)
        assert (again.id, again.attempts) == (claimed.id, 1)
        await asyncio.sleep(0.05)  # the 1 ms lease lapses: its deliverer is presumed dead
        (third,) = await a.claim_due(10, 30_000)
        assert third.id == claimed.id
        await a.finish(third, 2, delivered=True)
        assert await b.claim_due(10, 30_000) == []

    on_states(scenario)


def test_one_simulator_behaviour_across_processes(on_states: Callable[[Scenario], None]) -> None:
    """GIVEN a simulator per process on one state WHEN one authorizes, another captures and
    a third delivers THEN each webhook reaches the endpoint signed, once per copy; a void
    after the capture is refused, a refund goes through."""

    async def scenario(*states: GatewayState) -> None:
        clock = SystemClock()
        authorizer, capturer, deliverer = (
            SimulatedGateway(state, SECRET, clock, GatewayBehaviour(min_delay_ms=0, max_delay_ms=0))
            for state in (*states, states[0])
        )
        received: list[WebhookEvent] = []

        async def endpoint(body: bytes, headers: dict[str, str]) -> int:
            now = int(clock.now().timestamp())
            verify_webhook_signature(SECRET, headers["webhook-signature"], body, now)
            received.append(msgspec.json.decode(body, type=WebhookEvent))
            return 204 if len(received) > 1 else 503  # the first delivery fails once

        deliverer.attach(endpoint)
        created = await authorizer.create_payment("ord_x", 5000, "tok_visa", "pay-x")
        assert created.status is PaymentStatus.PROCESSING
        assert (await capturer.capture(created.id)).status is PaymentStatus.CAPTURED
        with pytest.raises(Conflict):
            await authorizer.void(created.id)
        assert (await capturer.refund(created.id)).status is PaymentStatus.REFUNDED

        async def deliveries(count: int) -> list[str]:
            while len(received) < count:
                await deliverer.deliver_due()
                await asyncio.sleep(0.05)
            return [e.type.value for e in received]

        # One delivery failed once and came again: four deliveries of three events.
        kinds = await asyncio.wait_for(deliveries(4), timeout=30)
        assert set(kinds) == {"payment.authorized", "payment.captured", "payment.refunded"}
        await asyncio.sleep(0.6)
        assert not await deliverer.deliver_due()
        assert len(received) == 4

    on_states(scenario)


def test_dynamodb_items_stay_apart_from_ours() -> None:
    """The simulator's keys have prefixes of their own; none starts like one of ours."""
    ours: tuple[str, ...] = (
        "ACC#",
        "EMAIL#",
        "SES#",
        "VEN#",
        "EVT#",
        "PRF#",
        "INV#",
        "HLD#",
        "LIM#",
        "ORD#",
    )
    ours += ("PAY#", "GWPAY#", "TKT#", "TKTUNIT#", "IDEM#", "OUTBOX#", "MAIL#")
    for prefix in ("SIMPAY#", "SIMKEY#", "SIMHOOK#", "SIMHOOKS#"):
        assert not any(prefix.startswith(o) or o.startswith(prefix) for o in ours)
