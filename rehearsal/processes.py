"""The processes a local rehearsal starts itself — `concertbook serve` in rehearsal mode and,
when installed, a throwaway redis-server — each on a free loopback port and always
stopped by its PID (SIGTERM, then SIGKILL) when the rehearsal ends."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from api.overload import CHECKOUT_PREFIXES

STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time used so far: user + system, every thread of the server and of the
        processes it started (the SQLite writer)."""
        return sum(float(sum(p.cpu_times()[:2])) for p in server_processes(self.pid))

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


def server_processes(pid: int) -> list[psutil.Process]:
    """A server and the processes it runs (its SQLite writer): what its work costs."""
    server = psutil.Process(pid)
    alive = [server]
    with contextlib.suppress(psutil.Error):
        alive += server.children(recursive=True)
    return alive


AHEAD_NICE = -10
"""The niceness the open-loop generator and the edge run at. In production they are other
machines — the fans' phones, API Gateway; sharing two cores with the server under the
kernel's fair shares, they fell behind their schedule under overload: the generator
counted its own wait for a core as the server's latency and the edge stopped accepting
connections in time (clients timed out). Ahead of the server, they keep their schedule
and the server gets the cores that are left."""


def ahead_of_server(command: list[str]) -> list[str]:
    """`command` run at AHEAD_NICE through nice(1), which runs it at the usual priority
    (with a warning) where raising a priority is not allowed."""
    nice = shutil.which("nice")
    return [nice, "-n", str(AHEAD_NICE), *command] if nice else command


@functools.cache
def ahead_granted() -> bool:
    """Whether commands from `ahead_of_server` do run ahead (root or CAP_SYS_NICE)."""
    nice = shutil.which("nice")
    if nice is None:
        return False
    try:  # nice(1) without a command prints the niceness it runs at
        probe = [nice, "-n", str(AHEAD_NICE), nice]
        out = subprocess.run(probe, capture_output=True, text=True, timeout=10, check=False)
        return int(out.stdout.strip()) < os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False


def _start(
    command: list[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Any:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(  # fixed command, no shell
            command,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def server(
    data_dir: Path,
    settings: Mapping[str, object],
    *serve_args: str,
    environment: Mapping[str, str] | None = None,
    code: Path | None = None,
) -> Iterator[Process]:
    """`concertbook serve` on 127.0.0.1 with `settings` as CONCERTBOOK_* variables (and any
    other `environment`); `code`: another checkout's code (a before-and-after comparison)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCERTBOOK_")}
    env.update({f"CONCERTBOOK_{k.upper()}": str(v) for k, v in settings.items()})
    env.update(environment or {})
    env["CONCERTBOOK_REHEARSAL"] = "1"
    command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data", str(data_dir), *serve_args]
    if code is not None:
        env["PYTHONPATH"] = str(code)
    running = Process(
        _start(command, data_dir / "server.log", env, cwd=code),
        f"http://127.0.0.1:{port}",
        data_dir / "server.log",
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if running.process.poll() is not None:
                raise RuntimeError(f"the server exited: {running.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(running.url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer /healthz: {running.log_tail()}")
            time.sleep(0.1)
        yield running
    finally:
        running.stop()


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Until something listens on 127.0.0.1:`port` (`process`, which must stay alive)."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.1)


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


@contextlib.contextmanager
def redis(folder: Path) -> Iterator[Process]:
    """A redis-server that saves nothing, for the pre-claim and the seat-lock baseline."""
    binary = redis_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder)]
    running = Process(
        _start(command, folder / "redis.log"), f"redis://127.0.0.1:{port}/0", folder / "redis.log"
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), 1) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            if running.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {running.log_tail()}")
            time.sleep(0.05)
        yield running
    finally:
        running.stop()


EDGE_IN_FLIGHT = 16
"""Requests the edge lets reach the server at once; more wait in its queue."""
EDGE_SERVICE_MS = 30
"""A smaller stage gets fewer requests in flight: as many as it serves in this time, so a
served request waits about this long in the server, whatever its capacity."""
EDGE_QUEUE_MS = 25
"""How long a request may wait for a slot before the edge answers 503 itself."""


def edge_in_flight(capacity_rps: float) -> int:
    """The edge's bound for a stage that serves `capacity_rps` (at least 4, at most
    EDGE_IN_FLIGHT)."""
    return max(4, min(EDGE_IN_FLIGHT, round(capacity_rps * EDGE_SERVICE_MS / 1000)))


_EDGE_CONFIG = """\
global
  maxconn 8000
  nbthread 1
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  timeout queue {queue_ms}ms
frontend edge
  bind 127.0.0.1:{port}
  # Checkout leaves the queue first, as the API's own bound keeps room for it.
  acl checkout path_beg {checkout}
  http-request set-priority-class int(-1) if checkout
  default_backend api
backend api
  http-reuse always
  errorfile 503 {problem}
  server app 127.0.0.1:{app_port} maxconn {in_flight}
"""

_EDGE_PROBLEM = (
    '{"type":"/problems/overloaded",'
    '"title":"Too many requests in progress; retry after the given delay","status":503,'
    '"detail":"the edge turned this request away; retry in 1 s"}\n'
)
_EDGE_503 = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/problem+json\r\n"
    f"Content-Length: {len(_EDGE_PROBLEM)}\r\n"
    "Retry-After: 1\r\n"
    "Cache-Control: no-store\r\n"
    "\r\n" + _EDGE_PROBLEM
)


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )


@contextlib.contextmanager
def edge(
    app_url: str, folder: Path, ahead: bool = True, in_flight: int = EDGE_IN_FLIGHT
) -> Iterator[Process]:
    """HAProxy in front of the server, as API Gateway's throttling is in front of the API
    on AWS: admission control in C, where turning a request away costs microseconds. At most
    `in_flight` requests reach the server; the rest wait up to EDGE_QUEUE_MS for a slot,
    then get the same problem+json 503 with Retry-After the server sends. It runs ahead of
    the server (AHEAD_NICE), as a machine of its own would, unless `ahead` is False."""
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError("haproxy is not installed (Debian: apt-get install haproxy)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    problem = folder / "overloaded.http"
    problem.write_text(_EDGE_503)
    config = folder / "haproxy.cfg"
    config.write_text(
        _EDGE_CONFIG.format(
            port=port,
            app_port=app_url.rsplit(":", 1)[1],
            in_flight=in_flight,
            queue_ms=EDGE_QUEUE_MS,
            problem=problem,
            checkout=" ".join(CHECKOUT_PREFIXES),
        )
    )
    command = [binary, "-db", "-f", str(config)]
    running = Process(
        _start(ahead_of_server(command) if ahead else command, folder / "haproxy.log"),
        f"http://127.0.0.1:{port}",
        folder / "haproxy.log",
    )
    try:
        wait_for_port(port, running.process, 10)
        yield running
    finally:
        running.stop()
