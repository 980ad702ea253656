"""ElastiCache IAM authentication: the token's shape, and a real Redis accepting it as AUTH."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest
import redis.exceptions
from botocore.credentials import Credentials

from booking.adapters.aws.elasticache_iam import ElastiCacheIamCredentials, iam_auth_token
from booking.adapters.aws.redis_guard import redis_client
from booking.bootstrap_aws import redis_credentials
from booking.settings import ConfigError, Settings
from tests.redis_server import (
    RedisServer,
    redis_server_fixture,  # noqa: F401
)

CREDENTIALS = Credentials("AKIDEXAMPLE", "secret", None)


def test_token_is_a_presigned_connect_request_without_its_scheme() -> None:
    token = iam_auth_token(
        "concertbook-dev-redis", "concertbook-dev-app", "ap-northeast-2", CREDENTIALS
    )
    assert not token.startswith("http")
    parts = urlsplit("http://" + token)
    query = parse_qs(parts.query)
    assert parts.netloc == "concertbook-dev-redis"
    assert query["Action"] == ["connect"]
    assert query["User"] == ["concertbook-dev-app"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].endswith("/ap-northeast-2/elasticache/aws4_request")
    assert len(query["X-Amz-Signature"][0]) == 64


def test_a_token_is_reused_for_a_while_then_signed_again() -> None:
    now = [1_000_000.0]
    signed: list[int] = []

    def credentials() -> Credentials:
        signed.append(1)
        return CREDENTIALS

    provider = ElastiCacheIamCredentials(
        "Concertbook-Dev-Redis", "app", "ap-northeast-2", credentials, clock=lambda: now[0]
    )
    user, first = provider.get_credentials()
    assert user == "app"
    assert first.startswith("concertbook-dev-redis/?")  # the cache name in lower case
    assert provider.get_credentials()[1] == first
    now[0] += 601
    provider.get_credentials()
    assert len(signed) == 2


def test_redis_connections_authenticate_with_the_user_and_its_token(
    redis_server: RedisServer,
) -> None:
    provider = ElastiCacheIamCredentials("cache", "app", "ap-northeast-2", lambda: CREDENTIALS)
    user, token = provider.get_credentials()
    admin = redis_server.client()
    # The server stands in for ElastiCache: the user's password is the token just signed,
    # and the default user is off, as in the Terraform user group.
    # redis-py leaves Redis.execute_command unannotated.
    admin.execute_command("ACL", "SETUSER", user, "on", f">{token}", "~*", "+@all")  # type: ignore[no-untyped-call]
    admin.execute_command("ACL", "SETUSER", "default", "off")  # type: ignore[no-untyped-call]

    async def round_trip(provider: ElastiCacheIamCredentials | None) -> bytes | str | None:
        client = redis_client(redis_server.url, timeout_seconds=2, credential_provider=provider)
        try:
            await client.set("k", "v")
            return await client.get("k")
        finally:
            await client.aclose()

    assert asyncio.run(round_trip(provider)) == b"v"
    with pytest.raises(redis.exceptions.AuthenticationError):
        asyncio.run(round_trip(None))


def test_settings_name_the_user_in_the_url() -> None:
    base = Settings.of(runtime="local")
    assert redis_credentials(base) is None
    with_user = Settings.of(
        runtime="local",
        redis_url="rediss://concertbook-dev-app@cache.example:6379/0",
        redis_iam_cache="concertbook-dev-redis",
    )
    provider = redis_credentials(with_user)
    assert provider is not None
    with pytest.raises(ConfigError):
        redis_credentials(
            Settings.of(
                runtime="local", redis_url="rediss://cache.example:6379/0", redis_iam_cache="c"
            )
        )
