"""The OpenAPI document stays true without schemathesis: its tables match the routes, every
operation names the problems the HTTP layer can answer, request bodies say what the strict
decoder enforces, and problems a live server really answers are documented with that `type`.

(tests/integration/test_schemathesis.py tests the server against the document by generated requests;
these checks are the fast ones that point at the line to change.)
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any, cast

import httpx
import jsonschema  # type: ignore[import-untyped]  # jsonschema ships no type information
import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from api.app import create_app
from api.fast_path.strict_body import json_schema
from api.openapi import IDEMPOTENCY_KEY, RAISES, RATE_LIMITED, RAW_BODIES, operation_key
from api.problems import PROBLEM_JSON, list_problem_types
from booking.bootstrap import build_local
from booking.domain.payments import WebhookEvent
from booking.settings import Settings
from tests.live_server import LiveServer, live_server
from tests.support import ApiDriver, new_key, post_hold, unique_email

LOGINS_PER_ACCOUNT = 2
"""The live server's limit on log-ins of one e-mail address, low enough to reach its 429."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    """The app with every route mounted (rehearsal mode adds the rehearsal fans route)."""
    data = tmp_path_factory.mktemp("openapi")
    return create_app(build_local(Settings.of(data_dir=data, rehearsal=True)))


@pytest.fixture(scope="module")
def document(app: Litestar) -> dict[str, Any]:
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    return schema


