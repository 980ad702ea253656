"""The background work of the local runtime, as asyncio tasks beside the API.

On AWS the same handlers run as SQS-triggered Lambdas; here the outbox relay
feeds them, a sweeper marks lapsed holds and orders, and the simulated
payment gateway delivers its webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from booking.bootstrap import Relay, Runtime
from booking.domain.ports import ExpirySweep
from booking.services.listing_indexer import INDEXED_TOPICS
from workers.handlers import handlers

log = logging.getLogger(__name__)


async def sweep_expired(store: ExpirySweep, interval_seconds: float) -> None:
    while True:
        try:
            swept = await store.expire_due(limit=500)
            if swept:
                log.info("expired holds and orders", extra={"count": swept})
        except Exception:
            log.exception("expiry sweep failed; retrying")
        await asyncio.sleep(interval_seconds)


@contextlib.asynccontextmanager
async def background(runtime: Runtime) -> AsyncIterator[Relay]:
    """Run relay, sweeper and webhook delivery for the lifetime of the block."""
    relay = runtime.relay(handlers(runtime), [(INDEXED_TOPICS, runtime.indexer.apply)])
    tasks = [
        asyncio.create_task(relay.run(), name="outbox-relay"),
        asyncio.create_task(
            sweep_expired(runtime.booking.expiry, runtime.settings.local.sweep_interval_seconds),
            name="expiry-sweeper",
        ),
        asyncio.create_task(runtime.gateway.run_deliveries(), name="webhook-delivery"),
    ]
    if runtime.settings.runtime == "aws" and runtime.settings.queues.queue_url_webhooks:
        # The API queues verified webhooks: this process drains the queue as well.
        from workers.queues import consumers  # noqa: PLC0415 - aws dependencies

        tasks += [
            asyncio.create_task(c.run(), name="webhook-queue")
            for c in consumers(runtime, ("webhooks",))
        ]
    try:
        yield relay
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
