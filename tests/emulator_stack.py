"""The dev stage's Terraform applied to moto's server, and a booking through what it made.

`terraform/envs/dev` (with the stack module, as for AWS) is copied to a folder of its own
and given two override files: the aws provider's endpoints on the moto server with test
credentials, and a local backend instead of S3. `emulator_unsupported` leaves out what moto
cannot create or would run itself (docs/DEPLOY.md, "Applying against an emulator").

After the apply, the app runs on what Terraform made, configured the way the stack
configures the functions: each process takes its CONCERTBOOK_* variables from the applied
Lambda functions (moto keeps their environments), the work queues it drains from their
event source mappings, and the secrets are seeded as docs/DEPLOY.md says an operator does.
`concertbook serve --no-workers` plays the api function and `concertbook work` the worker
functions (moto runs no container images), as docker/compose.yaml does.

Used by tests/infra/test_terraform_apply.py and tools/emulator-apply.sh (`make emulator-apply`):
    python -m tests.emulator_stack [--parallelism N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import IO, Any

import boto3  # type: ignore[import-untyped]  # boto3 ships no type information (no boto3-stubs here)
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.moto_server import AWS_TEST_ENV, moto_server

ROOT = Path(__file__).resolve().parent.parent
REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
ACCOUNT_ID = "123456789012"  # moto's account; the provider's allowed_account_ids checks it
STAGE_ROOT = "envs/dev"

# What moto cannot create (or would run itself): docs/DEPLOY.md says why for each.
EMULATOR_UNSUPPORTED = (
    "elasticache",
    "opensearch",
    "cloudfront-managed-policies",
    "sqs-redrive-allow-policy",
    "stream-event-source-mappings",
)
# Every service the stack's resources and data sources call.
PROVIDER_SERVICES = (
    "apigatewayv2",
    "applicationautoscaling",
    "cloudfront",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "elasticache",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "opensearch",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)
# moto attaches AWS-managed policies (the functions' VPC access and X-Ray) only when loaded.
MOTO_ENV = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
WORKER_FUNCTIONS = (
    "forwarder",
    "payments",
    "notifications",
    "webhooks",
    "images-queue",
    "expiry",
    "gateway-webhooks",
    "indexer",
)
COMMAND_TIMEOUT_SECONDS = 600


def plugin_dir() -> Path:
    return Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))


def missing_tools() -> str | None:
    """Why the stack cannot be applied here, or None."""
    if shutil.which("terraform") is None:
        return "no terraform binary on PATH"
    provider = plugin_dir() / "registry.terraform.io" / "hashicorp" / "aws"
    if not provider.is_dir():
        return f"no hashicorp/aws provider mirror in {plugin_dir()} (TF_PLUGIN_DIR)"
    return None


def override_tf(endpoint: str) -> str:
    endpoints = "\n".join(f'    {name} = "{endpoint}"' for name in PROVIDER_SERVICES)
    return f"""# tests/emulator_stack.py: the stage on moto's server, its state in this folder.
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  access_key                  = "{AWS_TEST_ENV["AWS_ACCESS_KEY_ID"]}"
  secret_key                  = "{AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"]}"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


def _count_by_type(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["type"] for r in resources if r.get("mode") == "managed")


def _planned(plan: Mapping[str, Any]) -> Counter[str]:
    return _count_by_type(
        [c for c in plan.get("resource_changes", []) if "create" in c["change"]["actions"]]
    )


def _state_resources(module: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = list(module.get("resources", []))
    for child in module.get("child_modules", []):
        found += _state_resources(child)
    return found


@dataclass
class Figures:
    planned: Counter[str] = field(default_factory=Counter)
    applied: Counter[str] = field(default_factory=Counter)
    excluded: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        lines = [
            f"planned {self.planned.total()}, applied {self.applied.total()},"
            f" excluded {self.excluded.total()} (resources)",
            "applied by type: "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(self.applied.items())),
            "excluded by type: "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(self.excluded.items())),
            "seconds: " + ", ".join(f"{step} {s:.1f}" for step, s in self.seconds.items()),
        ]
        return "\n".join(lines)


