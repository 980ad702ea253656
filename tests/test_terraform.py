"""The Terraform under terraform/, checked by parsing it (no terraform binary here).

Each property has a check in tests/terraform_model.py that the real code must pass,
and mutation tests that break the property in a copy of the parsed model and expect
the same check to report it: a check that cannot fail proves nothing. The checkov
scan runs in its own virtualenv (tools/checkov/run.sh).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from booking.adapters.aws.dynamodb_table import table_definition
from tests.terraform_model import (
    DASHBOARD_METRICS,
    FUNCTIONS,
    IAM,
    NETWORK,
    OBSERVABILITY,
    QUEUES,
    REPO,
    SEED_TOPOLOGY,
    STACK,
    STAGE_OUTPUTS,
    TERRAFORM,
    Model,
    block,
    check_alarms,
    check_api,
    check_backends,
    check_buckets_private,
    check_dashboard,
    check_encryption,
    check_environment_grants,
    check_failure_destinations,
    check_function_catalogue,
    check_function_monitoring,
    check_function_policies,
    check_lambdas_in_vpc,
    check_network,
    check_queue_mappings,
    check_queues,
    check_queues_match_docs,
    check_security_groups,
    check_stream_mappings,
    check_table_matches_code,
    check_topology,
    check_variables,
    check_wiring,
    parse,
    stack_catalogue,
    tf_files,
)


def check_table(model: Model) -> list[str]:
    return check_table_matches_code(model, table_definition("concertbook"))


CHECKS: dict[str, Callable[[Model], list[str]]] = {
    "wiring": check_wiring,
    "topology": check_topology,
    "network": check_network,
    "api": check_api,
    "dashboard": check_dashboard,
    "catalogue": check_function_catalogue,
    "vpc": check_lambdas_in_vpc,
    "failures": check_failure_destinations,
    "streams": check_stream_mappings,
    "sqs-mappings": check_queue_mappings,
    "queues": check_queues,
    "iam": check_function_policies,
    "buckets": check_buckets_private,
    "encryption": check_encryption,
    "function-monitoring": check_function_monitoring,
    "alarms": check_alarms,
    "table": check_table,
    "security-groups": check_security_groups,
    "backends": check_backends,
    "variables": check_variables,
    "grants": check_environment_grants,
    "docs": check_queues_match_docs,
}


@pytest.fixture(scope="session")
def model() -> Model:
    return Model.load()


def test_every_tf_file_parses(model: Model) -> None:
    on_disk = {str(p.relative_to(TERRAFORM)) for p in tf_files()}
    assert set(model.files) == on_disk
    for root in ("envs/dev", "envs/prod", "bootstrap", STACK, FUNCTIONS, IAM, QUEUES, NETWORK):
        assert root in model.modules


def test_every_module_is_wired_from_each_stage(model: Model) -> None:
    assert check_wiring(model) == []


def test_every_service_the_seed_names_has_its_terraform(model: Model) -> None:
    assert check_topology(model) == []


def test_the_vpc_has_two_zones_nat_and_endpoints_for_what_the_functions_call(
    model: Model,
) -> None:
    assert check_network(model) == []


def test_the_http_api_is_throttled_and_logged(model: Model) -> None:
    assert check_api(model) == []


def test_the_dashboard_has_every_metric_the_seed_and_the_issue_name(model: Model) -> None:
    assert check_dashboard(model) == []


def test_every_function_has_its_entry_point_and_environment(model: Model) -> None:
    assert check_function_catalogue(model) == []
    assert len(stack_catalogue(model)) >= 9


def test_every_lambda_is_in_the_vpc(model: Model) -> None:
    assert check_lambdas_in_vpc(model) == []


def test_every_lambda_has_a_dead_letter_or_on_failure_destination(model: Model) -> None:
    assert check_failure_destinations(model) == []


def test_stream_mappings_bisect_retry_filter_and_send_failures_on(model: Model) -> None:
    assert check_stream_mappings(model) == []


def test_every_sqs_consumer_reports_batch_item_failures(model: Model) -> None:
    assert check_queue_mappings(model) == []


def test_every_queue_is_encrypted_and_redrives_to_a_dead_letter_queue(model: Model) -> None:
    assert check_queues(model) == []


def test_queues_match_the_architecture_document(model: Model) -> None:
    assert check_queues_match_docs(model) == []


def test_every_function_role_is_least_privilege(model: Model) -> None:
    assert check_function_policies(model) == []


def test_every_environment_variable_is_backed_by_a_grant(model: Model) -> None:
    assert check_environment_grants(model) == []


def test_no_bucket_is_public(model: Model) -> None:
    assert check_buckets_private(model) == []


def test_every_data_resource_is_encrypted(model: Model) -> None:
    assert check_encryption(model) == []


def test_every_lambda_is_on_the_dashboard_and_alarmed(model: Model) -> None:
    assert check_function_monitoring(model) == []


def test_the_alarms_that_page(model: Model) -> None:
    assert check_alarms(model) == []


def test_the_table_matches_table_definition(model: Model) -> None:
    assert check_table(model) == []


def test_redis_and_opensearch_admit_only_the_lambdas(model: Model) -> None:
    assert check_security_groups(model) == []


def test_every_root_has_a_locking_s3_backend_and_pinned_providers(model: Model) -> None:
    assert check_backends(model) == []


def test_every_variable_is_described_and_settings_are_validated(model: Model) -> None:
    assert check_variables(model) == []


def test_each_stage_sets_what_the_workflows_do_not_pass(model: Model) -> None:
    """plan.yml and deploy.yml pass only account_id and image_tag; terraform.tfvars holds
    every other required variable of the stage, and nothing the stage does not declare."""
    for stage in ("envs/dev", "envs/prod"):
        declared = model[stage].variables
        required = {name for name, v in declared.items() if "default" not in v}
        values = parse((TERRAFORM / stage / "terraform.tfvars").read_text())
        assert required - {"account_id", "image_tag"} <= set(values), stage
        assert set(values) <= set(declared), stage


# -- mutations: each breaks one property; its check must say so ---------------------------
@dataclass(frozen=True)
class Mutation:
    id: str
    check: str
    expect: str
    apply: Callable[[Model], Any]


def res(model: Model, path: str, kind: str, name: str) -> dict[str, Any]:
    return model[path].resource(kind, name)


def blk(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The first `name` block of body (which the mutation then changes)."""
    found = block(body, name)
    assert found is not None, name
    return found


