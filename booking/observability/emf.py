"""The catalogue's metrics as CloudWatch EMF lines (Lambda, and `concertbook work`).

Powertools' EMF provider writes each line (one JSON object on stdout, which CloudWatch
Logs turns into metrics). One provider holds one set of dimension values, so the figures
are grouped by them: an invocation of the API writes a line for its route, one for a hold
refusal's reason if there was one, and one of the totals (`rollup` metrics without
dimensions, which the dashboard's totals and the alarms read). Counters are summed before
they are written; a histogram's values are written as they are (CloudWatch computes the
percentiles from them).
"""

from __future__ import annotations

import time

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from booking.observability import catalogue as m
from booking.observability.meter import Labels

Dimensions = tuple[tuple[str, str], ...]


class EmfRecorder:
    def __init__(self, namespace: str = m.NAMESPACE) -> None:
        self.namespace = namespace
        self._counts: dict[tuple[m.Metric, Dimensions], float] = {}
        self._gauges: dict[tuple[m.Metric, Dimensions], float] = {}
        self._groups: dict[Dimensions, AmazonCloudWatchEMFProvider] = {}

    def count(self, metric: m.Metric, labels: Labels, value: float = 1) -> None:
        for dimensions in _published(metric, labels):
            key = (metric, dimensions)
            self._counts[key] = self._counts.get(key, 0) + value

    def observe(self, metric: m.Metric, labels: Labels, value: float) -> None:
        for dimensions in _published(metric, labels):
            self._group(dimensions).add_metric(metric.name, metric.unit, value)

    def set(self, metric: m.Metric, labels: Labels, value: float | None) -> None:
        if metric.kind is m.Kind.AGE:
            value = 0.0 if value is None else max(0.0, time.time() - value)
        if value is None:
            return
        for dimensions in _published(metric, labels):
            self._gauges[(metric, dimensions)] = value  # the last one seen

    def flush(self) -> int:
        """Write what was recorded since the last flush; how many lines."""
        for (metric, dimensions), value in [*self._counts.items(), *self._gauges.items()]:
            self._group(dimensions).add_metric(metric.name, metric.unit, value)
        self._counts.clear()
        self._gauges.clear()
        lines = 0
        for provider in self._groups.values():
            if provider.metric_set:
                provider.flush_metrics()
                lines += 1
        self._groups.clear()
        return lines

    def _group(self, dimensions: Dimensions) -> AmazonCloudWatchEMFProvider:
        provider = self._groups.get(dimensions)
        if provider is None:
            provider = AmazonCloudWatchEMFProvider(namespace=self.namespace)
            # No `service` dimension (POWERTOOLS_SERVICE_NAME): a metric's dimensions are the
            # catalogue's, which the dashboard and alarms name exactly.
            provider.service = None  # type: ignore[assignment]
            for name, value in dimensions:
                provider.add_dimension(name, value)
            self._groups[dimensions] = provider
        return provider


def _published(metric: m.Metric, labels: Labels) -> list[Dimensions]:
    """The dimension sets a value goes to: its own, and none for a rollup metric's totals."""
    own = tuple(zip(metric.dimensions, labels, strict=True))
    return [own, ()] if metric.rollup and own else [own]
