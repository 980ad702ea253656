"""Configuration from `CONCERTBOOK_*` environment variables, read once into a frozen object."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from booking.adapters.files import create_once


class ConfigError(ValueError):
    pass


INVENTORY_STRATEGIES = ("claims", "seat-locks", "performance-lock")


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
    max_body_bytes: int = 65_536
    """Largest accepted request body (venue seat maps have their own, larger cap)."""
    max_in_flight: int = 128
    """API requests one process serves at once; beyond, 503 + Retry-After at once."""
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
        if settings.runtime == "aws" and not settings.table_name:
            raise ConfigError("the aws runtime needs CONCERTBOOK_TABLE_NAME")
        if settings.media_bucket and not settings.media_base_url:
            raise ConfigError("CONCERTBOOK_MEDIA_BUCKET needs CONCERTBOOK_MEDIA_BASE_URL (the CDN)")
        return settings

    def resolved_webhook_secret(self) -> bytes:
        """The configured secret, or one generated on first start and kept in the data folder."""
        if self.webhook_secret:
            return self.webhook_secret
        path = self.data_dir / "webhook-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            create_once(path, secrets.token_hex(32).encode())
        return path.read_text().strip().encode()


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
    "max_body_bytes": int,
    "max_in_flight": int,
    "redis_timeout_seconds": float,
    "session_cache_seconds": float,
    "aws_max_connections": int,
    "queue_max_attempts": int,
    "queue_wait_seconds": int,
    "rehearsal": _flag,
    "preclaim": _flag,
}