def lambda_fn(model: Model) -> dict[str, Any]:
    return res(model, FUNCTIONS, "aws_lambda_function", "this")


def stream(model: Model) -> dict[str, Any]:
    return res(model, FUNCTIONS, "aws_lambda_event_source_mapping", "stream")


def sqs_mapping(model: Model) -> dict[str, Any]:
    return res(model, FUNCTIONS, "aws_lambda_event_source_mapping", "queue")


def queue(model: Model, name: str) -> dict[str, Any]:
    return res(model, QUEUES, "aws_sqs_queue", name)


def doc(model: Model, name: str) -> dict[str, Any]:
    found: dict[str, Any] = model[IAM].data["aws_iam_policy_document"][name]
    return found


def add_statement(model: Model, name: str, actions: list[str], resources: list[str]) -> None:
    doc(model, name)["statement"].append(
        {"sid": "Mutant", "actions": actions, "resources": resources}
    )


def alarm(model: Model, name: str) -> dict[str, Any]:
    return res(model, OBSERVABILITY, "aws_cloudwatch_metric_alarm", name)


def stack_call(model: Model, name: str) -> dict[str, Any]:
    return model[STACK].calls[name]


def env(model: Model, function: str) -> dict[str, Any]:
    found: dict[str, Any] = model[STACK].locals["environments"][function]
    return found


def media(model: Model, kind: str, name: str) -> dict[str, Any]:
    return res(model, "modules/media", kind, name)


def backend(model: Model, root: str) -> dict[str, Any]:
    found: dict[str, Any] = model[root].terraform[0]["backend"][0]["s3"]
    return found


def replace(value: str, old: str, new: str) -> str:
    assert old in value, f"{old!r} not in {value!r}"
    return value.replace(old, new)


