"""The Terraform under terraform/ as data, and the checks tests/test_terraform.py asserts.

Every `.tf` file is parsed with python-hcl2 (strings unquoted, blocks as lists of
dicts, expressions kept as `${...}` text). `Model` groups the files by directory into
`Module`s. Each `check_*` function takes a model and returns the problems it found
(an empty list when the property holds), so the same function serves the real code
and the mutation tests, which break one property in a copy of the model and expect
its check to name it.

Expressions are not evaluated. The checks read literal values, resolve
`local.<name>` references within a module, and otherwise match the reference text
(`${var.subnet_ids}`, `${module.network.lambda_security_group_id}`), which is how the
stack wires the modules together.
"""

from __future__ import annotations

import ast
import copy
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parent.parent
TERRAFORM = REPO / "terraform"
_OPTIONS = SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)

Block = dict[str, Any]

STACK = "modules/stack"
FUNCTIONS = "modules/functions"
IAM = "modules/iam"
QUEUES = "modules/queues"
OBSERVABILITY = "modules/observability"
NETWORK = "modules/network"
ROOTS = ("envs/dev", "envs/prod", "bootstrap")
STAGES = ("envs/dev", "envs/prod")

# Services whose actions touch data: never `*`, never unscoped.
DATA_SERVICES = {"dynamodb", "sqs", "s3", "secretsmanager", "es", "ses", "kms"}
FOURTEEN_DAYS = 14 * 24 * 3600


