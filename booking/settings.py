"""Configuration from `CONCERTBOOK_*` environment variables, read once into a frozen object."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from booking.adapters.files import create_once
from booking.domain.limits import Backoff, Rate, parse_rate


class ConfigError(ValueError):
    pass


INVENTORY_STRATEGIES = ("claims", "seat-locks", "performance-lock")
# Per address high: a Korean carrier's NAT puts thousands of fans behind one address, and
# all of them sign up and log in the week of an onsale. Per account what one fan's clicks
# and retries never reach, and a bot firing holds as fast as it can soon does.
DEFAULT_SIGNUP_PER_ADDRESS = Rate(600, 600)
DEFAULT_LOGIN_PER_ADDRESS = Rate(600, 60)
DEFAULT_LOGIN_PER_ACCOUNT = Rate(20, 60)
DEFAULT_BOOKING_PER_ADDRESS = Rate(3000, 60)
DEFAULT_BOOKING_PER_ACCOUNT = Rate(60, 60)


@dataclass(frozen=True)
class Settings:
    runtime: str = "local"
    """`local` (SQLite, embedded) or `aws` (DynamoDB, Redis)."""
    data_dir: Path = Path("data")
    """Folder of the SQLite databases, the ticket signing key and media (local runtime)."""
    host: str = "127.0.0.1"
    """Address the HTTP server binds."""
    port: int = 8000
    """Port the HTTP server binds."""
    public_url: str | None = None
    """Base URL the payment gateway posts webhooks to; unset: delivered in-process to the app."""
    webhook_secret: bytes = field(default=b"", repr=False)
    """HMAC secret shared with the payment gateway; unset: generated once into the data folder."""
    ticket_signing_key: bytes = field(default=b"", repr=False)
    """Ed25519 private key (PEM) for ticket codes; unset: generated once into the data folder.
    Set it (from a secret) wherever several processes or Lambdas must sign alike."""
    sweep_interval_seconds: float = 1.0
    """How often lapsed holds and unpaid orders are marked expired (claims never wait on it)."""
    gateway_duplicate_rate: float = 0.0
    """Chance that the simulated gateway sends a webhook twice."""
    gateway_late_rate: float = 0.0
    """Chance that the simulated gateway sends a webhook seconds late (reordering it)."""
    payment_provider: str = "simulated"
    """`simulated` (the gateway simulator: card tokens such as `tok_visa`) or `toss` (Toss
    Payments: the payment widget's paymentKey is confirmed with CONCERTBOOK_TOSS_SECRET_KEY)."""
    toss_api_url: str = "https://api.tosspayments.com"
    """Base URL of the Toss Payments API."""
    toss_secret_key: str = field(default="", repr=False)
    """Toss secret key (`test_sk_…`/`live_sk_…`), sent as HTTP Basic user."""
    toss_secret_key_arn: str | None = None
    """Secrets Manager ARN of the Toss secret key (aws runtime); wins over the variable."""
    toss_security_key: bytes = field(default=b"", repr=False)
    """Toss security key that signs its payout/seller webhooks (payment events are read back
    from the API instead); unset: signed Toss webhooks are refused."""
    toss_security_key_arn: str | None = None
    """Secrets Manager ARN of the Toss security key (aws runtime)."""
    max_body_bytes: int = 65_536
    """Largest accepted request body (venue seat maps have their own, larger cap)."""
    max_in_flight: int = 128
    """API requests one process serves at once; beyond, 503 + Retry-After at once. A request
    counts only once its whole body has arrived."""
    header_timeout_seconds: float = 10.0
    """Longest a request's headers may take to arrive, from their first byte; then 408 and
    the connection closed (`concertbook serve`)."""
    body_timeout_seconds: float = 10.0
    """Longest a request's whole body may take to arrive once its headers are in (a second
    more per 64 KiB announced past CONCERTBOOK_MAX_BODY_BYTES: seat maps, posters); then 408
    problem+json and the connection closed."""
    keep_alive_seconds: float = 5.0
    """How long a connection may stay open without a request, new or between requests,
    before the server closes it (`concertbook serve`)."""
    max_connections: int = 2048
    """Client connections one `concertbook serve` process keeps open; a request on one past
    this gets 503 overloaded and its connection is closed."""
    cors_allowed_origins: tuple[str, ...] = ()
    """Origins whose pages may call the API from a browser, comma-separated exact origins
    (`https://tickets.example`, no wildcards); unset: none."""
    table_name: str | None = None
    """DynamoDB table of the aws runtime (required there)."""
    aws_region: str = "ap-northeast-2"
    """AWS region of the aws runtime."""
    aws_endpoint_url: str | None = None
    """Endpoint override for DynamoDB, SQS and SES (moto; DynamoDB Local, which serves only
    DynamoDB); unset: the region's endpoints."""
    media_bucket: str | None = None
    """S3 bucket of posters (aws runtime): `posters/` behind the CDN, presigned `uploads/`;
    unset: media in the data folder, uploaded through the API."""
    media_base_url: str | None = None
    """Base URL media is loaded from (the CloudFront domain); required with a media bucket;
    unset locally: `/media` of this API."""
    s3_endpoint_url: str | None = None
    """S3 endpoint override (moto, MinIO); unset: the region's endpoint."""
    webhook_secret_arn: str | None = None
    """Secrets Manager ARN of the webhook secret (aws runtime); wins over the variable."""
    ticket_signing_key_arn: str | None = None
    """Secrets Manager ARN of the ticket signing key PEM (aws runtime)."""
    aws_max_connections: int = 64
    """Connections to DynamoDB per process; a request waiting longer than 5 s for one gets 503."""
    redis_url: str | None = None
    """Redis for the seat pre-claim and availability cache; unset: no Redis (only slower)."""
    redis_iam_cache: str | None = None
    """ElastiCache replication group id: set, each Redis connection authenticates as the
    URL's user with an IAM token (ElastiCache IAM authentication) instead of a password."""
    redis_timeout_seconds: float = 0.5
    """Longest wait for Redis before a request goes straight to the table instead."""
    opensearch_url: str | None = None
    """OpenSearch endpoint for concert search; unset: SQLite FTS5 in the data folder."""
    opensearch_index: str = "concerts"
    """Alias searches read and the indexer writes; `concertbook reindex` swaps what it points at."""
    mail_from: str = "K-ConcertBook <tickets@concertbook.example>"
    """Sender of confirmation mail (on AWS an address or domain verified in SES)."""
    queue_url_payments: str | None = None
    """SQS queue of OrderPaid/OrderClosed (capture, tickets, void, refund); aws runtime."""
    queue_url_notifications: str | None = None
    """SQS queue of TicketsIssued (confirmation mail); aws runtime."""
    queue_url_images: str | None = None
    """SQS queue of PosterUploaded (poster variants); aws runtime. The outbox forwarder holds
    the stream at a PosterUploaded while it is unset."""
    queue_url_webhooks: str | None = None
    """SQS queue of verified payment webhooks; set: the API enqueues them for a worker
    instead of applying them inline."""
    queue_max_attempts: int = 5
    """Deliveries of one queued message before the consumer parks it, with its reason, in
    the queue's dead-letter queue (whose redrive policy allows one more, as a backstop)."""
    queue_wait_seconds: int = 20
    """Long-poll wait of a long-running process's queue consumers (0-20; 0 polls every
    0.2 s, for emulators that serve one request at a time)."""
    inventory_strategy: str = "claims"
    """How holds claim places: `claims` (group-committed conditional claims, behind a Redis
    pre-claim when CONCERTBOOK_REDIS_URL is set), or a naive baseline for the rehearsal to
    compare against: `seat-locks` (a Redis lock per seat, needs Redis) or
    `performance-lock` (one lock per performance). The baselines run on the local runtime."""
    session_cache_seconds: float = 30.0
    """How long an API process trusts a session it looked up or created before reading it
    again; a log-out through another process of a stage applies within this long (0: every
    request reads its session)."""
    preclaim: bool = True
    """Turn losers of a seat race away before the store (strategy `claims`): in Redis when
    CONCERTBOOK_REDIS_URL is set (a stage of several API processes), else in the memory of
    the one API process of the local runtime. Off: every attempt goes to the store."""
    sqlite_writer: str = "process"
    """Where the booking database's writer connection lives (local runtime): `process`, a
    process of its own, so its statements never wait for the API's interpreter lock; or
    `thread`, a thread of the API process (where subprocesses cannot be started)."""
    rehearsal: bool = False
    """Rehearsal mode: organizers may mint fan sessions in bulk (`concertbook rehearse`).
    Never on a stage that sells real tickets."""
    trusted_proxies: tuple[str, ...] = ()
    """Proxies in front of the API whose X-Forwarded-For is believed: addresses or networks
    (CIDR), comma-separated. A request from one of them counts against the limits of the
    right-most address in its X-Forwarded-For that is not one of them; unset: of its
    connection's peer (on Lambda, API Gateway's `sourceIp`)."""
    rate_limit_signup_per_address: Rate | None = DEFAULT_SIGNUP_PER_ADDRESS
    """Sign-ups from one client address: `<requests>/<seconds>`, all at once or spread over
    them, or `off`; past it 429 rate-limited with Retry-After. Every limit is kept in Redis
    on the aws runtime with CONCERTBOOK_REDIS_URL (one count for all its processes), else
    in each process's memory."""
    rate_limit_login_per_address: Rate | None = DEFAULT_LOGIN_PER_ADDRESS
    """Log-in attempts from one client address."""
    rate_limit_login_per_account: Rate | None = DEFAULT_LOGIN_PER_ACCOUNT
    """Log-in attempts for one e-mail address from anywhere, whether it has an account or not."""
    rate_limit_booking_per_address: Rate | None = DEFAULT_BOOKING_PER_ADDRESS
    """Hold attempts, orders and payments from one client address, each counted apart: high,
    as many fans share an address (a carrier's NAT); off in rehearsal mode, whose load
    generators are a few machines."""
    rate_limit_booking_per_account: Rate | None = DEFAULT_BOOKING_PER_ACCOUNT
    """Hold attempts, orders and payments of one account, each counted apart: a fan's clicks
    and retries pass, a bot firing holds as fast as its connection allows does not."""
    login_backoff_after: int = 5
    """Failed log-ins of one e-mail address that cost nothing; each further one makes the next
    attempt wait CONCERTBOOK_LOGIN_BACKOFF_SECONDS, doubled per failure up to
    CONCERTBOOK_LOGIN_BACKOFF_MAX_SECONDS (429 with Retry-After meanwhile). A success, or 15
    minutes without an attempt, starts afresh; no account is ever locked for good."""
    login_backoff_seconds: float = 1.0
    """The first wait of a log-in back-off."""
    login_backoff_max_seconds: float = 60.0
    """The longest wait of a log-in back-off."""
    password_hash_threads: int = 0
    """Passwords one process hashes or verifies at once, on threads beside the event loop
    (more wait their turn); 0: the cores less one, at least one."""
    log_format: str = "json"
    """Log lines of `concertbook serve` and `work`: `json` (one object per line, with the
    request id and the account's keyed hash) or `text`."""
    metrics_token: str | None = field(default=None, repr=False)
    """Bearer token a Prometheus scraper presents for `GET /metrics`; unset: the page
    answers loopback peers only (no forwarding header), and a 404 to anyone else."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Fields from `CONCERTBOOK_<FIELD>`; keyword overrides (command-line flags) win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = env.get(f"CONCERTBOOK_{spec.name.upper()}")
            if raw is None:
                continue
            try:
                values[spec.name] = _PARSERS.get(spec.name, str)(raw)
            except ValueError as exc:
                raise ConfigError(f"CONCERTBOOK_{spec.name.upper()}={raw!r}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.runtime not in {"local", "aws"}:
            raise ConfigError(f"CONCERTBOOK_RUNTIME must be local or aws, not {settings.runtime!r}")
        if settings.inventory_strategy not in INVENTORY_STRATEGIES:
            raise ConfigError(
                f"CONCERTBOOK_INVENTORY_STRATEGY={settings.inventory_strategy!r}: "
                f"one of {', '.join(INVENTORY_STRATEGIES)}"
            )
        if settings.inventory_strategy != "claims" and settings.runtime != "local":
            raise ConfigError("the baseline inventory strategies run on the local runtime only")
        if settings.inventory_strategy == "seat-locks" and not settings.redis_url:
            raise ConfigError(
                "CONCERTBOOK_INVENTORY_STRATEGY=seat-locks needs CONCERTBOOK_REDIS_URL"
            )
        if settings.sqlite_writer not in {"process", "thread"}:
            raise ConfigError(
                "CONCERTBOOK_SQLITE_WRITER must be process or thread,"
                f" not {settings.sqlite_writer!r}"
            )
        if settings.log_format not in {"json", "text"}:
            raise ConfigError(
                f"CONCERTBOOK_LOG_FORMAT must be json or text, not {settings.log_format!r}"
            )
        if settings.runtime == "aws" and not settings.table_name:
            raise ConfigError("the aws runtime needs CONCERTBOOK_TABLE_NAME")
        _check_payment_provider(settings)
        if settings.media_bucket and not settings.media_base_url:
            raise ConfigError("CONCERTBOOK_MEDIA_BUCKET needs CONCERTBOOK_MEDIA_BASE_URL (the CDN)")
        _check_connection_limits(settings)
        _check_login_defence(settings)
        return settings

    def backoff(self) -> Backoff:
        return Backoff(
            after=self.login_backoff_after,
            seconds=self.login_backoff_seconds,
            max_seconds=self.login_backoff_max_seconds,
        )

    def resolved_webhook_secret(self) -> bytes:
        """The configured secret, or one generated on first start and kept in the data folder."""
        if self.webhook_secret:
            return self.webhook_secret
        path = self.data_dir / "webhook-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            create_once(path, secrets.token_hex(32).encode())
        return path.read_text().strip().encode()


def _check_payment_provider(settings: Settings) -> None:
    if settings.payment_provider not in {"simulated", "toss"}:
        raise ConfigError(
            "CONCERTBOOK_PAYMENT_PROVIDER must be simulated or toss,"
            f" not {settings.payment_provider!r}"
        )
    if settings.payment_provider == "toss" and not (
        settings.toss_secret_key or settings.toss_secret_key_arn
    ):
        raise ConfigError("CONCERTBOOK_PAYMENT_PROVIDER=toss needs CONCERTBOOK_TOSS_SECRET_KEY")


def _check_connection_limits(settings: Settings) -> None:
    for name in ("header_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"):
        if not getattr(settings, name) > 0:
            raise ConfigError(f"CONCERTBOOK_{name.upper()} must be more than 0")
    if settings.max_connections < 1:
        raise ConfigError("CONCERTBOOK_MAX_CONNECTIONS must be at least 1")


def _origins(value: str) -> tuple[str, ...]:
    """`https://a.example, http://localhost:5173` → exact origins: scheme, host and port only."""
    origins = tuple(o.strip().rstrip("/").lower() for o in value.split(",") if o.strip())
    for origin in origins:
        scheme, _, host = origin.partition("://")
        if scheme not in {"http", "https"} or not host or any(c in host for c in "/*?#@ "):
            raise ValueError(f"{origin!r} is not an origin like https://tickets.example")
    return origins


def _check_login_defence(settings: Settings) -> None:
    if settings.login_backoff_after < 1:
        raise ConfigError("CONCERTBOOK_LOGIN_BACKOFF_AFTER must be at least 1")
    if not 0 < settings.login_backoff_seconds <= settings.login_backoff_max_seconds:
        raise ConfigError(
            "CONCERTBOOK_LOGIN_BACKOFF_SECONDS must be more than 0 and at most"
            " CONCERTBOOK_LOGIN_BACKOFF_MAX_SECONDS"
        )
    if settings.password_hash_threads < 0:
        raise ConfigError("CONCERTBOOK_PASSWORD_HASH_THREADS must be 0 (cores less one) or more")


def _networks(value: str) -> tuple[str, ...]:
    """`10.0.0.0/8, 192.0.2.7` → the networks, each checked and written out in full."""
    return tuple(
        str(ipaddress.ip_network(part.strip(), strict=False))
        for part in value.split(",")
        if part.strip()
    )


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


_PARSERS: dict[str, Callable[[str], object]] = {
    "data_dir": Path,
    "port": int,
    "public_url": lambda v: v.rstrip("/"),
    "media_base_url": lambda v: v.rstrip("/"),
    "webhook_secret": str.encode,
    "ticket_signing_key": str.encode,
    "sweep_interval_seconds": float,
    "gateway_duplicate_rate": float,
    "gateway_late_rate": float,
    "toss_api_url": lambda v: v.rstrip("/"),
    "toss_security_key": str.encode,
    "max_body_bytes": int,
    "max_in_flight": int,
    "header_timeout_seconds": float,
    "body_timeout_seconds": float,
    "keep_alive_seconds": float,
    "max_connections": int,
    "cors_allowed_origins": _origins,
    "redis_timeout_seconds": float,
    "session_cache_seconds": float,
    "aws_max_connections": int,
    "queue_max_attempts": int,
    "queue_wait_seconds": int,
    "rehearsal": _flag,
    "preclaim": _flag,
    "trusted_proxies": _networks,
    "rate_limit_signup_per_address": parse_rate,
    "rate_limit_login_per_address": parse_rate,
    "rate_limit_login_per_account": parse_rate,
    "rate_limit_booking_per_address": parse_rate,
    "rate_limit_booking_per_account": parse_rate,
    "login_backoff_after": int,
    "login_backoff_seconds": float,
    "login_backoff_max_seconds": float,
    "password_hash_threads": int,
}