class EmulatedStage:
    """A copy of terraform/ whose dev root applies to the moto server at `endpoint`."""

    def __init__(self, workdir: Path, endpoint: str, parallelism: int = 50) -> None:
        self.workdir = workdir
        self.endpoint = endpoint
        self.parallelism = parallelism
        self.root = workdir / "terraform" / STAGE_ROOT
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": os.devnull,  # no ~/.terraformrc: nothing but the mirror
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        self.variables = ["-var", f"account_id={ACCOUNT_ID}", "-var", "image_tag=emulator"]

    def prepare(self) -> None:
        shutil.copytree(
            ROOT / "terraform",
            self.workdir / "terraform",
            symlinks=True,  # the stage roots link their shared variables and outputs
            ignore=shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.*", "tfplan"),
        )
        (self.root / "emulator_override.tf").write_text(override_tf(self.endpoint))
        unsupported = ", ".join(f'"{part}"' for part in EMULATOR_UNSUPPORTED)
        (self.root / "emulator.auto.tfvars").write_text(f"emulator_unsupported = [{unsupported}]\n")

    def terraform(self, *args: str, log: IO[str] | None = None) -> str:
        result = subprocess.run(  # fixed command, no shell
            ["terraform", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if log is not None:
            log.write(f"$ terraform {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise RuntimeError(
                f"terraform {args[0]} failed ({result.returncode}):\n"
                + (result.stderr or result.stdout)[-6000:]
            )
        return result.stdout

    def plan_and_apply(self, log: IO[str] | None = None) -> Figures:
        figures = Figures()
        started = time.monotonic()
        self.terraform("init", "-no-color", f"-plugin-dir={plugin_dir()}", log=log)
        figures.seconds["init"] = time.monotonic() - started

        # What AWS would get: the same root with nothing left out but the CloudFront policy
        # lookups (data sources, not resources). Planned beside the apply, without the lock.
        full_plan = subprocess.Popen(  # fixed command, no shell
            [
                "terraform",
                "plan",
                "-no-color",
                "-lock=false",
                "-refresh=false",
                "-out=aws.tfplan",
                *self.variables,
                "-var",
                'emulator_unsupported=["cloudfront-managed-policies"]',
            ],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            mark = time.monotonic()
            self.terraform("plan", "-no-color", "-out=tfplan", *self.variables, log=log)
            figures.seconds["plan"] = time.monotonic() - mark
            figures.planned = _planned(json.loads(self.terraform("show", "-json", "tfplan")))

            mark = time.monotonic()
            self.terraform(
                "apply", "-no-color", f"-parallelism={self.parallelism}", "tfplan", log=log
            )
            figures.seconds["apply"] = time.monotonic() - mark
            state = json.loads(self.terraform("show", "-json"))
            figures.applied = _count_by_type(
                _state_resources(state.get("values", {}).get("root_module", {}))
            )
        finally:
            output, _ = full_plan.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
        if full_plan.returncode != 0:
            raise RuntimeError(f"the plan without exclusions failed:\n{output[-6000:]}")
        everything = _planned(json.loads(self.terraform("show", "-json", "aws.tfplan")))
        figures.excluded = everything - figures.planned
        figures.seconds["total"] = time.monotonic() - started
        return figures

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.terraform("output", "-json"))
        return {name: spec["value"] for name, spec in raw.items()}


# -- the app on what was applied -------------------------------------------------------------


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass
class Seeded:
    webhook_secret: str
    ticket_public_key_pem: bytes


def seed_stage(endpoint: str, outputs: Mapping[str, Any], mail_from: str) -> Seeded:
    """docs/DEPLOY.md's operator steps 5 and 6: the SES identity of the sender's domain, the
    two secrets' values."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2]
    aws("sesv2", endpoint).create_email_identity(EmailIdentity=domain)
    webhook_secret = secrets.token_urlsafe(32)
    key = Ed25519PrivateKey.generate()  # what `openssl genpkey -algorithm ed25519` writes
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    manager = aws("secretsmanager", endpoint)
    manager.put_secret_value(SecretId=outputs["webhook_secret_arn"], SecretString=webhook_secret)
    manager.put_secret_value(SecretId=outputs["ticket_signing_key_arn"], SecretString=pem.decode())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Seeded(webhook_secret, public)


@dataclass
class Function:
    name: str
    handler: str
    environment: dict[str, str]
    drains: str | None = None
    """URL of the queue an event source mapping feeds the function from."""


def applied_functions(endpoint: str, function_names: Mapping[str, str]) -> dict[str, Function]:
    """Each function as moto holds it (the live alias's version): its handler, environment
    and the queue its mapping drains. The mappings are then switched off: moto would
    otherwise receive the queues' messages itself to run the images (with Docker)."""
    client = aws("lambda", endpoint)
    sqs = aws("sqs", endpoint)
    by_name = {name: key for key, name in function_names.items()}
    functions: dict[str, Function] = {}
    for key, name in function_names.items():
        config = client.get_function(FunctionName=name, Qualifier="live")["Configuration"]
        functions[key] = Function(
            name,
            config["ImageConfigResponse"]["ImageConfig"]["Command"][0],
            dict(config.get("Environment", {}).get("Variables", {})),
        )
    for mapping in client.list_event_source_mappings()["EventSourceMappings"]:
        source = mapping["EventSourceArn"]
        if not source.startswith("arn:aws:sqs:"):
            continue
        # arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>]
        key = by_name[mapping["FunctionArn"].split(":")[6]]
        queue_name = source.rsplit(":", 1)[1]
        functions[key].drains = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    return functions


def handled_queue(handler: str) -> str:
    """`workers.queues.payments_handler` drains what the settings call the payments queue."""
    module, _, name = handler.rpartition(".")
    if module != "workers.queues" or not name.endswith("_handler"):
        raise ValueError(f"{handler} is not a queue handler")
    return name.removesuffix("_handler")


def worker_environment(functions: Mapping[str, Function]) -> dict[str, str]:
    """The worker functions' variables as one process's (`concertbook work`): their union, no
    variable set two ways, and the queue each queue function drains by its mapping."""
    merged: dict[str, str] = {}
    for key in WORKER_FUNCTIONS:
        function = functions[key]
        variables = dict(function.environment)
        if function.drains is not None:
            variables[f"CONCERTBOOK_QUEUE_URL_{handled_queue(function.handler).upper()}"] = (
                function.drains
            )
        for name, value in variables.items():
            if merged.setdefault(name, value) != value:
                raise AssertionError(f"{name} differs between the worker functions")
    return merged


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], env: Mapping[str, str], log_path: Path) -> Iterator[Any]:
    """`concertbook ARGS`, stopped by its PID (SIGTERM, then SIGKILL) afterwards."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # fixed command, no shell
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class RunningStage:
    base_url: str
    api_log: Path
    worker_log: Path

    def logs(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for path in (self.api_log, self.worker_log)
        )


@contextlib.contextmanager
def running_stage(
    endpoint: str,
    functions: Mapping[str, Function],
    data_dir: Path,
) -> Iterator[RunningStage]:
    """The api function's and the worker functions' code in two processes, each with the
    environment Terraform gave its functions. Added only what Lambda or the emulator
    supplies: credentials, the endpoint, a folder; and for the gateway simulator's deliverer
    the API's local address in place of API Gateway's (which moto does not route)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    common = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CONCERTBOOK_", "AWS_"))},
        **AWS_TEST_ENV,
        "CONCERTBOOK_AWS_ENDPOINT_URL": endpoint,
        "CONCERTBOOK_S3_ENDPOINT_URL": endpoint,
        "CONCERTBOOK_DATA_DIR": str(data_dir),  # SQLite FTS5: the search index without OpenSearch
    }
    api_env = {**common, **functions["api"].environment}
    worker_env = {
        **common,
        **worker_environment(functions),
        "CONCERTBOOK_PUBLIC_URL": base_url,
        "CONCERTBOOK_QUEUE_WAIT_SECONDS": "0",  # moto's server answers one request at a time
    }
    stage = RunningStage(base_url, data_dir / "api.log", data_dir / "worker.log")
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-workers"]
    with (
        _process(serve, api_env, stage.api_log) as api,
        _process(["work"], worker_env, stage.worker_log),
    ):
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                    break
            if api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start:\n" + stage.logs())
            time.sleep(0.2)
        yield stage


