"""The aws runtime's payment work in a process of its own, as its Lambdas would do it apart
from the API's: the `webhooks` queue (verified webhooks applied: confirm, capture, tickets),
the outbox's OrderPaid/OrderClosed (capture, void, refund), the expiry sweep, and the
gateway simulator's webhook deliveries (`workers/gateway_webhooks.py`'s rounds).

The table's stream is not read here (moto records stream images too slowly to race on):
the outbox is drained by polling, as `DynamoOutboxRelay` does. Mail and search are left
out; their messages are dropped. Run: python -m tests.aws_payments_worker (configured by
`CONCERTBOOK_*`); SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from booking.adapters.payments.simulated_gateway import http_sender
from booking.observability import logs
from booking.runtimes import build_runtime
from booking.settings import Settings
from workers.gateway_webhooks import WEBHOOK_PATH
from workers.handlers import handlers
from workers.local import sweep_expired
from workers.queues import consumers


async def main() -> None:
    settings = Settings.from_env()
    assert settings.runtime == "aws" and settings.public_url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runtime = build_runtime(settings)
    await runtime.start()
    try:
        payments = {t: h for t, h in handlers(runtime).items() if t in ("OrderPaid", "OrderClosed")}
        runtime.gateway.attach(http_sender(settings.public_url + WEBHOOK_PATH))
        tasks = [
            asyncio.create_task(runtime.relay(payments).run()),
            asyncio.create_task(runtime.gateway.run_deliveries()),
            asyncio.create_task(
                sweep_expired(runtime.booking.expiry, settings.local.sweep_interval_seconds)
            ),
            *(asyncio.create_task(c.run()) for c in consumers(runtime, ("webhooks",))),
        ]
        print("worker ready", flush=True)
        await stop.wait()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await runtime.stop()


if __name__ == "__main__":
    logs.configure("text", logging.WARNING)
    asyncio.run(main())
