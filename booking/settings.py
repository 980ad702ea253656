"""Configuration from `CONCERTBOOK_*` environment variables, read once into frozen groups.

This module is the one table of them: each group below is a msgspec Struct whose fields
are the variables (`CONCERTBOOK_<FIELD>`), each with its type (a `Literal` where only some
words are meant, a type of this module where a value is written its own way), its
default and a docstring. `Settings.from_env` converts the environment with msgspec;
`reference()` writes the README's table of variables from these docstrings
(`python -m booking.settings`; tests/unit/test_settings.py checks the README against it).
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import secrets
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from booking.adapters.files import create_once
from booking.domain.limits import Backoff, Rate, parse_rate
from booking.settings_values import BaseUrl, Networks, Origins, Secret, SecretText


class ConfigError(ValueError):
    pass


# Per address high: a Korean carrier's NAT puts thousands of fans behind one address, and
# all of them sign up and log in the week of an onsale. Per account what one fan's clicks
# and retries never reach, and a bot firing holds as fast as it can soon does.
DEFAULT_SIGNUP_PER_ADDRESS = Rate(600, 600)
DEFAULT_LOGIN_PER_ADDRESS = Rate(600, 60)
DEFAULT_LOGIN_PER_ACCOUNT = Rate(20, 60)
DEFAULT_BOOKING_PER_ADDRESS = Rate(3000, 60)
DEFAULT_BOOKING_PER_ACCOUNT = Rate(60, 60)


class LocalSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The embedded runtime: where its files live, where it listens, its SQLite writer."""

    data_dir: Path = Path("data")
    """Folder of the SQLite databases, the ticket signing key and media (local runtime)."""
    host: str = "127.0.0.1"
    """Address the HTTP server binds."""
    port: int = 8000
    """Port the HTTP server binds."""
    sqlite_writer: Literal["process", "thread"] = "process"
    """Where the booking database's writer connection lives (local runtime): `process`, a
    process of its own, so its statements never wait for the API's interpreter lock; or
    `thread`, a thread of the API process (where subprocesses cannot be started)."""
    sweep_interval_seconds: float = 1.0
    """How often lapsed holds and unpaid orders are marked expired (claims never wait on it)."""


class PaymentSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The payment provider: the gateway simulator, or Toss Payments and its keys."""

    payment_provider: Literal["simulated", "toss"] = "simulated"
    """`simulated` (the gateway simulator: card tokens such as `tok_visa`) or `toss` (Toss
    Payments: the payment widget's paymentKey is confirmed with CONCERTBOOK_TOSS_SECRET_KEY)."""
    gateway_duplicate_rate: float = 0.0
    """Chance that the simulated gateway sends a webhook twice."""
    gateway_late_rate: float = 0.0
    """Chance that the simulated gateway sends a webhook seconds late (reordering it)."""
    toss_api_url: BaseUrl = BaseUrl("https://api.tosspayments.com")
    """Base URL of the Toss Payments API."""
    toss_secret_key: SecretText = SecretText()
    """Toss secret key (`test_sk_…`/`live_sk_…`), sent as HTTP Basic user."""
    toss_secret_key_arn: str | None = None
    """Secrets Manager ARN of the Toss secret key (aws runtime); wins over the variable."""
    toss_security_key: Secret = Secret()
    """Toss security key that signs its payout/seller webhooks (payment events are read back
    from the API instead); unset: signed Toss webhooks are refused."""
    toss_security_key_arn: str | None = None
    """Secrets Manager ARN of the Toss security key (aws runtime)."""


class AwsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The aws runtime: the table, Redis, OpenSearch, the media bucket and secrets by ARN."""

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
    media_base_url: BaseUrl | None = None
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


class QueueSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The aws runtime's queues, and how their consumers receive and give up."""

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


class LimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The front door's limits: bodies, connections, time, rates, log-in back-off."""

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
    cors_allowed_origins: Origins = Origins()
    """Origins whose pages may call the API from a browser, comma-separated exact origins
    (`https://tickets.example`, no wildcards); unset: none."""
    trusted_proxies: Networks = Networks()
    """Proxies in front of the API whose X-Forwarded-For is believed: addresses or networks
    (CIDR), comma-separated. A request from one of them counts against the limits of the
    right-most address in its X-Forwarded-For that is not one of them; unset: of its
    connection's peer (on Lambda, API Gateway's `sourceIp`)."""
    session_cache_seconds: float = 30.0
    """How long an API process trusts a session it looked up or created before reading it
    again; a log-out through another process of a stage applies within this long (0: every
    request reads its session)."""
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


class InventorySettings(msgspec.Struct, frozen=True, kw_only=True):
    """How holds claim places: ours behind a pre-claim, or a rehearsal baseline."""

    inventory_strategy: Literal["claims", "seat-locks", "performance-lock"] = "claims"
    """How holds claim places: `claims` (group-committed conditional claims, behind a Redis
    pre-claim when CONCERTBOOK_REDIS_URL is set), or a naive baseline for the rehearsal to
    compare against: `seat-locks` (a Redis lock per seat, needs Redis) or
    `performance-lock` (one lock per performance). The baselines run on the local runtime."""
    preclaim: bool = True
    """Turn losers of a seat race away before the store (strategy `claims`): in Redis when
    CONCERTBOOK_REDIS_URL is set (a stage of several API processes), else in the memory of
    the one API process of the local runtime. Off: every attempt goes to the store."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a process is configured with: the stage-wide values, then the groups."""

    runtime: Literal["local", "aws"] = "local"
    """`local` (SQLite, embedded) or `aws` (DynamoDB, Redis)."""
    public_url: BaseUrl | None = None
    """Base URL the payment gateway posts webhooks to; unset: delivered in-process to the app."""
    webhook_secret: Secret = Secret()
    """HMAC secret shared with the payment gateway; unset: generated once into the data folder."""
    ticket_signing_key: Secret = Secret()
    """Ed25519 private key (PEM) for ticket codes; unset: generated once into the data folder.
    Set it (from a secret) wherever several processes or Lambdas must sign alike."""
    mail_from: str = "K-ConcertBook <tickets@concertbook.example>"
    """Sender of confirmation mail (on AWS an address or domain verified in SES)."""
    log_format: Literal["json", "text"] = "json"
    """Log lines of `concertbook serve` and `work`: `json` (one object per line, with the
    request id and the account's keyed hash) or `text`."""
    metrics_token: SecretText | None = None
    """Bearer token a Prometheus scraper presents for `GET /metrics`; unset: the page
    answers loopback peers only (no forwarding header), and a 404 to anyone else."""
    rehearsal: bool = False
    """Rehearsal mode: organizers may mint fan sessions in bulk (`concertbook rehearse`).
    Never on a stage that sells real tickets."""
    local: LocalSettings = msgspec.field(default_factory=LocalSettings)
    payments: PaymentSettings = msgspec.field(default_factory=PaymentSettings)
    aws: AwsSettings = msgspec.field(default_factory=AwsSettings)
    queues: QueueSettings = msgspec.field(default_factory=QueueSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    inventory: InventorySettings = msgspec.field(default_factory=InventorySettings)

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from values by variable name (`data_dir=...`, `redis_url=...`), each put
        in its group; the rest default. Not checked: for tests and tools that know better."""
        return DEFAULTS.replace(**values)

    def replace(self, **values: Any) -> Settings:
        """These settings with some variables changed, by name, each in its group."""
        unknown = set(values) - set(_GROUP_OF)
        if unknown:
            raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for name, value in values.items():
            group = _GROUP_OF[name]
            if group is None:
                changes[name] = value
            else:
                changes.setdefault(group, {})[name] = value
        for group in _GROUPS:
            if group in changes:
                changes[group] = msgspec.structs.replace(getattr(self, group), **changes[group])
        return msgspec.structs.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Variables from `CONCERTBOOK_<FIELD>`; keyword overrides (command-line flags) win."""
        env = os.environ if env is None else env
        tree: dict[str, Any] = {group: {} for group in _GROUPS}
        for variable in variables():
            raw = env.get(variable.name)
            if raw is None:
                continue
            try:
                value = _lax(raw, variable.type)
            except ValueError as exc:
                raise ConfigError(f"{variable.name}={raw!r}: {exc}") from exc
            (tree[variable.group] if variable.group else tree)[variable.field] = value
        try:
            settings = msgspec.convert(tree, cls, strict=False, dec_hook=_parse)
        except msgspec.ValidationError as exc:
            raise ConfigError(_named(str(exc), env)) from None
        settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})
        _check(settings)
        return settings

    def backoff(self) -> Backoff:
        return Backoff(
            after=self.limits.login_backoff_after,
            seconds=self.limits.login_backoff_seconds,
            max_seconds=self.limits.login_backoff_max_seconds,
        )

    def resolved_webhook_secret(self) -> bytes:
        """The configured secret, or one generated on first start and kept in the data folder."""
        if self.webhook_secret:
            return self.webhook_secret
        path = self.local.data_dir / "webhook-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            create_once(path, secrets.token_hex(32).encode())
        return path.read_text().strip().encode()


_GROUPS = ("local", "payments", "aws", "queues", "limits", "inventory")
DEFAULTS = Settings()
INVENTORY_STRATEGIES: tuple[str, ...] = typing.get_args(
    typing.get_type_hints(InventorySettings)["inventory_strategy"]
)


@dataclass(frozen=True)
class Variable:
    """One row of the table: `CONCERTBOOK_<FIELD>`, its group, type, default and meaning."""

    name: str
    group: str | None
    field: str
    type: Any
    default: Any
    doc: str


@functools.cache
def variables() -> tuple[Variable, ...]:
    """Every variable, in the order of this module's groups (read once: the docstrings come
    from this module's source)."""
    docs = _docstrings()
    found = []
    groups: list[tuple[str | None, type[msgspec.Struct]]] = [(None, Settings)]
    groups += [(g, type(getattr(DEFAULTS, g))) for g in _GROUPS]
    for group, struct in groups:
        for info in msgspec.structs.fields(struct):
            if info.name in _GROUPS:
                continue
            default = getattr(getattr(DEFAULTS, group) if group else DEFAULTS, info.name)
            doc = docs[(struct.__name__, info.name)]
            found.append(
                Variable(
                    f"CONCERTBOOK_{info.name.upper()}", group, info.name, info.type, default, doc
                )
            )
    return tuple(found)


