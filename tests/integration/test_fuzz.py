"""Fuzzing what reads untrusted bytes: ticket codes, webhook signatures, JSON bodies and the
body-first middleware, each with Hypothesis; then arbitrary bodies against a live server.

Bounded and deterministic by default (the same inputs on every run, so a failure
reproduces); `FUZZ_EXAMPLES=5000` explores that many examples per target from a random
seed instead.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from litestar.exceptions import ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from api import schemas
from api.app import create_app
from api.fast_path.hold_route import _HOLD_BODY
from api.fast_path.strict_body import _decode, _decoder, decode_body_strictly, read_strictly
from api.front_door import BodyFirst, ClientDisconnected
from booking.adapters.security.ed25519_signer import Ed25519TicketSigner, verify_ticket_code
from booking.bootstrap import build_local
from booking.domain.errors import InvalidRequest, InvalidSignature
from booking.domain.payments import (
    SIGNATURE_TOLERANCE_SECONDS,
    verify_webhook_signature,
    webhook_signature,
)
from booking.domain.tickets import TicketClaims
from booking.settings import Settings
from tests.live_server import LiveServer, live_server
from tests.support import ApiDriver, new_key
from workers.local import background

EXPLORING = "FUZZ_EXAMPLES" in os.environ


def bounded(examples: int) -> settings:
    """Hypothesis settings of a fuzz target: `examples` of them, the same on every run."""
    return settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", examples)),
        derandomize=not EXPLORING,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# -- ticket codes ---------------------------------------------------------------------------
SIGNER = Ed25519TicketSigner(Ed25519PrivateKey.generate())
PUBLIC_KEY = SIGNER._public
CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

ids = st.text(min_size=1, max_size=40)
claims_strategy = st.builds(
    TicketClaims,
    ticket_id=ids,
    performance_id=ids,
    unit_id=ids,
    order_id=ids,
    issued_at=st.integers(min_value=0, max_value=2**63 - 1),
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@bounded(200)
@given(claims_strategy)
def test_valid_ticket_codes_round_trip(claims: TicketClaims) -> None:
    code = SIGNER.sign(claims)
    assert CODE_SHAPE.fullmatch(code), code
    assert verify_ticket_code(PUBLIC_KEY, code) == claims
    assert SIGNER.verify(code) == claims


code_like = st.builds(
    lambda a, b, sep: a + sep + b,
    st.text(alphabet=BASE64URL + "=+/ .\n", max_size=120),
    st.text(alphabet=BASE64URL + "=+/ .\n", max_size=120),
    st.sampled_from([".", "..", "", " . "]),
)


@bounded(400)
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),
        code_like,
    )
)
@example("")
@example(".")
@example("a.b")
@example("é.é")
@example("\ud800.\udfff")
def test_arbitrary_text_is_no_ticket_code(text: str) -> None:
    with pytest.raises(InvalidRequest):
        verify_ticket_code(PUBLIC_KEY, text)


@st.composite
def mutations(draw: st.DrawFn, code: str) -> str:
    """`code` changed where a careless or hostile hand would: a character replaced, added
    or taken away, padding or whitespace around, another alphabet's spelling, two parts
    swapped."""
    at = draw(st.integers(min_value=0, max_value=len(code) - 1))
    char = draw(st.one_of(st.sampled_from(BASE64URL + "=+/.\n "), st.characters()))
    extra = draw(st.sampled_from(["=", "==", "\n", " ", "==junk", "."]))
    payload, signature = code.split(".")
    changed = {
        "replace": code[:at] + char + code[at + 1 :],
        "insert": code[:at] + char + code[at:],
        "delete": code[:at] + code[at + 1 :],
        "pad end": code + extra,
        "pad middle": payload + extra + "." + signature,
        "pad start": extra + code,
        "alphabet": code.replace("-", "+").replace("_", "/"),
        "swap": signature + "." + payload,
    }
    return changed[draw(st.sampled_from(sorted(changed)))]


@bounded(400)
@given(claims_strategy, st.data())
def test_a_mutated_ticket_code_never_verifies(claims: TicketClaims, data: st.DataObject) -> None:
    code = SIGNER.sign(claims)
    mutated = data.draw(mutations(code))
    assume(mutated != code)
    with pytest.raises(InvalidRequest):
        verify_ticket_code(PUBLIC_KEY, mutated)


def test_the_last_character_of_a_signature_has_one_spelling() -> None:
    """The unused low bits of a base64 code's last character change no byte: a code whose
    last character differs only in them is another spelling of the same signature."""
    code = SIGNER.sign(TicketClaims("tkt_1", "prf_1", "S1-A-1", "ord_1", 1_700_000_000))
    last = BASE64URL.index(code[-1])
    same_bytes = [c for c in BASE64URL if BASE64URL.index(c) >> 2 == last >> 2 and c != code[-1]]
    assert same_bytes  # 64-byte signatures end in a character carrying 2 unused bits
    for other in same_bytes:
        with pytest.raises(InvalidRequest):
            verify_ticket_code(PUBLIC_KEY, code[:-1] + other)


@bounded(300)
@given(st.binary(max_size=400))
def test_signed_bytes_that_are_not_claims_are_refused(payload: bytes) -> None:
    """Whatever a signer's key signed, the verifier gives back claims or refuses the code."""
    code = f"{_b64(payload)}.{_b64(SIGNER._private.sign(payload))}"
    try:
        expected = msgspec.msgpack.decode(payload, type=TicketClaims)
    except msgspec.DecodeError:
        with pytest.raises(InvalidRequest):
            verify_ticket_code(PUBLIC_KEY, code)
    else:
        assert verify_ticket_code(PUBLIC_KEY, code) == expected


