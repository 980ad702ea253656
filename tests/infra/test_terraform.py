"""The Terraform under terraform/, checked with the terraform binary.

tools/terraform-check.sh runs `terraform fmt`, `init`, `validate` and `test` over every root
and module; the module contracts are the `run` blocks of their tests/*.tftest.hcl (mock
provider, or the real one where it computes policy documents). This file holds what those
cannot say, read from real Terraform output rather than from the HCL:

- the planned dev and prod stages (their `stage` run, `terraform test -json -verbose`, the
  state of an apply against the mock provider) against the code: every handler is an entry
  point, every CONCERTBOOK_* variable a setting, the catalogue is docker/functions.json, the
  queues are workers/queues.py's, the table is table_definition(), the queue table of
  docs/ARCHITECTURE.md holds for the stage's timeouts;
- the values the stack hands from one module to another (subnets, security groups, the API's
  alias, the table's stream), which a run block cannot reach inside child modules;
- the roots' S3 backends, as `terraform init` records them against moto's S3.

Without terraform or the provider mirror these skip, except in CI
(CONCERTBOOK_REQUIRE_SERVICES=1), where the registry provides the provider.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from booking.adapters.aws.dynamodb_table import table_definition
from booking.settings import variables
from tests.moto_server import own_moto_server
from tests.support import skip_unless_available

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
CHECK = REPO / "tools" / "terraform-check.sh"
STAGES = ("dev", "prod")
ROOTS = ("bootstrap", "envs/dev", "envs/prod")
FOURTEEN_DAYS = 14 * 24 * 3600

Resource = dict[str, Any]


# -- running terraform ---------------------------------------------------------------------
def plugin_dir() -> Path | None:
    """The provider mirror (`terraform init -plugin-dir`), as tools/terraform-check.sh finds it."""
    configured = os.environ.get("TF_PLUGIN_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    default = Path("/opt/tf-plugins")
    return default if default.is_dir() else None


def require_terraform() -> None:
    if shutil.which("terraform") is None:
        skip_unless_available(False, "no terraform binary on PATH")
    if plugin_dir() is None and not os.environ.get("CONCERTBOOK_REQUIRE_SERVICES"):
        skip_unless_available(
            False,
            "no provider mirror (TF_PLUGIN_DIR or /opt/tf-plugins); "
            "tools/terraform-check.sh uses the registry without one",
        )


def terraform_env(work: Path) -> dict[str, str]:
    rc = work / "terraformrc"
    rc.touch()
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(rc),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    if plugin_dir() is None:
        (work / "plugin-cache").mkdir(exist_ok=True)
        env["TF_PLUGIN_CACHE_DIR"] = str(work / "plugin-cache")
        env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "true"
    return env


def terraform(
    args: list[str], cwd: Path, env: dict[str, str], timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def copy_terraform(work: Path) -> Path:
    """terraform/ in work, without the working folders of an init in the tree."""
    target = work / "terraform"
    shutil.copytree(
        TERRAFORM, target, symlinks=True, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*")
    )
    return target


def init(root: Path, env: dict[str, str], *extra: str) -> None:
    mirror = plugin_dir()
    args = ["init", "-input=false", "-no-color", *extra]
    if mirror is not None:
        args.append(f"-plugin-dir={mirror}")
    done = terraform(args, root, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_terraform_check_passes() -> None:
    """fmt, init, validate and every module's `terraform test`: tools/terraform-check.sh."""
    require_terraform()
    done = subprocess.run(
        [str(CHECK)], cwd=REPO, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]
    assert "every step passed" in done.stdout


# -- the planned stages -----------------------------------------------------------------------
class Stage:
    """The resources of a stage's `stage` run (mock apply), by module and address."""

    def __init__(self, name: str, state: dict[str, Any]) -> None:
        self.name = name
        self.outputs: dict[str, Any] = {k: v["value"] for k, v in state["outputs"].items()}
        self.resources: list[Resource] = list(_walk(state["root_module"]))

    def all(self, module: str, kind: str, name: str) -> dict[Any, dict[str, Any]]:
        """Values of every instance of module.stack.module.<module>'s <kind>.<name>, by index
        (a module left out by count is absent: an empty dict)."""
        pattern = re.compile(rf"module\.stack\.module\.{re.escape(module)}(\[\d+\])?")
        return {
            r.get("index"): r["values"]
            for r in self.resources
            if r["mode"] == "managed"
            and pattern.fullmatch(r.get("module_address", ""))
            and (r["type"], r["name"]) == (kind, name)
        }

    def one(self, module: str, kind: str, name: str) -> dict[str, Any]:
        found = self.all(module, kind, name)
        assert len(found) == 1, (module, kind, name, list(found))
        return next(iter(found.values()))

    def functions(self) -> dict[str, dict[str, Any]]:
        return {str(k): v for k, v in self.all("functions", "aws_lambda_function", "this").items()}

    def handlers(self) -> dict[str, str]:
        return {name: f["image_config"][0]["command"][0] for name, f in self.functions().items()}


