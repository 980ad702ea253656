"""The rehearsal's open-loop generator (vegeta) and its edge (HAProxy), on loopback.

A slow backend (each answer takes two seconds) stands behind the edge, so requests beyond the
edge's slots must be turned away with the API's own 503 problem, not queued or dropped.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from rehearsal import processes
from rehearsal.vegeta import parse_csv, percentiles, run_vegeta, vegeta_binary
from tests.support import skip_unless_available


def test_percentiles_of_nothing_and_of_a_hundred() -> None:
    assert percentiles([]) == {}
    got = percentiles([float(n) for n in range(1, 101)])
    assert (got["p50"], got["p99"], got["max"]) == (51.0, 100.0, 100.0)


def test_vegeta_rows_are_split_into_served_shed_and_unanswered() -> None:
    rows = [
        "1,201,5000000,10,20,,,,0,POST,http://x/holds,",
        "2,409,7000000,10,20,,,,1,POST,http://x/holds,",
        "3,503,1000000,10,20,,,,2,POST,http://x/holds,",
        '4,0,5000000000,0,0,"Post ""http://x"": context deadline exceeded",,,3,POST,http://x,',
        '5,0,1000000,0,0,"dial tcp: connection refused",,,4,POST,http://x,',
    ]
    result = parse_csv(rows, rate=5, seconds=1)
    assert result.statuses == {201: 1, 409: 1, 503: 1}
    assert result.errors == {"timeout": 1, "connection": 1}
    assert result.served_ms["max"] == 7.0
    assert result.shed_ms["p50"] == 1.0
    assert (result.sent, result.served_rps, result.errors_5xx) == (5, 2.0, 0)


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(2.0)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_backend() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_edge_passes_what_fits_and_sheds_the_rest_as_a_problem(
    slow_backend: str, tmp_path: Path
) -> None:
    skip_unless_available(processes.haproxy_binary() is not None, "haproxy is not installed")
    skip_unless_available(vegeta_binary() is not None, "vegeta is not built")
    with processes.edge(slow_backend, tmp_path) as front:
        assert httpx.get(front.url + "/healthz", timeout=5).json() == {"status": "ok"}
        # Four times the edge's slots in a second, each held two seconds by the backend.
        result = run_vegeta(front.url, None, rate=4 * processes.EDGE_IN_FLIGHT, seconds=1)
        assert result.statuses.get(200, 0) >= processes.EDGE_IN_FLIGHT // 2
        assert result.statuses.get(503, 0) > 0, result.statuses
        assert not result.errors, result.errors
        with httpx.Client(timeout=5) as client:
            threads = [
                threading.Thread(target=client.get, args=(front.url + "/slow",))
                for _ in range(processes.EDGE_IN_FLIGHT)
            ]
            for thread in threads:
                thread.start()
            time.sleep(0.5)  # every slot is taken now, for more than another second
            shed = client.get(front.url + "/slow")
            for thread in threads:
                thread.join()
    assert shed.status_code == 503
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.headers["retry-after"] == "1"
    assert shed.json()["type"] == "/problems/overloaded"


def test_the_edge_and_the_generator_run_ahead_of_the_server(
    slow_backend: str, tmp_path: Path
) -> None:
    """They stand for machines of their own; on a shared machine they must not queue behind
    the server for a core, or their clocks and accept loops measure that queue instead."""
    skip_unless_available(processes.haproxy_binary() is not None, "haproxy is not installed")
    skip_unless_available(
        processes.ahead_granted(), "raising a priority needs root or CAP_SYS_NICE"
    )
    ahead = max(-20, os.getpriority(os.PRIO_PROCESS, 0) + processes.AHEAD_NICE)
    with processes.edge(slow_backend, tmp_path) as front:
        assert psutil.Process(front.pid).nice() == ahead
        assert httpx.get(front.url + "/healthz", timeout=5).status_code == 200
    own_priority = [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"]
    generator = processes.ahead_of_server(own_priority)
    assert int(subprocess.run(generator, capture_output=True, text=True, check=True).stdout) == (
        ahead
    )
