"""Settings: one typed table of variables in groups, read from the environment by msgspec,
documented in the README from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from booking.domain.limits import Rate
from booking.settings import (
    ConfigError,
    Settings,
    reference,
    variables,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_every_variable_as_the_code_documents_it() -> None:
    assert reference() in (ROOT / "README.md").read_text()
    names = [v.name for v in variables()]
    assert len(names) == len(set(names))
    assert all(v.doc for v in variables())


def test_variables_are_read_into_their_groups_with_their_types() -> None:
    settings = Settings.from_env(
        {
            "CONCERTBOOK_PORT": "9000",
            "CONCERTBOOK_DATA_DIR": "/srv/concertbook",
            "CONCERTBOOK_PRECLAIM": "off",
            "CONCERTBOOK_REHEARSAL": "yes",
            "CONCERTBOOK_RATE_LIMIT_LOGIN_PER_ACCOUNT": "off",
            "CONCERTBOOK_RATE_LIMIT_BOOKING_PER_ACCOUNT": "30/60",
            "CONCERTBOOK_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
            "CONCERTBOOK_PUBLIC_URL": "https://tickets.example/",
            "CONCERTBOOK_QUEUE_MAX_ATTEMPTS": "7",
            "CONCERTBOOK_REDIS_TIMEOUT_SECONDS": "0.25",
        }
    )
    assert settings.local.port == 9000
    assert settings.local.data_dir == Path("/srv/concertbook")
    assert settings.inventory.preclaim is False
    assert settings.rehearsal is True
    assert settings.limits.rate_limit_login_per_account is None
    assert settings.limits.rate_limit_booking_per_account == Rate(30, 60)
    assert settings.limits.trusted_proxies == ("10.0.0.0/8", "192.0.2.7/32")
    assert settings.public_url == "https://tickets.example"
    assert settings.queues.queue_max_attempts == 7
    assert settings.aws.redis_timeout_seconds == 0.25
    # Flags win over the environment.
    assert Settings.from_env({"CONCERTBOOK_PORT": "9000"}, port=9100).local.port == 9100


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONCERTBOOK_RUNTIME": "gcp"}, "CONCERTBOOK_RUNTIME must be local or aws, not 'gcp'"),
        (
            {"CONCERTBOOK_SQLITE_WRITER": "fork"},
            "CONCERTBOOK_SQLITE_WRITER must be process or thread, not 'fork'",
        ),
        (
            {"CONCERTBOOK_INVENTORY_STRATEGY": "luck"},
            "CONCERTBOOK_INVENTORY_STRATEGY must be claims, seat-locks or performance-lock",
        ),
        ({"CONCERTBOOK_PORT": "eighty"}, "CONCERTBOOK_PORT: Expected `int`"),
        ({"CONCERTBOOK_PRECLAIM": "maybe"}, "CONCERTBOOK_PRECLAIM='maybe': expected 1/0"),
        ({"CONCERTBOOK_RATE_LIMIT_LOGIN_PER_ADDRESS": "fast"}, "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ({"CONCERTBOOK_TRUSTED_PROXIES": "10.0.0.300"}, "CONCERTBOOK_TRUSTED_PROXIES"),
        ({"CONCERTBOOK_RUNTIME": "aws"}, "the aws runtime needs CONCERTBOOK_TABLE_NAME"),
        ({"CONCERTBOOK_MAX_CONNECTIONS": "0"}, "CONCERTBOOK_MAX_CONNECTIONS must be at least 1"),
    ],
)
def test_a_wrong_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert message in str(refused.value)


def test_secrets_never_show_in_a_repr() -> None:
    settings = Settings.from_env(
        {
            "CONCERTBOOK_WEBHOOK_SECRET": "hmac-secret-value",
            "CONCERTBOOK_TOSS_SECRET_KEY": "test_sk_value",
            "CONCERTBOOK_METRICS_TOKEN": "scrape-token-value",
        }
    )
    shown = repr(settings)
    for secret in ("hmac-secret-value", "test_sk_value", "scrape-token-value"):
        assert secret not in shown
    assert settings.webhook_secret == b"hmac-secret-value"
    assert settings.payments.toss_secret_key == "test_sk_value"


def test_replace_and_of_put_each_variable_in_its_group() -> None:
    settings = Settings.of(data_dir=Path("/tmp/x"), redis_url="redis://r", rehearsal=True)
    assert (settings.local.data_dir, settings.aws.redis_url, settings.rehearsal) == (
        Path("/tmp/x"),
        "redis://r",
        True,
    )
    moved = settings.replace(port=1, queue_wait_seconds=0)
    assert (moved.local.port, moved.queues.queue_wait_seconds) == (1, 0)
    assert moved.local.data_dir == Path("/tmp/x")
    with pytest.raises(TypeError, match="no such setting: colour"):
        settings.replace(colour="blue")