def _walk(module: dict[str, Any]) -> Iterator[Resource]:
    for resource in module.get("resources", []):
        yield {**resource, "module_address": module.get("address", "")}
    for child in module.get("child_modules", []):
        yield from _walk(child)


def stage_run(name: str, work: Path) -> Stage:
    """terraform test -json -verbose of envs/<name>/tests/<name>.tftest.hcl; its `stage` run."""
    root = copy_terraform(work) / "envs" / name
    env = terraform_env(work)
    init(root, env, "-backend=false")
    done = terraform(
        ["test", "-json", "-verbose", "-no-color", f"-filter=tests/{name}.tftest.hcl"],
        root,
        env,
        timeout=600,
    )
    state = None
    statuses: dict[str, str] = {}
    diagnostics = []
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("@testrun") != "stage":
            continue
        if message["type"] == "test_state":
            state = message["test_state"]
        elif message["type"] == "test_run" and message["test_run"].get("status"):
            statuses["stage"] = message["test_run"]["status"]
        elif message["type"] == "diagnostic":
            diagnostics.append(message["@message"])
    assert statuses.get("stage") == "pass", (statuses, diagnostics[:20], done.stderr[-3000:])
    assert state is not None, "no state of the stage run (terraform test -verbose)"
    return Stage(name, state)


@pytest.fixture(scope="module", params=STAGES)
def stage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stage:
    require_terraform()
    return stage_run(str(request.param), tmp_path_factory.mktemp(f"terraform-{request.param}"))


# -- the code the stages must match -------------------------------------------------------------
@cache
def code_entry_points() -> frozenset[str]:
    """`module.function` of every Lambda entry point in api/, workers/ and indexer/: a
    top-level `handler(event, context)` or a top-level `<name>_handler = ...` assignment."""
    found: set[str] = set()
    for package in ("api", "workers", "indexer"):
        for path in sorted((REPO / package).glob("*.py")):
            module = f"{package}.{path.stem}"
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.FunctionDef) and node.name == "handler":
                    if [a.arg for a in node.args.args] == ["event", "context"]:
                        found.add(f"{module}.handler")
                elif isinstance(node, ast.Assign):
                    found.update(
                        f"{module}.{t.id}"
                        for t in node.targets
                        if isinstance(t, ast.Name) and t.id.endswith("_handler")
                    )
    return frozenset(found)


@cache
def settings_variables() -> frozenset[str]:

    return frozenset(v.name for v in variables())


