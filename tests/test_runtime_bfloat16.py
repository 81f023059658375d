"""bfloat16 ONNX models through ``modellens run`` and ``modellens shapes``: numpy has no bfloat16,
so tensors travel as ``ml_dtypes.bfloat16`` arrays and onnxruntime OrtValues. Expected shapes come
from ``onnx.shape_inference``, expected values from onnxruntime fed float32 (the same casts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from converters import ModelLoadError
from runtime.engine import model_shapes, run_model
from runtime.worker import WorkerPool

ROOT = Path(__file__).resolve().parents[1]
OPSET = [helper.make_opsetid("", 17)]


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool() as workers:
        yield workers


def _bf16_model(path: Path, relu_in_bf16: bool = False) -> Path:
    """x (batch×4, bfloat16) → Cast f32 → MatMul with a bfloat16 weight (cast) → Relu → Cast bf16
    → y (bfloat16), and z (float32) beside; ``relu_in_bf16``: a Relu on bfloat16 itself, which
    onnxruntime's CPU provider has no kernel for."""
    x = helper.make_tensor_value_info("x", TensorProto.BFLOAT16, ["batch", 4])
    if relu_in_bf16:
        y = helper.make_tensor_value_info("y", TensorProto.BFLOAT16, ["batch", 4])
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "bf", [x], [y])
    else:
        weight = np.arange(-6, 6, dtype=np.float32).reshape(4, 3) / 4
        w = helper.make_tensor(
            "w",
            TensorProto.BFLOAT16,
            [4, 3],
            weight.astype(ml_dtypes.bfloat16).view(np.uint16).tobytes(),
            raw=True,
        )
        nodes = [
            helper.make_node("Cast", ["x"], ["xf"], name="x_f32", to=TensorProto.FLOAT),
            helper.make_node("Cast", ["w"], ["wf"], name="w_f32", to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["xf", "wf"], ["z"], name="matmul"),
            helper.make_node("Relu", ["z"], ["r"], name="relu"),
            helper.make_node("Cast", ["r"], ["y"], name="y_bf16", to=TensorProto.BFLOAT16),
        ]
        outputs = [
            helper.make_tensor_value_info("y", TensorProto.BFLOAT16, ["batch", 3]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3]),
        ]
        graph = helper.make_graph(nodes, "bf", [x], outputs, initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=OPSET), str(path))
    return path


def _x() -> np.ndarray:
    return np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4).astype(ml_dtypes.bfloat16)


def test_run_returns_bfloat16_outputs_equal_to_onnxruntime(tmp_path: Path, pool: WorkerPool) -> None:
    path = _bf16_model(tmp_path / "bf16.onnx")
    x = _x()
    result = run_model(path, inputs={"x": x}, pool=pool, want_arrays=True)
    assert result.arrays is not None
    y, z = result.arrays["y"], result.arrays["z"]
    assert y.dtype == ml_dtypes.bfloat16 and z.dtype == np.float32
    # onnxruntime itself, with the bfloat16 input fed as its float32 value through a float model
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    model.graph.node[0].attribute[0].i = TensorProto.FLOAT
    model.graph.node[4].attribute[0].i = TensorProto.FLOAT
    expected_y, expected_z = ort.InferenceSession(model.SerializeToString()).run(
        None, {"x": x.astype(np.float32)}
    )
    np.testing.assert_array_equal(z, expected_z)
    np.testing.assert_array_equal(y, expected_y.astype(ml_dtypes.bfloat16))
    assert [o.dtype for o in result.outputs] == ["bfloat16", "float32"]


def test_shapes_of_a_bfloat16_model_match_onnx_shape_inference(tmp_path: Path, pool: WorkerPool) -> None:
    path = _bf16_model(tmp_path / "bf16.onnx")
    result = model_shapes(path, inputs={"x": _x()}, pool=pool)
    assert result.failed is None
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    expected = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*inferred.graph.value_info, *inferred.graph.output)
    }
    by_node = {n.name: n.output[0] for n in model.graph.node}
    for node, tensor in by_node.items():
        assert result.nodes[node] == [expected[tensor]], node
    assert result.nodes["input:x"] == [[2, 4]]


@pytest.mark.parametrize("command", ["run", "shapes"])
def test_cli_on_bfloat16_models(tmp_path: Path, command: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    good = _bf16_model(tmp_path / "bf16.onnx")
    done = subprocess.run(
        [sys.executable, "-m", "modellens", command, str(good), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)
    bad = _bf16_model(tmp_path / "bf16_relu.onnx", relu_in_bf16=True)
    with pytest.raises(Exception, match="Relu"):  # onnxruntime itself refuses the model
        ort.InferenceSession(str(bad))
    done = subprocess.run(
        [sys.executable, "-m", "modellens", command, str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "node with name 'relu'" in lines[0] and "cast to float32" in lines[0]


def test_load_error_fix_names_the_missing_kernel(tmp_path: Path) -> None:
    from runtime.runners import make_runner

    with pytest.raises(ModelLoadError) as caught:
        make_runner(_bf16_model(tmp_path / "bf16_relu.onnx", relu_in_bf16=True))
    assert "no kernel" in caught.value.fix