# -- webhook signatures ---------------------------------------------------------------------
secrets_strategy = st.binary(min_size=1, max_size=64)
bodies = st.binary(max_size=2000)
timestamps = st.integers(min_value=0, max_value=2**40)


@bounded(300)
@given(secrets_strategy, bodies, timestamps, st.integers(-300, 300))
def test_the_right_webhook_signature_is_accepted(
    secret: bytes, body: bytes, timestamp: int, skew: int
) -> None:
    header = webhook_signature(secret, timestamp, body)
    verify_webhook_signature(secret, header, body, timestamp + skew)


@st.composite
def webhook_mutations(draw: st.DrawFn) -> tuple[bytes, str, bytes, int]:
    """(secret, header, body, now): a correctly signed webhook with one thing changed."""
    secret = draw(secrets_strategy)
    body = draw(bodies)
    timestamp = draw(timestamps)
    now = timestamp + draw(st.integers(-300, 300))
    header = webhook_signature(secret, timestamp, body)
    mac = header.split("v1=", 1)[1]
    kind = draw(st.sampled_from(["body", "timestamp", "signature", "secret", "stale"]))
    if kind == "body":
        other = draw(bodies.filter(lambda b: b != body))
        return secret, header, other, now
    if kind == "timestamp":
        moved = draw(st.integers(-300, 300).filter(lambda d: d != 0))
        return secret, f"t={timestamp + moved},v1={mac}", body, now
    if kind == "signature":
        at = draw(st.integers(0, len(mac) - 1))
        char = draw(st.sampled_from("0123456789abcdefABCDEF"))
        assume(char != mac[at])
        changed = draw(
            st.sampled_from([mac[:at] + char + mac[at + 1 :], mac[:at], mac + char, mac.upper()])
        )
        assume(changed != mac)
        return secret, f"t={timestamp},v1={changed}", body, now
    if kind == "secret":
        other_secret = draw(secrets_strategy.filter(lambda s: s != secret))
        return other_secret, header, body, now
    late = draw(st.integers(SIGNATURE_TOLERANCE_SECONDS + 1, 10**6))
    return secret, header, body, timestamp + draw(st.sampled_from([late, -late]))


@bounded(400)
@given(webhook_mutations())
def test_a_changed_webhook_is_refused(case: tuple[bytes, str, bytes, int]) -> None:
    secret, header, body, now = case
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(secret, header, body, now)


ASCII_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))


