"""The application served for real: its own process, a real ASGI server, a free local port.

`live_server(backend, data_dir, **settings)` starts one server process, waits for
`/healthz`, yields a `LiveServer` and always stops that process (by its PID)
afterwards. Backends are looked up in `BACKENDS`, so a test parametrized over its
keys runs against every adapter family registered there; an AWS-adapter variant
adds a starter that returns a `LiveServer` whose `stores` name its own tables.

The local backend runs the real entry point, `concertbook serve`, configured
through `CONCERTBOOK_*` environment variables exactly as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.moto_server import AWS_TEST_ENV

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class LiveServer:
    backend: str
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    stores: dict[str, Any] = field(default_factory=dict)
    """Where the audit reads state: for `local`, the `booking` and `gateway` SQLite paths."""
    variant: str = ""
    """What a test calls this server when it runs one backend several ways."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux /proc), if known."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM (graceful: lifespan shutdown closes the databases), then SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def settings_env(**settings: object) -> dict[str, str]:
    """`sweep_interval_seconds=0.2` → `{"CONCERTBOOK_SWEEP_INTERVAL_SECONDS": "0.2"}`."""
    return {f"CONCERTBOOK_{name.upper()}": str(value) for name, value in settings.items()}


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("concertbook")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "api.cli", "serve"]


def wait_healthy(server: LiveServer, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(
                    f"server exited with {server.process.returncode} during start:\n"
                    + server.log_tail()
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"server not healthy within {timeout}s:\n{server.log_tail()}")


def start_local(data_dir: Path, settings: Mapping[str, object]) -> LiveServer:
    """`concertbook serve` on the embedded SQLite runtime, on a free port of 127.0.0.1."""
    stores = {
        "booking": data_dir / "concertbook.sqlite3",
        "gateway": data_dir / "payment-gateway.sqlite3",
    }
    return _start("local", data_dir, settings_env(**settings), stores)


def start_aws(data_dir: Path, settings: Mapping[str, object]) -> LiveServer:
    """`concertbook serve` on the aws runtime: `settings` name the table and endpoint
    (`table_name`, `aws_endpoint_url`) and, for the pre-claim, `redis_url`."""
    env = {**AWS_TEST_ENV, **settings_env(runtime="aws", **settings)}
    return _start("aws", data_dir, env, {"table": settings.get("table_name")})


def _start(
    backend: str, data_dir: Path, env_overrides: Mapping[str, str], stores: dict[str, Any]
) -> LiveServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    project_root = Path(__file__).resolve().parent.parent
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONCERTBOOK_") and k != "PYTHONPATH"
    }
    env.update(env_overrides)
    env["PYTHONPATH"] = str(project_root)
    last_error: Exception | None = None
    for _ in range(3):  # a port taken between probing and binding: try another
        port = free_port()
        log_path = data_dir / f"server-{time.time_ns()}.log"
        log: IO[bytes] = log_path.open("wb")
        try:
            process = subprocess.Popen(  # fixed command, no shell
                [
                    *_serve_command(),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--data",
                    str(data_dir),
                ],
                cwd=project_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()  # the child keeps its own descriptor
        server = LiveServer(
            backend=backend,
            base_url=f"http://127.0.0.1:{port}",
            data_dir=data_dir,
            process=process,
            log_path=log_path,
            stores=stores,
        )
        try:
            wait_healthy(server)
        except RuntimeError as exc:
            server.stop()
            last_error = exc
            continue
        return server
    raise RuntimeError(f"could not start the {backend} server: {last_error}")


BACKENDS: dict[str, Callable[[Path, Mapping[str, object]], LiveServer]] = {
    "local": start_local,
}


@contextlib.contextmanager
def live_server(backend: str, data_dir: Path, **settings: object) -> Iterator[LiveServer]:
    server = BACKENDS[backend](data_dir, settings)
    try:
        yield server
    finally:
        server.stop()
