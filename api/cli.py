"""`concertbook`: serve the API with its workers on the embedded runtime, and small tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.app import WEBHOOK_PATH, create_app
from api.connection_guard import GuardedHttpProtocol
from booking.adapters.payments.simulated_gateway import http_sender
from booking.adapters.security.ed25519_signer import verify_ticket_code
from booking.bootstrap import Runtime, Services, build_local
from booking.demo import DEMO_PASSWORD, FAN_EMAIL, ORGANIZER_EMAIL, load_demo
from booking.domain.errors import InvalidRequest
from booking.observability import logs
from booking.observability.logs import FORMATS
from booking.runtimes import build_runtime
from booking.settings import Settings
from workers.local import background

log = logging.getLogger("concertbook")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="concertbook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and its workers in one process")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--data", type=Path, default=None, help="data folder (default ./data)")
    serve.add_argument("--demo", action="store_true", help="load a demo concert on first start")
    serve.add_argument(
        "--log-format",
        choices=FORMATS,
        default=None,
        help="log lines as JSON objects (the default) or plain text (CONCERTBOOK_LOG_FORMAT)",
    )
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="serve the API only: no outbox relay, expiry sweep or gateway webhooks in this "
        "process (`concertbook work` runs them)",
    )
    work = commands.add_parser(
        "work",
        help="run the aws runtime's workers: the table stream to the queues and the search "
        "index, the queue consumers, the expiry sweep, the payment gateway's webhooks",
    )
    work.add_argument("--data", type=Path, default=None, help="data folder (default ./data)")
    work.add_argument("--log-format", choices=FORMATS, default=None, help="json or text")
    reindex = commands.add_parser(
        "reindex", help="rebuild the search index from the catalogue (alias swap, no downtime)"
    )
    reindex.add_argument("--data", type=Path, default=None, help="data folder (default ./data)")
    _rehearsal_parser(commands)
    _checker_parser(commands)
    verify = commands.add_parser("verify-ticket", help="check a ticket code offline")
    verify.add_argument("code")
    verify.add_argument("--public-key", type=Path, required=True, help="PEM file of the key")
    return parser


def _rehearsal_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from rehearsal.options import parser  # noqa: PLC0415 - not in the wheel
    except ImportError:
        commands.add_parser("rehearse", help="onsale rehearsal (needs the rehearsal extra)")
        return
    parser(commands)


def _checker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from checker.options import parser  # noqa: PLC0415 - not in the wheel
    except ImportError:
        commands.add_parser("check", help="history checker (runs from a checkout)")
        return
    parser(commands)


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """The server's loop is uvloop's where it is installed (uvicorn's standard extra: not on
    Windows): the hold path is mostly loop work — sockets, futures from the store's
    threads, Redis replies — which uvloop does in C."""
    try:
        import uvloop  # noqa: PLC0415 - optional, platform-dependent
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def _seed_demo(services: Services, now: datetime) -> None:
    loaded = await load_demo(services, now)
    if loaded:
        log.info("demo loaded: performances %s", ", ".join(p.id for p in loaded.performances))
    log.info("demo accounts: %s and %s, password %s", ORGANIZER_EMAIL, FAN_EMAIL, DEMO_PASSWORD)


def _serving_runtime(settings: Settings) -> Runtime:
    """The runtime `serve` runs: the configured one, or the embedded one claiming places as
    a rehearsal baseline names (the rehearsal measures them side by side with ours)."""
    if settings.inventory.inventory_strategy == "claims":
        return build_runtime(settings)
    from rehearsal.baselines import baseline_inventory  # noqa: PLC0415 - rehearsal only

    return build_local(settings, claims=baseline_inventory)


async def _serve(settings: Settings, demo: bool, workers: bool = True) -> None:
    app = create_app(
        _serving_runtime(settings),
        background=background if workers else None,
        seed=_seed_demo if demo else None,
    )
    config = uvicorn.Config(
        app,
        host=settings.local.host,
        port=settings.local.port,
        lifespan="on",
        http=GuardedHttpProtocol.configured(settings),
        access_log=False,
        log_config=None,  # uvicorn's lines go to the root logger's format, as ours do
        log_level="info",
        # The client's address is the peer's unless CONCERTBOOK_TRUSTED_PROXIES says otherwise
        # (api/rate_limits.py): uvicorn would believe X-Forwarded-For from loopback.
        proxy_headers=False,
    )
    await uvicorn.Server(config).serve()


async def _reindex(settings: Settings) -> int:
    runtime = build_runtime(settings)
    await runtime.start()
    try:
        count = await runtime.indexer.reindex()
    finally:
        await runtime.stop()
    log.info("search index rebuilt with %d listings", count)
    return count


async def _work(settings: Settings) -> int:
    if settings.runtime != "aws":
        print("concertbook work needs CONCERTBOOK_RUNTIME=aws", file=sys.stderr)
        return 2
    from workers.service import working  # noqa: PLC0415 - aws dependencies

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runtime = build_runtime(settings)
    await runtime.start()
    try:
        async with working(runtime) as tasks:
            if settings.public_url:
                # The simulated gateway's webhooks go to the API over HTTP, as a real one's do.
                runtime.gateway.attach(http_sender(settings.public_url + WEBHOOK_PATH))
                tasks.append(asyncio.create_task(runtime.gateway.run_deliveries()))
            else:
                log.warning("CONCERTBOOK_PUBLIC_URL is unset: no gateway webhooks are delivered")
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await runtime.stop()
    return 0


def _verify_ticket(args: argparse.Namespace) -> int:
    key = serialization.load_pem_public_key(args.public_key.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        print("the key is not an Ed25519 public key", file=sys.stderr)
        return 2
    try:
        claims = verify_ticket_code(key, args.code)
    except InvalidRequest as exc:
        print(f"INVALID: {exc.detail}", file=sys.stderr)
        return 1
    print(f"VALID ticket {claims.ticket_id}: {claims.unit_id} of {claims.performance_id}")
    return 0


def _rehearse(args: argparse.Namespace) -> int:
    try:
        from rehearsal.run import rehearse  # noqa: PLC0415 - the rehearsal extra is optional
    except ImportError as exc:
        print(
            f"the rehearsal runs from a checkout with its extra installed (`make rehearse`): {exc}"
        )
        return 2
    return rehearse(args)


def _check(args: argparse.Namespace) -> int:
    try:
        from checker.run import check_command  # noqa: PLC0415 - runs from a checkout
    except ImportError as exc:
        print(f"the checker runs from a checkout with the dev and rehearsal extras: {exc}")
        return 2
    return check_command(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        settings = Settings.from_env(
            host=args.host, port=args.port, data_dir=args.data, log_format=args.log_format
        )
        logs.configure(settings.log_format)
        _run_fast(_serve(settings, args.demo, workers=not args.no_workers))
        return 0
    if args.command == "work":
        settings = Settings.from_env(data_dir=args.data, log_format=args.log_format)
        logs.configure(settings.log_format)
        return asyncio.run(_work(settings))
    # The tools talk to a person at a terminal.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "reindex":
        asyncio.run(_reindex(Settings.from_env(data_dir=args.data)))
        return 0
    if args.command == "rehearse":
        return _rehearse(args)
    if args.command == "check":
        return _check(args)
    return _verify_ticket(args)


if __name__ == "__main__":
    sys.exit(main())
