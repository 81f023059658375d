"""Large weights stay in the file until asked for; their values come back exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import modellens
from converters import ModelLoadError
from converters.onnx_lazy import LAZY_MIN_BYTES, load_without_weights


def _model(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    weights = {
        "big": rng.standard_normal((64, 128)).astype(np.float32),
        "small": rng.standard_normal((4,)).astype(np.float32),
        "big_int": rng.integers(0, 100, size=(2048,)).astype(np.int64),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "big"], ["y"], name="mm"),
        helper.make_node("Gather", ["y", "big_int"], ["z"], name="gather", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "lazy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    path = tmp_path / "lazy.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, weights


def test_large_initializers_are_left_in_the_file(tmp_path: Path) -> None:
    path, weights = _model(tmp_path)
    model, spans = load_without_weights(path)
    assert set(spans) == {"big", "big_int"}
    assert all(span.length > LAZY_MIN_BYTES for span in spans.values())
    assert [t.name for t in model.graph.initializer] == list(weights)
    assert model.graph.node[0].op_type == "MatMul"


def test_values_of_lazy_and_inline_weights_round_trip(tmp_path: Path) -> None:
    path, weights = _model(tmp_path)
    graph = modellens.load(path)
    store = graph.graph["tensor_store"]
    for name, expected in weights.items():
        np.testing.assert_array_equal(store.array(name), expected)
    info = modellens.summarize(graph)
    assert info["parameters"] == sum(v.size for v in weights.values())
    assert info["parameter_bytes"] == sum(v.nbytes for v in weights.values())
    assert info["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["n", 64]}]


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_a_load_error(tmp_path: Path, keep: float) -> None:
    path, _ = _model(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError) as err:
        modellens.load(cut)
    assert "truncated or corrupt" in err.value.message
    assert err.value.fix
