"""The server as `concertbook check` starts it: `concertbook serve`, plus what a test build
may add by environment — a planted bug (`CONCERTBOOK_CHECK_PLANT`) or DynamoDB faults
through botocore's own events (`CONCERTBOOK_CHECK_DYNAMODB_FAULTS`, e.g.
`conflict=0.05,throttle=0.03,timeout=0.03`):

- conflict: a TransactWriteItems answered TransactionCanceledException with a
  TransactionConflict reason, before it reaches the table;
- throttle: any call answered ThrottlingException, before it reaches the table;
- timeout: a TransactWriteItems that was written, whose answer is lost (ReadTimeoutError
  after the call): the API answers 503, the write stands.

With `CONCERTBOOK_CHECK_FAULTS_FROM` naming a file, the faults start once it exists (the
checker builds its stage first).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
from typing import Any

from botocore.exceptions import ReadTimeoutError

_log = logging.getLogger("checker.faults")


class _Answer:
    """What botocore's `before-call` hook may hand back instead of sending the request."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}


def dynamodb_faults(spec: str) -> None:
    rates = {name: float(rate) for name, _, rate in (p.partition("=") for p in spec.split(","))}
    unknown = set(rates) - {"conflict", "throttle", "timeout"}
    if unknown:
        raise SystemExit(f"unknown DynamoDB faults: {sorted(unknown)}")
    rng = random.Random()
    switch = os.environ.get("CONCERTBOOK_CHECK_FAULTS_FROM")

    def on() -> bool:
        return switch is None or os.path.exists(switch)

    def before(model: Any, params: Any, **_: Any) -> tuple[_Answer, dict[str, Any]] | None:
        if not on():
            return None
        if rng.random() < rates.get("throttle", 0):
            _log.info("fault: %s throttled", model.name)
            return _Answer(400), {"Error": {"Code": "ThrottlingException", "Message": "fault"}}
        if model.name == "TransactWriteItems" and rng.random() < rates.get("conflict", 0):
            _log.info("fault: TransactionConflict")
            n = len(json.loads(params.get("body") or b"{}").get("TransactItems", [])) or 1
            reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * max(0, n - 1)
            return _Answer(400), {
                "Error": {"Code": "TransactionCanceledException", "Message": "fault"},
                "CancellationReasons": reasons,
            }
        return None

    def after(model: Any, **_: Any) -> None:
        if on() and model.name == "TransactWriteItems" and rng.random() < rates.get("timeout", 0):
            _log.info("fault: TransactWriteItems written, its answer lost")
            raise ReadTimeoutError(endpoint_url="fault://dynamodb")

    from aiobotocore.session import get_session  # noqa: PLC0415 - the aws extra

    from booking.adapters.aws import dynamodb_table  # noqa: PLC0415 - the aws extra

    def faulty_session() -> Any:
        session = get_session()
        session.register("before-call.dynamodb", before)
        session.register("after-call.dynamodb", after)
        return session

    dynamodb_table.get_session = faulty_session  # type: ignore[attr-defined,assignment]


def main() -> int:
    bug = os.environ.get("CONCERTBOOK_CHECK_PLANT")
    if bug:
        from checker.planted import plant  # noqa: PLC0415 - test builds only

        plant(bug)
    faults = os.environ.get("CONCERTBOOK_CHECK_DYNAMODB_FAULTS")
    if faults:
        dynamodb_faults(faults)
    from api.cli import main as cli  # noqa: PLC0415 - after the patches

    return cli(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
