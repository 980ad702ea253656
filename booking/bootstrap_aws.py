"""Wiring of the aws runtime: DynamoDB stores, the Redis pre-claim, the payment gateway.

The DynamoDB client is created in `start()` (inside the event loop that will
use it) and reused for the life of the process, as a Lambda container does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import botocore.session

from booking.adapters.aws.dynamodb_accounts import DynamoAccountStore
from booking.adapters.aws.dynamodb_booking import DynamoBookingStore
from booking.adapters.aws.dynamodb_catalog import DynamoCatalogStore
from booking.adapters.aws.dynamodb_gateway_state import DynamoGatewayState
from booking.adapters.aws.dynamodb_outbox import DynamoOutboxRelay
from booking.adapters.aws.dynamodb_table import Dynamo, dynamodb_client
from booking.adapters.aws.elasticache_iam import ElastiCacheIamCredentials
from booking.adapters.aws.messaging import AwsClients, SqsWebhookQueue
from booking.adapters.aws.redis_availability import CachedAvailabilityStore
from booking.adapters.aws.redis_guard import RedisGuard, redis_client
from booking.adapters.aws.redis_preclaim import PreclaimingBookingStore
from booking.adapters.aws.redis_rate_limiter import RedisRateLimiter
from booking.adapters.aws.s3_media import S3Bucket, S3MediaStore, S3PosterUploads, s3_client
from booking.adapters.aws.ses_mailer import SesMailer
from booking.adapters.outbox_dispatch import BatchSubscription, Handler
from booking.adapters.system_clock import SystemClock
from booking.bootstrap import (
    BookingPorts,
    ManagedGateway,
    ManagedSearchIndex,
    Relay,
    Services,
    build_services,
    close_gateway,
    holds_and_orders,
    payment_gateway,
    preclaimed,
    search_index,
    simulator_on,
)
from booking.domain.ports import Clock, RateLimiter
from booking.services.listing_indexer import ListingIndexer
from booking.settings import ConfigError, Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class AwsRuntime:
    settings: Settings
    clock: Clock
    dynamo: Dynamo
    gateway: ManagedGateway
    booking: BookingPorts
    services: Services
    search_index: ManagedSearchIndex
    indexer: ListingIndexer
    redis: Redis | None = None
    guard: RedisGuard | None = None
    media_bucket: S3Bucket | None = None
    clients: AwsClients = field(default_factory=AwsClients)
    _exit: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def start(self) -> None:
        self.dynamo.client = await self._exit.enter_async_context(
            dynamodb_client(
                self.settings.aws.aws_region,
                self.settings.aws.aws_endpoint_url,
                self.settings.aws.aws_max_connections,
            )
        )
        await self.clients.open(
            self._exit, self.settings.aws.aws_region, self.settings.aws.aws_endpoint_url
        )
        await self.search_index.start()
        if self.media_bucket is not None:
            self.media_bucket.client = await self._exit.enter_async_context(
                s3_client(self.settings.aws.aws_region, self.settings.aws.s3_endpoint_url)
            )

    async def stop(self) -> None:
        await self.booking.aclose()  # the pre-claim's settles still riding, say
        if self.guard is not None:
            await self.guard.drain()
        if self.redis is not None:
            await self.redis.aclose()
        await self.search_index.stop()
        await close_gateway(self.gateway)
        await self._exit.aclose()

    def relay(
        self,
        handlers: Mapping[str, Sequence[Handler]],
        batch_handlers: Sequence[BatchSubscription] = (),
    ) -> Relay:
        return DynamoOutboxRelay(
            self.dynamo, self.clock, handlers, batch_handlers, poll_seconds=1.0
        )


def with_secrets(settings: Settings) -> Settings:
    """Secrets named by ARN, read once from Secrets Manager when the runtime is built."""
    named = [
        (field, arn)
        for field, arn in (
            ("webhook_secret", settings.aws.webhook_secret_arn),
            ("ticket_signing_key", settings.aws.ticket_signing_key_arn),
            ("toss_secret_key", settings.payments.toss_secret_key_arn),
            ("toss_security_key", settings.payments.toss_security_key_arn),
        )
        if arn
    ]
    if not named:
        return settings
    client: Any = botocore.session.get_session().create_client(
        "secretsmanager",
        region_name=settings.aws.aws_region,
        endpoint_url=settings.aws.aws_endpoint_url,
    )
    try:
        values: dict[str, str | bytes] = {
            field: client.get_secret_value(SecretId=arn)["SecretString"] for field, arn in named
        }
    finally:
        client.close()
    # The Toss secret key is text (an HTTP Basic user); the others are bytes.
    values = {f: v if f == "toss_secret_key" else str(v).encode() for f, v in values.items()}
    return settings.replace(**values)


def redis_credentials(settings: Settings) -> ElastiCacheIamCredentials | None:
    """IAM tokens for the URL's user when the stage's cache uses IAM authentication."""
    if not (settings.aws.redis_iam_cache and settings.aws.redis_url):
        return None
    user = urlsplit(settings.aws.redis_url).username
    if not user:
        raise ConfigError("CONCERTBOOK_REDIS_IAM_CACHE needs the user in CONCERTBOOK_REDIS_URL")
    return ElastiCacheIamCredentials(settings.aws.redis_iam_cache, user, settings.aws.aws_region)


def build_aws(settings: Settings, clock: Clock | None = None) -> AwsRuntime:
    clock = clock or SystemClock()
    settings = with_secrets(settings)
    assert settings.aws.table_name, "Settings.from_env refuses the aws runtime without a table"
    dynamo = Dynamo(client=None, table=settings.aws.table_name)
    # The gateway simulator keeps its state in the stage's table: any Lambda or process can
    # move a payment or deliver a webhook that another one made.
    gateway = payment_gateway(
        settings, clock, lambda: simulator_on(DynamoGatewayState(dynamo, clock), settings, clock)
    )
    booking = BookingPorts.of(DynamoBookingStore(dynamo, clock))
    redis: Redis | None = None
    guard: RedisGuard | None = None
    limiter: RateLimiter | None = None  # each process's memory without Redis
    if settings.aws.redis_url:
        # Redis turns losers away before they spend a transaction; the table stays the fence.
        redis = redis_client(
            settings.aws.redis_url,
            timeout_seconds=settings.aws.redis_timeout_seconds,
            credential_provider=redis_credentials(settings),
        )
        guard = RedisGuard()
        if settings.inventory.preclaim:
            preclaim = PreclaimingBookingStore(holds_and_orders(booking), redis, guard, clock=clock)
            booking = preclaimed(booking, preclaim)
        # The cache serves inventory reads and drops an entry on every hold or order change.
        cached = CachedAvailabilityStore(holds_and_orders(booking), booking.inventory, redis, guard)
        booking = preclaimed(booking, cached).wrapped(inventory=cached)
        # One count of requests and failed log-ins for every process and Lambda of the stage.
        limiter = RedisRateLimiter(redis, guard)
    catalog_store = DynamoCatalogStore(dynamo, clock)
    index = search_index(settings, clock)
    clients = AwsClients()
    webhook_queue = (
        SqsWebhookQueue(clients, settings.queues.queue_url_webhooks)
        if settings.queues.queue_url_webhooks
        else None
    )
    # Posters in S3 behind the CDN, uploaded straight from browsers, when a bucket is set.
    bucket = S3Bucket(settings.aws.media_bucket) if settings.aws.media_bucket else None
    services = build_services(
        settings,
        clock,
        DynamoAccountStore(dynamo),
        catalog_store,
        booking,
        gateway,
        index,
        mailer=SesMailer(clients, dynamo, clock),
        webhook_queue=webhook_queue,
        media=S3MediaStore(bucket, settings.aws.media_base_url or "") if bucket else None,
        uploads=S3PosterUploads(bucket) if bucket else None,
        limiter=limiter,
    )
    return AwsRuntime(
        settings,
        clock,
        dynamo,
        gateway,
        booking,
        services,
        index,
        ListingIndexer(catalog_store, booking.inventory, index),
        redis,
        guard,
        clients=clients,
        media_bucket=bucket,
    )
