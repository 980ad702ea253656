"""ElastiCache IAM authentication: the Redis password is a short-lived SigV4 token.

With IAM authentication there is no Redis secret to generate, store, rotate or leak:
a function's execution role holds `elasticache:Connect` on the cache and its user,
and each new connection signs a token for `AUTH <user> <token>`, as AWS documents in
"Authenticating with IAM" (ElastiCache user guide): a presigned
`GET http://<cache>/?Action=connect&User=<user>` for the service `elasticache`,
valid for 15 minutes, sent without its `http://` scheme. ElastiCache checks the
token only when a connection authenticates, and closes connections after 12 hours;
redis-py then reconnects and asks for a fresh token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import Session
from redis.credentials import CredentialProvider

TOKEN_LIFETIME_SECONDS = 900
# A token is reused for a while: a burst of new connections signs once, not per socket.
REUSE_SECONDS = 600


def iam_auth_token(cache_name: str, user_id: str, region: str, credentials: Credentials) -> str:
    """A token, signed now, that authenticates `user_id` on `cache_name`."""
    query = urlencode({"Action": "connect", "User": user_id})
    request = AWSRequest(method="GET", url=f"http://{cache_name}/?{query}")
    signer = SigV4QueryAuth(credentials, "elasticache", region, expires=TOKEN_LIFETIME_SECONDS)
    signer.add_auth(request)
    assert request.url is not None  # set above; the signer only appends the query
    return request.url.removeprefix("http://")


class ElastiCacheIamCredentials(CredentialProvider):
    """User name and a fresh IAM token for every connection redis-py opens."""

    def __init__(
        self,
        cache_name: str,
        user_id: str,
        region: str,
        credentials: Callable[[], Credentials] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache_name = cache_name.lower()  # the token names the cache in lower case
        self._user_id = user_id
        self._region = region
        self._credentials = credentials or _role_credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._signed_at = float("-inf")

    def get_credentials(self) -> tuple[str, str]:
        now = self._clock()
        with self._lock:
            if now - self._signed_at >= REUSE_SECONDS or not self._token:
                frozen = self._credentials()
                self._token = iam_auth_token(self._cache_name, self._user_id, self._region, frozen)
                self._signed_at = now
            return self._user_id, self._token

    async def get_credentials_async(self) -> tuple[str, str]:
        # Signing is a few HMACs over cached role credentials: no I/O worth a thread.
        return self.get_credentials()


def _role_credentials() -> Credentials:
    """The execution role's credentials (Lambda puts them in the environment)."""
    found = Session().get_credentials()
    if found is None:
        raise RuntimeError("no AWS credentials for ElastiCache IAM authentication")
    return found.get_frozen_credentials()  # type: ignore[return-value]
