"""The README's curl tour, run as written against `concertbook serve --demo`.

Keeps the quick start honest: if an endpoint, a field or the demo data changes,
this fails until the README is updated.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live_server import LiveServer, _serve_command, free_port, wait_healthy
from tests.support import skip_unless_available

ROOT = Path(__file__).resolve().parents[2]


def _tour_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A tour", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    tour = max(blocks, key=len)  # the long block; the short one is `make run DEMO=1`
    assert "curl" in tour
    return tour


@pytest.mark.slow
def test_readme_tour_works_end_to_end(tmp_path: Path) -> None:
    skip_unless_available(shutil.which("curl") is not None, "curl is not installed")
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_serve_command(), "--demo", "--port", str(port), "--data", str(tmp_path / "data")],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer("local", f"http://127.0.0.1:{port}", tmp_path, process, log_path)
    try:
        wait_healthy(server)
        script = _tour_script().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        script = script.replace(".venv/bin/concertbook", _serve_command()[0])
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + server.log_tail()
    lines = result.stdout.splitlines()
    assert lines[0] == "14998"  # 15,000 places less two blocked seats
    assert '"status":"processing"' in result.stdout
    assert "paid" in lines
    assert "101-C-7" in lines
    assert any(line.startswith("VALID ticket") for line in lines)
    assert '"type":"/problems/seats-unavailable"' in result.stdout
    assert '"taken":["101-C-7"]' in result.stdout
