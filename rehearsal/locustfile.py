"""The onsale as fans live it, for Locust in distributed mode (one master, N workers).

Arrivals are open, not a fixed crowd: the master releases fans on the rehearsal's
schedule (most arrive in the minutes before the sale opens and wait for it, the rest
trickle in after) and tells a worker "these fans arrive now"; each fan makes one
journey and leaves. A fan prefers a section, looks at its free seats, asks for 1–4
adjacent ones, tries alternatives when beaten to them (other blocks, other sections,
the standing zone, fewer places) until the show is sold out or their patience ends,
orders, pays through the simulated provider, waits for the confirmation and fetches
the tickets.

Every request and every acknowledged booking is written to the rehearsal's folder
(one file per worker), which `concertbook rehearse` turns into the report and the
audit's list of what the API acknowledged. Configured by environment:
REHEARSAL_STAGE (the stage's JSON), REHEARSAL_OUT (that folder), REHEARSAL_SCHEDULE
(JSON: {"before_s": .., "after_s": .., "opens_at": epoch seconds}).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, TextIO

import gevent
import locust.runners
import msgspec
from geventhttpclient.client import HTTPClientPool
from locust import FastHttpUser, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from rehearsal.schedule import ArrivalSchedule
from rehearsal.stage import Stage

PATIENCE_SECONDS = 900.0
"""How long a fan keeps trying for places before leaving: fans stay until the show is
sold out (nothing available, nothing held that could come back) or their patience ends."""
ROUND = 6
"""Hold attempts per round: two per section of the fan's list, the last in the standing
zone; between rounds the fan pauses and, if nothing fitted, asks for one place fewer."""
CONNECTIONS_PER_WORKER = int(os.environ.get("REHEARSAL_CONNECTIONS", "64"))
"""The fans of one worker share this many keep-alive connections, as browsers behind the
edge do: tens of thousands of sockets from one process would exhaust its file handles
and time out on the generator's side, measuring Locust rather than the server."""
CHECKOUT_CONNECTIONS_PER_WORKER = 16
"""Connections a worker's fans share for checkout — orders, payments, confirmations,
tickets. A fan in checkout is a browser with a connection of its own, not one more in
the queue behind the crowd still hunting for seats: in one shared queue, the fans holding
an arena's last places waited minutes to send their orders."""
LOOK_AGAIN_PAUSE_SECONDS = (5.0, 15.0)
"""When every place is held, or nothing free fits, fans refresh at a human pace."""
ROUND_PAUSE_SECONDS = (1.0, 3.0)
POST_PATIENCE_SECONDS = 120.0
PAYMENT_WAIT_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 5.0

# A worker busy with tens of thousands of fans can miss Locust's default 3 heartbeats,
# and the master then ends the whole test as if the last worker had died.
locust.runners.HEARTBEAT_LIVENESS = 120

_stage: Stage | None = None
_arrived: deque[int] = deque()
_log: TextIO | None = None


def stage() -> Stage:
    global _stage  # noqa: PLW0603 - loaded once per process, after Locust parsed its options
    if _stage is None:
        _stage = Stage.load(Path(os.environ["REHEARSAL_STAGE"]))
    return _stage


def _record(kind: str, **fields: Any) -> None:
    if _log is not None:
        _log.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")


def _on_init(environment: Any, **_: Any) -> None:
    global _log  # noqa: PLW0603 - one log file per worker process
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        out = Path(os.environ["REHEARSAL_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        _log = (out / f"worker-{os.getpid()}.jsonl").open("w", buffering=1 << 16)
        runner.register_message("arrive", _on_arrive)
    if isinstance(runner, MasterRunner):
        runner.register_message("journey-done", _on_journey_done)


_journeys_done = 0


def _on_journey_done(environment: Any, msg: Any, **_: Any) -> None:
    global _journeys_done  # noqa: PLW0603 - the master's tally
    _journeys_done += int(msg.data["fans"])
    if _journeys_done >= len(stage().fans):
        environment.runner.quit()


def _on_arrive(environment: Any, msg: Any, **_: Any) -> None:
    first, count = msg.data["first"], msg.data["count"]
    _arrived.extend(range(first, first + count))
    environment.runner.spawn_users({Fan.__name__: count})


def _on_test_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        gevent.spawn(_release_fans, environment.runner)


def _release_fans(runner: MasterRunner) -> None:
    """The master's clock: every tenth of a second, send the fans now due to the workers."""
    schedule = ArrivalSchedule.from_json(os.environ["REHEARSAL_SCHEDULE"], len(stage().fans))
    gevent.sleep(1.0)  # after the master's own start-up dispatch (of no users) has gone out
    released = 0
    turn = 0
    while released < schedule.fans:
        due = schedule.arrived_by(time.time())
        workers = [c.id for c in runner.clients.values()]
        if due > released and workers:
            share, extra = divmod(due - released, len(workers))
            for n, worker in enumerate(workers):
                count = share + (1 if (n + turn) % len(workers) < extra else 0)
                if count:
                    runner.send_message(
                        "arrive", {"first": released, "count": count}, client_id=worker
                    )
                    released += count
            turn += 1
        gevent.sleep(0.1)


def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any,
    exception: BaseException | None,
    **_: Any,
) -> None:
    status = getattr(response, "status_code", 0) or 0
    unanswered: dict[str, str] = {}
    if status == 0:  # why nothing came back: a timeout, or the connection failing
        cause = getattr(response, "error", None) or exception
        unanswered["cause"] = type(cause).__name__ if cause is not None else "unknown"
    _record(
        "request",
        name=name,
        ms=round(response_time, 2),
        status=status,
        error=bool(exception),
        **unanswered,
    )


def _on_quitting(**_: Any) -> None:
    """The buffered log's last records (acknowledgements among them) reach the disk."""
    if _log is not None:
        _log.flush()


# Registered by call, not as decorators: Locust's add_listener is untyped.
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.request.add_listener(_on_request)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_quitting)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]