@cache
def architecture_queue_table() -> dict[str, dict[str, int]]:
    """docs/ARCHITECTURE.md's queue table: function timeout, visibility timeout, receives."""
    rows = {}
    for line in (REPO / "docs" / "ARCHITECTURE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"`[a-z]+`", cells[0]):
            continue
        timeout = re.findall(r"\((\d+) s\b", cells[2])
        visibility = re.fullmatch(r"(\d+) s", cells[3])
        if timeout and visibility and cells[4].isdigit():
            rows[cells[0].strip("`")] = {
                "timeout": int(timeout[-1]),
                "visibility": int(visibility.group(1)),
                "receives": int(cells[4]),
            }
    return rows


# Deployed only on a stage that pays with the gateway simulator (payment_provider): dev.
SIMULATOR_ONLY = {"gateway-webhooks": "workers.gateway_webhooks.handler"}


def simulator_only(stage: Stage) -> dict[str, str]:
    """What the stage leaves out for its payment provider: nothing with the simulator (dev),
    the simulator's deliverer with Toss Payments (prod)."""
    provider = stage.functions()["api"]["environment"][0]["variables"].get(
        "CONCERTBOOK_PAYMENT_PROVIDER", "simulated"
    )
    assert provider == {"dev": "simulated", "prod": "toss"}[stage.name], provider
    return {} if provider == "simulated" else SIMULATOR_ONLY


def test_every_function_runs_an_entry_point_of_the_code(stage: Stage) -> None:
    handlers = stage.handlers()
    assert len(set(handlers.values())) == len(handlers), handlers
    left_out = set(simulator_only(stage).values())
    assert not left_out & set(handlers.values())
    assert set(handlers.values()) | left_out == code_entry_points(), (
        "handlers without an entry point, entry points without a function: "
        f"{set(handlers.values()) ^ code_entry_points()}"
    )


def test_every_environment_variable_is_a_setting(stage: Stage) -> None:
    for name, function in stage.functions().items():
        variables = function["environment"][0]["variables"]
        assert set(variables) <= settings_variables(), (name, set(variables) - settings_variables())
        assert variables["CONCERTBOOK_RUNTIME"] == "aws", name
        assert variables["CONCERTBOOK_TABLE_NAME"] == f"concertbook-{stage.name}", name


def test_the_catalogue_is_docker_functions_json(stage: Stage) -> None:
    """docker/functions.json (what docker/build.sh and the local emulators run) names the same
    functions, each with its image and its handler as the image's command."""
    repositories = {
        values["repository_url"]: image
        for image, values in stage.all("ecr", "aws_ecr_repository", "this").items()
    }
    planned = {}
    for name, function in stage.functions().items():
        url, _, tag = function["image_uri"].rpartition(":")
        assert tag == "abc123", (name, function["image_uri"])
        planned[name] = {
            "image": repositories[url],
            "command": function["image_config"][0]["command"],
        }
    declared = json.loads((REPO / "docker" / "functions.json").read_text())
    assert planned == {
        name: {"image": spec["image"], "command": spec["command"]}
        for name, spec in declared.items()
        if name not in simulator_only(stage)
    }


def test_the_queues_are_the_codes(stage: Stage) -> None:
    """Every queue of workers/queues.py exists, triggers a function and is drained by the
    handler the code names for it; the forwarder knows every queue the outbox feeds."""
    from workers.queues import QUEUES, TOPIC_QUEUES

    assert set(stage.all("queues", "aws_sqs_queue", "work")) == set(QUEUES)
    assert set(stage.all("functions", "aws_lambda_event_source_mapping", "queue")) == set(QUEUES)
    assert {f"workers.queues.{q}_handler" for q in QUEUES} <= set(stage.handlers().values())
    forwarder = stage.functions()["forwarder"]["environment"][0]["variables"]
    for queue in set(TOPIC_QUEUES.values()):
        assert f"CONCERTBOOK_QUEUE_URL_{queue.upper()}" in forwarder, queue


def test_the_table_is_table_definition(stage: Stage) -> None:
    table = stage.one("table", "aws_dynamodb_table", "this")
    definition = table_definition(f"concertbook-{stage.name}")
    keys = {k["KeyType"]: k["AttributeName"] for k in definition["KeySchema"]}
    assert (table["name"], table["hash_key"], table["range_key"]) == (
        definition["TableName"],
        keys["HASH"],
        keys["RANGE"],
    )
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]
    }
    planned = {
        i["name"]: (i["hash_key"], i["range_key"], i["projection_type"])
        for i in table["global_secondary_index"]
    }
    assert planned == {
        i["IndexName"]: (
            next(k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "HASH"),
            next(k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "RANGE"),
            i["Projection"]["ProjectionType"],
        )
        for i in definition["GlobalSecondaryIndexes"]
    }
    stream = definition["StreamSpecification"]
    assert (table["stream_enabled"], table["stream_view_type"]) == (
        stream["StreamEnabled"],
        stream["StreamViewType"],
    )
    assert table["billing_mode"] == definition["BillingMode"]


def test_the_queue_table_of_the_architecture_document_holds(stage: Stage) -> None:
    """docs/ARCHITECTURE.md's consumer timeouts are the stage's, and so are the visibility
    timeouts (6 x) and the receives before the redrive (attempts + 1)."""
    table = architecture_queue_table()
    work = stage.all("queues", "aws_sqs_queue", "work")
    dlqs = stage.all("queues", "aws_sqs_queue", "dlq")
    assert set(table) == set(work)
    consumers = {handler: name for name, handler in stage.handlers().items()}
    for queue, row in table.items():
        consumer = stage.functions()[consumers[f"workers.queues.{queue}_handler"]]
        assert consumer["timeout"] == row["timeout"], (queue, consumer["timeout"])
        assert work[queue]["visibility_timeout_seconds"] == row["visibility"], queue
        assert json.loads(work[queue]["redrive_policy"])["maxReceiveCount"] == row["receives"]
        assert dlqs[queue]["message_retention_seconds"] == FOURTEEN_DAYS, queue


