"""Rehearsal mode: organizers mint fan sessions in bulk; outside it the route does not exist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from booking.bootstrap import Runtime
from tests.conftest import build_family
from tests.support import PASSWORD, ApiDriver, assert_problem, hold
from workers.local import background


@pytest.fixture(params=["local", "aws"])
def rehearsal_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiDriver]:
    runtime: Runtime = build_family(request.param, tmp_path_factory.mktemp("r"), request)
    runtime.settings = runtime.settings.replace(rehearsal=True)  # type: ignore[misc]
    with TestClient(create_app(runtime, background=background)) as client:
        yield ApiDriver(client)


def test_minted_fans_hold_with_their_tokens_and_cannot_log_in(rehearsal_api: ApiDriver) -> None:
    """GIVEN rehearsal mode WHEN an organizer mints 50 fans THEN each token is a distinct fan
    session that can hold seats, and no password opens those accounts."""
    client = rehearsal_api.client
    organizer, performance = rehearsal_api.on_sale(rows=5, seats_per_row=10)
    r = client.post("/api/v1/rehearsal/fans", headers=organizer, json={"count": 50})
    assert r.status_code == 201, r.text
    fans = r.json()["fans"]
    assert len({f["account_id"] for f in fans}) == len({f["token"] for f in fans}) == 50
    for n, fan in enumerate(fans[:3]):
        auth = {"Authorization": f"Bearer {fan['token']}"}
        me = client.get("/api/v1/me", headers=auth).json()
        assert (me["id"], me["role"]) == (fan["account_id"], "fan")
        assert hold(client, auth, performance["id"], seats=[f"S1-A-{n + 1}"])["status"] == "active"
        login = client.post("/api/v1/sessions", json={"email": me["email"], "password": PASSWORD})
        assert_problem(login, 401, "invalid-credentials")


def test_only_organizers_mint_and_counts_are_bounded(rehearsal_api: ApiDriver) -> None:
    client = rehearsal_api.client
    fan = rehearsal_api.account("fan")
    organizer = rehearsal_api.account("organizer")
    assert_problem(
        client.post("/api/v1/rehearsal/fans", headers=fan, json={"count": 1}), 403, "forbidden"
    )
    for count in (0, 1001, "9"):
        r = client.post("/api/v1/rehearsal/fans", headers=organizer, json={"count": count})
        assert r.status_code == 400, (count, r.text)
    assert client.post("/api/v1/rehearsal/fans", json={"count": 1}).status_code == 401


def test_without_rehearsal_mode_there_is_no_such_route(api: ApiDriver) -> None:
    organizer = api.account("organizer")
    r = api.client.post("/api/v1/rehearsal/fans", headers=organizer, json={"count": 1})
    assert r.status_code == 404