@st.composite
def webhook_headers(draw: st.DrawFn) -> tuple[str, int]:
    """(header, now): any header text, or one shaped like the gateway's with a timestamp
    inside the window, so the signature itself is compared."""
    now = 1_700_000_000
    shaped = st.builds(
        lambda t, v, extra: f"t={t},v1={v}{extra}",
        st.sampled_from([str(now), f" {now}", f"+{now}", f"{now}.0", "", "-1", "9" * 5000]),
        ASCII_HEADER_TEXT,
        st.sampled_from(["", ",v1=00", ",t=1", ",,", ",="]),
    )
    return draw(st.one_of(ASCII_HEADER_TEXT, shaped)), now


@bounded(400)
@given(webhook_headers(), bodies)
def test_any_webhook_header_is_refused_with_the_documented_error(
    case: tuple[str, int], body: bytes
) -> None:
    """Headers as HTTP carries them in ASCII; see the next test for other bytes."""
    header, now = case
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(b"secret", header, body, now)


def test_a_webhook_signature_with_a_non_ascii_character_is_refused() -> None:
    now = 1_700_000_000
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(b"secret", f"t={now},v1=\u00e9", b"{}", now)


# -- strict JSON bodies ---------------------------------------------------------------------
BODY_TYPES: list[type[msgspec.Struct]] = sorted(
    schemas.Strict.__subclasses__(), key=lambda t: t.__name__
)
NOW = "2030-01-01T00:00:00+09:00"
VALID_BODIES: dict[type[msgspec.Struct], dict[str, Any]] = {
    schemas.SignUp: {
        "email": "fan@concertbook.example",
        "password": "a long password",
        "display_name": "Fan",
    },
    schemas.LogIn: {"email": "fan@concertbook.example", "password": "a long password"},
    schemas.RehearsalFansIn: {"count": 10},
    schemas.VenueIn: {
        "name": "Arena",
        "city": "Seoul",
        "layout": {"blocks": [{"section": "S1", "name": "S", "rows": 2, "seats_per_row": 3}]},
    },
    schemas.VenuePatch: {"name": "Arena"},
    schemas.SeatBlocks: {"ga_zones": [{"id": "FLOOR", "name": "Floor", "capacity": 100}]},
    schemas.EventIn: {"title": "Tour", "artists": [{"name_ko": "아이유", "name_en": "IU"}]},
    schemas.EventPatch: {"status": "published"},
    schemas.PerformanceIn: {
        "venue_id": "ven_1",
        "starts_at": NOW,
        "sale_opens_at": NOW,
        "sale_closes_at": NOW,
        "grades": [{"code": "R", "name": "R", "price_krw": 100_000}],
        "assignment": {"sections": {"S1": "R"}},
    },
    schemas.PerformancePatch: {"ticket_limit": 2},
    schemas.HoldIn: {"seats": ["S1-A-1"], "ga": [{"zone": "FLOOR", "quantity": 2}]},
    schemas.OrderIn: {"hold_id": "hld_1"},
    schemas.PaymentIn: {"method": "tok_visa"},
    schemas.TicketCheckIn: {"code": "a.b"},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from([NOW, "2", "-0", "1e400", "NaN", "9" * 30, "S1-A-1", "published"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def _nested(depth: int) -> bytes:
    return b'{"seats": ' + b"[" * depth + b"]" * depth + b"}"


@st.composite
def near_valid(draw: st.DrawFn, body_type: type[msgspec.Struct]) -> bytes:
    """A valid body of `body_type` with one thing changed: a field's value replaced, a field
    taken away or one added, or the text cut short."""
    body = json.loads(json.dumps(VALID_BODIES[body_type]))
    kind = draw(st.sampled_from(["value", "drop", "add", "cut", "deep"]))
    keys = sorted(body)
    if kind == "value":
        body[draw(st.sampled_from(keys))] = draw(json_values)
    elif kind == "drop":
        del body[draw(st.sampled_from(keys))]
    elif kind == "add":
        body[draw(st.text(max_size=12))] = draw(json_values)
    elif kind == "deep":
        return _nested(draw(st.integers(1, 100_000)))
    text = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
    if kind == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text


@st.composite
def typed_bodies(draw: st.DrawFn) -> tuple[type[msgspec.Struct], bytes]:
    body_type = draw(st.sampled_from(BODY_TYPES))
    body = draw(
        st.one_of(
            st.binary(max_size=300),
            json_values.map(lambda v: json.dumps(v).encode()),
            near_valid(body_type),
        )
    )
    return body_type, body


FAKE_REQUEST: Any = SimpleNamespace(method="POST", url=SimpleNamespace(path="/fuzz"))


def test_every_body_type_has_a_valid_example() -> None:
    assert set(VALID_BODIES) == set(BODY_TYPES)
    for body_type, body in VALID_BODIES.items():
        decoded = _decode(FAKE_REQUEST, msgspec.json.Decoder(body_type), json.dumps(body).encode())
        assert isinstance(decoded, body_type)


def _refused_as_documented(exc: ValidationException) -> None:
    assert exc.status_code == 400
    assert isinstance(exc.extra, list) and len(exc.extra) == 1, exc.extra
    assert isinstance(exc.extra[0]["message"], str) and exc.extra[0]["message"]


@bounded(1500)
@given(typed_bodies())
@example((schemas.HoldIn, _nested(200_000)))
@example((schemas.LogIn, b'{"email": "\xff\xfe", "password": "x"}'))
@example((schemas.HoldIn, b'{"seats": ["\\ud800"]}'))
@example((schemas.PerformancePatch, b'{"ticket_limit": 99999999999999999999999999}'))
@example((schemas.PerformancePatch, b'{"starts_at": "9999-12-31T23:59:59-23:59"}'))
@example((schemas.PerformanceIn, b'{"venue_id": "v", "venue_id": "w"}'))
def test_strict_decoding_gives_a_value_or_the_documented_400(
    case: tuple[type[msgspec.Struct], bytes],
) -> None:
    body_type, body = case
    try:
        decoded = _decode(FAKE_REQUEST, msgspec.json.Decoder(body_type), body)
    except ValidationException as exc:
        _refused_as_documented(exc)
    else:
        assert isinstance(decoded, body_type)


@pytest.fixture(scope="module")
def bodied_handlers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's route handlers that take a body, by `METHOD path` (rehearsal mode on)."""
    data_dir = tmp_path_factory.mktemp("fuzz-app")
    app = create_app(
        build_local(Settings.of(data_dir=data_dir, rehearsal=True)), background=background
    )
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods & {"POST", "PUT", "PATCH"}:
                found[f"{method} {route.path}"] = handler
    return found


class RecordedBody:
    """What `decode_body_strictly` and `read_strictly` see of a request."""

    method = "POST"
    url = SimpleNamespace(path="/fuzz")

    def __init__(self, handler: Any, messages: list[dict[str, Any]]) -> None:
        self.route_handler = handler
        self._messages = iter(messages)

    async def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self._messages)

    async def receive(self) -> dict[str, Any]:
        return next(self._messages)


@bounded(600)
@given(typed_bodies(), st.data())
def test_the_before_request_hook_decodes_every_route_strictly(
    bodied_handlers: dict[str, Any], case: tuple[type[msgspec.Struct], bytes], data: Any
) -> None:
    """`decode_body_strictly` on each route's own handler: its body type's value or 400."""
    key = data.draw(st.sampled_from(sorted(bodied_handlers)))
    handler = bodied_handlers[key]
    _, body = case
    request: Any = RecordedBody(handler, [{"type": "http.request", "body": body}])
    try:
        asyncio.run(decode_body_strictly(request))
    except ValidationException as exc:
        assert _decoder(handler) is not None, key
        _refused_as_documented(exc)


def _chunked(body: bytes, cuts: list[int]) -> list[dict[str, Any]]:
    """`body` as ASGI messages, cut at `cuts`."""
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    pieces = [body[a:b] for a, b in itertools.pairwise(points)] or [b""]
    return [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
        for n, piece in enumerate(pieces)
    ]


@bounded(600)
@given(typed_bodies(), st.lists(st.integers(0, 10**6), max_size=8), st.integers(-1, 40))
def test_the_hold_route_reads_its_body_strictly(
    bodied_handlers: dict[str, Any],
    case: tuple[type[msgspec.Struct], bytes],
    cuts: list[int],
    gone_after: int,
) -> None:
    """`read_strictly` on the hold route: a hold, or 400, or 413 past its cap, or the client
    gone (`gone_after` ≥ 0: a disconnect after that many messages)."""
    _, body = case
    handler = bodied_handlers["POST /api/v1/performances/{performance_id:str}/holds"]
    messages = _chunked(body, cuts)
    gone = 0 <= gone_after < len(messages)
    if gone:
        messages = [*messages[:gone_after], {"type": "http.disconnect"}]
    arrived = b"".join(m.get("body", b"") for m in messages)
    request: Any = RecordedBody(handler, messages)
    try:
        decoded = asyncio.run(read_strictly(request, _HOLD_BODY))
    except ClientDisconnected:
        assert gone
    except RequestEntityTooLarge:
        assert len(arrived) > handler.resolve_request_max_body_size()
    except ValidationException as exc:
        _refused_as_documented(exc)
    else:
        assert isinstance(decoded, schemas.HoldIn)
        assert not gone


# -- the body-first middleware --------------------------------------------------------------
class Handler:
    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    def resolve_request_max_body_size(self) -> int | None:
        return self.limit


async def _through_body_first(
    announced: bytes | None, chunked: bool, messages: list[dict[str, Any]], limit: int | None
) -> tuple[bytes | None, list[dict[str, Any]]]:
    """(the body the app read, or None if it was not called; what was sent)."""
    headers = [(b"content-type", b"application/json")]
    if announced is not None:
        headers.append((b"content-length", announced))
    if chunked:
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/fuzz",
        "headers": headers,
        "route_handler": Handler(limit),
    }
    pending = iter(messages)
    sent: list[dict[str, Any]] = []
    read: list[bytes] = []

    async def receive() -> dict[str, Any]:
        message = next(pending, None)
        assert message is not None, "read past the end of the request"
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        read.append(b"".join(parts))

    middleware = BodyFirst(timeout=30.0, ordinary_bytes=1000).middleware(app)
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    return (read[0] if read else None), sent


announcements = st.one_of(
    st.none(),
    st.just("exact"),
    st.integers(0, 10**6).map(lambda n: str(n).encode()),
    st.binary(max_size=25),
    st.sampled_from([b"9" * 5000, b"0" * 5000 + b"7", b" 10", b"+10", b"-1", b"1e3", b"\xd9\xa1"]),
)


@bounded(800)
@given(
    st.binary(max_size=3000),
    st.lists(st.integers(0, 10**6), max_size=8),
    announcements,
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 4000)),
    st.integers(-1, 12),
)
def test_body_first_passes_the_whole_body_or_answers(
    body: bytes,
    cuts: list[int],
    announced: Any,
    chunked: bool,
    limit: int | None,
    gone_after: int,
) -> None:
    """Any announced length, any cutting of the body, any cap: the app reads exactly the body
    that came, or 413 is sent without it, or the client is gone and nothing is sent."""
    if announced == "exact":
        announced = str(len(body)).encode()
    messages = _chunked(body, cuts)
    gone = 0 <= gone_after < len(messages)
    if gone:
        messages = [*messages[:gone_after], {"type": "http.disconnect"}]
    arrived = b"".join(m.get("body", b"") for m in messages)
    read, sent = asyncio.run(_through_body_first(announced, chunked, messages, limit))
    cap = float("inf") if limit is None else limit
    number = _announced_number(announced)
    waits = chunked or (announced is not None and number != 0)
    if number is not None and number > cap:
        assert sent, "an announced length past the cap is refused before the body"
    if sent:
        assert read is None
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
        assert sent[0]["status"] == 413, sent
        assert (number is not None and number > cap) or len(arrived) > cap
    elif read is not None:
        assert read == arrived
        assert not waits or (not gone and len(arrived) <= cap)
    else:
        assert gone and waits


