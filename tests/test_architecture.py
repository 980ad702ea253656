"""The shape the code promises: a pure domain, and an OpenAPI schema that matches the routes."""

from __future__ import annotations

import ast
from pathlib import Path

from litestar.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent
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


def test_openapi_schema_lists_every_route(client: TestClient) -> None:  # type: ignore[type-arg]
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