def _docstrings() -> dict[tuple[str, str], str]:
    """(class, field) → the docstring written under the field in this module's source."""
    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for field, doc in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                docs[(node.name, field.target.id)] = inspect.cleandoc(doc.value.value)
    return docs


_GROUP_OF: dict[str, str | None] = {v.field: v.group for v in variables()}


def _lax(raw: str, annotation: Any) -> object:
    """What msgspec's conversion does not read from text by itself: switches written as
    words, and limits written `<requests>/<seconds>` or `off`."""
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError("expected 1/0, true/false, yes/no or on/off")
    if Rate in typing.get_args(annotation):
        return parse_rate(raw)
    return raw


def _parse(kind: type, value: object) -> object:
    """msgspec's hook for this module's own types, and paths, read from text."""
    if not isinstance(value, str):
        raise NotImplementedError
    if kind is Path:
        return Path(value)
    parse = getattr(kind, "parse", None)
    if parse is None:
        raise NotImplementedError
    return parse(value)


def _named(error: str, env: Mapping[str, str]) -> str:
    """msgspec's `... - at `$.limits.max_in_flight`` → naming the variable instead, and the
    words it may be when its type is a `Literal`."""
    message, _, path = error.rpartition(" - at `$.")
    if not message:
        return error
    field = path.rstrip("`").rpartition(".")[2]
    variable = next(v for v in variables() if v.field == field)
    words = typing.get_args(variable.type) if typing.get_origin(variable.type) is Literal else ()
    if words:
        allowed = ", ".join(words[:-1]) + " or " + words[-1]
        return f"{variable.name} must be {allowed}, not {env.get(variable.name)!r}"
    return f"{variable.name}: {message}"


def _check(settings: Settings) -> None:
    """What no single variable's type can say: combinations and ranges."""
    inventory = settings.inventory
    if inventory.inventory_strategy != "claims" and settings.runtime != "local":
        raise ConfigError("the baseline inventory strategies run on the local runtime only")
    if inventory.inventory_strategy == "seat-locks" and not settings.aws.redis_url:
        raise ConfigError("CONCERTBOOK_INVENTORY_STRATEGY=seat-locks needs CONCERTBOOK_REDIS_URL")
    if settings.runtime == "aws" and not settings.aws.table_name:
        raise ConfigError("the aws runtime needs CONCERTBOOK_TABLE_NAME")
    payments = settings.payments
    if payments.payment_provider == "toss" and not (
        payments.toss_secret_key or payments.toss_secret_key_arn
    ):
        raise ConfigError("CONCERTBOOK_PAYMENT_PROVIDER=toss needs CONCERTBOOK_TOSS_SECRET_KEY")
    if settings.aws.media_bucket and not settings.aws.media_base_url:
        raise ConfigError("CONCERTBOOK_MEDIA_BUCKET needs CONCERTBOOK_MEDIA_BASE_URL (the CDN)")
    limits = settings.limits
    for name in ("header_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"):
        if not getattr(limits, name) > 0:
            raise ConfigError(f"CONCERTBOOK_{name.upper()} must be more than 0")
    if limits.max_connections < 1:
        raise ConfigError("CONCERTBOOK_MAX_CONNECTIONS must be at least 1")
    if limits.login_backoff_after < 1:
        raise ConfigError("CONCERTBOOK_LOGIN_BACKOFF_AFTER must be at least 1")
    if not 0 < limits.login_backoff_seconds <= limits.login_backoff_max_seconds:
        raise ConfigError(
            "CONCERTBOOK_LOGIN_BACKOFF_SECONDS must be more than 0 and at most"
            " CONCERTBOOK_LOGIN_BACKOFF_MAX_SECONDS"
        )
    if limits.password_hash_threads < 0:
        raise ConfigError("CONCERTBOOK_PASSWORD_HASH_THREADS must be 0 (cores less one) or more")


def reference() -> str:
    """The README's table of variables, from this module."""
    rows = ["| variable | group | default | meaning |", "|---|---|---|---|"]
    for v in variables():
        meaning = " ".join(v.doc.split()).replace("|", "\\|")
        rows.append(f"| `{v.name}` | {v.group or 'stage'} | {_shown(v.default)} | {meaning} |")
    return "\n".join(rows) + "\n"


def _shown(default: object) -> str:
    if default is None or default in ("", ()):
        return "unset"
    if isinstance(default, (Secret, SecretText)):
        return "unset"
    if isinstance(default, Rate):
        return f"`{default.count}/{default.seconds:g}`"
    if isinstance(default, bool):
        return "`1`" if default else "`0`"
    return f"`{default}`"


if __name__ == "__main__":
    print(reference(), end="")
