"""A throwaway redis-server per test: its own port and folder, nothing saved, stopped by PID.

Use the fixture by importing it into a test module:
    from tests.redis_server import redis_server_fixture  # noqa: F401
and asking for `redis_server`. Without the binary the test skips (and fails in CI).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support import skip_unless_available

_FALLBACK = Path("/usr/bin/redis-server")


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A synchronous client, for a test to look at keys or FLUSHALL."""
        return redis.Redis(port=self.port, socket_timeout=2)

    def flushall(self) -> None:
        """Lose every key at once, as a failover to an empty replica would."""
        with contextlib.closing(self.client()) as client:
            client.flushall()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it accepts connections but answers nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Stop the server at once (SIGKILL to its PID), as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.resume()  # a frozen server would not act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return str(_FALLBACK) if _FALLBACK.exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_ping(server: RedisServer, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    with contextlib.closing(server.client()) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False  # exited: the port was taken meanwhile, or a bad flag
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return True
            time.sleep(0.05)
    return False


def start_redis(binary: str, folder: Path, attempts: int = 3) -> RedisServer:
    """Start redis-server on a free port; retries if another process grabbed the port."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        port = _free_port()
        process = subprocess.Popen(
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),  # nothing written but the log
                *("--dir", str(folder), "--logfile", str(folder / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = RedisServer(port, process)
        if _wait_for_ping(server):
            return server
        server.stop()
    log = folder / "redis.log"
    raise RuntimeError(f"redis-server did not start: {log.read_text() if log.exists() else ''}")


@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    binary = redis_binary()
    skip_unless_available(binary is not None, "redis-server is not installed")
    assert binary is not None
    server = start_redis(binary, tmp_path / "redis")
    yield server
    server.stop()
