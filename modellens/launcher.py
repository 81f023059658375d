"""Start the Streamlit app as a subprocess (the CLI never imports streamlit itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0  # after this, a server that ignores SIGTERM is killed
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8501  # as in .streamlit/config.toml beside app.py


def app_script() -> Path:
    """app.py inside an installed wheel (modellens/_app) or at the source checkout's root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_app" / "app.py", here.parent / "app.py"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("app.py not found beside the modellens package")


def streamlit_command(model: Path | None, host: str | None, port: int | None) -> list[str]:
    """Flags only for what the user asked; defaults stay in .streamlit/config.toml so that
    STREAMLIT_SERVER_* environment settings keep working."""
    command = [sys.executable, "-m", "viewer.serve", "run", str(app_script()), "--server.headless", "true"]
    if host:
        command += ["--server.address", host]
    if port:
        command += ["--server.port", str(port)]
    if model is not None:
        command += ["--", "--model", str(model)]
    return command


def launch_app(model: Path | None, *, host: str | None, port: int | None, open_browser: bool) -> int:
    """Run the app server until it exits. Ctrl-C, SIGTERM or SIGHUP to the launcher stops the
    server too (and so frees its port); returns the server's exit status."""
    process = subprocess.Popen(streamlit_command(model, host, port))
    restore = _stop_on_termination_signals()
    try:
        if open_browser:
            url = _wait_for_server(process, *served_address(host, port))
            if url:
                webbrowser.open(url)
        return process.wait()
    except (KeyboardInterrupt, _Terminated):
        return stop_server(process)
    finally:
        restore()
        if process.poll() is None:
            stop_server(process)


class _Terminated(Exception):
    """SIGTERM or SIGHUP reached the launcher."""


def _stop_on_termination_signals() -> Callable[[], object]:
    """Turn SIGTERM/SIGHUP into ``_Terminated`` while the server runs; returns the undo function.
    Signal handlers can only be set from the main thread: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: Any) -> None:
        raise _Terminated(signum)

    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, handler) for s in wanted}
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def stop_server(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM the server, wait for it (it frees its port as it exits), kill it if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def served_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Where the server listens: the flag, else Streamlit's environment setting, else our config."""
    host = host or os.environ.get("STREAMLIT_SERVER_ADDRESS") or DEFAULT_HOST
    port = port or int(os.environ.get("STREAMLIT_SERVER_PORT") or DEFAULT_PORT)
    return host, port


def _wait_for_server(process: subprocess.Popen[bytes], host: str, port: int) -> str | None:
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return url
        except OSError:
            time.sleep(0.25)
    return None
