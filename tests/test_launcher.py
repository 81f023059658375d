"""The `modellens MODEL` launcher: stopping it stops its server and frees the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _port_free(port: int) -> bool:
    """Whether a new server can listen on ``port`` (as Streamlit's does: SO_REUSEADDR, so closed
    connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        sock.listen()
        return True


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the server process")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stopping_the_launcher_stops_its_server_and_frees_the_port(sig: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    model = ROOT / "sample_models" / "cnn_branches.onnx"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "modellens", str(model), "--port", str(port), "--no-browser"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        servers += _children(launcher.pid)
        assert servers, "the launcher runs the server as its child"
        launcher.send_signal(sig)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in servers)
        assert _port_free(port)
    finally:
        for pid in [launcher.pid, *servers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.wait()
