"""Schemathesis against `concertbook serve`: every operation of the OpenAPI document the
server serves, with generated valid and invalid requests, then stateful sequences along the
links it infers, as a fan and as an organizer.

Every check is on (`st run`'s default): no server error, every status, content type, header
and body as documented, invalid requests refused, valid ones accepted (where the schema
cannot say that an id exists or that the sale is open: 401 to 429 and 503 allowed, never
400), `OPTIONS` and `405` naming every method, a deleted thing gone, a created one found.

With a fixed seed, bounded: the coverage and fuzzing phases by `MAX_EXAMPLES` per operation
(the same requests on every run, up to the ids the server hands out; no `max-time` there,
which would repeat them until the time is spent), the stateful phase by `STATEFUL_SECONDS`
of suites with successive seeds. About two and a half minutes on two idle cores.
`CONCERTBOOK_SCHEMATHESIS_EXAMPLES` raises the bound for a deeper run by hand.

The server's rate limits and its back-off after failed log-ins are raised far past what
the run sends, so a 429 is never what stands between a generated request and the code it
means to reach (tests/integration/test_rate_limits.py and
tests/integration/test_login_defence.py test them).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import LiveServer, live_server
from tests.support import ApiDriver, hold, new_key

MAX_EXAMPLES = int(os.environ.get("CONCERTBOOK_SCHEMATHESIS_EXAMPLES", "150"))
"""Generated requests per operation in the fuzzing phase (the coverage phase makes its own)."""
SCENARIOS = 6 * MAX_EXAMPLES
"""Sequences of one stateful suite, each of up to `STEPS` linked requests."""
STEPS = 10
STATEFUL_SECONDS = 75
"""The stateful phase runs suite after suite (each with the next seed) for this long: one
suite alone ran anywhere from 97 scenarios to all it was allowed (measured), depending on
what the server had answered before, as those answers feed the data it draws."""
RUNS = (
    ("examples,coverage,fuzzing", ()),
    ("stateful", ("--max-time", str(STATEFUL_SECONDS))),
)
"""Two `st run`s: the bounded phases, then the stateful one on its own clock."""
SEED = 20261204
RUN_TIMEOUT_SECONDS = 600
"""Only a guard against a hung `st run`: the bounds above end each within two minutes."""

ORGANIZER_TAGS = ("venues", "events", "performances", "media")
"""Operations under these tags are tried with the organizer's token, the rest with a fan's."""

# Generous limits for the generated traffic (names as booking/settings.py reads them).
GENEROUS = "1000000/60"
SERVER_SETTINGS: dict[str, object] = {
    "sweep_interval_seconds": 0.5,
    "max_in_flight": 512,
    "rate_limit_signup_per_address": GENEROUS,
    "rate_limit_login_per_address": GENEROUS,
    "rate_limit_login_per_account": GENEROUS,
    "rate_limit_booking_per_address": GENEROUS,
    "rate_limit_booking_per_account": GENEROUS,
    "login_backoff_after": 1_000_000,
}

FRESH_IDEMPOTENCY_KEYS = r'''
"""Stateful sequences get a fresh Idempotency-Key for every request that has a valid one.

The generator repeats its simplest keys and bodies from one scenario to the next, and the
API answers a repeated key and body, as documented, with the first answer: a venue, event
or performance created, deleted in an earlier scenario, then "created" again by a replay
is reported as a created resource not found. A client sends a new key for each thing it
means to create; the fuzzing phases keep the generated keys, replays and reuses included.
"""

import itertools
import re

import schemathesis
from schemathesis.generation.meta import TestPhase

VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
serial = itertools.count()


@schemathesis.hook
def before_call(context, case, kwargs):
    key = (case.headers or {}).get("Idempotency-Key")
    stateful = case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL
    if stateful and isinstance(key, str) and VALID_KEY.match(key):
        case.headers["Idempotency-Key"] = f"{key[:240]}~{next(serial)}"
'''


def _session(client: httpx.Client, role: str) -> tuple[str, str]:
    """A new account of `role`, logged in: (email, token)."""
    email = f"{role}-{secrets.token_hex(6)}@schemathesis.test"
    password = secrets.token_urlsafe(16)
    body = {"email": email, "password": password, "display_name": role, "role": role}
    created = client.post("/api/v1/accounts", json=body)
    assert created.status_code == 201, created.text
    return email, _log_in(client, email, password)


def _log_in(client: httpx.Client, email: str, password: str) -> str:
    r = client.post("/api/v1/sessions", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def _stage(server: LiveServer) -> dict[str, Any]:
    """Accounts and a catalogue for the generated requests to find: an on-sale performance
    with a hold and an order of the fan's, so ids in paths are sometimes real (and a problem
    code, for `/problems/{code}`)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        _, organizer_token = _session(client, "organizer")
        _, fan_token = _session(client, "fan")
        _, leaving_token = _session(client, "fan")
        organizer = {"Authorization": f"Bearer {organizer_token}"}
        fan = {"Authorization": f"Bearer {fan_token}"}
        driver = ApiDriver(client)
        venue = driver.venue(organizer, rows=2, seats_per_row=10, ga_capacity=50)
        event = driver.event(organizer)
        performance = driver.performance(organizer, venue, event)
        held = hold(client, fan, performance["id"], seats=["S1-A-1"])
        ordered = hold(client, fan, performance["id"], seats=["S1-A-2"])
        order = client.post(
            "/api/v1/orders",
            headers={**fan, "Idempotency-Key": new_key()},
            json={"hold_id": ordered["id"]},
        )
        assert order.status_code == 201, order.text
    return {
        "organizer": organizer_token,
        "fan": fan_token,
        "leaving": leaving_token,
        "ids": {
            "venue_id": venue["id"],
            "event_id": event["id"],
            "performance_id": performance["id"],
            "hold_id": held["id"],
            "order_id": order.json()["id"],
            "code": "seats-unavailable",
        },
    }