def parked_messages(endpoint: str) -> dict[str, int]:
    """Messages in each dead-letter and failure queue of the stage (all should be empty)."""
    sqs = aws("sqs", endpoint)
    counts = {}
    for url in sqs.list_queues(QueueNamePrefix="concertbook-dev-").get("QueueUrls", []):
        if url.endswith(("-dlq", "-failures")):
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            counts[url.rsplit("/", 1)[1]] = int(attributes["ApproximateNumberOfMessages"])
    return counts


def mail_sent(endpoint: str) -> int:
    return int(aws("ses", endpoint).get_send_quota()["SentLast24Hours"])


def book(base_url: str, timeout: float = 90.0) -> dict[str, Any]:
    """Organizer, venue, published event, performance; a fan holds, orders, pays; the
    tickets. Returns the order and its tickets."""
    from tests.support import ApiDriver, hold, order, post_payment, tickets_of, wait_for

    with httpx.Client(base_url=base_url, timeout=30) as client:
        api = ApiDriver(client)
        _, performance = api.on_sale(rows=2, seats_per_row=5, ga_capacity=10)
        fan = api.account("fan")
        held = hold(client, fan, performance["id"], ["S1-A-1", "S1-A-2"])
        placed = order(client, fan, held["id"])
        paying = post_payment(client, fan, placed["id"])
        assert paying.status_code == 202, paying.text
        tickets = wait_for(lambda: tickets_of(client, fan, placed["id"]), timeout=timeout)
        paid = client.get(f"/api/v1/orders/{placed['id']}", headers=fan).json()
        public_key = client.get("/api/v1/tickets/public-key")
        assert public_key.status_code == 200, public_key.text
    return {
        "order": paid,
        "tickets": tickets,
        "public_key_pem": public_key.json()["public_key_pem"].encode(),
        "performance": performance,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/emulator-apply.sh", description=__doc__)
    parser.add_argument(
        "--parallelism", type=int, default=50, help="terraform apply -parallelism (measured: 50)"
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--no-booking", action="store_true", help="stop after the apply")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"emulator-apply: {missing}", file=sys.stderr)
        return 2
    os.environ.update(MOTO_ENV)
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = args.keep.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="emulator-")))
        started = time.monotonic()
        endpoint = stack.enter_context(moto_server(workdir))
        print(f"moto server at {endpoint}; terraform in {workdir / 'terraform' / STAGE_ROOT}")
        stage = EmulatedStage(workdir, endpoint, args.parallelism)
        stage.prepare()
        with (workdir / "terraform.log").open("w") as log:
            figures = stage.plan_and_apply(log)
        print(figures.report())
        if args.no_booking:
            return 0
        outputs = stage.outputs()
        functions = applied_functions(endpoint, outputs["function_names"])
        mail_from = functions["notifications"].environment["CONCERTBOOK_MAIL_FROM"]
        seeded = seed_stage(endpoint, outputs, mail_from)
        mark = time.monotonic()
        with running_stage(endpoint, functions, workdir / "data") as running:
            try:
                booked = book(running.base_url)
            except Exception:
                print(running.logs(), file=sys.stderr)
                raise
        seeded_key = booked["public_key_pem"] == seeded.ticket_public_key_pem
        print(
            f"booked: order {booked['order']['id']} {booked['order']['status']},"
            f" tickets {', '.join(t['unit_id'] for t in booked['tickets'])}"
            f" ({time.monotonic() - mark:.1f} s); the API's ticket key is the seeded one:"
            f" {seeded_key}"
        )
        print(f"parked messages: {parked_messages(endpoint)}")
        print(f"total {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
