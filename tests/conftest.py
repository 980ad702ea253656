from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap import LocalRuntime, build_local
from booking.settings import Settings
from tests.support import ApiDriver


@pytest.fixture
def runtime(tmp_path: Path) -> LocalRuntime:
    return build_local(Settings(data_dir=tmp_path, sweep_interval_seconds=0.2))


@pytest.fixture
def client(runtime: LocalRuntime) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> ApiDriver:  # type: ignore[type-arg]
    return ApiDriver(client)
