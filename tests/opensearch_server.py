"""A throwaway single-node OpenSearch 2.19 server: its own folder, any free port, stopped by PID.

This machine has no Docker engine, so the tests' OpenSearch is OpenSearch's own `Node`
started in a JVM by tools/opensearch (built into .cache/opensearch by
tools/build-opensearch.sh), with Korean analysis under the names of Amazon OpenSearch
Service's analysis-nori plugin. Tests ask for the `opensearch_url` fixture (conftest), which
starts one per session; `make opensearch` runs one on port 9200 by hand.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / ".cache" / "opensearch"
JAR = DIST / "concertbook-opensearch.jar"
LIB = DIST / "lib"
# Recorded by the build with this absolute class path; the JVM ignores it if they differ.
CDS_ARCHIVE = DIST / "classes.jsa"
MAIN_CLASS = "dev.concertbook.opensearch.EmbeddedOpenSearch"
# EmbeddedOpenSearch prints this line once it answers HTTP (it binds port 0: no race).
_STARTED = re.compile(rb"^concertbook-opensearch started: .* at (http://127\.0\.0\.1:\d+) ", re.M)


def opensearch_available() -> bool:
    """Whether java is installed and tools/build-opensearch.sh has built the server."""
    return shutil.which("java") is not None and JAR.is_file() and LIB.is_dir()


def server_command(home: Path, http_port: int = 0) -> list[str]:
    """The java command line of a server keeping its data under `home`."""
    java = shutil.which("java") or "java"
    cds = [f"-XX:SharedArchiveFile={CDS_ARCHIVE}"] if CDS_ARCHIVE.is_file() else []
    return [
        *(java, "-Xms512m", "-Xmx512m"),
        # A test server starts often and works little: the quick compiler only.
        "-XX:TieredStopAtLevel=1",
        *cds,
        *("-Dfile.encoding=UTF-8", "-Djava.locale.providers=SPI,COMPAT"),
        *("-cp", f"{JAR}:{LIB}/*", MAIN_CLASS),
        *("--http-port", str(http_port), "--home", str(home)),
    ]


def _log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_started(process: subprocess.Popen[bytes], log_path: Path, deadline: float) -> str:
    """The URL printed by the server once it has started, then answering cluster health."""
    url = None
    while url is None:
        found = _STARTED.search(log_path.read_bytes())
        if found:
            url = found.group(1).decode()
        elif process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"OpenSearch did not start (exit {process.poll()}):\n{_log_tail(log_path)}"
            )
        else:
            time.sleep(0.1)
    while True:
        with contextlib.suppress(httpx.TransportError):
            health = httpx.get(
                f"{url}/_cluster/health", params={"wait_for_status": "yellow"}, timeout=35
            )
            if health.status_code == 200:
                return url
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"OpenSearch is not healthy:\n{_log_tail(log_path)}")
        time.sleep(0.2)


@contextlib.contextmanager
def opensearch_server(log_dir: Path, timeout: float = 120.0) -> Iterator[str]:
    """Start a server in a temporary folder; yield its URL `http://127.0.0.1:PORT`; stop it.

    Its log is `log_dir/opensearch-<time>.log`; the folder (and the data) goes when it stops.
    """
    log_path = log_dir / f"opensearch-{time.time_ns()}.log"
    with (
        tempfile.TemporaryDirectory(prefix="concertbook-opensearch-") as home,
        log_path.open("wb") as log,
    ):
        process = subprocess.Popen(
            server_command(Path(home)),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield _wait_until_started(process, log_path, time.monotonic() + timeout)
        finally:
            process.terminate()  # SIGTERM: the node closes its shards and exits
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