MUTATIONS = [
    # every Lambda in the VPC
    Mutation(
        "lambda-without-vpc", "vpc", "no vpc_config", lambda m: lambda_fn(m).pop("vpc_config")
    ),
    Mutation(
        "lambda-without-security-group",
        "vpc",
        "security group",
        lambda m: blk(lambda_fn(m), "vpc_config").update(security_group_ids=[]),
    ),
    Mutation(
        "lambdas-in-other-subnets",
        "vpc",
        "private subnets",
        lambda m: stack_call(m, "functions").update(
            subnet_ids="${module.network.public_subnet_ids}"
        ),
    ),
    # DLQ or on-failure destination
    Mutation(
        "lambda-without-dlq",
        "failures",
        "no dead_letter_config",
        lambda m: lambda_fn(m).pop("dead_letter_config"),
    ),
    Mutation(
        "function-without-failure-queue",
        "failures",
        "function api has neither",
        lambda m: m[STACK].locals["failure_queue_functions"].remove("api"),
    ),
    Mutation(
        "stream-without-on-failure",
        "streams",
        "no on-failure destination",
        lambda m: stream(m).pop("destination_config"),
    ),
    Mutation(
        "stream-failures-not-wired",
        "streams",
        "failure queues",
        lambda m: stack_call(m, "functions").update(
            stream_triggers=replace(
                stack_call(m, "functions")["stream_triggers"],
                "on_failure_arn = module.queues.failure_arns[fn]",
                'on_failure_arn = ""',
            )
        ),
    ),
    # stream mappings
    Mutation(
        "stream-without-bisect",
        "streams",
        "bisect",
        lambda m: stream(m).update(bisect_batch_on_function_error=False),
    ),
    Mutation(
        "stream-retries-forever",
        "streams",
        "without limit",
        lambda m: stream(m).pop("maximum_retry_attempts"),
    ),
    Mutation(
        "stream-without-partial-batch",
        "streams",
        "batch item failures",
        lambda m: stream(m).update(function_response_types=[]),
    ),
    Mutation(
        "stream-unfiltered",
        "streams",
        "OUTBOX# inserts",
        lambda m: m[FUNCTIONS].locals.update(
            outbox_inserts='${jsonencode({eventName = ["INSERT"]})}'
        ),
    ),
    Mutation(
        "stream-batches-of-ten",
        "streams",
        "not ~100",
        lambda m: m[STACK].variables["stream_batch_size"].update(default=10),
    ),
    Mutation(
        "indexer-off-the-stream",
        "streams",
        "indexer has no stream trigger",
        lambda m: stack_call(m, "functions").update(
            stream_triggers=replace(
                stack_call(m, "functions")["stream_triggers"],
                '"forwarder", "indexer"',
                '"forwarder"',
            )
        ),
    ),
    # SQS mappings
    Mutation(
        "sqs-without-partial-batch",
        "sqs-mappings",
        "batch item failures",
        lambda m: sqs_mapping(m).pop("function_response_types"),
    ),
    Mutation(
        "sqs-without-maximum-concurrency",
        "sqs-mappings",
        "maximum concurrency",
        lambda m: sqs_mapping(m).pop("scaling_config"),
    ),
    Mutation(
        "images-queue-not-consumed",
        "sqs-mappings",
        "the code's",
        lambda m: m[STACK].locals["queue_consumers"].pop("images"),
    ),
    # queues
    Mutation(
        "queue-without-redrive",
        "queues",
        "no redrive policy",
        lambda m: queue(m, "work").pop("redrive_policy"),
    ),
    Mutation(
        "redrive-at-max-attempts",
        "queues",
        "max_attempts + 1",
        lambda m: queue(m, "work").update(
            redrive_policy=replace(
                queue(m, "work")["redrive_policy"], "var.max_attempts + 1", "var.max_attempts"
            )
        ),
    ),
    Mutation(
        "visibility-twice-the-timeout",
        "queues",
        "6 x the timeout",
        lambda m: queue(m, "work").update(
            visibility_timeout_seconds="${2 * each.value.timeout_seconds}"
        ),
    ),
    Mutation(
        "dlq-unencrypted",
        "queues",
        "not encrypted",
        lambda m: queue(m, "dlq").pop("kms_master_key_id"),
    ),
    Mutation(
        "dlq-keeps-four-days",
        "queues",
        "14 days",
        lambda m: queue(m, "dlq").update(message_retention_seconds=345600),
    ),
    Mutation(
        "documented-timeout-differs",
        "docs",
        "consumer timeout",
        lambda m: (
            m["envs/dev"].calls["stack"]["function_settings"]["payments"].update(timeout_seconds=60)
        ),
    ),
    # least privilege
    Mutation(
        "dynamodb-star",
        "iam",
        "wildcard action dynamodb:*",
        lambda m: add_statement(m, "api", ["dynamodb:*"], ["${var.table_arn}"]),
    ),
    Mutation(
        "action-star",
        "iam",
        "wildcard action *",
        lambda m: add_statement(m, "payments", ["*"], ["${var.table_arn}"]),
    ),
    Mutation(
        "send-to-any-queue",
        "iam",
        "unscoped",
        lambda m: add_statement(m, "forwarder", ["sqs:SendMessage"], ["*"]),
    ),
    Mutation(
        "forwarder-sends-webhooks",
        "iam",
        "forwarder sends to",
        lambda m: add_statement(
            m, "forwarder", ["sqs:SendMessage"], ['${var.queue_arns["webhooks"]}']
        ),
    ),
    Mutation(
        "payments-drains-notifications",
        "iam",
        "beyond its own queue",
        lambda m: add_statement(
            m, "payments", ["sqs:ReceiveMessage"], ['${var.queue_arns["notifications"]}']
        ),
    ),
    Mutation(
        "api-sends-mail",
        "iam",
        "SES beyond",
        lambda m: add_statement(m, "api", ["ses:SendRawEmail"], ["${var.ses_identity_arns[0]}"]),
    ),
    Mutation(
        "payments-reads-any-secret",
        "iam",
        "beyond secretsmanager's own resources",
        lambda m: add_statement(
            m, "payments", ["secretsmanager:GetSecretValue"], ["${var.data_kms_key_arn}"]
        ),
    ),
    Mutation(
        "webhooks-searches",
        "iam",
        "search access beyond",
        lambda m: add_statement(
            m, "webhooks", ["es:ESHttpGet"], ["${var.opensearch_domain_arn}/*"]
        ),
    ),
    Mutation(
        "images-whole-bucket",
        "iam",
        "beyond s3's own resources",
        lambda m: add_statement(m, "images", ["s3:GetObject"], ["${var.media_bucket_arn}/*"]),
    ),
    Mutation(
        "dynamodb-beyond-the-table",
        "iam",
        "beyond dynamodb's own resources",
        lambda m: add_statement(m, "expiry", ["dynamodb:GetItem"], ["${var.media_bucket_arn}"]),
    ),
    Mutation(
        "function-without-policy",
        "iam",
        "expiry has no policy",
        lambda m: m[IAM].locals["policies"].pop("expiry"),
    ),
    Mutation(
        "environment-without-grant",
        "grants",
        "may not send to the payments queue",
        lambda m: env(m, "api").update(CONCERTBOOK_QUEUE_URL_PAYMENTS="${module.queues.urls}"),
    ),
    Mutation(
        "secret-without-grant",
        "grants",
        "lacks var.ticket_signing_key_arn",
        lambda m: env(m, "notifications").update(
            CONCERTBOOK_TICKET_SIGNING_KEY_ARN="${local.ticket_signer_key}"
        ),
    ),
    # public buckets
    Mutation(
        "media-public-buckets-allowed",
        "buckets",
        "lacks Block Public Access",
        lambda m: media(m, "aws_s3_bucket_public_access_block", "media").update(
            restrict_public_buckets=False
        ),
    ),
    Mutation(
        "logs-without-public-access-block",
        "buckets",
        "aws_s3_bucket.logs lacks Block Public Access",
        lambda m: m["modules/media"].resources["aws_s3_bucket_public_access_block"].pop("logs"),
    ),
    Mutation(
        "media-policy-open-to-anyone",
        "buckets",
        "is open",
        lambda m: (
            m["modules/media"]
            .data["aws_iam_policy_document"]["media"]["statement"][0]
            .update(principals=[{"type": "*", "identifiers": ["*"]}], condition=[])
        ),
    ),
    Mutation(
        "public-read-acl",
        "buckets",
        "is public",
        lambda m: (
            m["modules/media"]
            .resources.setdefault("aws_s3_bucket_acl", {})
            .update(media={"bucket": "${aws_s3_bucket.media.id}", "acl": "public-read"})
        ),
    ),
    Mutation(
        "media-acls-enabled",
        "buckets",
        "disable ACLs",
        lambda m: blk(media(m, "aws_s3_bucket_ownership_controls", "media"), "rule").update(
            object_ownership="BucketOwnerPreferred"
        ),
    ),
    Mutation(
        "cdn-plain-http",
        "buckets",
        "plain HTTP",
        lambda m: blk(
            media(m, "aws_cloudfront_distribution", "this"), "default_cache_behavior"
        ).update(viewer_protocol_policy="allow-all"),
    ),
    Mutation(
        "cdn-without-oac",
        "buckets",
        "without Origin Access Control",
        lambda m: blk(media(m, "aws_cloudfront_distribution", "this"), "origin").pop(
            "origin_access_control_id"
        ),
    ),
    Mutation(
        "cdn-reads-uploads",
        "buckets",
        "more than posters/",
        lambda m: (
            m["modules/media"]
            .data["aws_iam_policy_document"]["media"]["statement"][0]
            .update(resources=["${aws_s3_bucket.media.arn}/*"])
        ),
    ),
    Mutation(
        "uploads-kept-a-week",
        "buckets",
        "expire after a day",
        lambda m: blk(
            media(m, "aws_s3_bucket_lifecycle_configuration", "media")["rule"][0], "expiration"
        ).update(days=7),
    ),
    # encryption
    Mutation(
        "table-without-kms",
        "encryption",
        "without KMS SSE",
        lambda m: blk(
            res(m, "modules/table", "aws_dynamodb_table", "this"), "server_side_encryption"
        ).update(enabled=False),
    ),
    Mutation(
        "redis-plaintext-in-transit",
        "encryption",
        "in transit",
        lambda m: res(m, "modules/cache", "aws_elasticache_replication_group", "this").update(
            transit_encryption_enabled=False
        ),
    ),
    Mutation(
        "redis-unencrypted-at-rest",
        "encryption",
        "at rest",
        lambda m: res(m, "modules/cache", "aws_elasticache_replication_group", "this").pop(
            "at_rest_encryption_enabled"
        ),
    ),
    Mutation(
        "opensearch-node-to-node-off",
        "encryption",
        "node-to-node",
        lambda m: blk(
            res(m, "modules/search", "aws_opensearch_domain", "this"), "node_to_node_encryption"
        ).update(enabled=False),
    ),
    Mutation(
        "opensearch-tls-1-0",
        "encryption",
        "TLS < 1.2",
        lambda m: blk(
            res(m, "modules/search", "aws_opensearch_domain", "this"), "domain_endpoint_options"
        ).update(tls_security_policy="Policy-Min-TLS-1-0-2019-07"),
    ),
    Mutation(
        "opensearch-unencrypted-at-rest",
        "encryption",
        "unencrypted at rest",
        lambda m: res(m, "modules/search", "aws_opensearch_domain", "this").pop("encrypt_at_rest"),
    ),
    Mutation(
        "bucket-without-sse",
        "encryption",
        "bucket logs without default encryption",
        lambda m: (
            m["modules/media"]
            .resources["aws_s3_bucket_server_side_encryption_configuration"]
            .pop("logs")
        ),
    ),
    Mutation(
        "ecr-without-encryption",
        "encryption",
        "without encryption configuration",
        lambda m: res(m, "modules/ecr", "aws_ecr_repository", "this").pop(
            "encryption_configuration"
        ),
    ),
    Mutation(
        "log-group-without-kms",
        "encryption",
        "log group function without a KMS key",
        lambda m: res(m, FUNCTIONS, "aws_cloudwatch_log_group", "function").pop("kms_key_id"),
    ),
    Mutation(
        "secret-without-kms",
        "encryption",
        "secret webhook without a KMS key",
        lambda m: res(m, "modules/secrets", "aws_secretsmanager_secret", "webhook").pop(
            "kms_key_id"
        ),
    ),
    Mutation(
        "topic-unencrypted",
        "encryption",
        "topic alarms unencrypted",
        lambda m: res(m, OBSERVABILITY, "aws_sns_topic", "alarms").pop("kms_master_key_id"),
    ),
    Mutation(
        "lambda-environment-unencrypted",
        "encryption",
        "environment without a KMS key",
        lambda m: lambda_fn(m).pop("kms_key_arn"),
    ),
    # every Lambda on the dashboard and in alarms
    Mutation(
        "errors-alarm-for-one-function",
        "function-monitoring",
        "no Errors alarm per function",
        lambda m: alarm(m, "lambda_errors").update(for_each='${{api = var.function_names["api"]}}'),
    ),
    Mutation(
        "throttles-alarm-removed",
        "function-monitoring",
        "no Throttles alarm per function",
        lambda m: m[OBSERVABILITY].resources["aws_cloudwatch_metric_alarm"].pop("lambda_throttles"),
    ),
    Mutation(
        "widgets-without-throttles",
        "function-monitoring",
        "lack Throttles",
        lambda m: m[OBSERVABILITY].locals.update(
            function_widgets=replace(
                m[OBSERVABILITY].locals["function_widgets"], '"Throttles"', '"Invocations"'
            )
        ),
    ),
    Mutation(
        "dashboard-without-functions",
        "function-monitoring",
        "does not show the function widgets",
        lambda m: res(m, OBSERVABILITY, "aws_cloudwatch_dashboard", "this").update(
            dashboard_body="${jsonencode({widgets = local.api_widgets})}"
        ),
    ),
    Mutation(
        "observability-gets-some-functions",
        "function-monitoring",
        "does not get every function",
        lambda m: stack_call(m, "observability").update(
            function_names='${{api = module.functions.function_names["api"]}}'
        ),
    ),
    Mutation(
        "log-group-kept-forever",
        "function-monitoring",
        "log group with retention",
        lambda m: res(m, FUNCTIONS, "aws_cloudwatch_log_group", "function").pop(
            "retention_in_days"
        ),
    ),
    # the other alarms
    Mutation(
        "no-opensearch-red-alarm",
        "alarms",
        "opensearch_red",
        lambda m: m[OBSERVABILITY].resources["aws_cloudwatch_metric_alarm"].pop("opensearch_red"),
    ),
    Mutation(
        "failure-queues-unwatched",
        "alarms",
        "var.failure_queue_names",
        lambda m: m[OBSERVABILITY].locals.update(parked="${var.dlq_names}"),
    ),
    Mutation(
        "api-5xx-does-not-page",
        "alarms",
        "api_5xx_rate alarm does not page",
        lambda m: alarm(m, "api_5xx_rate").pop("alarm_actions"),
    ),
    Mutation(
        "redis-memory-unwatched",
        "alarms",
        "redis_memory",
        lambda m: m[OBSERVABILITY].resources["aws_cloudwatch_metric_alarm"].pop("redis_memory"),
    ),
    # the table
    Mutation(
        "table-without-ttl",
        "table",
        "TTL",
        lambda m: res(m, "modules/table", "aws_dynamodb_table", "this").pop("ttl"),
    ),
    Mutation(
        "gsi-keys-only",
        "table",
        "indexes",
        lambda m: res(m, "modules/table", "aws_dynamodb_table", "this")["global_secondary_index"][
            1
        ].update(projection_type="KEYS_ONLY"),
    ),
    Mutation(
        "stream-new-image-only",
        "table",
        "stream differs",
        lambda m: res(m, "modules/table", "aws_dynamodb_table", "this").update(
            stream_view_type="NEW_IMAGE"
        ),
    ),
    Mutation(
        "attribute-missing",
        "table",
        "attributes",
        lambda m: res(m, "modules/table", "aws_dynamodb_table", "this")["attribute"].pop(),
    ),
    Mutation(
        "pitr-off",
        "table",
        "point-in-time",
        lambda m: blk(
            res(m, "modules/table", "aws_dynamodb_table", "this"), "point_in_time_recovery"
        ).update(enabled=False),
    ),
    Mutation(
        "deletion-protection-off",
        "table",
        "deletion protection",
        lambda m: res(m, "modules/table", "aws_dynamodb_table", "this").pop(
            "deletion_protection_enabled"
        ),
    ),
    # security groups
    Mutation(
        "redis-open-to-the-vpc",
        "security-groups",
        "address range",
        lambda m: res(
            m, NETWORK, "aws_vpc_security_group_ingress_rule", "redis_from_lambda"
        ).update(cidr_ipv4="10.0.0.0/8"),
    ),
    Mutation(
        "opensearch-from-another-group",
        "security-groups",
        "more than the Lambdas' group",
        lambda m: res(
            m, NETWORK, "aws_vpc_security_group_ingress_rule", "opensearch_from_lambda"
        ).update(referenced_security_group_id="${aws_security_group.endpoints.id}"),
    ),
    Mutation(
        "opensearch-all-ports",
        "security-groups",
        "more than tcp/443",
        lambda m: res(
            m, NETWORK, "aws_vpc_security_group_ingress_rule", "opensearch_from_lambda"
        ).update(from_port=0, to_port=65535),
    ),
    Mutation(
        "redis-inline-ingress",
        "security-groups",
        "inline ingress",
        lambda m: res(m, NETWORK, "aws_security_group", "redis").update(
            ingress=[{"from_port": 6379, "to_port": 6379, "cidr_blocks": ["0.0.0.0/0"]}]
        ),
    ),
    Mutation(
        "redis-in-the-lambda-group",
        "security-groups",
        "Redis is not in the Redis group",
        lambda m: stack_call(m, "cache").update(
            security_group_id="${module.network.lambda_security_group_id}"
        ),
    ),
    # backends and pins
    Mutation(
        "dev-state-unlocked",
        "backends",
        "does not lock",
        lambda m: backend(m, "envs/dev").update(use_lockfile=False),
    ),
    Mutation(
        "prod-without-backend",
        "backends",
        "envs/prod has no S3 backend",
        lambda m: m["envs/prod"].terraform[0].pop("backend"),
    ),
    Mutation(
        "provider-unpinned",
        "backends",
        "aws provider",
        lambda m: (
            m["envs/dev"].terraform[0]["required_providers"][0]["aws"].update(version=">= 4.0")
        ),
    ),
    Mutation(
        "shared-state-key",
        "backends",
        "share a state key",
        lambda m: backend(m, "envs/prod").update(key=backend(m, "envs/dev")["key"]),
    ),
    # variables
    Mutation(
        "variable-without-description",
        "variables",
        "no description",
        lambda m: m[QUEUES].variables["max_attempts"].pop("description"),
    ),
    Mutation(
        "number-without-validation",
        "variables",
        "number without validation",
        lambda m: m[STACK].variables["stream_batch_size"].pop("validation"),
    ),
    Mutation(
        "enum-without-validation",
        "variables",
        "string setting without validation",
        lambda m: m["modules/table"].variables["billing_mode"].pop("validation"),
    ),
    # the catalogue against the code
    Mutation(
        "entry-point-without-function",
        "catalogue",
        "indexer.lambda_handler.handler has no function",
        lambda m: m[STACK].locals["catalogue"]["indexer"].update(handler="indexer.core.handler"),
    ),
    Mutation(
        "setting-typo",
        "catalogue",
        "CONCERTBOOK_TABLE is not a setting",
        lambda m: env(m, "expiry").update(CONCERTBOOK_TABLE="${local.table_name}"),
    ),
    Mutation(
        "forwarder-without-images-queue",
        "catalogue",
        "CONCERTBOOK_QUEUE_URL_IMAGES",
        lambda m: env(m, "forwarder").pop("CONCERTBOOK_QUEUE_URL_IMAGES"),
    ),
]