def test_the_stack_hands_each_module_what_it_needs(stage: Stage) -> None:
    """Functions, Redis and OpenSearch in the private subnets, each in its own group; the API
    invokes the API function's alias; the stream readers read the table's stream."""
    private = {s["id"] for s in stage.all("network", "aws_subnet", "private").values()}
    groups = {
        name: stage.one("network", "aws_security_group", name)["id"]
        for name in ("lambda", "redis", "opensearch")
    }
    assert len(private) >= 2 and len(set(groups.values())) == 3
    for name, function in stage.functions().items():
        vpc = function["vpc_config"][0]
        assert set(vpc["subnet_ids"]) == private, name
        assert vpc["security_group_ids"] == [groups["lambda"]], name

    for cache_group in stage.all("cache", "aws_elasticache_subnet_group", "this").values():
        assert set(cache_group["subnet_ids"]) == private
    for redis in stage.all("cache", "aws_elasticache_replication_group", "this").values():
        assert redis["security_group_ids"] == [groups["redis"]]
    for domain in stage.all("search", "aws_opensearch_domain", "this").values():
        vpc = domain["vpc_options"][0]
        assert set(vpc["subnet_ids"]) <= private and vpc["subnet_ids"]
        assert vpc["security_group_ids"] == [groups["opensearch"]]

    api_alias = stage.all("functions", "aws_lambda_alias", "live")["api"]
    integration = stage.one("api", "aws_apigatewayv2_integration", "lambda")
    assert integration["integration_uri"] == api_alias["invoke_arn"]
    permission = stage.one("api", "aws_lambda_permission", "api")
    assert (permission["function_name"], permission["qualifier"]) == (
        stage.functions()["api"]["function_name"],
        api_alias["name"],
    )

    stream = stage.one("table", "aws_dynamodb_table", "this")["stream_arn"]
    readers = stage.all("functions", "aws_lambda_event_source_mapping", "stream")
    assert set(readers) == {"forwarder", "indexer"}
    assert all(m["event_source_arn"] == stream for m in readers.values())


# -- the roots' state ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with own_moto_server(tmp_path_factory.mktemp("moto-s3")) as endpoint:
        yield endpoint


def test_every_root_keeps_its_state_in_s3_with_a_lock_file(
    s3_endpoint: str, tmp_path: Path
) -> None:
    """`terraform init` of each root against moto's S3 (the bucket given at init time, as
    docs/DEPLOY.md does): an S3 backend that encrypts, locks with a lock file, under a key of
    its own; the provider the lock file names."""
    require_terraform()
    import boto3  # type: ignore[import-untyped]  # boto3 ships no type information (no boto3-stubs here)

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="ap-northeast-2")
    s3.create_bucket(
        Bucket="concertbook-tfstate-test",
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"},
    )
    work = copy_terraform(tmp_path)
    env = terraform_env(tmp_path)
    backend = tmp_path / "moto.s3.tfbackend"
    backend.write_text(
        "\n".join(
            [
                'bucket = "concertbook-tfstate-test"',
                f'endpoints = {{ s3 = "{s3_endpoint}" }}',
                "use_path_style = true",
                "skip_credentials_validation = true",
                "skip_requesting_account_id = true",
                "skip_region_validation = true",
                "skip_s3_checksum = true",
            ]
        )
    )
    keys = set()
    for root in ROOTS:
        init(work / root, env, f"-backend-config={backend}")
        recorded = json.loads((work / root / ".terraform" / "terraform.tfstate").read_text())
        config = recorded["backend"]["config"]
        assert recorded["backend"]["type"] == "s3", root
        assert (config["encrypt"], config["use_lockfile"]) == (True, True), root
        assert config["region"] == "ap-northeast-2", root
        keys.add(config["key"])
        version = terraform(["version", "-json"], work / root, env)
        selections = json.loads(version.stdout)["provider_selections"]
        assert selections == {"registry.terraform.io/hashicorp/aws": "5.100.0"}, root
    assert len(keys) == len(ROOTS), "every root has a state key of its own"


# -- checkov ----------------------------------------------------------------------------------
CHECKOV = REPO / "tools" / "checkov"


def test_checkov_skips_are_justified() -> None:
    import yaml  # type: ignore[import-untyped]

    skips = yaml.safe_load((CHECKOV / "skips.yaml").read_text())
    assert isinstance(skips, dict)
    for check_id, reason in skips.items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", check_id), check_id
        assert isinstance(reason, str) and len(reason) > 40, check_id
    assert "CKV_AWS_117" not in skips, "every function runs in the VPC"
    inline = [p for p in TERRAFORM.rglob("*.tf") if "checkov:skip" in p.read_text()]
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
        skip_unless_available(
            False, f"checkov's virtualenv could not be built: {install.stderr[-2000:]}"
        )
    scan = subprocess.run(
        [script], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )
    assert scan.returncode == 0, scan.stdout[-6000:] + scan.stderr[-2000:]
    assert "Failed checks: 0" in scan.stdout