def documented_handlers(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    """(`METHOD /path`, handler) of every route in the document."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.resolve_include_in_schema():
                for method in sorted(handler.http_methods):
                    yield operation_key(method, route.path_format), handler


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield operation_key(method.upper(), path), operation


def problem_types(response: dict[str, Any]) -> set[str]:
    """The `type`s a problem answer of the document may carry."""
    narrowed = response["content"][PROBLEM_JSON]["schema"]["allOf"][1]
    return set(narrowed["properties"]["type"]["enum"])


def resolved(schema: Any, document: dict[str, Any]) -> Any:
    """`schema` with every `#/components/schemas/` reference replaced by what it names."""
    if isinstance(schema, list):
        return [resolved(item, document) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref", "")
    if reference.startswith("#/components/schemas/"):
        name = reference.removeprefix("#/components/schemas/")
        return resolved(document["components"]["schemas"][name], document)
    return {key: resolved(value, document) for key, value in schema.items()}


# -- the tables agree with the routes ------------------------------------------------------
def test_every_route_has_its_domain_errors_in_raises_and_no_entry_is_stale(app: Litestar) -> None:
    routes = {key for key, _ in documented_handlers(app)}
    assert routes - RAISES.keys() == set(), "routes missing from api/openapi.py RAISES"
    assert RAISES.keys() - routes == set(), "RAISES entries of routes that no longer exist"


def handler_source(handler: HTTPRouteHandler) -> str:
    """A handler's source, with that of the fast path's functions it hands its work to
    (api/fast_path/: the hold route)."""
    source = inspect.getsource(handler.fn)
    for name in handler.fn.__code__.co_names:
        delegate = handler.fn.__globals__.get(name)
        if inspect.isfunction(delegate) and delegate.__module__.startswith("api.fast_path."):
            source += inspect.getsource(delegate)
    return source


def test_rate_limited_names_every_route_that_checks_a_rate_limit(app: Litestar) -> None:
    checking = {
        key
        for key, handler in documented_handlers(app)
        if "rate_limits(request).check(" in handler_source(handler)
    }
    assert checking == RATE_LIMITED


def test_idempotency_key_names_every_route_that_reads_one(app: Litestar) -> None:
    reading: dict[str, bool] = {}
    for key, handler in documented_handlers(app):
        found = re.search(r"idempotency\([^)]*required=(True|False)\)", handler_source(handler))
        if found:
            reading[key] = found.group(1) == "True"
    assert reading == IDEMPOTENCY_KEY


# -- what every operation documents ---------------------------------------------------------
def test_every_api_operation_documents_503_overloaded_with_retry_after(
    document: dict[str, Any],
) -> None:
    for key, operation in operations(document):
        if key.split(" ", 1)[1].startswith("/api/"):
            shed = operation["responses"]["503"]
            assert "/problems/overloaded" in problem_types(shed), key
            assert shed["headers"]["Retry-After"]["required"] is True, key


def test_every_operation_with_a_body_documents_413_408_and_a_400(
    document: dict[str, Any],
) -> None:
    """A body the app decodes strictly may be a 400; the bodies routes read as bytes (a
    poster, the webhook's signed event) are refused by what reads them (422, 401)."""
    with_body = [(key, op) for key, op in operations(document) if "requestBody" in op]
    assert len(with_body) >= 15
    for key, operation in with_body:
        responses = operation["responses"]
        assert "/problems/body-too-large" in problem_types(responses["413"]), key
        assert "/problems/request-timeout" in problem_types(responses["408"]), key
        if key not in RAW_BODIES:
            assert "/problems/invalid-body" in problem_types(responses["400"]), key


def test_idempotency_key_header_is_documented_where_read_and_required_where_required(
    document: dict[str, Any],
) -> None:
    for key, operation in operations(document):
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if key not in IDEMPOTENCY_KEY:
            assert "Idempotency-Key" not in headers, key
            continue
        header = headers["Idempotency-Key"]
        assert header["required"] is IDEMPOTENCY_KEY[key], key
        assert header["schema"]["maxLength"] == 255, key
        responses = operation["responses"]
        if IDEMPOTENCY_KEY[key]:
            assert "/problems/idempotency-key-required" in problem_types(responses["400"]), key
        assert "/problems/idempotency-key-reused" in problem_types(responses["422"]), key


def test_rate_limited_operations_document_429_with_retry_after(document: dict[str, Any]) -> None:
    documented = dict(operations(document))
    for key in RATE_LIMITED:
        limited = documented[key]["responses"]["429"]
        assert problem_types(limited) == {"/problems/rate-limited"}, key
        assert limited["headers"]["Retry-After"]["required"] is True, key
    for key, operation in documented.items():
        assert ("429" in operation["responses"]) == (key in RATE_LIMITED), key


def test_every_error_response_is_a_problem_of_a_known_type_and_its_status(
    document: dict[str, Any],
) -> None:
    # Litestar types every handler's `fn` as an async callable; this one is synchronous.
    catalogue = cast(dict[str, dict[str, Any]], list_problem_types.fn())
    for key, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            assert list(response["content"]) == [PROBLEM_JSON], (key, status)
            schema = response["content"][PROBLEM_JSON]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}, (key, status)
            assert schema["allOf"][1]["properties"]["status"] == {"const": int(status)}
            for problem_type in problem_types(response):
                code = problem_type.removeprefix("/problems/")
                assert catalogue[code]["status"] == int(status), (key, status, code)
            if status == "401":
                assert response["headers"]["WWW-Authenticate"]["required"] is True, key


# -- request bodies say what the strict decoder enforces ------------------------------------
def body_struct(key: str, handler: HTTPRouteHandler) -> type[msgspec.Struct] | None:
    """The Struct an operation's JSON body is decoded into, if it has one."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is not None:
        struct: type[msgspec.Struct] = data.annotation
        return struct
    if key == "POST /api/v1/payments/webhook":
        return WebhookEvent
    body: type[msgspec.Struct] | None = getattr(handler.operation_class, "body", None)
    return body


def json_bodies(
    app: Litestar, document: dict[str, Any]
) -> Iterator[tuple[str, type[msgspec.Struct], dict[str, Any]]]:
    documented = dict(operations(document))
    for key, handler in documented_handlers(app):
        struct = body_struct(key, handler)
        if struct is not None:
            content = documented[key]["requestBody"]["content"]
            yield key, struct, resolved(content["application/json"]["schema"], document)


def test_every_json_body_is_documented(app: Litestar, document: dict[str, Any]) -> None:
    documented = {key for key, _, _ in json_bodies(app, document)}
    bodies = {key for key, op in operations(document) if "requestBody" in op}
    assert bodies - documented == set(RAW_BODIES) - {"POST /api/v1/payments/webhook"}


def strict_structs(struct: type[msgspec.Struct]) -> Iterator[tuple[str, type[msgspec.Struct]]]:
    """(path, Struct) of `struct` and every Struct in its fields, their lists and unions."""
    seen: set[type] = set()

    def walk(path: str, info: msgspec.inspect.Type) -> Iterator[tuple[str, type[msgspec.Struct]]]:
        if isinstance(info, msgspec.inspect.StructType):
            yield path, info.cls
            if info.cls in seen:
                return
            seen.add(info.cls)
            for field in info.fields:
                yield from walk(f"{path}.{field.encode_name}", field.type)
        elif isinstance(info, msgspec.inspect.UnionType):
            for member in info.types:
                yield from walk(path, member)
        elif isinstance(info, msgspec.inspect.ListType):
            yield from walk(f"{path}[]", info.item_type)

    yield from walk("$", msgspec.inspect.type_info(struct))


def test_bodies_refuse_unknown_fields_where_their_structs_do(
    app: Litestar, document: dict[str, Any]
) -> None:
    checked = 0
    for key, struct, schema in json_bodies(app, document):
        for path, inner in strict_structs(struct):
            documented = at(schema, path)
            refuses = inner.__struct_config__.forbid_unknown_fields
            assert (documented.get("additionalProperties") is False) == refuses, (key, path)
            checked += refuses
    assert checked >= 20


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The object schema at a `strict_structs` path (`$.layout.blocks[]`) of a resolved one."""
    for step in re.findall(r"\.([^.\[]+)|(\[\])", path):
        schema = object_branch(schema)
        schema = schema["properties"][step[0]] if step[0] else schema["items"]
    return object_branch(schema)


def object_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """The object or array member of a `oneOf`/`anyOf` (a nullable field), or `schema`."""
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        if branch.get("type") in ("object", "array") or "properties" in branch:
            return object_branch(branch)
    return schema


CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "enum",
    "additionalProperties",
)


