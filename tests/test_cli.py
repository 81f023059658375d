"""The `modellens` command: exit codes, streams, subcommands, render outputs, app launcher."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import modellens
from modellens import launcher

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_models" / "cnn_branches.onnx"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "modellens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"modellens {modellens.__version__}"


def test_info_json_matches_the_api() -> None:
    result = run_cli("info", str(SAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == modellens.summarize(modellens.load(SAMPLE))


def test_info_text_lists_inputs_and_ops() -> None:
    result = run_cli("info", str(SAMPLE))
    assert result.returncode == 0
    assert "format      ONNX" in result.stdout
    assert "inputs:" in result.stdout and "op types" in result.stdout


def test_subcommand_names_win_over_file_names(tmp_path: Path) -> None:
    (tmp_path / "info").write_bytes(SAMPLE.read_bytes())
    result = run_cli("info", str(SAMPLE), "--json", cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["format"] == "onnx"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["info"], "required"),
        (["info", "/no/such/model.onnx"], "No such file"),
        (["render", str(SAMPLE), "-o", "out.png"], ".svg, .dot or .html"),
        (["render", str(SAMPLE), "-o", "out.svg", "--expand", "deep"], "--expand"),
        (["info", str(SAMPLE), "--bogus"], "unrecognized"),
        ([str(ROOT / "README.md"), "--no-browser"], "text file"),
    ],
)
def test_user_errors_exit_2_with_one_error_line(args: list[str], needle: str, tmp_path: Path) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("suffix", "marker"), [(".svg", "<svg"), (".dot", "digraph"), (".html", "<html")])
def test_render_writes_each_format(suffix: str, marker: str, tmp_path: Path) -> None:
    output = tmp_path / f"graph{suffix}"
    result = run_cli("render", str(SAMPLE), "-o", str(output), "--expand", "all")
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    assert marker in text.lower()
    assert "Conv" in text


def test_render_default_view_collapses_less_than_expand_all(tmp_path: Path) -> None:
    collapsed, expanded = tmp_path / "none.svg", tmp_path / "all.svg"
    assert run_cli("render", str(SAMPLE), "-o", str(collapsed), "--expand", "none").returncode == 0
    assert run_cli("render", str(SAMPLE), "-o", str(expanded), "--expand", "all").returncode == 0
    assert collapsed.read_text().count("data-id=") < expanded.read_text().count("data-id=")


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz's dot is installed here")
def test_render_with_dot_engine_without_graphviz_names_the_fix(tmp_path: Path) -> None:
    result = run_cli("render", str(SAMPLE), "-o", str(tmp_path / "g.svg"), "--engine", "dot")
    assert result.returncode == 2
    assert result.stderr.startswith("error: Graphviz's `dot` program is not installed")
    assert "apt-get install graphviz" in result.stderr


def test_launcher_passes_only_the_flags_given() -> None:
    plain = launcher.streamlit_command(None, None, None)
    assert "--server.address" not in plain and "--server.port" not in plain
    assert plain[-2:] == ["--server.headless", "true"]
    full = launcher.streamlit_command(SAMPLE, "0.0.0.0", 9000)
    assert full[full.index("--server.address") + 1] == "0.0.0.0"
    assert full[full.index("--server.port") + 1] == "9000"
    assert full[-2:] == ["--model", str(SAMPLE)]
    assert launcher.app_script().name == "app.py"


def test_browser_url_follows_flags_then_streamlit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMLIT_SERVER_PORT", raising=False)
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    assert launcher.served_address(None, None) == ("127.0.0.1", 8501)
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", "8777")
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert launcher.served_address(None, None) == ("0.0.0.0", 8777)
    assert launcher.served_address("127.0.0.2", 9000) == ("127.0.0.2", 9000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_modellens_model_serves_the_app(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "modellens", str(SAMPLE), "--no-browser", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as reply:
                    assert reply.status == 200
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail("the app did not start within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize(
    "args",
    [
        ("info", "sample_models/cnn_branches.onnx", "--json"),
        ("info", "sample_models/savedmodel_cnn"),
        ("info", "sample_models/cnn_dynamic_batch.pt2", "--json"),
        ("--version",),
    ],
)
def test_a_reader_that_closes_early_is_not_a_bug(args: tuple[str, ...]) -> None:
    """`modellens info M --json | head -1`: the pipe closes before we write; exit quietly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        result = subprocess.run(
            [sys.executable, "-m", "modellens", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            check=False,
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert result.returncode in (0, 141), result.stderr
    assert "error" not in result.stderr and "Traceback" not in result.stderr