def parse(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    return parsed


def parse_tree(root: Path = TERRAFORM) -> dict[str, dict[str, Any]]:
    """Every .tf file under root, parsed, by path relative to root."""
    return {str(p.relative_to(root)): parse(p.read_text()) for p in tf_files(root)}


def tf_files(root: Path = TERRAFORM) -> list[Path]:
    """The .tf files under root, but not those of `terraform init`'s working folders."""
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def ref(value: object) -> str:
    """The expression inside `${...}` (the text itself for anything else)."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text


def blocks(body: Block, name: str) -> list[Block]:
    value = body.get(name)
    if isinstance(value, list):
        return [b for b in value if isinstance(b, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def block(body: Block, name: str) -> Block | None:
    found = blocks(body, name)
    return found[0] if found else None


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Module:
    path: str
    resources: dict[str, dict[str, Block]]
    data: dict[str, dict[str, Block]]
    variables: dict[str, Block]
    outputs: dict[str, Block]
    locals: dict[str, Any]
    calls: dict[str, Block]
    terraform: list[Block]

    def each(self, kind: str) -> dict[str, Block]:
        return self.resources.get(kind, {})

    def resource(self, kind: str, name: str) -> Block:
        return self.resources[kind][name]

    def local(self, name: str) -> Any:
        return self.resolve(f"${{local.{name}}}")

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """`${local.x}` → the local's value; `${concat(local.a, local.b)}` → the lists joined;
        lists element by element (a local that is a list is spliced in); else as is."""
        if depth > 10:
            return value
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                resolved = self.resolve(item, depth + 1)
                if isinstance(resolved, list) and not isinstance(item, list):
                    out.extend(resolved)
                else:
                    out.append(resolved)
            return out
        if not isinstance(value, str):
            return value
        expression = ref(value)
        if value.startswith("${") and re.fullmatch(r"local\.[A-Za-z0-9_]+", expression):
            name = expression.split(".", 1)[1]
            if name in self.locals:
                return self.resolve(self.locals[name], depth + 1)
        joined = re.fullmatch(r"concat\(((?:local\.[A-Za-z0-9_]+(?:, )?)+)\)", expression)
        if value.startswith("${") and joined:
            parts: list[Any] = []
            for name in re.findall(r"local\.([A-Za-z0-9_]+)", joined.group(1)):
                parts.extend(as_list(self.resolve(self.locals.get(name), depth + 1)))
            return parts
        return value


def _module(path: str, parsed_files: list[dict[str, Any]]) -> Module:
    module = Module(path, {}, {}, {}, {}, {}, {}, [])
    for parsed in parsed_files:
        for entry in parsed.get("resource", []):
            for kind, named in entry.items():
                module.resources.setdefault(kind, {}).update(named)
        for entry in parsed.get("data", []):
            for kind, named in entry.items():
                module.data.setdefault(kind, {}).update(named)
        for entry in parsed.get("variable", []):
            module.variables.update(entry)
        for entry in parsed.get("output", []):
            module.outputs.update(entry)
        for entry in parsed.get("locals", []):
            module.locals.update(entry)
        for entry in parsed.get("module", []):
            module.calls.update(entry)
        module.terraform.extend(parsed.get("terraform", []))
    return module


class Model:
    """The parsed files (path → dict) and, over the same dicts, the modules by directory."""

    def __init__(self, files: dict[str, dict[str, Any]]) -> None:
        self.files = files
        by_dir: dict[str, list[dict[str, Any]]] = {}
        for path, parsed in files.items():
            by_dir.setdefault(str(Path(path).parent), []).append(parsed)
        self.modules = {path: _module(path, parsed) for path, parsed in by_dir.items()}

    @classmethod
    def load(cls, root: Path = TERRAFORM) -> Model:
        return cls(parse_tree(root))

    def copy(self) -> Model:
        return Model(copy.deepcopy(self.files))

    def __getitem__(self, path: str) -> Module:
        return self.modules[path]

    def all_resources(self, kind: str) -> Iterator[tuple[Module, str, Block]]:
        for module in self.modules.values():
            for name, body in module.each(kind).items():
                yield module, name, body


# -- the code the Terraform must match -----------------------------------------------------
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
                        found.add(f"{module}.{node.name}")
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name) and target.id.endswith("_handler"):
                            found.add(f"{module}.{target.id}")
    return frozenset(found)


@cache
def settings_variables() -> frozenset[str]:
    from booking.settings import Settings

    return frozenset(f"CONCERTBOOK_{f.name.upper()}" for f in fields(Settings))


@cache
def code_queues() -> tuple[frozenset[str], frozenset[str]]:
    """(every queue, the queues the outbox forwarder sends to) of workers/queues.py."""
    from workers.queues import QUEUES, TOPIC_QUEUES

    return frozenset(QUEUES), frozenset(TOPIC_QUEUES.values())


def stack_catalogue(model: Model) -> dict[str, Block]:
    catalogue = model[STACK].local("catalogue")
    return catalogue if isinstance(catalogue, dict) else {}


def queue_consumers(model: Model) -> dict[str, str]:
    consumers = model[STACK].local("queue_consumers")
    return consumers if isinstance(consumers, dict) else {}


# -- checks ----------------------------------------------------------------------------------
def check_function_catalogue(model: Model) -> list[str]:
    """One function per entry point of the code, each with a handler that exists and an
    environment of real settings; docker/functions.json (when present) agrees."""
    problems = []
    catalogue = stack_catalogue(model)
    handlers = {spec.get("handler"): name for name, spec in catalogue.items()}
    for entry in sorted(code_entry_points() - set(handlers)):
        problems.append(f"entry point {entry} has no function in the stack's catalogue")
    for handler, name in handlers.items():
        if handler not in code_entry_points():
            problems.append(f"function {name}: handler {handler} is no entry point of the code")
    known = settings_variables()
    environments = model[STACK].local("environments") or {}
    for name in catalogue:
        env = environments.get(name)
        if not isinstance(env, dict):
            problems.append(f"function {name} has no environment")
            continue
        for variable in sorted(set(env) - known):
            problems.append(f"function {name}: {variable} is not a setting of booking/settings.py")
        if env.get("CONCERTBOOK_RUNTIME") != "aws" or "CONCERTBOOK_TABLE_NAME" not in env:
            problems.append(f"function {name} does not run the aws runtime on the table")
    forwarder = environments.get("forwarder", {})
    for queue in sorted(code_queues()[1]):
        if f"CONCERTBOOK_QUEUE_URL_{queue.upper()}" not in forwarder:
            problems.append(f"the forwarder lacks CONCERTBOOK_QUEUE_URL_{queue.upper()}")
    functions_json = REPO / "docker" / "functions.json"
    if functions_json.exists():
        declared = json.loads(functions_json.read_text())
        ours = {
            n: {"image": s.get("image"), "command": [s.get("handler")]}
            for n, s in catalogue.items()
        }
        theirs = {n: {"image": s["image"], "command": s["command"]} for n, s in declared.items()}
        if ours != theirs:
            problems.append(f"docker/functions.json {theirs} differs from the catalogue {ours}")
    return problems


def check_lambdas_in_vpc(model: Model) -> list[str]:
    problems = []
    functions = model[FUNCTIONS]
    for name, body in functions.each("aws_lambda_function").items():
        vpc = block(body, "vpc_config")
        if vpc is None:
            problems.append(f"aws_lambda_function.{name} has no vpc_config")
            continue
        if vpc.get("subnet_ids") != "${var.subnet_ids}":
            problems.append(f"aws_lambda_function.{name} is not in the private subnets")
        if "${var.security_group_id}" not in as_list(vpc.get("security_group_ids")):
            problems.append(f"aws_lambda_function.{name} is not in the Lambdas' security group")
    call = model[STACK].calls.get("functions", {})
    if call.get("subnet_ids") != "${module.network.private_subnet_ids}":
        problems.append("the stack does not give the functions the private subnets")
    if call.get("security_group_id") != "${module.network.lambda_security_group_id}":
        problems.append("the stack does not give the functions the Lambdas' security group")
    if not functions.each("aws_lambda_function"):
        problems.append("no aws_lambda_function")
    return problems


def check_failure_destinations(model: Model) -> list[str]:
    """Every function has a dead-letter queue (async invocations); queue consumers use their
    queue's DLQ, the rest a failure queue; stream mappings send failures on."""
    problems = []
    for name, body in model[FUNCTIONS].each("aws_lambda_function").items():
        dlq = block(body, "dead_letter_config")
        if dlq is None or not dlq.get("target_arn"):
            problems.append(f"aws_lambda_function.{name} has no dead_letter_config")
    stack = model[STACK]
    consumers = queue_consumers(model)
    failure = set(as_list(stack.local("failure_queue_functions")))
    for name in stack_catalogue(model):
        if name not in set(consumers.values()) | failure:
            problems.append(f"function {name} has neither a work queue's DLQ nor a failure queue")
    dead_letters = str(stack.locals.get("dead_letter_arns", ""))
    for needed in ("module.queues.dlq_arns[queue]", "module.queues.failure_arns[fn]"):
        if needed not in dead_letters:
            problems.append(f"dead_letter_arns does not use {needed}")
    functions_local = stack.locals.get("functions", "")
    if "dead_letter_arn = local.dead_letter_arns[name]" not in str(functions_local):
        problems.append("the stack's functions do not take their dead_letter_arns")
    return problems


def _mappings(model: Model, stream: bool) -> dict[str, Block]:
    return {
        name: body
        for name, body in model[FUNCTIONS].each("aws_lambda_event_source_mapping").items()
        if (body.get("event_source_arn") == "${var.stream_arn}") == stream
    }


def check_stream_mappings(model: Model) -> list[str]:
    problems = []
    mappings = _mappings(model, stream=True)
    if not mappings:
        problems.append("no DynamoDB stream mapping")
    for name, body in mappings.items():
        where = f"stream mapping {name}"
        if body.get("bisect_batch_on_function_error") is not True:
            problems.append(f"{where} does not bisect batches on error")
        if "maximum_retry_attempts" not in body:
            problems.append(f"{where} retries without limit")
        if "ReportBatchItemFailures" not in as_list(body.get("function_response_types")):
            problems.append(f"{where} does not report batch item failures")
        on_failure = block(block(body, "destination_config") or {}, "on_failure")
        if not on_failure or not on_failure.get("destination_arn"):
            problems.append(f"{where} has no on-failure destination")
        filters = blocks(block(body, "filter_criteria") or {}, "filter")
        patterns = " ".join(str(f.get("pattern")) for f in filters)
        pattern = (
            str(model[FUNCTIONS].locals.get("outbox_inserts", ""))
            if "outbox_inserts" in patterns
            else patterns
        )
        if "OUTBOX#" not in pattern or "INSERT" not in pattern:
            problems.append(f"{where} is not filtered to OUTBOX# inserts")
        if body.get("starting_position") != "TRIM_HORIZON":
            problems.append(f"{where} does not start at TRIM_HORIZON")
    triggers = ref(model[STACK].calls.get("functions", {}).get("stream_triggers", ""))
    for fn in ("forwarder", "indexer"):
        if f'"{fn}"' not in triggers:
            problems.append(f"the {fn} has no stream trigger")
    if "on_failure_arn = module.queues.failure_arns[fn]" not in triggers:
        problems.append("stream triggers lack their failure queues")
    batch = model[STACK].variables.get("stream_batch_size", {}).get("default")
    if not isinstance(batch, int) or not 50 <= batch <= 500:
        problems.append(f"stream batch size {batch!r} is not ~100 (docs/PERFORMANCE.md)")
    return problems


def check_queue_mappings(model: Model) -> list[str]:
    problems = []
    mappings = _mappings(model, stream=False)
    if not mappings:
        problems.append("no SQS mapping")
    for name, body in mappings.items():
        if "ReportBatchItemFailures" not in as_list(body.get("function_response_types")):
            problems.append(f"SQS mapping {name} does not report batch item failures")
        scaling = block(body, "scaling_config")
        if not scaling or "maximum_concurrency" not in scaling:
            problems.append(f"SQS mapping {name} has no maximum concurrency")
        if "batch_size" not in body:
            problems.append(f"SQS mapping {name} has no batch size")
    triggers = ref(model[STACK].calls.get("functions", {}).get("queue_triggers", ""))
    if not triggers.startswith("{for queue, fn in local.queue_consumers :"):
        problems.append("queue triggers are not one per consumed queue")
    all_queues, _ = code_queues()
    if set(queue_consumers(model)) != all_queues:
        problems.append(
            f"queues {sorted(queue_consumers(model))} != the code's {sorted(all_queues)}"
        )
    return problems


def check_queues(model: Model) -> list[str]:
    """Work queues: SSE, a redrive policy at max attempts + 1, visibility 6 × timeout;
    DLQs and failure queues: SSE, 14 days; every queue either redrives or is a target."""
    problems = []
    queues = model[QUEUES]
    targets = set()
    for body in queues.each("aws_sqs_queue").values():
        targets.update(
            re.findall(r"aws_sqs_queue\.([a-z_]+)\[", str(body.get("redrive_policy", "")))
        )
    # Queues handed out as dead-letter or failure destinations (the stack wires them).
    exported = " ".join(
        str(o.get("value")) for n, o in queues.outputs.items() if n in ("dlq_arns", "failure_arns")
    )
    for name, body in queues.each("aws_sqs_queue").items():
        if not body.get("kms_master_key_id") and body.get("sqs_managed_sse_enabled") is not True:
            problems.append(f"aws_sqs_queue.{name} is not encrypted")
        policy = str(body.get("redrive_policy", ""))
        if policy:
            if "deadLetterTargetArn = aws_sqs_queue." not in policy:
                problems.append(f"aws_sqs_queue.{name} redrives to no queue")
            if "maxReceiveCount = var.max_attempts + 1" not in policy:
                problems.append(f"aws_sqs_queue.{name}: maxReceiveCount is not max_attempts + 1")
            if body.get("visibility_timeout_seconds") != "${6 * each.value.timeout_seconds}":
                problems.append(f"aws_sqs_queue.{name}: visibility timeout is not 6 x the timeout")
        else:
            used = name in targets or f"aws_sqs_queue.{name} :" in exported
            if not used:
                problems.append(f"aws_sqs_queue.{name} has no redrive policy and is no DLQ")
            if queues.resolve(body.get("message_retention_seconds")) != FOURTEEN_DAYS:
                problems.append(f"aws_sqs_queue.{name} (a DLQ) does not keep messages 14 days")
    return problems


def _policy_document(module: Module, reference: object) -> Block | None:
    match = re.fullmatch(r"data\.aws_iam_policy_document\.([a-z0-9_]+)\.json", ref(reference))
    if not match:
        return None
    return module.data.get("aws_iam_policy_document", {}).get(match.group(1))


def statements(module: Module, document: Block) -> list[Block]:
    """A policy document's statements with those of its source documents, actions and
    resources resolved to lists."""
    found = []
    for source in as_list(document.get("source_policy_documents")):
        inner = _policy_document(module, source)
        if inner is not None:
            found.extend(statements(module, inner))
    for statement in blocks(document, "statement"):
        resolved = dict(statement)
        resolved["actions"] = as_list(module.resolve(statement.get("actions")))
        resolved["resources"] = as_list(module.resolve(statement.get("resources")))
        resolved.setdefault("effect", "Allow")
        found.append(resolved)
    return found


def function_statements(model: Model) -> dict[str, list[Block]]:
    iam = model[IAM]
    policies = iam.locals.get("policies", {})
    return {
        name: statements(iam, document)
        for name, reference in (policies.items() if isinstance(policies, dict) else [])
        if (document := _policy_document(iam, reference)) is not None
    }


def _expected_sends(model: Model) -> dict[str, set[str]]:
    """sqs:SendMessage targets by function, from the code: the API queues webhooks, the
    forwarder fills the outbox queues, consumers park in their DLQ, and every function with
    a failure queue sends there."""
    _, outbox = code_queues()
    consumers = queue_consumers(model)
    sends: dict[str, set[str]] = {name: set() for name in stack_catalogue(model)}
    sends.setdefault("api", set()).add('${var.queue_arns["webhooks"]}')
    sends.setdefault("forwarder", set()).update(f'${{var.queue_arns["{q}"]}}' for q in outbox)
    for queue, fn in consumers.items():
        sends.setdefault(fn, set()).add(f'${{var.dlq_arns["{queue}"]}}')
    for fn in as_list(model[STACK].local("failure_queue_functions")):
        sends.setdefault(fn, set()).add(f'${{var.failure_queue_arns["{fn}"]}}')
    return sends


def _action_problems(function: str, own_queue: str | None, statement: Block) -> list[str]:
    """What is wrong with one allowed statement of a function's policy."""
    where = f"{function} policy, statement {statement.get('sid', '?')}"
    resources = [str(r) for r in statement["resources"]]
    text = json.dumps(statement)
    scoped_to = {
        "dynamodb": lambda r: "var.table_arn" in r,
        "s3": lambda r: re.search(r"/(uploads|posters)/\*$", r) is not None,
        "secretsmanager": lambda r: (
            r in ("${var.webhook_secret_arn}", "${var.ticket_signing_key_arn}")
        ),
    }
    problems = []
    for action in statement["actions"]:
        service, _, verb = str(action).partition(":")
        if action == "*" or verb in {"*", ""}:
            problems.append(f"{where}: wildcard action {action}")
        if service in DATA_SERVICES and (not resources or "*" in resources):
            problems.append(f"{where}: {action} on unscoped resources {resources}")
        if service in DATA_SERVICES and any(not r.startswith("${") for r in resources):
            problems.append(f"{where}: {action} on a literal resource {resources}")
        if action in ("sqs:ReceiveMessage", "sqs:DeleteMessage") and resources != [
            f'${{var.queue_arns["{own_queue}"]}}'
        ]:
            problems.append(f"{where}: {action} beyond its own queue: {resources}")
        check = scoped_to.get(service)
        if check is not None and not all(check(r) for r in resources):
            problems.append(f"{where}: {action} beyond {service}'s own resources: {resources}")
        if service == "ses" and (function != "notifications" or "ses:FromAddress" not in text):
            problems.append(f"{where}: SES beyond the notifications function's sender")
        if service == "es" and (
            function not in ("api", "indexer") or resources != ["${var.opensearch_domain_arn}/*"]
        ):
            problems.append(f"{where}: search access beyond api and indexer on the domain")
    return problems


def check_function_policies(model: Model) -> list[str]:
    """Least privilege: a role per function, no wildcard actions, every data action scoped
    to named resources, queues and secrets exactly as the code uses them."""
    problems = []
    roles = model[IAM].each("aws_iam_role").get("function", {})
    if roles.get("for_each") != "${var.functions}":
        problems.append("execution roles are not one per function")
    by_function = function_statements(model)
    consumers = {fn: queue for queue, fn in queue_consumers(model).items()}
    sends = _expected_sends(model)
    for name in stack_catalogue(model):
        if name not in by_function:
            problems.append(f"function {name} has no policy document")
    for name, found in by_function.items():
        allowed = [s for s in found if s["effect"] == "Allow"]
        for statement in allowed:
            problems.extend(_action_problems(name, consumers.get(name), statement))
        sent = {
            str(r) for s in allowed if "sqs:SendMessage" in s["actions"] for r in s["resources"]
        }
        if sent != sends.get(name, set()):
            expected = sorted(sends.get(name, set()))
            problems.append(f"{name} sends to {sorted(sent)}, expected {expected}")
    return problems


def _bucket_of(body: Block) -> str:
    match = re.search(r"aws_s3_bucket\.([a-z_]+)\.(id|bucket)", str(body.get("bucket", "")))
    return match.group(1) if match else ""


def _statements_allow_public(module: Module, policy: object) -> list[str]:
    document = _policy_document(module, policy)
    found = []
    for statement in statements(module, document or {}):
        if statement["effect"] != "Allow":
            continue
        principals = blocks(statement, "principals")
        anyone = any(
            p.get("type") == "*" or "*" in as_list(p.get("identifiers")) for p in principals
        )
        service = any(p.get("type") == "Service" for p in principals)
        keys = {str(c.get("variable", "")).lower() for c in blocks(statement, "condition")}
        if (anyone or service) and not keys & {"aws:sourcearn", "aws:sourceaccount"}:
            found.append(str(statement.get("sid", "?")))
    return found


def _media_problems(model: Model) -> list[str]:
    """The media bucket: no ACLs, HTTPS, OAC, CloudFront reads only posters/, uploads expire."""
    problems = []
    media = model["modules/media"]
    ownership = media.each("aws_s3_bucket_ownership_controls").get("media", {})
    if (block(ownership, "rule") or {}).get("object_ownership") != "BucketOwnerEnforced":
        problems.append("the media bucket does not disable ACLs")
    distribution = media.each("aws_cloudfront_distribution").get("this", {})
    behaviours = blocks(distribution, "default_cache_behavior") + blocks(
        distribution, "ordered_cache_behavior"
    )
    for behaviour in behaviours:
        if behaviour.get("viewer_protocol_policy") not in ("redirect-to-https", "https-only"):
            problems.append("a CloudFront behaviour serves plain HTTP")
    if not any(o.get("origin_access_control_id") for o in blocks(distribution, "origin")):
        problems.append("CloudFront reads the media bucket without Origin Access Control")
    oac = media.each("aws_cloudfront_origin_access_control").get("media", {})
    if oac.get("signing_protocol") != "sigv4" or oac.get("signing_behavior") != "always":
        problems.append("the Origin Access Control does not always sign with SigV4")
    reads = [
        s
        for s in statements(media, media.data["aws_iam_policy_document"].get("media", {}))
        if s["effect"] == "Allow"
    ]
    if [s["resources"] for s in reads] != [["${aws_s3_bucket.media.arn}/posters/*"]]:
        problems.append("the media bucket policy admits more than posters/ to CloudFront")
    rules = blocks(media.each("aws_s3_bucket_lifecycle_configuration").get("media", {}), "rule")
    if not any(
        (block(r, "filter") or {}).get("prefix") == "uploads/"
        and (block(r, "expiration") or {}).get("days") == 1
        for r in rules
    ):
        problems.append("uploads/ does not expire after a day")
    return problems


def check_buckets_private(model: Model) -> list[str]:
    """Block Public Access (all four) on every bucket, no public ACL, no policy statement
    that admits anyone (or a service) without a SourceArn/SourceAccount condition; the
    media bucket without ACLs, read only by CloudFront through OAC, over HTTPS."""
    problems = []
    for module in model.modules.values():
        buckets = module.each("aws_s3_bucket")
        guarded = {
            _bucket_of(b): b for b in module.each("aws_s3_bucket_public_access_block").values()
        }
        for name in buckets:
            access = guarded.get(name)
            flags = (
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            )
            if access is None or any(access.get(f) is not True for f in flags):
                problems.append(f"{module.path}: aws_s3_bucket.{name} lacks Block Public Access")
        for name, body in module.each("aws_s3_bucket_acl").items():
            if str(body.get("acl", "")).startswith("public") or "AllUsers" in json.dumps(body):
                problems.append(f"{module.path}: aws_s3_bucket_acl.{name} is public")
        for name, body in module.each("aws_s3_bucket_policy").items():
            for sid in _statements_allow_public(module, body.get("policy")):
                problems.append(f"{module.path}: bucket policy {name} statement {sid} is open")
    problems.extend(_media_problems(model))
    return problems


def check_encryption(model: Model) -> list[str]:
    """Data at rest is encrypted everywhere: table, queues, cache, search, buckets, images,
    secrets, log groups, the alarm topic, the functions' environments."""
    problems = []

    def need(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    for _module, name, body in model.all_resources("aws_dynamodb_table"):
        sse = block(body, "server_side_encryption") or {}
        need(
            sse.get("enabled") is True and bool(sse.get("kms_key_arn")),
            f"table {name} without KMS SSE",
        )
    for _module, name, body in model.all_resources("aws_sqs_queue"):
        need(
            bool(body.get("kms_master_key_id")) or body.get("sqs_managed_sse_enabled") is True,
            f"queue {name} unencrypted",
        )
    for _module, name, body in model.all_resources("aws_elasticache_replication_group"):
        need(body.get("at_rest_encryption_enabled") is True, f"Redis {name} unencrypted at rest")
        need(body.get("transit_encryption_enabled") is True, f"Redis {name} unencrypted in transit")
        need(bool(body.get("auth_token")), f"Redis {name} without AUTH")
    for _module, name, body in model.all_resources("aws_opensearch_domain"):
        need(
            (block(body, "encrypt_at_rest") or {}).get("enabled") is True,
            f"OpenSearch {name} unencrypted at rest",
        )
        need(
            (block(body, "node_to_node_encryption") or {}).get("enabled") is True,
            f"OpenSearch {name} without node-to-node encryption",
        )
        endpoint = block(body, "domain_endpoint_options") or {}
        need(endpoint.get("enforce_https") is True, f"OpenSearch {name} allows HTTP")
        need(
            "TLS-1-2" in str(endpoint.get("tls_security_policy")),
            f"OpenSearch {name} allows TLS < 1.2",
        )
        security = block(body, "advanced_security_options") or {}
        need(
            security.get("enabled") is True
            and security.get("internal_user_database_enabled") is False,
            f"OpenSearch {name} without IAM fine-grained access control",
        )
    for module in model.modules.values():
        encrypted = {
            _bucket_of(b)
            for b in module.each("aws_s3_bucket_server_side_encryption_configuration").values()
        }
        for name in module.each("aws_s3_bucket"):
            need(name in encrypted, f"{module.path}: bucket {name} without default encryption")
    for _module, name, body in model.all_resources("aws_ecr_repository"):
        need(
            bool(block(body, "encryption_configuration")),
            f"ECR {name} without encryption configuration",
        )
        need(body.get("image_tag_mutability") == "IMMUTABLE", f"ECR {name} with mutable tags")
    for module, name, body in model.all_resources("aws_secretsmanager_secret"):
        need(bool(body.get("kms_key_id")), f"{module.path}: secret {name} without a KMS key")
    for module, name, body in model.all_resources("aws_cloudwatch_log_group"):
        need(bool(body.get("kms_key_id")), f"{module.path}: log group {name} without a KMS key")
        need(
            isinstance(body.get("retention_in_days"), (int, str)),
            f"{module.path}: log group {name} kept forever",
        )
    for _module, name, body in model.all_resources("aws_sns_topic"):
        need(bool(body.get("kms_master_key_id")), f"topic {name} unencrypted")
    for _module, name, body in model.all_resources("aws_lambda_function"):
        need(bool(body.get("kms_key_arn")), f"function {name}: environment without a KMS key")
    for module, name, body in model.all_resources("aws_kms_key"):
        need(body.get("enable_key_rotation") is True, f"{module.path}: KMS key {name} not rotated")
    return problems


def check_function_monitoring(model: Model) -> list[str]:
    """Every function is on the dashboard (duration, errors, throttles, concurrency) and
    in the errors and throttles alarms, and has a log group with retention."""
    problems = []
    obs = model[OBSERVABILITY]
    functions = model[FUNCTIONS]
    output = ref(functions.outputs.get("function_names", {}).get("value", ""))
    if not output.startswith("{for name, f in aws_lambda_function.this :"):
        problems.append("the functions module does not output every function's name")
    if (
        model[STACK].calls.get("observability", {}).get("function_names")
        != "${module.functions.function_names}"
    ):
        problems.append("the observability module does not get every function")
    widgets = ref(obs.locals.get("function_widgets", ""))
    if not widgets.startswith("[for name, function_name in var.function_names :"):
        problems.append("the dashboard has no widget per function")
    for metric in ("Duration", "Errors", "Throttles", "ConcurrentExecutions"):
        if f'"AWS/Lambda", "{metric}", "FunctionName", function_name' not in widgets:
            problems.append(f"the function widgets lack {metric}")
    body = ref(obs.each("aws_cloudwatch_dashboard").get("this", {}).get("dashboard_body", ""))
    if "local.function_widgets" not in body:
        problems.append("the dashboard does not show the function widgets")
    for alarm, metric in (("lambda_errors", "Errors"), ("lambda_throttles", "Throttles")):
        found = obs.each("aws_cloudwatch_metric_alarm").get(alarm, {})
        if found.get("for_each") != "${var.function_names}" or found.get("metric_name") != metric:
            problems.append(f"no {metric} alarm per function")
        elif found.get("dimensions") != {"FunctionName": "${each.value}"} or not found.get(
            "alarm_actions"
        ):
            problems.append(f"the {metric} alarm does not page for each function")
    groups = functions.each("aws_cloudwatch_log_group").get("function", {})
    if groups.get("for_each") != "${var.functions}" or "retention_in_days" not in groups:
        problems.append("not every function has a log group with retention")
    for name, function in functions.each("aws_lambda_function").items():
        if "aws_cloudwatch_log_group.function" not in str(block(function, "logging_config")):
            problems.append(f"aws_lambda_function.{name} does not log to its log group")
    return problems


def check_alarms(model: Model) -> list[str]:
    """The alarms that page besides the functions': API 5xx rate and p99, table throttles,
    every DLQ and failure queue not empty, queues falling behind, OpenSearch red, Redis."""
    problems = []
    obs = model[OBSERVABILITY]
    alarms = obs.each("aws_cloudwatch_metric_alarm")
    expected = {
        "api_5xx_rate": "5xx",
        "api_latency_p99": "p99",
        "table_throttles": "ThrottleEvents",
        "parked_messages": "ApproximateNumberOfMessagesVisible",
        "queue_age": "ApproximateAgeOfOldestMessage",
        "opensearch_red": "ClusterStatus.red",
        "redis_cpu": "EngineCPUUtilization",
        "redis_memory": "DatabaseMemoryUsagePercentage",
    }
    for name, marker in expected.items():
        alarm = alarms.get(name)
        if alarm is None or marker not in json.dumps(alarm) + json.dumps(obs.locals):
            problems.append(f"no {name} alarm ({marker})")
        elif alarm.get("alarm_actions") != "${local.actions}":
            problems.append(f"the {name} alarm does not page")
    parked = ref(obs.locals.get("parked", ""))
    for source in ("var.dlq_names", "var.failure_queue_names"):
        if source not in parked:
            problems.append(f"the not-empty alarms miss {source}")
    if alarms.get("parked_messages", {}).get("for_each") != "${local.parked}":
        problems.append("not every DLQ and failure queue has a not-empty alarm")
    if alarms.get("queue_age", {}).get("for_each") != "${var.queue_names}":
        problems.append("not every work queue has an age alarm")
    topic = obs.each("aws_sns_topic_subscription").get("email", {})
    if topic.get("protocol") != "email":
        problems.append("the alarm topic has no e-mail subscription")
    return problems


def check_table_matches_code(model: Model, definition: dict[str, Any]) -> list[str]:
    """The table resource against `table_definition()`: keys, attributes, GSIs, stream;
    and TTL on `ttl` (docs/DYNAMODB.md), PITR, deletion protection, on-demand default."""
    problems = []
    tables = list(model.all_resources("aws_dynamodb_table"))
    if len(tables) != 1:
        return [f"expected one table, found {len(tables)}"]
    module, _, table = tables[0]
    attributes = {(a.get("name"), a.get("type")) for a in blocks(table, "attribute")}
    expected = {
        (a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]
    }
    if attributes != expected:
        problems.append(f"attributes {sorted(attributes)} != {sorted(expected)}")
    keys = {k["KeyType"]: k["AttributeName"] for k in definition["KeySchema"]}
    if (table.get("hash_key"), table.get("range_key")) != (keys["HASH"], keys.get("RANGE")):
        problems.append("the table's keys differ from table_definition()")
    indexes = {
        i.get("name"): (i.get("hash_key"), i.get("range_key"), i.get("projection_type"))
        for i in blocks(table, "global_secondary_index")
    }
    wanted = {
        i["IndexName"]: (
            next(k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "HASH"),
            next(k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "RANGE"),
            i["Projection"]["ProjectionType"],
        )
        for i in definition["GlobalSecondaryIndexes"]
    }
    if indexes != wanted:
        problems.append(f"indexes {indexes} != {wanted}")
    stream = definition["StreamSpecification"]
    if (
        table.get("stream_enabled") is not stream["StreamEnabled"]
        or table.get("stream_view_type") != stream["StreamViewType"]
    ):
        problems.append("the stream differs from table_definition()")
    ttl = block(table, "ttl") or {}
    if ttl.get("attribute_name") != "ttl" or ttl.get("enabled") is not True:
        problems.append("TTL is not on the ttl attribute")
    if (block(table, "point_in_time_recovery") or {}).get("enabled") is not True:
        problems.append("point-in-time recovery is off")
    if table.get("deletion_protection_enabled") is not True:
        problems.append("deletion protection is off")
    mode = module.variables.get(ref(table.get("billing_mode")).removeprefix("var."), {})
    if mode.get("default") != definition["BillingMode"] or not blocks(mode, "validation"):
        problems.append("billing mode is not a validated variable defaulting to on-demand")
    if "PROVISIONED" in json.dumps(blocks(mode, "validation")):
        problems.extend(_autoscaling_problems(module, sorted(indexes, key=str)))
    return problems


def _autoscaling_problems(module: Module, indexes: list[str]) -> list[str]:
    """PROVISIONED capacity is autoscaled (target tracking) for the table and each index,
    reads and writes."""
    problems = []
    scaled = str(module.locals.get("scaled", ""))
    targets = module.each("aws_appautoscaling_target").values()
    policies = module.each("aws_appautoscaling_policy").values()
    if not any(t.get("for_each") == "${local.scaled}" for t in targets):
        problems.append("PROVISIONED capacity has no autoscaling target")
    if not any(
        p.get("for_each") == "${local.scaled}" and p.get("policy_type") == "TargetTrackingScaling"
        for p in policies
    ):
        problems.append("PROVISIONED capacity has no target-tracking autoscaling policy")
    for kind in ("table", "index"):
        for unit in ("Read", "Write"):
            if f"dynamodb:{kind}:{unit}CapacityUnits" not in scaled:
                problems.append(f"autoscaling misses the {kind}'s {unit.lower()} capacity")
    if sorted(as_list(module.locals.get("indexes"))) != indexes:
        problems.append(f"autoscaling covers indexes {module.locals.get('indexes')}, not {indexes}")
    return problems


def check_security_groups(model: Model) -> list[str]:
    """Redis and OpenSearch (and the endpoints) admit only the Lambdas' group, on their port."""
    problems = []
    network = model[NETWORK]
    ports = {"redis": 6379, "opensearch": 443, "endpoints": 443}
    for group in ports:
        if blocks(network.each("aws_security_group").get(group, {}), "ingress"):
            problems.append(f"the {group} group has inline ingress rules")
    admitted = dict.fromkeys(ports, 0)
    for name, rule in network.each("aws_vpc_security_group_ingress_rule").items():
        target = re.search(r"aws_security_group\.([a-z_]+)\.id", str(rule.get("security_group_id")))
        group = target.group(1) if target else "?"
        if group not in ports:
            continue
        admitted[group] += 1
        if rule.get("referenced_security_group_id") != "${aws_security_group.lambda.id}":
            problems.append(f"{name} admits more than the Lambdas' group to {group}")
        if any(rule.get(k) for k in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id")):
            problems.append(f"{name} admits an address range to {group}")
        if (rule.get("from_port"), rule.get("to_port"), rule.get("ip_protocol")) != (
            ports[group],
            ports[group],
            "tcp",
        ):
            problems.append(f"{name} opens more than tcp/{ports[group]} on {group}")
    for group, count in admitted.items():
        if count == 0:
            problems.append(f"nothing may reach the {group} group")
    for name in network.each("aws_security_group_rule"):
        problems.append(f"aws_security_group_rule.{name}: use the per-rule resources")
    stack = model[STACK].calls
    if (
        stack.get("cache", {}).get("security_group_id")
        != "${module.network.redis_security_group_id}"
    ):
        problems.append("Redis is not in the Redis group")
    if (
        stack.get("search", {}).get("security_group_id")
        != "${module.network.opensearch_security_group_id}"
    ):
        problems.append("OpenSearch is not in the OpenSearch group")
    return problems


def check_backends(model: Model) -> list[str]:
    """Every root pins Terraform and its providers; every stage keeps state in S3 with
    locking, encrypted, under its own key."""
    problems = []
    keys = set()
    for root in ROOTS:
        settings = model[root].terraform
        if not any(t.get("required_version") for t in settings):
            problems.append(f"{root} does not pin required_version")
        providers = [p for t in settings for p in blocks(t, "required_providers")]
        aws: Block = next((p["aws"] for p in providers if "aws" in p), {})
        if not str(aws.get("version", "")).startswith("~> 5."):
            problems.append(f"{root} does not pin the aws provider to 5.x")
        backends = [b for t in settings for b in blocks(t, "backend")]
        s3 = next((b["s3"] for b in backends if "s3" in b), None)
        if s3 is None:
            problems.append(f"{root} has no S3 backend")
            continue
        if s3.get("use_lockfile") is not True and not s3.get("dynamodb_table"):
            problems.append(f"{root}: the S3 backend does not lock")
        if s3.get("encrypt") is not True:
            problems.append(f"{root}: the S3 backend does not encrypt")
        keys.add(s3.get("key"))
    if len(keys) != len(ROOTS):
        problems.append("roots share a state key")
    return problems


# String variables with a default that are free text, not enumerations or settings.
FREE_TEXT = {"mail_from_name"}


def check_variables(model: Model) -> list[str]:
    problems = []
    for module in model.modules.values():
        for name, variable in module.variables.items():
            where = f"{module.path}: variable {name}"
            if not str(variable.get("description", "")).strip():
                problems.append(f"{where} has no description")
            kind = ref(variable.get("type", ""))
            validated = bool(blocks(variable, "validation"))
            if kind == "number" and not validated:
                problems.append(f"{where} is a number without validation")
            default = variable.get("default")
            if kind == "string" and default is not None and name not in FREE_TEXT and not validated:
                problems.append(f"{where} is a string setting without validation")
    return problems


def check_environment_grants(model: Model) -> list[str]:
    """What a function's environment names, its role may use: the secrets it reads, the
    queues it sends to, search, media."""
    problems = []
    environments = model[STACK].local("environments") or {}
    by_function = function_statements(model)
    for name, env in environments.items():
        granted = json.dumps(by_function.get(name, []))
        needs = {
            "CONCERTBOOK_WEBHOOK_SECRET_ARN": "var.webhook_secret_arn",
            "CONCERTBOOK_TICKET_SIGNING_KEY_ARN": "var.ticket_signing_key_arn",
            "CONCERTBOOK_OPENSEARCH_URL": "es:ESHttpGet",
            "CONCERTBOOK_MEDIA_BUCKET": "s3:PutObject",
            "CONCERTBOOK_MAIL_FROM": "ses:SendRawEmail",
        }
        for variable, grant in needs.items():
            if variable in env and grant not in granted:
                problems.append(f"function {name} has {variable} but its role lacks {grant}")
        for variable in env:
            if variable.startswith("CONCERTBOOK_QUEUE_URL_"):
                queue = variable.removeprefix("CONCERTBOOK_QUEUE_URL_").lower()
                if f'var.queue_arns[\\"{queue}\\"]' not in granted:
                    problems.append(f"function {name} may not send to the {queue} queue it names")
    return problems


@cache
def architecture_queue_table() -> dict[str, dict[str, int]]:
    """docs/ARCHITECTURE.md's queue table: function timeout, visibility timeout, receives."""
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"`[a-z]+`", cells[0]) or "queue" in cells[0]:
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


def check_queues_match_docs(model: Model) -> list[str]:
    """docs/ARCHITECTURE.md's queue table holds: every stage's consumer timeouts are the
    documented ones, so visibility (6 × timeout) and maxReceiveCount (attempts + 1) are too."""
    problems = []
    table = architecture_queue_table()
    consumers = queue_consumers(model)
    if set(table) != set(consumers):
        problems.append(f"documented queues {sorted(table)} != {sorted(consumers)}")
    attempts = model[STACK].variables.get("queue_max_attempts", {}).get("default")
    for queue, row in table.items():
        if row["visibility"] != 6 * row["timeout"]:
            problems.append(f"docs: {queue} visibility is not 6 x its timeout")
        if not isinstance(attempts, int) or row["receives"] != attempts + 1:
            problems.append(
                f"{queue}: maxReceiveCount {row['receives']} != attempts {attempts} + 1"
            )
        for stage in STAGES:
            settings = model[stage].calls["stack"].get("function_settings", {})
            timeout = settings.get(consumers.get(queue, ""), {}).get("timeout_seconds")
            if timeout != row["timeout"]:
                problems.append(
                    f"{stage}: {queue} consumer timeout {timeout} != documented {row['timeout']}"
                )
    return problems


# -- the topology the seed names, and how it is wired ----------------------------------------
# What the seed (and issue 6, which takes its topology as the spec) names: where its
# Terraform lives and the resource that makes it.
SEED_TOPOLOGY: dict[str, tuple[str, str]] = {
    "API Gateway": ("modules/api", "aws_apigatewayv2_api"),
    "Lambda": (FUNCTIONS, "aws_lambda_function"),
    "ECR repositories of the images": ("modules/ecr", "aws_ecr_repository"),
    "DynamoDB": ("modules/table", "aws_dynamodb_table"),
    "ElastiCache Redis": ("modules/cache", "aws_elasticache_replication_group"),
    "OpenSearch": ("modules/search", "aws_opensearch_domain"),
    "SQS": (QUEUES, "aws_sqs_queue"),
    "SQS workers and Streams readers": (FUNCTIONS, "aws_lambda_event_source_mapping"),
    "S3": ("modules/media", "aws_s3_bucket"),
    "CloudFront": ("modules/media", "aws_cloudfront_distribution"),
    "VPC": (NETWORK, "aws_vpc"),
    "VPC endpoints": (NETWORK, "aws_vpc_endpoint"),
    "NAT gateway": (NETWORK, "aws_nat_gateway"),
    "CloudWatch dashboard": (OBSERVABILITY, "aws_cloudwatch_dashboard"),
    "CloudWatch alarms": (OBSERVABILITY, "aws_cloudwatch_metric_alarm"),
    "IAM roles": (IAM, "aws_iam_role"),
    "KMS keys": ("modules/keys", "aws_kms_key"),
    "Secrets Manager": ("modules/secrets", "aws_secretsmanager_secret"),
}

# What a stage root outputs for the people who deploy it (issue 6: API URL, CDN domain,
# table name), and the stack output each one passes on.
STAGE_OUTPUTS = {
    "api_url": "api_url",
    "cdn_domain_name": "cdn_domain_name",
    "table_name": "table_name",
}

# Arguments of a module call that are not the module's variables.
_META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}


def _called(caller: str, call: Block) -> str:
    """The module directory (relative to terraform/) a module call's source names."""
    return posixpath.normpath(posixpath.join(caller, str(call.get("source", ""))))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _call_problems(model: Model) -> list[str]:
    """Every stage calls the stack, the stack calls every module, and every call passes
    each required variable of its module and nothing the module does not declare."""
    problems = []
    for stage in STAGES:
        call = model[stage].calls.get("stack")
        if call is None or _called(stage, call) != STACK:
            problems.append(f"{stage} does not call {STACK}")
    called = {_called(STACK, c) for c in model[STACK].calls.values()}
    for path in sorted(model.modules):
        if path.startswith("modules/") and path != STACK and path not in called:
            problems.append(f"{path} is not called by the stack")
    for path, module in model.modules.items():
        for name, call in module.calls.items():
            target = model.modules.get(_called(path, call))
            if target is None:
                problems.append(f"{path}: module {name} calls {call.get('source')}, no module")
                continue
            arguments = set(call) - _META_ARGUMENTS
            required = {v for v, body in target.variables.items() if "default" not in body}
            problems.extend(
                f"{path}: module {name} does not pass {missing}"
                for missing in sorted(required - arguments)
            )
            problems.extend(
                f"{path}: module {name} gets unknown argument {unknown}"
                for unknown in sorted(arguments - set(target.variables))
            )
    return problems


def _reference_problems(model: Model, file: str, parsed: dict[str, Any]) -> list[str]:
    """Every module.X.Y, var.X, local.X, data and resource reference of one file names
    something its module declares."""
    problems = []
    directory = str(Path(file).parent)
    module = model[directory]
    text = "\n".join(s for s in _strings(parsed) if "${" in s)
    for call, output in sorted(set(re.findall(r"\bmodule\.([a-z0-9_]+)\.([a-z0-9_]+)", text))):
        target_call = module.calls.get(call)
        if target_call is None:
            problems.append(f"{file}: module.{call} is no module call")
            continue
        target = model.modules.get(_called(directory, target_call))
        if target is not None and output not in target.outputs:
            problems.append(f"{file}: module.{call}.{output} is no output of {call}")
    variables = set(re.findall(r"\bvar\.([a-z0-9_]+)", text)) - set(module.variables)
    problems.extend(f"{file}: var.{name} is not declared" for name in sorted(variables))
    locals_ = set(re.findall(r"\blocal\.([a-z0-9_]+)", text)) - set(module.locals)
    problems.extend(f"{file}: local.{name} is not defined" for name in sorted(locals_))
    data = set(re.findall(r"(?<![\w.])data\.([a-z0-9_]+)\.([a-z0-9_]+)", text))
    problems.extend(
        f"{file}: data.{kind}.{name} is not declared"
        for kind, name in sorted(data)
        if name not in module.data.get(kind, {})
    )
    resources = set(re.findall(r"(?<![\w.])((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)", text))
    problems.extend(
        f"{file}: {kind}.{name} is not declared"
        for kind, name in sorted(resources)
        if name not in module.resources.get(kind, {})
    )
    return problems


def check_wiring(model: Model) -> list[str]:
    """What `terraform validate` would say about the wiring, without terraform: every stage
    calls the stack, the stack calls every module; every call passes each required
    variable and nothing the module does not declare; every module.X.Y, var.X, local.X,
    resource and data reference names something that exists; each stage outputs the API
    URL, the CDN domain and the table name."""
    problems = _call_problems(model)
    for file, parsed in model.files.items():
        # envs/shared is linked into every stage root, and checked there.
        if str(Path(file).parent) != "envs/shared":
            problems.extend(_reference_problems(model, file, parsed))
    for stage in STAGES:
        outputs = model[stage].outputs
        problems.extend(
            f"{stage} does not output {output}"
            for output, source in STAGE_OUTPUTS.items()
            if ref(outputs.get(output, {}).get("value")) != f"module.stack.{source}"
        )
    return problems


# The per-stage settings of every function, by the aws_lambda_function argument they set.
FUNCTION_SETTINGS = {
    "memory_size": "memory_mb",
    "timeout": "timeout_seconds",
    "reserved_concurrent_executions": "reserved_concurrency",
}


def _image_problems(model: Model) -> list[str]:
    """The Lambdas run container images from the stage's ECR, with memory, timeout and
    reserved concurrency from each stage's function_settings."""
    problems = []
    for name, body in model[FUNCTIONS].each("aws_lambda_function").items():
        if (
            body.get("package_type") != "Image"
            or body.get("image_uri") != "${each.value.image_uri}"
        ):
            problems.append(f"aws_lambda_function.{name} does not run a container image")
        problems.extend(
            f"aws_lambda_function.{name}: {argument} is not the {setting} setting"
            for argument, setting in FUNCTION_SETTINGS.items()
            if body.get(argument) != f"${{each.value.{setting}}}"
        )
    stack = model[STACK]
    if "module.ecr.repository_urls[spec.image]" not in str(stack.locals.get("image_uris")):
        problems.append("the functions' images are not in the stage's ECR repositories")
    functions_local = str(stack.locals.get("functions", ""))
    problems.extend(
        f"the stack's {setting} does not come from var.function_settings"
        for setting in FUNCTION_SETTINGS.values()
        if f"{setting} = var.function_settings[name].{setting}" not in functions_local
    )
    for stage in STAGES:
        given = model[stage].calls.get("stack", {}).get("function_settings", {})
        for name in sorted(stack_catalogue(model)):
            spec = given.get(name, {}) if isinstance(given, dict) else {}
            missing = [s for s in FUNCTION_SETTINGS.values() if s not in spec]
            if missing:
                problems.append(f"{stage}: function {name} lacks {', '.join(missing)}")
    return problems


def check_topology(model: Model) -> list[str]:
    """Every service the seed names has its resource in its module (which the stack
    wires, check_wiring); the Lambdas run container images (_image_problems); Redis is
    Redis; OpenSearch runs an OpenSearch engine (nori is built in)."""
    problems = [
        f"the seed's {service} has no {kind} in {path}"
        for service, (path, kind) in SEED_TOPOLOGY.items()
        if path not in model.modules or not model[path].each(kind)
    ]
    problems.extend(_image_problems(model))
    for _module, name, body in model.all_resources("aws_elasticache_replication_group"):
        if body.get("engine") != "redis":
            problems.append(f"aws_elasticache_replication_group.{name} is not Redis")
    search = model["modules/search"]
    for name, body in search.each("aws_opensearch_domain").items():
        version = search.variables.get(ref(body.get("engine_version")).removeprefix("var."), {})
        if not str(version.get("default", body.get("engine_version"))).startswith("OpenSearch_"):
            problems.append(f"aws_opensearch_domain.{name} does not run OpenSearch (with nori)")
    return problems


# How the functions reach each AWS service they call (their roles' actions): through a
# gateway or an interface endpoint of the VPC (checked below), or
IN_THE_VPC = {"es"}  # the OpenSearch domain sits in the private subnets
THROUGH_THE_NAT = {"ses"}  # SES's only endpoint (email-smtp) serves SMTP, not the API
# kms is called by the services themselves (kms:ViaService), never by a function.


def _endpoint_services(network: Module) -> tuple[set[str], set[str]]:
    """(gateway, interface) services of the network's VPC endpoints, by their last name
    (com.amazonaws.<region>.<service>); for_each sets of literal names are expanded."""
    gateway: set[str] = set()
    interface: set[str] = set()
    for body in network.each("aws_vpc_endpoint").values():
        service_name = str(body.get("service_name", ""))
        names = {service_name.rsplit(".", 1)[-1]}
        if service_name.endswith(".${each.key}"):
            names = set(re.findall(r'"([a-z0-9-]+)"', str(network.resolve(body.get("for_each")))))
        kind = body.get("vpc_endpoint_type")
        if kind == "Gateway" and body.get("route_table_ids") == "${aws_route_table.private[*].id}":
            gateway |= names
        elif (
            kind == "Interface"
            and body.get("private_dns_enabled") is True
            and body.get("subnet_ids") == "${aws_subnet.private[*].id}"
            and as_list(body.get("security_group_ids")) == ["${aws_security_group.endpoints.id}"]
        ):
            interface |= names
    return gateway, interface


def _zone_problems(model: Model) -> list[str]:
    """At least two zones, in the module's validation and in every stage; one private
    subnet per zone, without public addresses."""
    problems = []
    network = model[NETWORK]
    zones = network.variables.get("availability_zone_ids", {})
    if not any(
        "length(var.availability_zone_ids) >= 2" in str(v.get("condition"))
        for v in blocks(zones, "validation")
    ):
        problems.append("the network does not require at least 2 zones")
    for stage in STAGES:
        given = model[stage].calls.get("stack", {}).get("availability_zone_ids")
        if not isinstance(given, list) or len(set(given)) < 2:
            problems.append(f"{stage} uses fewer than 2 zones: {given}")
    private = network.each("aws_subnet").get("private", {})
    if (
        network.resolve(private.get("count")) != "${length(var.availability_zone_ids)}"
        or private.get("availability_zone_id") != "${local.azs[count.index]}"
    ):
        problems.append("the private subnets are not one per zone")
    if private.get("map_public_ip_on_launch") is True:
        problems.append("the private subnets give out public addresses")
    if (
        ref(network.outputs.get("private_subnet_ids", {}).get("value"))
        != "aws_subnet.private[*].id"
    ):
        problems.append("private_subnet_ids is not the private subnets")
    return problems


def _egress_problems(model: Model) -> list[str]:
    """A NAT gateway for the private route tables' internet; gateway endpoints for
    DynamoDB and S3; an interface endpoint for SQS and every other service the functions
    call, unless it sits in the VPC or is named as reached through the NAT."""
    problems = []
    network = model[NETWORK]
    nats = network.each("aws_nat_gateway")
    if not any("aws_subnet.public" in str(n.get("subnet_id")) for n in nats.values()):
        problems.append("no NAT gateway in a public subnet")
    routes = [
        r
        for r in network.each("aws_route").values()
        if "aws_route_table.private" in str(r.get("route_table_id"))
        and r.get("destination_cidr_block") == "0.0.0.0/0"
    ]
    if not routes or any("aws_nat_gateway." not in str(r.get("nat_gateway_id")) for r in routes):
        problems.append("the private subnets do not reach the internet through the NAT gateway")
    gateway, interface = _endpoint_services(network)
    problems.extend(
        f"no gateway endpoint for {service} in the private route tables"
        for service in ("dynamodb", "s3")
        if service not in gateway
    )
    if "sqs" not in interface:
        problems.append("no interface endpoint for sqs")
    called = {
        str(action).partition(":")[0]
        for found in function_statements(model).values()
        for statement in found
        for action in statement["actions"]
        if statement["effect"] == "Allow"
    } - {"kms"}
    problems.extend(
        f"the functions call {service} through no VPC endpoint"
        for service in sorted(called - gateway - interface - IN_THE_VPC - THROUGH_THE_NAT)
    )
    return problems


def check_network(model: Model) -> list[str]:
    """The VPC: private subnets in at least two zones in every stage (_zone_problems), a
    NAT gateway and the endpoints (_egress_problems); the functions, Redis and OpenSearch
    in the private subnets, OpenSearch in the VPC."""
    problems = _zone_problems(model) + _egress_problems(model)
    stack = model[STACK].calls
    problems.extend(
        f"the stack does not put {call} in the private subnets"
        for call in ("functions", "cache", "search")
        if stack.get(call, {}).get("subnet_ids") != "${module.network.private_subnet_ids}"
    )
    for name, body in model["modules/search"].each("aws_opensearch_domain").items():
        vpc = block(body, "vpc_options") or {}
        if "var.subnet_ids" not in str(vpc.get("subnet_ids")) or as_list(
            vpc.get("security_group_ids")
        ) != ["${var.security_group_id}"]:
            problems.append(f"aws_opensearch_domain.{name} is not in the VPC")
    return problems


def check_api(model: Model) -> list[str]:
    """API Gateway: an HTTP API that proxies to the API function's alias (payload 2.0),
    a stage with throttling (burst and rate, per-stage settings) and JSON access logs in
    a log group of its own."""
    problems = []
    api = model["modules/api"]
    apis = api.each("aws_apigatewayv2_api")
    if not apis or any(a.get("protocol_type") != "HTTP" for a in apis.values()):
        problems.append("no HTTP API")
    integrations = api.each("aws_apigatewayv2_integration").values()
    if not any(
        i.get("integration_type") == "AWS_PROXY"
        and i.get("integration_uri") == "${var.function_invoke_arn}"
        and i.get("payload_format_version") == "2.0"
        for i in integrations
    ):
        problems.append("the API does not proxy to the API function (payload 2.0)")
    stages = api.each("aws_apigatewayv2_stage")
    if not stages:
        problems.append("the API has no stage")
    for name, stage in stages.items():
        route = block(stage, "default_route_settings") or {}
        for limit in ("throttling_burst_limit", "throttling_rate_limit"):
            if route.get(limit) != f"${{var.{limit}}}":
                problems.append(f"stage {name} has no {limit} (throttling)")
        logs = block(stage, "access_log_settings") or {}
        group = re.fullmatch(
            r"aws_cloudwatch_log_group\.([a-z_]+)\.arn", ref(logs.get("destination_arn"))
        )
        if group is None or group.group(1) not in api.each("aws_cloudwatch_log_group"):
            problems.append(f"stage {name} writes no access logs to its log group")
        elif "$context.status" not in str(logs.get("format")):
            problems.append(f"stage {name}: the access log format lacks the status")
    call = model[STACK].calls.get("api", {})
    for limit in ("throttling_burst_limit", "throttling_rate_limit"):
        if call.get(limit) != f"${{var.api_{limit}}}":
            problems.append(f"the stack does not set the API's {limit} per stage")
    if call.get("function_invoke_arn") != '${module.functions.alias_invoke_arns["api"]}':
        problems.append("the API does not invoke the API function's alias")
    return problems


# The dashboard's metrics: what the seed names (error rates, QPS, latency p75/p90/p99, CPU
# and memory) as issue 6 spells them out. Each is a set of markers that one widget must
# hold (compared without quotes, backslashes and spaces).
DASHBOARD_METRICS: dict[str, list[str]] = {
    "API requests per second": ["AWS/ApiGateway,Count", "/PERIOD("],
    "API 4xx rate": ["AWS/ApiGateway,4xx", "AWS/ApiGateway,Count", "expression"],
    "API 5xx rate": ["AWS/ApiGateway,5xx", "AWS/ApiGateway,Count", "expression"],
    "API latency p75": ["AWS/ApiGateway,Latency", "stat=p75"],
    "API latency p90": ["AWS/ApiGateway,Latency", "stat=p90"],
    "API latency p99": ["AWS/ApiGateway,Latency", "stat=p99"],
    "Lambda duration": ["AWS/Lambda,Duration,FunctionName,function_name"],
    "Lambda errors": ["AWS/Lambda,Errors,FunctionName,function_name"],
    "Lambda throttles": ["AWS/Lambda,Throttles,FunctionName,function_name"],
    "Lambda concurrency": ["AWS/Lambda,ConcurrentExecutions,FunctionName,function_name"],
    "DynamoDB consumed read capacity": ["AWS/DynamoDB,ConsumedReadCapacityUnits"],
    "DynamoDB consumed write capacity": ["AWS/DynamoDB,ConsumedWriteCapacityUnits"],
    "DynamoDB throttles": ["AWS/DynamoDB,ThrottledRequests", "local.throttle_queries"],
    "SQS age of the oldest message": [
        "forq,nameinvar.queue_names",
        "AWS/SQS,ApproximateAgeOfOldestMessage",
    ],
    "DLQ depth": ["forq,nameinlocal.parked", "AWS/SQS,ApproximateNumberOfMessagesVisible"],
    "OpenSearch health": ["AWS/ES,ClusterStatus.red", "AWS/ES,ClusterStatus.yellow"],
    "OpenSearch CPU": ["AWS/ES,CPUUtilization"],
    "OpenSearch memory": ["AWS/ES,JVMMemoryPressure"],
    "Redis CPU": ["fornodeinvar.redis_node_ids", "AWS/ElastiCache,EngineCPUUtilization"],
    "Redis memory": [
        "fornodeinvar.redis_node_ids",
        "AWS/ElastiCache,DatabaseMemoryUsagePercentage",
    ],
}


def _compact(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return re.sub(r'[\s"\\]', "", text).replace(":", "=")


def dashboard_widgets(model: Model) -> list[str]:
    """The dashboard's widgets (compacted text), from the locals its body concatenates."""
    obs = model[OBSERVABILITY]
    body = ref(obs.each("aws_cloudwatch_dashboard").get("this", {}).get("dashboard_body", ""))
    widgets: list[str] = []
    for name in re.findall(r"local\.([a-z0-9_]+)", body):
        value = obs.locals.get(name)
        for widget in value if isinstance(value, list) else [value]:
            widgets.append(_compact(widget))
    return widgets


def check_dashboard(model: Model) -> list[str]:
    """Every metric of DASHBOARD_METRICS on the dashboard, fed by the stage's resources,
    and the table throttles over every index of the table."""
    problems = []
    widgets = dashboard_widgets(model)
    for metric, markers in DASHBOARD_METRICS.items():
        wanted = [_compact(m) for m in markers]
        if not any(all(m in w for m in wanted) for w in widgets):
            problems.append(f"the dashboard lacks {metric}")
    call = model[STACK].calls.get("observability", {})
    inputs = {
        "api_id": "module.api.api_id",
        "api_stage": "module.api.stage_name",
        "table_name": "module.table.name",
        "queue_names": "module.queues.names",
        "dlq_names": "module.queues.dlq_names",
        "failure_queue_names": "module.queues.failure_names",
        "opensearch_domain_name": "module.search.domain_name",
        "redis_node_ids": "module.cache.node_ids",
    }
    for argument, source in inputs.items():
        if call.get(argument) != f"${{{source}}}":
            problems.append(f"the dashboard's {argument} is not {source}")
    tables = [body for _, _, body in model.all_resources("aws_dynamodb_table")]
    indexes = sorted(i.get("name") for t in tables for i in blocks(t, "global_secondary_index"))
    shown = model[OBSERVABILITY].variables.get("table_indexes", {}).get("default")
    if sorted(as_list(shown)) != indexes:
        problems.append(f"the dashboard's table_indexes {shown} are not the table's {indexes}")
    return problems
