"""The CloudWatch dashboard and alarms (terraform/modules/observability) against the metric
catalogue (booking/observability/catalogue.py): every application metric the dashboard
should show is there by its exact name, namespace and dimensions, and every application
metric the dashboard or an alarm names exists in the catalogue as named.

Read from the Terraform source (python-hcl2): in the widget lists (locals `*_widgets`) the
dashboard is built from, metric arrays `[local.app_namespace, "Name", "dimension", value,
{...}]`, the same inside `for` expressions, and
`SEARCH('{Namespace,dimension,...} MetricName="Name"', ...)`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from booking.domain.telemetry import HoldRefusal, PreclaimGuard
from booking.observability import catalogue

MAIN = Path(__file__).resolve().parents[2] / "terraform/modules/observability/main.tf"
_OPTIONS = SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)
APP = "${local.app_namespace}"


@dataclass(frozen=True)
class Reference:
    namespace: str
    name: str
    dimensions: frozenset[str]
    where: str


def _locals(parsed: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in parsed.get("locals", []):
        merged.update(block)
    return merged


_IN_EXPRESSION = re.compile(r'\[(local\.app_namespace|"[^"]+"), "(\w+)"((?:, "\w+", [^,\]{]+)*)')
_PAIR = re.compile(r'"(\w+)", [^,\]{]+')
_SEARCH = re.compile(r"\{(\$\{local\.app_namespace\}|[^,{}$]+)((?:,\w+)*)\} MetricName=\"(\w+)\"")


def references(value: Any, where: str, namespace: str) -> list[Reference]:
    """Every metric a piece of parsed HCL names, with its namespace resolved."""

    def resolve(text: str) -> str:
        return namespace if text in (APP, "local.app_namespace") else text.strip('"')

    found: list[Reference] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += references(item, f"{where}.{key}", namespace)
    elif isinstance(value, list):
        first = value[0] if value else None
        named = isinstance(first, str) and (first == APP or "${" not in first)
        if named and len(value) >= 2 and isinstance(value[1], str):
            plain = [v for v in value[2:] if not isinstance(v, dict)]
            found.append(Reference(resolve(value[0]), value[1], frozenset(plain[0::2]), where))
        else:
            for n, item in enumerate(value):
                found += references(item, f"{where}[{n}]", namespace)
    elif isinstance(value, str):
        for match in _IN_EXPRESSION.finditer(value):
            dimensions = frozenset(_PAIR.findall(match.group(3)))
            found.append(Reference(resolve(match.group(1)), match.group(2), dimensions, where))
        for match in _SEARCH.finditer(value):
            dimensions = frozenset(d for d in match.group(2).split(",") if d)
            found.append(Reference(resolve(match.group(1)), match.group(3), dimensions, where))
    return found


def module() -> tuple[dict[str, Any], dict[str, Any]]:
    """The module's main.tf: strings unquoted, blocks as lists of dicts, expressions kept
    as `${...}` text."""
    parsed: dict[str, Any] = hcl2.loads(MAIN.read_text(), serialization_options=_OPTIONS)
    return parsed, _locals(parsed)


_LOCAL = re.compile(r"local\.(\w+)")


def reached(text: str, local: dict[str, Any]) -> set[str]:
    """The locals a piece of HCL names, and the locals those name, and so on."""
    seen: set[str] = set()
    todo = [text]
    while todo:
        for name in _LOCAL.findall(todo.pop()):
            if name in local and name not in seen:
                seen.add(name)
                todo.append(json.dumps(local[name]))
    return seen


def dashboard_references() -> list[Reference]:
    """The metrics of the widget lists (locals `*_widgets`) the dashboard is built from."""
    parsed, local = module()
    namespace = local["app_namespace"]
    dashboards = [r for r in parsed["resource"] if "aws_cloudwatch_dashboard" in r]
    used = reached(json.dumps(dashboards), local)
    shown = [name for name in local if name.endswith("_widgets") and name in used]
    assert "app_widgets" in shown, "the dashboard shows the application's widgets"
    return [r for name in shown for r in references(local[name], name, namespace)]


def alarm_references() -> list[Reference]:
    parsed, local = module()
    found = []
    for resource in parsed["resource"]:
        for name, alarm in resource.get("aws_cloudwatch_metric_alarm", {}).items():
            queries = [
                metric
                for query in alarm.get("metric_query", [])
                for metric in _blocks(query.get("metric"))
            ]
            for metric in [alarm, *queries]:
                if "metric_name" in metric:
                    space = metric["namespace"]
                    found.append(
                        Reference(
                            local["app_namespace"] if space == APP else space,
                            metric["metric_name"],
                            frozenset(metric.get("dimensions", {})),
                            f"alarm {name}",
                        )
                    )
    return found


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block as python-hcl2 gives it: a dict, or a list of them."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value or [] if isinstance(v, dict)]


def written(metric: catalogue.Metric) -> set[frozenset[str]]:
    """The dimension sets the code writes a metric with."""
    own: set[frozenset[str]] = {frozenset(metric.dimensions)}
    return own | {frozenset()} if metric.rollup else own


BY_NAME = {metric.name: metric for metric in catalogue.CATALOGUE}


def test_the_dashboard_namespace_is_the_catalogue_namespace() -> None:
    _, local = module()
    assert local["app_namespace"] == catalogue.NAMESPACE


def test_every_catalogue_metric_for_the_dashboard_is_on_it_by_name_and_dimensions() -> None:
    shown = {
        (r.name, r.dimensions) for r in dashboard_references() if r.namespace == catalogue.NAMESPACE
    }
    for metric in catalogue.CATALOGUE:
        if not metric.dashboard:
            assert metric.name not in {name for name, _ in shown}, metric.name
            continue
        # By its own dimensions, or as the stage's total a rollup metric also writes.
        assert {d for name, d in shown if name == metric.name} & written(metric), metric.name


def test_every_application_metric_the_dashboard_and_alarms_name_is_in_the_catalogue() -> None:
    named = dashboard_references() + alarm_references()
    app = [r for r in named if not r.namespace.startswith("AWS/")]
    assert {r.namespace for r in app} == {catalogue.NAMESPACE}, app
    assert {r.name for r in app} >= {"HttpErrors", "RequestLatency", "OutboxLag"}
    for reference in app:
        metric = BY_NAME.get(reference.name)
        assert metric is not None, f"{reference.where}: {reference.name} is no catalogue metric"
        # CloudWatch matches a metric by its whole dimension set: the catalogue's, or none
        # for a rollup's total.
        assert reference.dimensions in written(metric), reference


def test_the_dimension_values_on_the_dashboard_are_the_ones_the_code_writes() -> None:
    _, local = module()
    assert local["hold_refusal_reasons"] == [reason.value for reason in HoldRefusal]
    assert local["preclaim_guards"] == [guard.value for guard in PreclaimGuard]


def test_the_alarms_page_on_error_rate_latency_dlq_outbox_lag_and_throttles() -> None:
    named = {(r.namespace, r.name) for r in alarm_references()}
    ns = catalogue.NAMESPACE
    assert {(ns, "HttpErrors"), (ns, "HttpRequests"), (ns, "RequestLatency")} <= named
    assert (ns, "OutboxLag") in named
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in named  # DLQ depth
    assert {("AWS/Lambda", "Throttles"), ("AWS/Lambda", "IteratorAge")} <= named
    parsed, _ = module()
    alarms = {
        name: json.dumps(alarm)
        for resource in parsed["resource"]
        for name, alarm in resource.get("aws_cloudwatch_metric_alarm", {}).items()
    }
    assert "AWS/DynamoDB" in alarms["table_throttles"]  # metric names from a dynamic block


def test_the_reader_finds_a_metric_in_each_form_it_is_written() -> None:
    """The three forms the dashboard uses, so a misspelt name cannot slip past unread."""
    forms = [
        ["${local.app_namespace}", "HoldsPlaced", {"label": "x"}],
        '${[for r in x : [local.app_namespace, "HoldsRefused", "reason", r, {label = r}]]}',
        "SEARCH('{${local.app_namespace},method,route} MetricName=\"RequestLatency\"', 'p99')",
    ]
    found = [(r.name, r.dimensions) for f in forms for r in references(f, "t", "NS")]
    assert found == [
        ("HoldsPlaced", frozenset()),
        ("HoldsRefused", frozenset({"reason"})),
        ("RequestLatency", frozenset({"method", "route"})),
    ]
