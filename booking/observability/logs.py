"""Structured logs: one JSON object per line, with the request id and the hashed account.

`configure(fmt)` sets up the root logger of a long-running process (`concertbook serve`,
`work`): `json` (the default for `serve`) or `text` for a terminal. Lambdas use Powertools'
formatter instead (`booking/observability/lambda_functions.py`) with the same
`WorkFilter`, so both runtimes' lines carry the same keys.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from booking.observability.context import ACCOUNT_HASH, CURRENT

FORMATS = ("json", "text")

# Everything a LogRecord has of its own; the rest came in `extra=` and is logged as fields.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "account_hash",
    "taskName",
    "color_message",  # uvicorn's message with terminal colours
}


class WorkFilter(logging.Filter):
    """Adds `request_id` and `account_hash` of the work in progress to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        work = CURRENT.get()
        if work is not None:
            record.request_id = work.request_id
            if work.account_id is not None:
                record.account_hash = ACCOUNT_HASH.hash(work.account_id)
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", "account_hash", ...extra}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "account_hash"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with the request id, account hash and a failure's error when there
    are some."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [
            f"{key}={record.__dict__[key]}"
            for key in ("request_id", "account_hash", "error")
            if record.__dict__.get(key) is not None
        ]
        return f"{line} [{' '.join(tags)}]" if tags else line


def _utc(created: float) -> str:
    seconds = int(created)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{int((created - seconds) * 1000):03d}Z"


def configure(fmt: str = "json", level: int = logging.INFO) -> None:
    """The root logger writes `fmt` lines to stderr; uvicorn's loggers propagate to it."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(WorkFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
