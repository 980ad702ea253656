"""`terraform apply` of the dev stage on moto's server, then a booking through what it made.

The real terraform binary applies terraform/envs/dev (the stack module, as for AWS) with
the provider's endpoints on a moto server of this module's own; `emulator_unsupported`
leaves out only what moto cannot create or would run itself (docs/DEPLOY.md, "Applying
against an emulator"). Then the API and the workers run with the environments Terraform
gave the functions, on the secrets seeded as an operator does, and a fan books, pays and
gets tickets signed with the seeded key. tests/emulator_stack.py has the steps;
`make emulator-apply` runs them for a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from booking.adapters.security.ed25519_signer import verify_ticket_code
from tests.emulator_stack import (
    EMULATOR_UNSUPPORTED,
    MOTO_ENV,
    EmulatedStage,
    Figures,
    applied_functions,
    book,
    handled_queue,
    mail_sent,
    missing_tools,
    parked_messages,
    running_stage,
    seed_stage,
)
from tests.moto_server import own_moto_server
from tests.support import skip_unless_available, wait_for

# Left out by EMULATOR_UNSUPPORTED, and nothing else (docs/DEPLOY.md lists them).
EXCLUDED = {
    "aws_elasticache_replication_group": 1,
    "aws_elasticache_subnet_group": 1,
    "aws_elasticache_user": 2,
    "aws_elasticache_user_group": 1,
    "aws_opensearch_domain": 1,
    "aws_opensearch_domain_policy": 1,
    "aws_cloudwatch_log_group": 4,  # the domain's slow, application and audit logs
    "aws_cloudwatch_log_resource_policy": 1,  # OpenSearch writes them
    "aws_cloudwatch_metric_alarm": 2,  # the Redis node's CPU and memory
    "aws_sqs_queue_redrive_allow_policy": 4,
    "aws_lambda_event_source_mapping": 2,  # the table stream's forwarder and indexer
}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatedStage, Figures]]:
    missing = missing_tools()
    skip_unless_available(missing is None, f"terraform apply on moto: {missing}")
    workdir = tmp_path_factory.mktemp("emulator")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in MOTO_ENV.items():
            patch.setenv(name, value)
        with own_moto_server(workdir) as endpoint:
            stage = EmulatedStage(workdir, endpoint)
            stage.prepare()
            with (workdir / "terraform.log").open("w") as log:
                figures = stage.plan_and_apply(log)
            print(figures.report())
            yield stage, figures


@pytest.mark.slow
def test_everything_planned_is_applied_and_only_the_listed_parts_are_left_out(
    applied: tuple[EmulatedStage, Figures],
) -> None:
    """GIVEN terraform/envs/dev planned and applied to moto's server with emulator_unsupported
    THEN every planned resource exists, and what a plan for AWS has beyond it is exactly the
    parts listed in docs/DEPLOY.md."""
    _, figures = applied
    assert set(EMULATOR_UNSUPPORTED) == {
        "elasticache",
        "opensearch",
        "cloudfront-managed-policies",
        "sqs-redrive-allow-policy",
        "stream-event-source-mappings",
    }
    assert figures.applied == figures.planned
    assert dict(figures.excluded) == EXCLUDED
    for kind in ("aws_lambda_function", "aws_dynamodb_table", "aws_cloudfront_distribution"):
        assert figures.applied[kind] >= 1, kind


@pytest.mark.slow
def test_a_fan_books_through_what_was_applied(
    applied: tuple[EmulatedStage, Figures], tmp_path: Path
) -> None:
    """GIVEN the applied stage WHEN the secrets are seeded as an operator does and the API and
    the workers run with the environments and queue mappings Terraform gave the functions
    THEN a fan's order is paid and ticketed (signed with the seeded key, mailed once) and no
    message is parked."""
    stage, _ = applied
    outputs = stage.outputs()
    functions = applied_functions(stage.endpoint, outputs["function_names"])
    # Terraform's wiring as the functions got it: the API enqueues webhooks where the webhooks
    # function drains them; the forwarder sends each topic where its function drains it.
    api = functions["api"].environment
    assert api["CONCERTBOOK_TABLE_NAME"] == outputs["table_name"]
    assert api["CONCERTBOOK_WEBHOOK_SECRET_ARN"] == outputs["webhook_secret_arn"]
    assert api["CONCERTBOOK_TICKET_SIGNING_KEY_ARN"] == outputs["ticket_signing_key_arn"]
    assert api["CONCERTBOOK_QUEUE_URL_WEBHOOKS"] == functions["webhooks"].drains
    assert "CONCERTBOOK_REDIS_URL" not in api and "CONCERTBOOK_OPENSEARCH_URL" not in api
    forwarder = functions["forwarder"].environment
    for name in ("payments", "notifications", "images-queue"):
        queue = handled_queue(functions[name].handler)
        assert forwarder[f"CONCERTBOOK_QUEUE_URL_{queue.upper()}"] == functions[name].drains
    assert {f.drains for f in functions.values() if f.drains} == set(outputs["queue_urls"].values())
    # The gateway simulator's webhooks: signed with the stage's secret, posted to its API.
    deliverer = functions["gateway-webhooks"]
    assert deliverer.environment["CONCERTBOOK_WEBHOOK_SECRET_ARN"] == outputs["webhook_secret_arn"]
    assert deliverer.environment["CONCERTBOOK_PUBLIC_URL"] == outputs["api_url"]

    mail_from = functions["notifications"].environment["CONCERTBOOK_MAIL_FROM"]
    seeded = seed_stage(stage.endpoint, outputs, mail_from)
    with running_stage(stage.endpoint, functions, tmp_path / "data") as running:
        try:
            booked: dict[str, Any] = book(running.base_url)
            wait_for(lambda: mail_sent(stage.endpoint) >= 1, timeout=60, interval=0.5)
        except AssertionError:
            print(running.logs())
            raise
    assert booked["order"]["status"] == "paid"
    assert sorted(t["unit_id"] for t in booked["tickets"]) == ["S1-A-1", "S1-A-2"]
    assert booked["public_key_pem"] == seeded.ticket_public_key_pem
    key = serialization.load_pem_public_key(seeded.ticket_public_key_pem)
    assert isinstance(key, Ed25519PublicKey)
    for ticket in booked["tickets"]:
        claims = verify_ticket_code(key, ticket["code"])
        assert claims.order_id == booked["order"]["id"]
    assert mail_sent(stage.endpoint) == 1
    assert set(parked_messages(stage.endpoint).values()) == {0}