def unenforced(decoded: Any, documented: Any, path: str) -> Iterator[str]:
    """Constraints of msgspec's own schema (what the decoder refuses) not in the document."""
    for branch in alternatives(decoded):
        kind = branch.get("type", "enum" if "enum" in branch else None)
        same = [b for b in alternatives(documented) if b.get("type") == kind or kind == "enum"]
        if not same:
            yield f"{path}: no {kind} in the document"
            continue
        mirror = same[0]
        for name in CONSTRAINTS:
            if name in branch and not equal(branch[name], mirror.get(name), name):
                yield f"{path}: {name} {branch[name]!r}, documented {mirror.get(name)!r}"
        for name, member in branch.get("properties", {}).items():
            yield from unenforced(
                member, mirror.get("properties", {}).get(name, {}), f"{path}.{name}"
            )
        if "items" in branch:
            yield from unenforced(branch["items"], mirror.get("items", {}), f"{path}[]")


def alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The members of a `oneOf`/`anyOf`, each with what the schema says beside it."""
    for union in ("anyOf", "oneOf"):
        if union in schema:
            rest = {k: v for k, v in schema.items() if k != union}
            return [{**rest, **member} for b in schema[union] for member in alternatives(b)]
    return [schema]


def equal(decoded: Any, documented: Any, name: str) -> bool:
    if name == "minItems" and decoded == 0:
        return True  # no constraint at all
    if name == "enum":
        return documented is not None and set(decoded) <= set(documented)
    if isinstance(decoded, int | float) and isinstance(documented, int | float):
        return float(decoded) == float(documented)
    return bool(decoded == documented)


def test_request_body_schemas_carry_every_constraint_the_decoder_enforces(
    app: Litestar, document: dict[str, Any]
) -> None:
    missing = [
        gap
        for key, struct, schema in json_bodies(app, document)
        for gap in unenforced(json_schema(struct), schema, key)
    ]
    assert missing == []


def test_the_item_constraints_litestar_drops_are_in_the_document(document: dict[str, Any]) -> None:
    aliases = resolved(document["components"]["schemas"]["Artist"], document)["properties"]
    assert aliases["aliases"]["items"]["maxLength"] == 200
    assert "pattern" in aliases["aliases"]["items"]
    blocked = resolved(document["components"]["schemas"]["PerformanceIn"], document)
    assert blocked["properties"]["blocked_seats"]["items"]["minLength"] == 1


# -- over HTTP: OPTIONS, and problems the server really answers ---------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("openapi-live") / "data"
    with live_server(
        "local",
        data,
        rate_limit_login_per_account=f"{LOGINS_PER_ACCOUNT}/600",
    ) as live:
        yield live


@pytest.fixture(scope="module")
def served(server: LiveServer) -> dict[str, Any]:
    """The document as the server serves it."""
    r = httpx.get(f"{server.base_url}/schema/openapi.json", timeout=30)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield http


@pytest.mark.parametrize(
    ("collection", "item"),
    [("events", "event_id"), ("performances", "performance_id"), ("venues", "venue_id")],
)
def test_options_allows_every_method_of_the_path(
    client: httpx.Client, served: dict[str, Any], collection: str, item: str
) -> None:
    r = client.options(f"/api/v1/{collection}/some-id")
    assert r.status_code == 204, r.text
    allowed = {method.strip() for method in r.headers["allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed
    documented = {m.upper() for m in served["paths"][f"/api/v1/{collection}/{{{item}}}"]}
    assert allowed == documented | {"OPTIONS"}


def assert_documented(
    served: dict[str, Any], method: str, path: str, response: httpx.Response
) -> dict[str, Any]:
    """The answer is one the document gives `method path`: its status, a problem of one of
    that status's `type`s, valid against its schema, with the headers it promises."""
    operation = served["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], (method, path, status, response.text)
    documented = operation["responses"][status]
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] in problem_types(documented), (method, path, body)
    schema = resolved(documented["content"][PROBLEM_JSON]["schema"], served)
    jsonschema.Draft202012Validator(schema).validate(body)
    for name, header in documented.get("headers", {}).items():
        if header["required"]:
            assert name in response.headers, (method, path, name)
    return body