class FreeSeat(msgspec.Struct):
    unit_id: str


_free_seats = msgspec.json.Decoder(list[FreeSeat])


class Fan(FastHttpUser):
    """One fan, one journey; then the user leaves (open arrivals: nobody loops)."""

    # The server answers every request; long waits are measured, not cut short. A shared
    # pool builds its connections from its own arguments (not the user's timeouts).
    client_pool = HTTPClientPool(
        concurrency=CONNECTIONS_PER_WORKER, network_timeout=30.0, connection_timeout=10.0
    )
    checkout_pool = HTTPClientPool(
        concurrency=CHECKOUT_CONNECTIONS_PER_WORKER, network_timeout=30.0, connection_timeout=10.0
    )

    def on_start(self) -> None:
        self.fan = stage().fans[_arrived.popleft()]
        self.auth = {"Authorization": f"Bearer {self.fan.token}"}
        self.rng = random.Random()  # noqa: S311 - choices of a simulated fan
        self.outcome = "gave-up"
        self.checkout = FastHttpSession(
            base_url=self.host,
            request_event=self.environment.events.request,
            user=self,
            client_pool=self.checkout_pool,
        )

    def on_stop(self) -> None:
        _record("journey", account=self.fan.account_id, outcome=self.outcome)
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message("journey-done", {"fans": 1})

    @task
    def buy(self) -> None:
        try:
            self._journey()
        finally:
            raise StopUser

    # -- the journey ------------------------------------------------------------------
    def _journey(self) -> None:
        opens = stage().sale_opens_at.timestamp()
        if self._sold_out():
            self.outcome = "sold-out"
            return
        if time.time() < opens:  # waiting for the button, then everybody clicks at once
            gevent.sleep(opens - time.time() + self.rng.uniform(0, 0.5))
        hold = self._find_hold()
        if hold is None:
            return
        order = self._post(
            "/api/v1/orders", "order", {"hold_id": hold["id"]}, "place-order", self.checkout
        )
        if order is None:
            self.outcome = "hold-only"
            return
        payment = self._post(
            f"/api/v1/orders/{order['id']}/payments",
            "pay",
            {"method": "tok_visa"},
            "pay-order",
            self.checkout,
        )
        if payment is None:
            self.outcome = "unpaid"
            return
        deadline = time.time() + PAYMENT_WAIT_SECONDS
        while time.time() < deadline:
            current = self._get(
                f"/api/v1/orders/{order['id']}", "order status", session=self.checkout
            )
            if current is not None and current.get("status") == "paid":
                self._get(f"/api/v1/orders/{order['id']}/tickets", "tickets", session=self.checkout)
                self.outcome = "tickets"
                return
            gevent.sleep(1.0)  # a confirmation page polling once a second
        self.outcome = "unconfirmed"

    def _find_hold(self) -> Any:
        """Holds until one succeeds: the preferred section first, then others, the standing
        zone last in each round; None when the show sold out or the fan's patience ended."""
        s = stage()
        sections = list(s.sections)
        # Most fans want the front; the rest spread over the arena.
        front = sections[: max(1, len(sections) // 4)]
        preferred = self.rng.choice(front if self.rng.random() < 0.6 else sections)
        wanted = min(self.rng.choice((1, 2, 2, 2, 3, 4)), s.ticket_limit)
        others = [section for section in sections if section != preferred]
        # Two tries in each of three sections per round; the standing zone closes it.
        order_of_sections = [preferred, *self.rng.sample(others, min(2, len(others)))]
        leaves_at = time.time() + PATIENCE_SECONDS
        attempt = 0
        tried = False  # whether this round found seats to ask for
        while time.time() < leaves_at:
            if attempt and attempt % 2 == 0:
                counts = self._availability()
                if counts is not None and counts["available"] == 0:
                    if counts["held"] == 0:
                        self.outcome = "sold-out"
                        return None
                    # Everything is held: look again when some holds may have lapsed.
                    gevent.sleep(self.rng.uniform(*LOOK_AGAIN_PAUSE_SECONDS))
                    continue
            seats: list[str] | None = None
            if attempt % ROUND == ROUND - 1 and s.ga_zone:
                hold = self._hold({"ga": [{"zone": s.ga_zone, "quantity": wanted}]})
            else:
                section = order_of_sections[(attempt % ROUND // 2) % len(order_of_sections)]
                seats = self._pick(section, wanted)
                hold = self._hold({"seats": seats}) if seats is not None else None
            if hold is not None:
                return hold
            tried = tried or seats is not None
            attempt += 1
            if attempt % ROUND == 0:
                wanted = max(1, wanted - 1)  # the last free seats are rarely side by side
                # A round in which nothing even fitted: look again at a human pace.
                pause = ROUND_PAUSE_SECONDS if tried else LOOK_AGAIN_PAUSE_SECONDS
                gevent.sleep(self.rng.uniform(*pause))
                tried = False
        return None

    def _sold_out(self) -> bool:
        """Nothing available and nothing held that could come back: no reason to stay."""
        counts = self._availability()
        return counts is not None and counts["available"] == 0 and counts["held"] == 0

    def _availability(self) -> Any:
        return self._get("/api/v1/performances/{pid}/availability", "availability")

    def _pick(self, section: str, wanted: int) -> list[str] | None:
        """`wanted` adjacent free seats of a random row that has them, from a fresh map."""
        free_seats = self._get(
            f"/api/v1/performances/{{pid}}/seats?section={section}&state=available",
            "seats",
            decoder=_free_seats,
        )
        if free_seats is None:
            return None
        free = {seat.unit_id for seat in free_seats}
        rows = list(stage().sections[section])
        self.rng.shuffle(rows)
        for row in rows:
            runs = [
                row[i : i + wanted]
                for i in range(len(row) - wanted + 1)
                if all(seat in free for seat in row[i : i + wanted])
            ]
            if runs:
                return self.rng.choice(runs)
        return None

    def _hold(self, body: dict[str, Any]) -> Any:
        return self._post(
            f"/api/v1/performances/{stage().performance_id}/holds", "hold", body, "place-hold"
        )

    # -- HTTP -------------------------------------------------------------------------
    def _get(
        self,
        path: str,
        name: str,
        decoder: msgspec.json.Decoder[Any] | None = None,
        session: FastHttpSession | None = None,
    ) -> Any:
        path = path.replace("{pid}", stage().performance_id)
        client = session or self.client
        for _ in range(5):
            with client.get(path, headers=self.auth, name=name, catch_response=True) as r:
                if r.status_code == 200:
                    r.success()
                    return r.json() if decoder is None else decoder.decode(r.content)
                if r.status_code in (429, 503):
                    r.success()  # shed on purpose: counted by status, then retried
                    self._back_off(r)
                    continue
                r.failure(f"{r.status_code}: {r.text[:200] if r.text else ''}")
                return None
        return None

    def _post(
        self,
        path: str,
        name: str,
        body: dict[str, Any],
        operation: str,
        session: FastHttpSession | None = None,
    ) -> Any:
        """POST with an Idempotency-Key, retried with the same key when shed or cut off —
        for as long as a fan with places in hand would keep trying (a hold lasts minutes)."""
        key = uuid.uuid4().hex
        headers = {**self.auth, "Idempotency-Key": key}
        client = session or self.client
        gives_up_at = time.time() + POST_PATIENCE_SECONDS
        while time.time() < gives_up_at:
            with client.post(path, json=body, headers=headers, name=name, catch_response=True) as r:
                if r.status_code in (200, 201, 202):
                    r.success()
                    answer = r.json()
                    _record(
                        "ack", op=operation, account=self.fan.account_id, key=key, id=answer["id"]
                    )
                    return answer
                if r.status_code in (429, 503):
                    r.success()  # shed on purpose: counted by status, then retried
                    self._back_off(r)
                    continue
                if r.status_code == 0:  # no answer: the same key makes the retry safe
                    r.failure("no answer")
                    self._back_off(r)
                    continue
                if r.status_code in (409, 410):
                    r.success()  # lost the race or too late: an expected answer
                    return None
                r.failure(f"{r.status_code}: {r.text[:200] if r.text else ''}")
                return None
        return None

    def _back_off(self, response: Any) -> None:
        headers = getattr(response, "headers", None) or {}  # none when nothing came back
        try:
            delay = float(headers.get("Retry-After", "1"))
        except (TypeError, ValueError):
            delay = 1.0
        gevent.sleep(min(MAX_BACKOFF_SECONDS, delay) * self.rng.uniform(0.5, 1.5))
