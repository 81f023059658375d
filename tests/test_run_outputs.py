"""Outputs numpy, pandas and Arrow cannot use as they come (bfloat16, float8, int4, void, object):
previewed as float32 on the Run page without taking down the rest of the page, and saved (app
download, ``modellens run --save-outputs``) as arrays ``numpy.load`` reads, with the original dtypes
in ``__dtypes__``. Expected values come from numpy/ml_dtypes casts of the same values."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from streamlit.testing.v1 import AppTest

from runtime.arrays import DTYPES_KEY, npz_bytes, preview_array

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180
X = np.array([[-1.5, 0.25, 2.0, -0.125, 3.5, 1.0, -2.0, 0.5]], dtype=np.float32)


def _bf16_relu(tmp_path: Path) -> Path:
    """x (1×8 bfloat16) → Cast f32 → Relu → Cast bfloat16 → y (1×8 bfloat16)."""
    x = helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [1, 8])
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], name="x_f32", to=TensorProto.FLOAT),
        helper.make_node("Relu", ["xf"], ["r"], name="relu"),
        helper.make_node("Cast", ["r"], ["y"], name="y_bf16", to=TensorProto.BFLOAT16),
    ]
    graph = helper.make_graph(nodes, "bf16_relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "bf16_relu.onnx"
    onnx.save(model, path)
    return path


ODD = {
    "bf16": np.array([1.5, -2.0, 3.0]).astype(ml_dtypes.bfloat16),
    "f8": np.array([0.5, -1.0]).astype(ml_dtypes.float8_e4m3fn),
    "i4": np.array([1, -3, 7]).astype(ml_dtypes.int4),
    "text": np.array(["cat", b"dog"], dtype=object),
    "void": np.zeros(2, dtype="V3"),
    "plain": np.arange(3, dtype=np.int64),
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_saved_outputs_load_with_plain_numpy(name: str) -> None:
    original = ODD[name]
    loaded = np.load(io.BytesIO(npz_bytes({name: original})))  # allow_pickle=False by default
    array = loaded[name]
    assert array.dtype.kind in "iuf" + "U"
    if original.dtype.kind == "O":
        assert array.tolist() == ["cat", "dog"]
    elif original.dtype.kind == "V" and original.dtype.name.startswith("void"):
        assert array.shape == (2, 3) and array.dtype == np.uint8
    else:
        np.testing.assert_array_equal(array, original.astype(np.float64))
    if name == "plain":
        assert DTYPES_KEY not in loaded.files and array.dtype == np.int64
    else:
        assert json.loads(str(loaded[DTYPES_KEY])) == {name: str(original.dtype)}


@pytest.mark.parametrize("name", ["bf16", "f8", "i4", "text", "complex"])
def test_previews_are_frames_arrow_can_show(name: str) -> None:
    import pyarrow as pa

    from viewer import run_panel

    array = np.array([1 + 2j, 3 - 1j], np.complex64) if name == "complex" else ODD[name]
    frame = run_panel.table_frame(preview_array(array))
    pa.Table.from_pandas(frame)  # raises ArrowInvalid/ArrowNotImplementedError for bfloat16


def _save_outputs(tmp_path: Path, model: Path) -> np.lib.npyio.NpzFile:
    inputs = tmp_path / "x.json"
    inputs.write_text(json.dumps({"x": X.tolist()}))
    out = tmp_path / "out.npz"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modellens",
            "run",
            str(model),
            "--inputs",
            str(inputs),
            "--save-outputs",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return np.load(out)


def test_cli_saves_bfloat16_outputs_as_float32_with_their_dtype(tmp_path: Path) -> None:
    loaded = _save_outputs(tmp_path, _bf16_relu(tmp_path))
    expected = np.maximum(X.astype(ml_dtypes.bfloat16).astype(np.float32), 0)
    assert loaded["y"].dtype == np.float32
    np.testing.assert_array_equal(loaded["y"], expected)
    assert json.loads(str(loaded[DTYPES_KEY])) == {"y": "bfloat16"}


def _path_script(model: str) -> None:
    from viewer import app_state, run_page

    app_state.init_session_state(model)
    run_page.run_page()


def test_bfloat16_outputs_preview_as_float32_and_the_page_stays_whole(tmp_path: Path) -> None:
    app = AppTest.from_function(
        _path_script, default_timeout=TIMEOUT, args=(str(_bf16_relu(tmp_path)),)
    ).run()
    app.button(key="run_button").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.warning, [w.value for w in app.warning]
    frames = [d.value for d in app.dataframe]
    top = next(f for f in frames if "score" in f.columns)
    assert top["score"].dtype == np.float64 and len(top) == 5
    table = next(f for f in frames if list(f.columns[:2]) == ["0", "1"])
    assert table.dtypes.iloc[0] == np.float32
    assert app.button(key="bench_button") is not None  # the Benchmark section is still drawn


def test_a_failing_preview_shows_one_line_and_the_page_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viewer import run_panel

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("no table today\nsecond line")

    monkeypatch.setattr(run_panel, "table_frame", broken)
    app = AppTest.from_function(
        _path_script, default_timeout=TIMEOUT, args=(str(_bf16_relu(tmp_path)),)
    ).run()
    app.button(key="run_button").click().run()
    assert not app.exception
    assert [str(w.value).replace("\\", "") for w in app.warning] == [
        "Cannot show the Table preview of y (float32): ValueError: no table today"
    ]
    assert app.button(key="bench_button") is not None