def test_seats_unavailable_idempotency_problems_and_a_missing_key(
    client: httpx.Client, served: dict[str, Any]
) -> None:
    driver = ApiDriver(client)
    fan = driver.account("fan")
    _, performance = driver.on_sale()
    holds = "/api/v1/performances/{performance_id}/holds"
    key = new_key()
    assert post_hold(client, fan, performance["id"], seats=["S1-A-1"], key=key).status_code == 201

    taken = post_hold(client, driver.account("fan"), performance["id"], seats=["S1-A-1"])
    body = assert_documented(served, "POST", holds, taken)
    assert (taken.status_code, body["type"]) == (409, "/problems/seats-unavailable")
    assert body["taken"] == ["S1-A-1"]

    reused = post_hold(client, fan, performance["id"], seats=["S1-A-2"], key=key)
    body = assert_documented(served, "POST", holds, reused)
    assert (reused.status_code, body["type"]) == (422, "/problems/idempotency-key-reused")

    keyless = client.post(f"/api/v1/performances/{performance['id']}/holds", headers=fan, json={})
    body = assert_documented(served, "POST", holds, keyless)
    assert (keyless.status_code, body["type"]) == (400, "/problems/idempotency-key-required")


def test_not_found_invalid_body_and_authentication_required(
    client: httpx.Client, served: dict[str, Any]
) -> None:
    fan = ApiDriver(client).account("fan")
    missing = client.get("/api/v1/events/evt_none", headers=fan)
    body = assert_documented(served, "GET", "/api/v1/events/{event_id}", missing)
    assert (missing.status_code, body["type"], body["resource"]) == (
        404,
        "/problems/not-found",
        "event",
    )

    mistyped = client.post(
        "/api/v1/orders", headers={**fan, "Idempotency-Key": new_key()}, json={"hold_id": 5}
    )
    body = assert_documented(served, "POST", "/api/v1/orders", mistyped)
    assert (mistyped.status_code, body["type"]) == (400, "/problems/invalid-body")

    anonymous = client.get("/api/v1/me")
    body = assert_documented(served, "GET", "/api/v1/me", anonymous)
    assert (anonymous.status_code, body["type"]) == (401, "/problems/authentication-required")


def test_weak_password_rate_limited_and_body_too_large(
    client: httpx.Client, served: dict[str, Any]
) -> None:
    email = unique_email("weak")
    local_part = email.split("@")[0]
    weak = client.post(
        "/api/v1/accounts",
        json={"email": email, "password": local_part + "!2026", "display_name": "Fan"},
    )
    body = assert_documented(served, "POST", "/api/v1/accounts", weak)
    assert (weak.status_code, body["type"]) == (422, "/problems/weak-password")
    assert body["rule"]

    stranger = {"email": unique_email("nobody"), "password": "not-the-password"}
    for _ in range(LOGINS_PER_ACCOUNT):
        assert client.post("/api/v1/sessions", json=stranger).status_code == 401
    limited = client.post("/api/v1/sessions", json=stranger)
    body = assert_documented(served, "POST", "/api/v1/sessions", limited)
    assert (limited.status_code, body["type"]) == (429, "/problems/rate-limited")
    assert int(limited.headers["retry-after"]) == body["retry_after"] >= 1

    oversized = client.post(
        "/api/v1/sessions",
        content=b" " * (Settings().limits.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    body = assert_documented(served, "POST", "/api/v1/sessions", oversized)
    assert (oversized.status_code, body["type"]) == (413, "/problems/body-too-large")
