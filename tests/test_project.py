"""Project-level promises: the README's commands, CI, the public API surface, light imports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import converters

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.strip().splitlines()]


def test_readme_has_exactly_two_setup_commands_installing_into_dot_venv() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    for command in commands:
        assert command.startswith("python3 -m venv .venv && ")
    assert "modellens sample_models/" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci.splitlines()


def test_readme_sample_model_exists() -> None:
    sample = re.search(r"modellens (sample_models/\S+)", _readme_commands()[0])
    assert sample is not None and (ROOT / sample.group(1)).is_file()


def test_public_api_is_sorted_and_importable() -> None:
    assert converters.__all__ == sorted(converters.__all__)
    for name in converters.__all__:
        assert hasattr(converters, name)


def test_info_imports_no_heavy_packages() -> None:
    code = (
        "import sys, modellens.cli, modellens, converters, viewer.summary, viewer.canvas_payload;"
        "names = ('torch', 'tensorflow', 'onnxruntime', 'streamlit', 'py_mini_racer');"
        "heavy = [m for m in names if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""
