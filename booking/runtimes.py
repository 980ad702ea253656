"""Choosing the runtime: the embedded one (booking/bootstrap.py) or the aws one
(booking/bootstrap_aws.py), which builds on the first's shared wiring. Entry points call
`build_runtime`; the aws adapters are imported only when chosen."""

from __future__ import annotations

from booking.bootstrap import Runtime, build_local
from booking.settings import Settings


def build_runtime(settings: Settings) -> Runtime:
    """The runtime `settings.runtime` names."""
    if settings.runtime == "aws":
        from booking.bootstrap_aws import build_aws  # noqa: PLC0415 - optional dependencies

        runtime: Runtime = build_aws(settings)
        return runtime
    return build_local(settings)
