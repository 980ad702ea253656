"""The shape the code promises: a pure domain, and an OpenAPI schema that matches the routes."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
from litestar import Litestar
from litestar.testing import TestClient

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {
    "sqlite3",
    "litestar",
    "boto3",
    "botocore",
    "aiobotocore",
    "redis",
    "opensearchpy",
    "httpx",
    "uvicorn",
    "argon2",
    "cryptography",
    "socket",
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_domain_and_services_import_no_io_or_framework() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN_IN_CORE)
        for folder in ("booking/domain", "booking/services")
        for path in (ROOT / folder).glob("*.py")
        if _imports(path) & FORBIDDEN_IN_CORE
    }
    assert offenders == {}


def test_domain_does_not_import_adapters_or_entry_points() -> None:
    for path in (ROOT / "booking/domain").glob("*.py"):
        text = path.read_text()
        assert "booking.adapters" not in text, path
        assert "booking.services" not in text, path
        assert "from api" not in text, path


def test_openapi_schema_lists_every_route(client: TestClient[Litestar]) -> None:
    schema = client.get("/schema/openapi.json").json()
    documented = {
        (path, method.upper()) for path, item in schema["paths"].items() for method in item
    }
    routes = {
        (route.path.replace(":str", "").replace(":path", ""), method)
        for route in client.app.routes
        for method in getattr(route, "methods", set())
        if method not in {"HEAD", "OPTIONS"} and not route.path.startswith("/schema")
    }
    assert routes
    assert routes <= documented, sorted(routes - documented)


def test_openapi_documents_the_hold_body_the_route_reads_itself(
    client: TestClient[Litestar],
) -> None:
    schema = client.get("/schema/openapi.json").json()
    hold = schema["paths"]["/api/v1/performances/{performance_id}/holds"]["post"]
    body = hold["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"seats", "ga"}
    assert "$ref" not in str(body), "msgspec's #/$defs references are inlined"
    assert body["properties"]["ga"]["items"]["properties"], "a standing request's fields"
    answer = hold["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/HoldOut"), "the answer the route sends itself is documented"


def test_every_route_resolves_its_dependencies_one_at_a_time(client: TestClient[Litestar]) -> None:
    """Litestar resolves dependencies that do not need each other side by side, in an
    anyio task group: ~300 µs of CPU a request here (a fan polling its order: 1,570 →
    3,080 requests a second without it). So each route's dependencies form a chain —
    services, then the caller — and no two of them are resolved at the same step."""
    checked = 0
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            provided = handler.resolve_dependencies()

            def needs(name: str, provided: dict[str, Any] = provided) -> set[str]:
                return set(inspect.signature(provided[name].dependency).parameters) & set(provided)

            def step(name: str) -> int:
                return 1 + max((step(n) for n in needs(name)), default=0)

            wanted = set(handler.parsed_fn_signature.parameters) & set(provided)
            used = set(wanted)
            pending = list(wanted)
            while pending:
                for name in needs(pending.pop()) - used:
                    used.add(name)
                    pending.append(name)
            steps = Counter(step(name) for name in used)
            assert all(n == 1 for n in steps.values()), (handler, sorted(used))
            checked += bool(used)
    assert checked > 20


_ATOMS = (
    mi.StrType,
    mi.IntType,
    mi.FloatType,
    mi.BoolType,
    mi.EnumType,
    mi.DateTimeType,
    mi.NoneType,
    mi.LiteralType,
)


def _atomic(info: mi.Type) -> bool:
    if isinstance(info, mi.UnionType):
        return all(_atomic(t) for t in info.types)
    return isinstance(info, _ATOMS)


def test_domain_values_of_plain_fields_stay_out_of_the_collectors_sight() -> None:
    """A stadium is 100,000 units and a rush 20,000 cached sessions: tracked, every full
    collection walks them all and stops every request meanwhile. A Struct of plain values
    cannot be part of a reference cycle, so it is declared `gc=False`."""
    checked = []
    for path in sorted((ROOT / "booking/domain").glob("*.py")):
        module = importlib.import_module(f"booking.domain.{path.stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, msgspec.Struct):
                continue
            fields = mi.type_info(cls).fields  # type: ignore[attr-defined]
            if all(_atomic(f.type) for f in fields):
                checked.append(cls.__name__)
                assert cls.__struct_config__.gc is False, f"{cls.__qualname__}: declare gc=False"
    assert {"InventoryUnit", "Account", "Seat", "HoldItem"} <= set(checked)
