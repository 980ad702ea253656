"""Logs, metrics and traces of both runtimes (docs/ARCHITECTURE.md, Observability).

`catalogue.py` names every application metric; `meter.py` implements the domain's
telemetry port on it; `prometheus.py` (the `/metrics` page of a long-running process) and
`emf.py` (CloudWatch EMF, Lambda) keep the figures; `logs.py` and `context.py` make every
log line carry its request id and hashed account; `lambda_functions.py` wraps each Lambda
entry point (Powertools logger, metrics flushed per invocation, a trace subsegment).
"""

from __future__ import annotations

from booking.domain.telemetry import TELEMETRY
from booking.observability.meter import CatalogueTelemetry
from booking.observability.prometheus import MemoryRecorder, PrometheusPage

_prometheus: tuple[CatalogueTelemetry, PrometheusPage] | None = None


def prometheus_telemetry() -> tuple[CatalogueTelemetry, PrometheusPage]:
    """The process's figures on a Prometheus page, installed as its telemetry (the same
    for every app the process builds: counters run from the process's start)."""
    global _prometheus  # noqa: PLW0603 - one page per process, as one registry
    if _prometheus is None:
        recorder = MemoryRecorder()
        _prometheus = (CatalogueTelemetry(recorder), PrometheusPage(recorder))
    TELEMETRY.install(_prometheus[0])
    return _prometheus
