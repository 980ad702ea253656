"""moto's server, single-threaded: the DynamoDB stand-in for tests on this machine.

moto's default threaded server is not linearizable (two transactions can both
pass the same condition); serving one request at a time makes its conditional
writes apply one at a time, as DynamoDB's do. Run: python -m tests.moto_server PORT
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-2",
}


def _item_backups_per_transaction() -> None:
    """moto backs up a table before a TransactWriteItems by a deep copy of the whole table
    (once per item that names it) and puts the copy back if the transaction fails, so a
    transaction costs as much as the table is large: the race tests' larger runs were moto
    copying tables, their time growing with the square of the orders. This keeps the same
    all-or-nothing rollback from copies of only the items the transaction names: each is
    put back as it was (or deleted, if it did not exist) when the transaction fails. A
    table with a stream is copied once per transaction instead (putting items back would
    add stream records that a failed transaction must not leave), and a transaction moto
    cannot key (malformed, an unknown table) keeps moto's own backup.
    """
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models.table import Table

    transact = models.DynamoDBBackend.transact_write_items

    class TableCopies:
        """moto's `copy` for the length of one transaction: a table with a stream is copied
        once (moto asks once per item that names it), one without is not copied at all."""

        def __init__(self) -> None:
            self.tables: dict[int, Any] = {}

        def __getattr__(self, name: str) -> Any:  # copy.copy and the rest as they are
            return getattr(copy, name)

        def deepcopy(self, value: Any, memo: Any = None) -> Any:
            if not isinstance(value, Table):
                return copy.deepcopy(value, memo)
            if value.stream_shard is None:
                return value
            if id(value) not in self.tables:
                self.tables[id(value)] = copy.deepcopy(value, memo)
            return self.tables[id(value)]

    def items_before(backend: Any, transact_items: Any) -> list[tuple[str, Any, Any]]:
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            if "Item" in op:
                names = [table.hash_key_attr, table.range_key_attr]
                key = {name: op["Item"][name] for name in names if name is not None}
            else:
                key = op["Key"]
            if table.stream_shard is not None:
                continue  # the table's copy rolls it back
            current = backend.get_item(op["TableName"], key)
            before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
            saved.append((op["TableName"], key, before))
        return saved

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        try:
            saved = items_before(self, transact_items)
        except Exception:  # malformed: moto answers it (and copies the table) as it would
            return transact(self, transact_items)
        # The server serves one request at a time, so the module's `copy` is ours alone
        # for the length of this call.
        models.copy = TableCopies()  # type: ignore[attr-defined,assignment]
        try:
            return transact(self, transact_items)
        except (
            TransactionCanceledException,
            MultipleTransactionsException,
            MockValidationException,
        ):
            for table_name, key, before in reversed(saved):
                if before is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before)
            raise
        finally:
            models.copy = copy  # type: ignore[attr-defined]

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _RegisterOfNothing(list[Any]):
    """A model class's register of its instances that keeps none of them."""

    def append(self, instance: Any) -> None:
        pass


def _no_register_of_items_and_messages() -> None:
    """moto registers every model instance it ever creates, for its state dump
    (/moto-api/data.json), and never lets go: every DynamoDB item (each read's copies,
    each transaction's backup of the whole table) and every SQS message stays alive for
    the life of the server. The 200-order payments race grew it by 1.7 GB a minute to
    13 GB. No test reads those two services from the dump (SES's mail is read from it,
    and stays registered)."""
    import moto.dynamodb.models
    import moto.sqs.models  # noqa: F401  (importing them defines, so registers, their models)
    from moto.core.model_instances import model_data

    for service in ("dynamodb", "sqs"):
        for model in model_data[service].values():
            model.instances_tracked = _RegisterOfNothing()  # type: ignore[attr-defined]


def serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    _item_backups_per_transaction()
    _no_register_of_items_and_messages()

    class BoundedRequestHandler(WSGIRequestHandler):
        # One connection at a time: a client that connects and then stalls must not hold
        # every other client of the session behind it for ever.
        timeout = 30

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", port, app, threaded=False, request_handler=BoundedRequestHandler
    )
    server.serve_forever()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """Start the server on a free port; yield its endpoint URL; stop it by PID."""
    port = _free_port()
    log = (log_dir / f"moto-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.moto_server", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **AWS_TEST_ENV},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(endpoint + "/moto-api/", timeout=1).status_code < 500:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not start (exit {process.poll()})")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


async def create_table(endpoint: str, name: str | None = None, stream: bool = True) -> str:
    """A fresh table (small and private to one test: moto copies tables per transaction).

    `stream=False` for load: moto records stream images so slowly (~3 transactions/s
    on a 300-item table, against ~30 without) that it would measure itself, not us.
    """
    from booking.adapters.aws.dynamodb_table import dynamodb_client, table_definition

    name = name or f"concertbook-{uuid.uuid4().hex[:12]}"
    async with dynamodb_client(AWS_TEST_ENV["AWS_DEFAULT_REGION"], endpoint) as client:
        definition = table_definition(name)
        if not stream:
            definition.pop("StreamSpecification")
        await client.create_table(**definition)
        await client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
    return name


if __name__ == "__main__":
    serve(int(sys.argv[1]))


@contextlib.contextmanager
def own_moto_server(log_dir: Path) -> Iterator[str]:
    """A module's own server, with the AWS test credentials set meanwhile: for tests that
    read moto's whole state (its data.json dump), which on the session's shared server
    holds every other test's tables and takes too long to produce."""
    saved = {name: os.environ.get(name) for name in AWS_TEST_ENV}
    os.environ.update(AWS_TEST_ENV)
    try:
        with moto_server(log_dir) as endpoint:
            yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
