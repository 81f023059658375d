"""A model that fails while running, through the CLI, the Python API and the app (one engine):
the failing node is named as ``modellens shapes`` names it, one message (one box on the page), fixes
worded for where the user is (no CLI flag in the API or the app), no ``with inputs []``, and a
memory fix that fits a node whose allocation does not depend on the inputs. Expected framework
messages come from running torch / onnxruntime directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

import modellens
from converters import InputSpecError, ModelRunError
from runtime.engine import NodeRunError, bench_model, model_shapes, profile_model, run_model
from runtime.spec_file import loads_spec
from tests.runtime_models import build_reshape_onnx, build_scripted

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180
WRONG_CHANNELS = "inputs:\n  - input_name: x\n    shape: 1x5x16x16xf32\n"


class Huge(nn.Module):
    """Allocates 200000×200000 float32 (160 GB) whatever its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.ones(200000, 200000).sum()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modellens", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=TIMEOUT,
    )


def _torch_message(path: Path, x: torch.Tensor) -> str:
    with pytest.raises(RuntimeError) as own:
        torch.jit.load(str(path))(x)
    return str(own.value).strip().splitlines()[-1].split(": ", 1)[-1]


def _ort_message(path: Path, x: np.ndarray) -> str:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception) as own:
        session.run(None, {"x": x})
    return str(own.value).strip().splitlines()[0].split(" Status Message: ", 1)[1]  # the node is named


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("scripted")
    spec = folder / "wrongch.yaml"
    spec.write_text(WRONG_CHANNELS)
    return build_scripted(folder), spec


@pytest.mark.parametrize("call", [run_model, bench_model, profile_model], ids=["run", "bench", "profile"])
def test_a_failing_run_names_the_node_shapes_names(scripted: tuple[Path, Path], call: object) -> None:
    path, spec = scripted
    shapes = model_shapes(path, spec=spec)
    assert shapes.failed is not None
    with pytest.raises(NodeRunError) as caught:
        call(path, spec=spec)  # type: ignore[operator]
    err = caught.value
    expected = _torch_message(path, torch.zeros(1, 5, 16, 16))
    assert err.failed.node == shapes.failed.node == "conv/conv2d"
    assert (
        err.message
        == f"torch failed at node conv/conv2d (aten::conv2d) with inputs [1x5x16x16, 8x3x3x3]: {expected}"
    )
    assert err.shapes.nodes == shapes.nodes


def test_onnx_run_failures_name_the_node(tmp_path: Path) -> None:
    path = build_reshape_onnx(tmp_path)
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(NodeRunError) as caught:
        run_model(path, inputs={"x": x})
    assert caught.value.message == (
        f"onnxruntime failed at node bad_reshape (Reshape) with inputs [3x4, 2]: {_ort_message(path, x)}"
    )


def test_cli_run_names_the_node_in_one_line(scripted: tuple[Path, Path]) -> None:
    path, spec = scripted
    done = _cli("run", str(path), "--input-spec", str(spec))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: torch failed at node conv/conv2d (aten::conv2d) with inputs [1x5x16x16, 8x3x3x3]: "
    )
    assert lines[0].endswith("Fix: check the input shapes against what the model expects at the failing node")


def test_an_allocation_without_inputs_gets_a_fitting_fix(tmp_path: Path) -> None:
    path = tmp_path / "huge.pt"
    torch.jit.script(Huge()).save(str(path))
    with pytest.raises(NodeRunError) as caught:
        run_model(path, spec=loads_spec("inputs:\n  - input_name: x\n    shape: 1x4xf32\n"))
    err = caught.value
    assert err.failed.input_shapes == []
    assert "with inputs" not in err.message
    assert err.message.startswith("torch failed at node ")
    assert "use smaller inputs" not in err.fix and "more memory" in err.fix