def _announced_number(announced: bytes | None) -> float | None:
    """What a Content-Length says, read independently of the middleware: None for no number."""
    if announced is None or not announced.isdigit():
        return None
    digits = announced.lstrip(b"0")
    return float("inf") if len(digits) > 4000 else int(digits or b"0")


# -- arbitrary bodies against a live server -------------------------------------------------
@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Rate limits off: every fuzzed request reaches the code under test."""
    limits = {
        f"rate_limit_{name}": "off"
        for name in (
            "signup_per_address",
            "login_per_address",
            "login_per_account",
            "booking_per_address",
            "booking_per_account",
        )
    }
    with live_server(
        "local", tmp_path_factory.mktemp("fuzz-live") / "data", rehearsal=1, **limits
    ) as started:
        yield started


@pytest.fixture(scope="module")
def targets(fuzzed_server: LiveServer) -> dict[str, Any]:
    """Each fuzzed route: its path, headers and a valid body to start mutating from."""
    with httpx.Client(base_url=fuzzed_server.base_url, timeout=30) as client:
        api = ApiDriver(client)
        organizer, performance = api.on_sale(rows=5, seats_per_row=10)
        fan = api.account()
        event_id = performance["event_id"]
    secret = (fuzzed_server.data_dir / "webhook-secret").read_bytes().strip()
    body = VALID_BODIES
    return {
        "sign-up": ("/api/v1/accounts", {}, body[schemas.SignUp]),
        "log-in": ("/api/v1/sessions", {}, body[schemas.LogIn]),
        "hold": (f"/api/v1/performances/{performance['id']}/holds", fan, body[schemas.HoldIn]),
        "order": ("/api/v1/orders", fan, body[schemas.OrderIn]),
        "verify": ("/api/v1/tickets/verify", {}, body[schemas.TicketCheckIn]),
        "venue": ("/api/v1/venues", organizer, body[schemas.VenueIn]),
        "performance": (
            f"/api/v1/events/{event_id}/performances",
            organizer,
            {**body[schemas.PerformanceIn], "venue_id": performance["venue_id"]},
        ),
        "webhook": ("/api/v1/payments/webhook", {}, {}),
        "secret": secret,
    }


@st.composite
def http_bodies(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "value", "drop", "add"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json" or not valid:
        return json.dumps(draw(json_values)).encode()
    body = dict(valid)
    if kind == "value":
        body[draw(st.sampled_from(sorted(body)))] = draw(json_values)
    elif kind == "drop":
        del body[draw(st.sampled_from(sorted(body)))]
    else:
        body[draw(st.text(max_size=12))] = draw(json_values)
    return json.dumps(body).encode()


ROUTES = ["sign-up", "log-in", "hold", "order", "verify", "venue", "performance", "webhook"]


@bounded(160)
@given(st.sampled_from(ROUTES), st.data())
def test_arbitrary_bodies_never_get_a_500(
    fuzzed_server: LiveServer, targets: dict[str, Any], route: str, data: Any
) -> None:
    """Bodies of any bytes, any JSON, or a valid body with one field changed; on the webhook
    also signatures right for the body or of any ASCII text: a 2xx or a 4xx problem, never
    a 500, and the server logs no traceback."""
    path, auth, valid = targets[route]
    body = data.draw(http_bodies(valid), label="body")
    headers = {**auth, "content-type": "application/json", "idempotency-key": new_key()}
    if route == "webhook":
        signed = webhook_signature(targets["secret"], int(time.time()), body)
        headers["webhook-signature"] = data.draw(
            st.one_of(st.just(signed), ASCII_HEADER_TEXT), label="signature"
        )
    logged_before = len(fuzzed_server.log_text())
    with httpx.Client(base_url=fuzzed_server.base_url, timeout=30) as client:
        r = client.post(path, content=body, headers=headers)
    assert r.status_code < 500, (route, body, r.status_code, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert r.json()["type"].startswith("/problems/"), r.text
    logged = fuzzed_server.log_text()[logged_before:]
    assert "Traceback" not in logged, logged


def test_a_webhook_signature_byte_past_ascii_gets_401(fuzzed_server: LiveServer) -> None:
    header = f"t={int(time.time())},v1=".encode() + b"\xe9"
    with httpx.Client(base_url=fuzzed_server.base_url, timeout=30) as client:
        r = client.post(
            "/api/v1/payments/webhook",
            content=b"{}",
            headers={b"content-type": b"application/json", b"webhook-signature": header},
        )
    assert r.status_code == 401, r.text
