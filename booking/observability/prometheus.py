"""The catalogue's metrics on a Prometheus page (`GET /metrics` of `concertbook serve`).

Counting is on the hot path of every request, so the figures are kept in plain dicts of
the event loop's thread (a tuple key and an add: well under a microsecond; a histogram's
bucket found by `bisect`), and prometheus-client only turns them into the text exposition
format when the page is scraped (`CatalogueCollector`), on the same thread.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from booking.observability import catalogue as m
from booking.observability.meter import Labels

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format, which every Prometheus reads (what `generate_latest` writes)."""
_BOUNDS_MS = [bound * 1000.0 for bound in m.LATENCY_BUCKETS_SECONDS]


class _Histogram:
    __slots__ = ("buckets", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_BOUNDS_MS) + 1)  # the last: past every bound (+Inf)
        self.sum = 0.0


class MemoryRecorder:
    """The figures of this process since it started."""

    def __init__(self) -> None:
        self.counters: dict[m.Metric, dict[Labels, float]] = {}
        self.histograms: dict[m.Metric, dict[Labels, _Histogram]] = {}
        self.gauges: dict[m.Metric, dict[Labels, float | None]] = {}
        for metric in m.CATALOGUE:
            if metric.kind is m.Kind.COUNTER:
                self.counters[metric] = {}
            elif metric.kind is m.Kind.HISTOGRAM:
                self.histograms[metric] = {}
            else:
                self.gauges[metric] = {}

    def count(self, metric: m.Metric, labels: Labels, value: float = 1) -> None:
        counts = self.counters[metric]
        counts[labels] = counts.get(labels, 0) + value

    def observe(self, metric: m.Metric, labels: Labels, value: float) -> None:
        series = self.histograms[metric]
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = _Histogram()
        histogram.buckets[bisect.bisect_left(_BOUNDS_MS, value)] += 1
        histogram.sum += value

    def set(self, metric: m.Metric, labels: Labels, value: float | None) -> None:
        self.gauges[metric][labels] = value


class CatalogueCollector(Collector):
    """prometheus-client's view of a `MemoryRecorder`: every catalogue metric, always listed
    (a series with no value yet shows as absent, the metric's HELP and TYPE still there)."""

    def __init__(self, recorder: MemoryRecorder) -> None:
        self._recorder = recorder

    def collect(self) -> Iterator[Metric]:
        recorder = self._recorder
        for metric in m.CATALOGUE:
            labels = list(metric.dimensions)
            family: Any
            if metric.kind is m.Kind.COUNTER:
                family = CounterMetricFamily(metric.prometheus_name, metric.help, labels=labels)
                for key, value in list(recorder.counters[metric].items()):
                    family.add_metric(list(key), value)
            elif metric.kind is m.Kind.HISTOGRAM:
                family = HistogramMetricFamily(metric.prometheus_name, metric.help, labels=labels)
                for key, histogram in list(recorder.histograms[metric].items()):
                    family.add_metric(list(key), _cumulative(histogram), histogram.sum / 1000.0)
            else:
                family = GaugeMetricFamily(metric.prometheus_name, metric.help, labels=labels)
                now = time.time()
                for key, gauge in list(recorder.gauges[metric].items()):
                    if metric.kind is m.Kind.AGE:
                        age = 0.0 if gauge is None else max(0.0, now - gauge)
                        family.add_metric(list(key), age)
                    elif gauge is not None:
                        family.add_metric(list(key), gauge)
            yield family


_BUCKET_NAMES = [*(repr(bound) for bound in m.LATENCY_BUCKETS_SECONDS), "+Inf"]


def _cumulative(histogram: _Histogram) -> list[tuple[str, float]]:
    running = 0.0
    buckets: list[tuple[str, float]] = []
    for name, count in zip(_BUCKET_NAMES, histogram.buckets, strict=True):
        running += count
        buckets.append((name, running))
    return buckets


class PrometheusPage:
    """The page of one recorder, with the process's own figures (CPU, memory, GC)."""

    def __init__(self, recorder: MemoryRecorder) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CatalogueCollector(recorder))
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(standard)

    def render(self) -> bytes:
        return generate_latest(self.registry)