def _config(base_url: str, ids: dict[str, str], hooks: Path) -> str:
    """schemathesis.toml: tokens come from the environment (`${...}`), never the file."""
    dictionaries = "\n".join(
        f'dictionaries.{name} = {{ values = ["{value}"] }}' for name, value in ids.items()
    )
    parameters = "\n".join(
        f'parameters."path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids
    )
    accepted = '["2xx", "401", "403", "404", "409", "410", "422", "429", "503"]'
    organizer_tags = "|".join(ORGANIZER_TAGS)
    return f"""
base-url = "{base_url}"
seed = {SEED}
workers = 1
request-timeout = 30
# Fresh Idempotency-Keys in stateful sequences: a repeated key is answered with its first
# answer, even for a thing deleted since (FRESH_IDEMPOTENCY_KEYS says why that matters).
hooks = "{hooks}"
headers = {{ Authorization = "Bearer ${{ST_FAN_TOKEN}}" }}
{dictionaries}
{parameters}

[generation]
max-examples = {MAX_EXAMPLES}

[phases.stateful]
max-steps = {STEPS}
generation.max-examples = {SCENARIOS}

[checks]
# What the schema cannot say (an id that exists, a sale that is open, a signature that
# matches) may refuse a valid request; a 400 may not: that would be the schema's fault.
positive_data_acceptance.expected-statuses = {accepted}

[[operations]]
include-tag-regex = "^({organizer_tags})$"
headers = {{ Authorization = "Bearer ${{ST_ORGANIZER_TOKEN}}" }}

[[operations]]
include-name = "GET /api/v1/performances/{{performance_id}}/sales"
headers = {{ Authorization = "Bearer ${{ST_ORGANIZER_TOKEN}}" }}

[[operations]]
# Logging out revokes the token it is sent with: this one is used by nothing else.
include-name = "DELETE /api/v1/sessions/current"
headers = {{ Authorization = "Bearer ${{ST_LEAVING_TOKEN}}" }}
"""


def test_the_api_keeps_to_its_openapi_document(tmp_path: Path) -> None:
    with live_server("local", tmp_path / "server", **SERVER_SETTINGS) as server:
        stage = _stage(server)
        hooks = tmp_path / "fresh_idempotency_keys.py"
        hooks.write_text(FRESH_IDEMPOTENCY_KEYS)
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(server.base_url, stage["ids"], hooks))
        env = {
            **os.environ,
            "ST_FAN_TOKEN": stage["fan"],
            "ST_ORGANIZER_TOKEN": stage["organizer"],
            "ST_LEAVING_TOKEN": stage["leaving"],
        }
        st = Path(sys.executable).with_name("st")
        for phases, bounds in RUNS:
            command = [
                str(st),
                "--no-color",
                "--config-file",
                str(config),
                "run",
                f"{server.base_url}/schema/openapi.json",
                "--phases",
                phases,
                *bounds,
            ]
            run = subprocess.run(  # fixed command, no shell
                command,
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_SECONDS,
                check=False,
            )
            output = run.stdout + run.stderr
            print(output)
            tail = output[-20_000:] + "\n--- server log ---\n" + server.log_tail()
            assert run.returncode == 0, tail
        assert server.alive()
        assert "Traceback" not in server.log_text(), server.log_tail(200)