def rename_in_dashboard(model: Model, old: str, new: str) -> None:
    """Replace `old` (as a whole name) by `new` in every widget local of the dashboard."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?![\w.])")
    found = []

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            if pattern.search(value):
                found.append(value)
            return pattern.sub(new, value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    locals_ = model[OBSERVABILITY].locals
    for name in [n for n in locals_ if n.endswith("_widgets")]:
        locals_[name] = walk(locals_[name])
    assert found, f"{old!r} is on no widget"


def interface_endpoints_without(model: Model, service: str) -> None:
    network = model[NETWORK].locals
    network["interface_endpoints"] = replace(
        network["interface_endpoints"], f'"{service}"', '"ec2"'
    )


def network_res(model: Model, kind: str, name: str) -> dict[str, Any]:
    return res(model, NETWORK, kind, name)


def api_res(model: Model, kind: str, name: str) -> dict[str, Any]:
    return res(model, "modules/api", kind, name)


def search_domain(model: Model) -> dict[str, Any]:
    return res(model, "modules/search", "aws_opensearch_domain", "this")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# Each service the seed names, removed from its module.
MUTATIONS += [
    Mutation(
        f"seed-without-{slug(service)}",
        "topology",
        f"the seed's {service}",
        lambda m, path=path, kind=kind: m[path].resources.pop(kind),
    )
    for service, (path, kind) in SEED_TOPOLOGY.items()
]

# Each metric of the dashboard, swapped for another one (or its statistic for another).
DASHBOARD_SWAPS = {
    "API requests per second": ("/ PERIOD(m1)", ""),
    "API 4xx rate": ("4xx", "4XXError"),
    "API 5xx rate": ("5xx", "5XXError"),
    "API latency p75": ("p75", "p50"),
    "API latency p90": ("p90", "p50"),
    "API latency p99": ("p99", "Average"),
    "Lambda duration": ("Duration", "Invocations"),
    "Lambda errors": ("Errors", "Invocations"),
    "Lambda throttles": ("Throttles", "Invocations"),
    "Lambda concurrency": ("ConcurrentExecutions", "Invocations"),
    "DynamoDB consumed read capacity": (
        "ConsumedReadCapacityUnits",
        "ProvisionedReadCapacityUnits",
    ),
    "DynamoDB consumed write capacity": (
        "ConsumedWriteCapacityUnits",
        "ProvisionedWriteCapacityUnits",
    ),
    "DynamoDB throttles": ("ThrottledRequests", "SuccessfulRequestLatency"),
    "SQS age of the oldest message": ("ApproximateAgeOfOldestMessage", "NumberOfMessagesSent"),
    "DLQ depth": ("ApproximateNumberOfMessagesVisible", "NumberOfMessagesDeleted"),
    "OpenSearch health": ("ClusterStatus.red", "Nodes"),
    "OpenSearch CPU": ("CPUUtilization", "Nodes"),
    "OpenSearch memory": ("JVMMemoryPressure", "Nodes"),
    "Redis CPU": ("EngineCPUUtilization", "CPUCreditBalance"),
    "Redis memory": ("DatabaseMemoryUsagePercentage", "CurrConnections"),
}
MUTATIONS += [
    Mutation(
        f"dashboard-without-{slug(metric)}",
        "dashboard",
        f"the dashboard lacks {metric}",
        lambda m, old=old, new=new: rename_in_dashboard(m, old, new),
    )
    for metric, (old, new) in DASHBOARD_SWAPS.items()
]

# Each alarm that pages, removed (opensearch_red and redis_memory are above).
MUTATIONS += [
    Mutation(
        f"no-{slug(name)}-alarm",
        "alarms",
        f"no {name} alarm",
        lambda m, name=name: m[OBSERVABILITY].resources["aws_cloudwatch_metric_alarm"].pop(name),
    )
    for name in (
        "api_5xx_rate",
        "api_latency_p99",
        "table_throttles",
        "parked_messages",
        "queue_age",
        "redis_cpu",
    )
]

# Each output a stage owes its deployers, removed.
MUTATIONS += [
    Mutation(
        f"{slug(stage)}-without-{slug(output)}-output",
        "wiring",
        f"{stage} does not output {output}",
        lambda m, stage=stage, output=output: m[stage].outputs.pop(output),
    )
    for stage in ("envs/dev", "envs/prod")
    for output in STAGE_OUTPUTS
]

MUTATIONS += [
    # the wiring
    Mutation(
        "prod-does-not-call-the-stack",
        "wiring",
        "envs/prod does not call modules/stack",
        lambda m: m["envs/prod"].calls.pop("stack"),
    ),
    Mutation(
        "dev-calls-another-module",
        "wiring",
        "envs/dev does not call modules/stack",
        lambda m: m["envs/dev"].calls["stack"].update(source="../../modules/network"),
    ),
    Mutation(
        "search-not-wired",
        "wiring",
        "modules/search is not called by the stack",
        lambda m: m[STACK].calls.pop("search"),
    ),
    Mutation(
        "cache-without-its-key",
        "wiring",
        "module cache does not pass kms_key_arn",
        lambda m: stack_call(m, "cache").pop("kms_key_arn"),
    ),
    Mutation(
        "table-gets-an-unknown-argument",
        "wiring",
        "module table gets unknown argument point_in_time_recovery",
        lambda m: stack_call(m, "table").update(point_in_time_recovery=True),
    ),
    Mutation(
        "api-url-not-an-output",
        "wiring",
        "module.api.url is no output of api",
        lambda m: m["modules/api"].outputs.pop("url"),
    ),
    Mutation(
        "variable-not-declared",
        "wiring",
        "var.stream_arn is not declared",
        lambda m: m[FUNCTIONS].variables.pop("stream_arn"),
    ),
    Mutation(
        "local-not-defined",
        "wiring",
        "local.outbox_inserts is not defined",
        lambda m: m[FUNCTIONS].locals.pop("outbox_inserts"),
    ),
    Mutation(
        "resource-not-declared",
        "wiring",
        "aws_cloudwatch_log_group.access is not declared",
        lambda m: m["modules/api"].resources["aws_cloudwatch_log_group"].pop("access"),
    ),
    # the seed's services, as the issue spells them out
    Mutation(
        "lambda-from-a-zip",
        "topology",
        "does not run a container image",
        lambda m: lambda_fn(m).update(package_type="Zip", filename="lambda.zip"),
    ),
    Mutation(
        "memory-hard-coded",
        "topology",
        "memory_size is not the memory_mb setting",
        lambda m: lambda_fn(m).update(memory_size=1024),
    ),
    Mutation(
        "no-reserved-concurrency",
        "topology",
        "reserved_concurrent_executions is not the reserved_concurrency setting",
        lambda m: lambda_fn(m).pop("reserved_concurrent_executions"),
    ),
    Mutation(
        "timeout-not-a-stage-setting",
        "topology",
        "timeout_seconds does not come from var.function_settings",
        lambda m: m[STACK].locals.update(
            functions=replace(
                m[STACK].locals["functions"],
                "timeout_seconds = var.function_settings[name].timeout_seconds",
                "timeout_seconds = 60",
            )
        ),
    ),
    Mutation(
        "prod-without-an-indexer-timeout",
        "topology",
        "envs/prod: function indexer lacks timeout_seconds",
        lambda m: (
            m["envs/prod"].calls["stack"]["function_settings"]["indexer"].pop("timeout_seconds")
        ),
    ),
    Mutation(
        "images-from-elsewhere",
        "topology",
        "not in the stage's ECR",
        lambda m: m[STACK].locals.update(
            image_uris='${{for name, spec in local.catalogue : name => "public.ecr.aws/x:1"}}'
        ),
    ),
    Mutation(
        "cache-is-memcached",
        "topology",
        "is not Redis",
        lambda m: res(m, "modules/cache", "aws_elasticache_replication_group", "this").update(
            engine="memcached"
        ),
    ),
    Mutation(
        "search-on-elasticsearch",
        "topology",
        "does not run OpenSearch",
        lambda m: (
            m["modules/search"].variables["engine_version"].update(default="Elasticsearch_7.10")
        ),
    ),
    # the network
    Mutation(
        "one-zone-allowed",
        "network",
        "at least 2 zones",
        lambda m: blk(m[NETWORK].variables["availability_zone_ids"], "validation").update(
            condition="${length(var.availability_zone_ids) >= 1}"
        ),
    ),
    Mutation(
        "dev-in-one-zone",
        "network",
        "envs/dev uses fewer than 2 zones",
        lambda m: m["envs/dev"].calls["stack"].update(availability_zone_ids=["apne2-az1"]),
    ),
    Mutation(
        "one-private-subnet",
        "network",
        "not one per zone",
        lambda m: network_res(m, "aws_subnet", "private").update(count=1),
    ),
    Mutation(
        "no-nat-gateway",
        "network",
        "no NAT gateway",
        lambda m: m[NETWORK].resources.pop("aws_nat_gateway"),
    ),
    Mutation(
        "private-route-to-the-internet-gateway",
        "network",
        "through the NAT gateway",
        lambda m: network_res(m, "aws_route", "private_nat").update(
            nat_gateway_id=None, gateway_id="${aws_internet_gateway.this.id}"
        ),
    ),
    Mutation(
        "no-dynamodb-endpoint",
        "network",
        "no gateway endpoint for dynamodb",
        lambda m: m[NETWORK].resources["aws_vpc_endpoint"].pop("dynamodb"),
    ),
    Mutation(
        "s3-endpoint-on-the-public-routes",
        "network",
        "no gateway endpoint for s3",
        lambda m: network_res(m, "aws_vpc_endpoint", "s3").update(
            route_table_ids=["${aws_route_table.public.id}"]
        ),
    ),
    Mutation(
        "no-sqs-endpoint",
        "network",
        "no interface endpoint for sqs",
        lambda m: interface_endpoints_without(m, "sqs"),
    ),
    Mutation(
        "no-secrets-manager-endpoint",
        "network",
        "the functions call secretsmanager through no VPC endpoint",
        lambda m: interface_endpoints_without(m, "secretsmanager"),
    ),
    Mutation(
        "endpoints-without-private-dns",
        "network",
        "the functions call sqs through no VPC endpoint",
        lambda m: network_res(m, "aws_vpc_endpoint", "interface").update(private_dns_enabled=False),
    ),
    Mutation(
        "opensearch-outside-the-vpc",
        "network",
        "aws_opensearch_domain.this is not in the VPC",
        lambda m: search_domain(m).pop("vpc_options"),
    ),
    Mutation(
        "redis-in-other-subnets",
        "network",
        "does not put cache in the private subnets",
        lambda m: stack_call(m, "cache").update(subnet_ids="${module.network.public_subnet_ids}"),
    ),
    # the API
    Mutation(
        "websocket-api",
        "api",
        "no HTTP API",
        lambda m: api_res(m, "aws_apigatewayv2_api", "this").update(protocol_type="WEBSOCKET"),
    ),
    Mutation(
        "api-payload-1-0",
        "api",
        "payload 2.0",
        lambda m: api_res(m, "aws_apigatewayv2_integration", "lambda").update(
            payload_format_version="1.0"
        ),
    ),
    Mutation(
        "api-unthrottled",
        "api",
        "no throttling_burst_limit",
        lambda m: api_res(m, "aws_apigatewayv2_stage", "default").pop("default_route_settings"),
    ),
    Mutation(
        "api-without-access-logs",
        "api",
        "writes no access logs",
        lambda m: api_res(m, "aws_apigatewayv2_stage", "default").pop("access_log_settings"),
    ),
    Mutation(
        "api-throttling-fixed",
        "api",
        "does not set the API's throttling_rate_limit per stage",
        lambda m: stack_call(m, "api").pop("throttling_rate_limit"),
    ),
    # the dashboard's inputs
    Mutation(
        "dashboard-misses-failure-queues",
        "dashboard",
        "the dashboard lacks DLQ depth",
        lambda m: rename_in_dashboard(m, "local.parked", "var.dlq_names"),
    ),
    Mutation(
        "dashboard-without-search-widgets",
        "dashboard",
        "the dashboard lacks OpenSearch health",
        lambda m: res(m, OBSERVABILITY, "aws_cloudwatch_dashboard", "this").update(
            dashboard_body=replace(
                res(m, OBSERVABILITY, "aws_cloudwatch_dashboard", "this")["dashboard_body"],
                "local.search_widgets, ",
                "",
            )
        ),
    ),
    Mutation(
        "dashboard-without-redis-nodes",
        "dashboard",
        "redis_node_ids is not module.cache.node_ids",
        lambda m: stack_call(m, "observability").update(redis_node_ids=[]),
    ),
    Mutation(
        "dashboard-indexes-stale",
        "dashboard",
        "table_indexes",
        lambda m: m[OBSERVABILITY].variables["table_indexes"].update(default=["gsi1"]),
    ),
    # encryption and access control: Redis AUTH, OpenSearch, ECR tags, key rotation
    Mutation(
        "redis-without-auth",
        "encryption",
        "without AUTH",
        lambda m: res(m, "modules/cache", "aws_elasticache_replication_group", "this").pop(
            "auth_token"
        ),
    ),
    Mutation(
        "opensearch-without-fine-grained-access",
        "encryption",
        "fine-grained access control",
        lambda m: blk(search_domain(m), "advanced_security_options").update(enabled=False),
    ),
    Mutation(
        "opensearch-internal-users",
        "encryption",
        "fine-grained access control",
        lambda m: blk(search_domain(m), "advanced_security_options").update(
            internal_user_database_enabled=True
        ),
    ),
    Mutation(
        "opensearch-http",
        "encryption",
        "allows HTTP",
        lambda m: blk(search_domain(m), "domain_endpoint_options").update(enforce_https=False),
    ),
    Mutation(
        "ecr-mutable-tags",
        "encryption",
        "mutable tags",
        lambda m: res(m, "modules/ecr", "aws_ecr_repository", "this").update(
            image_tag_mutability="MUTABLE"
        ),
    ),
    Mutation(
        "kms-key-not-rotated",
        "encryption",
        "not rotated",
        lambda m: res(m, "modules/keys", "aws_kms_key", "data").pop("enable_key_rotation"),
    ),
    # provisioned capacity
    Mutation(
        "provisioned-without-autoscaling",
        "table",
        "no target-tracking autoscaling policy",
        lambda m: m["modules/table"].resources.pop("aws_appautoscaling_policy"),
    ),
    Mutation(
        "autoscaling-misses-an-index",
        "table",
        "autoscaling covers indexes",
        lambda m: m["modules/table"].locals.update(indexes=["gsi1"]),
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_each_check_reports_its_property_removed(model: Model, mutation: Mutation) -> None:
    check = CHECKS[mutation.check]
    mutant = model.copy()
    mutation.apply(mutant)
    problems = check(mutant)
    assert any(mutation.expect in p for p in problems), problems


def test_every_check_has_mutations() -> None:
    assert {m.check for m in MUTATIONS} == set(CHECKS)
    ids = [m.id for m in MUTATIONS]
    assert len(ids) == len(set(ids)), "mutation ids are unique"


def test_every_dashboard_metric_and_seed_service_has_a_mutation() -> None:
    assert set(DASHBOARD_SWAPS) == set(DASHBOARD_METRICS)
    ids = {m.id for m in MUTATIONS}
    assert {f"seed-without-{slug(s)}" for s in SEED_TOPOLOGY} <= ids


def test_mutations_do_not_touch_the_shared_model(model: Model) -> None:
    for mutation in MUTATIONS[:5]:
        mutation.apply(model.copy())
    for name, check in CHECKS.items():
        assert check(model) == [], name


# -- checkov -------------------------------------------------------------------------------
CHECKOV = REPO / "tools" / "checkov"


def test_checkov_skips_are_justified() -> None:
    import yaml  # type: ignore[import-untyped]

    skips = yaml.safe_load((CHECKOV / "skips.yaml").read_text())
    assert isinstance(skips, dict)
    for check_id, reason in skips.items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", check_id), check_id
        assert isinstance(reason, str) and len(reason) > 40, check_id
    assert "CKV_AWS_117" not in skips, "every function runs in the VPC"
    inline = [p for p in tf_files() if "checkov:skip" in p.read_text()]
    assert inline == [], "skips belong in tools/checkov/skips.yaml, with their reasons"


def test_checkov_is_pinned_with_hashes() -> None:
    text = (CHECKOV / "requirements.txt").read_text()
    assert re.search(r"^checkov==\d+\.\d+\.\d+ \\$", text, re.M)
    assert "--hash=sha256:" in text


@pytest.mark.slow
def test_checkov_passes() -> None:
    """checkov over terraform/ in its own virtualenv; skipped when it cannot be built here
    (no network to PyPI), unless CONCERTBOOK_REQUIRE_SERVICES=1."""
    script = str(CHECKOV / "run.sh")
    install = subprocess.run(
        [script, "--install-only"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if install.returncode != 0:
        message = f"checkov's virtualenv could not be built: {install.stderr[-2000:]}"
        if os.environ.get("CONCERTBOOK_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    scan = subprocess.run(
        [script], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )
    assert scan.returncode == 0, scan.stdout[-6000:] + scan.stderr[-2000:]
    assert "Failed checks: 0" in scan.stdout
