from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from booking.adapters.shifted_clock import ShiftedClock
from booking.bootstrap import LocalRuntime, Runtime, build_local
from booking.bootstrap_aws import build_aws
from booking.domain.ports import Clock
from booking.settings import Settings
from tests.moto_server import AWS_TEST_ENV, create_table, moto_server
from tests.support import ApiDriver
from workers.local import background

SLOW_TEST_SECONDS = 60


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Name a slow test when it ends, not only in the summary: a run cut short still says
    where its time went."""
    if report.duration >= SLOW_TEST_SECONDS:
        print(f"\n[{report.when} of {report.nodeid} took {report.duration:.0f} s]", flush=True)


@pytest.fixture
def clock(tmp_path: Path) -> ShiftedClock:
    """The runtime's clock: the real time until a test moves it (`clock.advance(seconds)`),
    in the API process and its SQLite writer process alike: expiry without sleeping."""
    return ShiftedClock(tmp_path / "clock-offset")


@pytest.fixture
def runtime(tmp_path: Path, clock: ShiftedClock) -> LocalRuntime:
    return build_local(Settings.of(data_dir=tmp_path, sweep_interval_seconds=0.2), clock)


@pytest.fixture
def client(runtime: LocalRuntime) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(runtime, background=background)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient[Litestar]) -> ApiDriver:
    return ApiDriver(client)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DynamoDB endpoint of the aws family's tests; each test gets its own table.

    Picked by environment: CONCERTBOOK_TEST_DYNAMODB_ENDPOINT if set (DynamoDB Local,
    AWS); else DynamoDB Local through testcontainers where a Docker engine answers;
    else the single-threaded moto server (this machine).
    """
    os.environ.update(AWS_TEST_ENV)
    configured = os.environ.get("CONCERTBOOK_TEST_DYNAMODB_ENDPOINT")
    if configured:
        yield configured
        return
    if docker_engine_answers():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        with DockerContainer("amazon/dynamodb-local:2.6.1").with_exposed_ports(8000) as local:
            wait_for_logs(local, "CorsParams")
            yield f"http://{local.get_container_host_ip()}:{local.get_exposed_port(8000)}"
        return
    with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


def docker_engine_answers() -> bool:
    """A Docker *engine*, not just the client binary (which this machine has without one).

    Asked directly on its socket (`GET /_ping`): the docker SDK leaks a socket when
    no engine answers, which pytest (warnings as errors) would rightly refuse.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(1024).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.") and b" 200 " in status_line + b" "


def build_family(
    family: str, data_dir: Path, request: pytest.FixtureRequest, clock: Clock | None = None
) -> Runtime:
    """A runtime of the named adapter family: `local` (SQLite) or `aws` (DynamoDB on moto)."""
    settings = {"data_dir": data_dir, "sweep_interval_seconds": 0.2}
    if family == "local":
        return build_local(Settings.of(**settings), clock)
    endpoint: str = request.getfixturevalue("moto_endpoint")
    table = asyncio.run(create_table(endpoint))
    return build_aws(
        Settings.of(runtime="aws", table_name=table, aws_endpoint_url=endpoint, **settings),
        clock,
    )


@pytest.fixture(params=["local", "aws"])
def family_runtime(request: pytest.FixtureRequest, tmp_path: Path, clock: ShiftedClock) -> Runtime:
    return build_family(request.param, tmp_path, request, clock)


@pytest.fixture
def family_api(family_runtime: Runtime) -> Iterator[ApiDriver]:
    with TestClient(create_app(family_runtime, background=background)) as test_client:
        yield ApiDriver(test_client)


@pytest.fixture(scope="session")
def opensearch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an OpenSearch 2.19 with Korean (nori) analysis, one for the session.

    Picked by environment: CONCERTBOOK_TEST_OPENSEARCH_URL if set; else the official image
    (with analysis-nori installed at start) through testcontainers where a Docker engine
    answers; else the embedded server of tools/opensearch (this machine), which
    tools/build-opensearch.sh builds.
    """
    configured = os.environ.get("CONCERTBOOK_TEST_OPENSEARCH_URL")
    if configured:
        yield configured.rstrip("/")
        return
    if docker_engine_answers():
        try:
            from testcontainers.community.opensearch import OpenSearchContainer
        except ImportError:
            pass
        else:
            container = OpenSearchContainer(
                "opensearchproject/opensearch:2.19.6",
                security_enabled=False,
                initial_admin_password="Concertbook-Test-2019!",
                entrypoint=["bash", "-c"],
            )
            container.with_command(
                [
                    "bin/opensearch-plugin install --batch analysis-nori"
                    " && exec ./opensearch-docker-entrypoint.sh opensearch"
                ]
            ).with_env("OPENSEARCH_JAVA_OPTS", "-Xms512m -Xmx512m")
            with container as search:
                yield f"http://{search.get_container_host_ip()}:{search.get_exposed_port(9200)}"
            return
    from tests.opensearch_server import opensearch_available, opensearch_server
    from tests.support import skip_unless_available

    skip_unless_available(
        opensearch_available(),
        "OpenSearch is not built: run tools/build-opensearch.sh (needs Java 17 and Maven)",
    )
    with opensearch_server(tmp_path_factory.mktemp("opensearch")) as url:
        yield url