def test_api_fixes_name_api_arguments(scripted: tuple[Path, Path]) -> None:
    path, _ = scripted
    with pytest.raises(InputSpecError) as needed:
        modellens.run(path)
    assert needed.value.fix == (
        f"write err.template (the proposed spec) to {path.stem}.inputs.yaml beside the model and check it "
        '(it is used from then on), or pass spec="FILE"'
    )
    with pytest.raises(InputSpecError) as iterations:
        modellens.bench(path, iterations=-1)
    assert "iterations=" in iterations.value.fix
    for err in (needed.value, iterations.value):
        assert "--" not in str(err) and "printed above" not in str(err)


def test_cli_fixes_keep_cli_flags(scripted: tuple[Path, Path]) -> None:
    path, _ = scripted
    done = _cli("run", str(path))
    assert "save the proposed spec printed above as" in done.stderr and "--input-spec" in done.stderr
    done = _cli("bench", str(path), "--iterations", "0")
    assert done.returncode == 2 and "--iterations" in done.stderr and "iterations=" not in done.stderr


def _path_script(model: str) -> None:
    from viewer import app_state, run_page

    app_state.init_session_state(model)
    run_page.run_page()


def test_the_page_shows_one_box_naming_the_node(scripted: tuple[Path, Path]) -> None:
    path, _ = scripted
    app = AppTest.from_function(_path_script, default_timeout=TIMEOUT, args=(str(path),)).run()
    app.text_input(key="run1_0_shape").set_value("1, 5, 16, 16").run()
    app.button(key="run_button").click().run()
    assert not app.exception
    errors = [str(e.value).replace("\\", "") for e in app.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "torch failed at node conv/conv2d (aten::conv2d) with inputs [1x5x16x16, 8x3x3x3]: "
    )
    assert app.session_state.selection == {"kind": "node", "id": "conv/conv2d"}
    assert app.button(key="goto_failed") is not None


def test_only_model_failures_are_located() -> None:
    # a spec error is not a model failure: nothing is run, nothing located
    with pytest.raises(InputSpecError):
        run_model(
            ROOT / "sample_models" / "cnn_branches.onnx", spec=loads_spec("inputs:\n  - input_name: nope\n")
        )
    assert issubclass(NodeRunError, ModelRunError)


def _pages_script(model: str) -> None:
    import streamlit as st

    from viewer import app_state, pages, run_page

    app_state.init_session_state(model)
    if st.session_state.get("_page") == "graph":
        pages.graph_page()
    else:
        run_page.run_page()


def test_the_inspector_shows_the_spec_shape_of_a_scripted_input_after_a_failure(
    scripted: tuple[Path, Path],
) -> None:
    path, _ = scripted
    app = AppTest.from_function(_pages_script, default_timeout=TIMEOUT, args=(str(path),)).run()
    app.text_input(key="run1_0_shape").set_value("1, 5, 16, 16").run()
    app.button(key="run_button").click().run()
    app.session_state["_page"] = "graph"
    app.run()
    assert not app.exception
    ports = [str(m.value).replace("\\", "") for m in app.markdown if " · " in str(m.value)]
    assert any(
        p.startswith("input: **x.<wbr>1** · ") and p.endswith(" · 1×5×16×16 (this run)") for p in ports
    ), ports


def test_a_spec_beside_the_model_is_used_without_being_passed(scripted: tuple[Path, Path]) -> None:
    """What the fix above says: once the proposed spec sits beside the model as
    ``<stem>.inputs.yaml``, ``run`` starts from it (as the app does); arrays given still set dims."""
    path, _ = scripted
    with pytest.raises(InputSpecError) as needed:
        modellens.run(path)
    beside = path.with_name(f"{path.stem}.inputs.yaml")
    beside.write_text(needed.value.template)
    try:
        result = modellens.run(path)  # raised SpecNeededError above, without the file
        assert result["outputs"] and result["outputs"][0]["dtype"] == "float32"
    finally:
        beside.unlink()
