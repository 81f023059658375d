"""Embedding table sizes of ONNX integer inputs read without converting the graph
(``converters.onnx_tables``), and ``modellens run`` no longer converting the graph for them.

Expected values come from onnx itself: the Gather's data tensor found through ``onnx.load`` and its
dims along ``axis``; the full-conversion lookup (``runtime.propose.embedding_table_for``) must
agree on every case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters import load_model
from converters.onnx_lazy import WireFormatError
from converters.onnx_tables import gather_tables
from runtime.propose import embedding_table_for
from tests import model_cases

ROOT = Path(__file__).resolve().parents[1]
OPSET = [helper.make_opsetid("", 17)]


def _vi(name: str, elem: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _save(
    path: Path, nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], init: list[onnx.TensorProto]
) -> Path:
    output = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [output], initializer=init)
    onnx.save(helper.make_model(graph, opset_imports=OPSET), str(path))
    return path


def _table(rows: int, cols: int, name: str = "table") -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros((rows, cols), np.float32), name)


def named_gather_after_cast(path: Path) -> Path:
    nodes = [
        helper.make_node("Cast", ["ids"], ["ids64"], name="cast", to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "ids64"], ["out"], name="/embeddings/word_embeddings/Gather"),
    ]
    return _save(path, nodes, [_vi("ids", TensorProto.INT32, ["batch", "seq"])], [_table(301, 8)])


def unnamed_gather_constant_axis1(path: Path) -> Path:
    """An unnamed Gather (label ``Gather_2``) on axis 1 of a table held by a Constant node, reached
    through Unsqueeze and Squeeze; a second integer input feeding only an Add."""
    table = numpy_helper.from_array(np.zeros((4, 77), np.float32), "const_table")
    nodes = [
        helper.make_node("Constant", [], ["table"], value=table),
        helper.make_node("Unsqueeze", ["ids", "axes"], ["u"], name="u"),
        helper.make_node("Gather", ["table", "u"], ["g"], axis=1),
        helper.make_node("Add", ["pos", "pos"], ["p2"], name="add"),
        helper.make_node("Cast", ["g"], ["out"], to=TensorProto.FLOAT),
    ]
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    inputs = [_vi("ids", TensorProto.INT64, ["seq"]), _vi("pos", TensorProto.INT64, ["seq"])]
    return _save(path, nodes, inputs, [axes])


def negative_axis_and_data_port(path: Path) -> Path:
    """Gather with axis -1; an input used as Gather's data (port 0) is not an index."""
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["g"], name="by_col", axis=-1),
        helper.make_node("Gather", ["data", "g_idx"], ["out"], name="data_gather"),
    ]
    inputs = [
        _vi("ids", TensorProto.INT64, [3]),
        _vi("data", TensorProto.INT64, [5]),
        _vi("g_idx", TensorProto.INT64, [2]),
    ]
    return _save(path, nodes, inputs, [_table(6, 19)])


CASES: dict[str, Callable[[Path], Path]] = {
    "named_gather_after_cast": named_gather_after_cast,
    "unnamed_gather_constant_axis1": unnamed_gather_constant_axis1,
    "negative_axis_and_data_port": negative_axis_and_data_port,
    "symbolic_dims": lambda path: model_cases.build_symbolic_dims(path.parent),
}


def _integer_inputs(model: onnx.ModelProto) -> list[str]:
    ints = {TensorProto.INT32, TensorProto.INT64, TensorProto.INT16, TensorProto.INT8, TensorProto.UINT8}
    return [i.name for i in model.graph.input if i.type.tensor_type.elem_type in ints]


def _onnx_expected(model: onnx.ModelProto, name: str) -> tuple[int, str] | None:
    """What onnx's own objects say: follow casts/reshapes from ``name`` to a Gather's index port,
    take that Gather's data tensor (initializer or Constant) and its dims along ``axis``."""
    stored = {t.name: list(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            stored[node.output[0]] = list(helper.get_attribute_value(node.attribute[0]).dims)
    frontier = {name}
    for _ in range(12):
        following = set()
        for index, node in enumerate(model.graph.node):
            if len(node.input) > 1 and node.input[1] in frontier and node.op_type == "Gather":
                axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
                dims = stored.get(node.input[0])
                if dims:
                    return dims[axis], node.name or f"Gather_{index}"
            passes = node.op_type in {"Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Identity"}
            if passes and node.input[0] in frontier:
                following.add(node.output[0])
        frontier = following
    return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_tables_match_onnx_and_the_converted_graph(case: str, tmp_path: Path) -> None:
    path = CASES[case](tmp_path / f"{case}.onnx")
    model = onnx.load(str(path))
    names = _integer_inputs(model)
    assert names
    found = gather_tables(path, names)
    graph = load_model(path)
    for name in names:
        expected = _onnx_expected(model, name)
        assert found.get(name) == expected, name
        assert embedding_table_for(graph, name) == expected, name


def test_expected_values_of_the_hand_built_cases(tmp_path: Path) -> None:
    """The cases pin what they were built for (so the comparison above is not vacuous)."""
    assert gather_tables(named_gather_after_cast(tmp_path / "a.onnx"), ["ids"]) == {
        "ids": (301, "/embeddings/word_embeddings/Gather")
    }
    assert gather_tables(unnamed_gather_constant_axis1(tmp_path / "b.onnx"), ["ids", "pos"]) == {
        "ids": (77, "Gather_2")
    }
    assert gather_tables(negative_axis_and_data_port(tmp_path / "c.onnx"), ["ids", "data"]) == {
        "ids": (19, "by_col")
    }


def test_a_corrupt_file_raises_a_wire_format_error(tmp_path: Path) -> None:
    path = named_gather_after_cast(tmp_path / "a.onnx")
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(WireFormatError):
        gather_tables(path, ["ids"])


def _in_child(body: str) -> dict[str, Any]:
    """Run ``body`` (which sets ``result``, a JSON-able dict) in a fresh Python; its result plus
    which heavy modules (onnx, networkx) that process imported."""
    code = (
        "import sys, json\n"
        f"{body}\n"
        "result['heavy'] = sorted(m for m in ('onnx', 'networkx') if m in sys.modules)\n"
        "print(json.dumps(result))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_run_of_a_token_model_reads_tables_without_converting(tmp_path: Path) -> None:
    """The parent process of ``modellens run`` proposes the vocabulary range without importing
    onnx or networkx (the worker runs the model), and the range still stops below the table."""
    path = named_gather_after_cast(tmp_path / "tokens.onnx")
    report = _in_child(
        "from runtime.engine import prepare\n"
        f"p = prepare({str(path)!r})\n"
        "result = {'data': repr(p.specs.inputs[0].data)}"
    )
    assert report["heavy"] == []
    assert (
        "300" in report["data"] and "vocabulary size of /embeddings/word_embeddings/Gather" in report["data"]
    )


@pytest.mark.parametrize(("maximum", "refused"), [(300, False), (5000, True)])
def test_a_given_spec_is_range_checked_without_converting(
    tmp_path: Path, maximum: int, refused: bool
) -> None:
    """With a spec file, the values' range is checked against the table read from the file's
    structure: past the table's 301 rows is refused before running, and onnx is never imported."""
    path = named_gather_after_cast(tmp_path / "tokens.onnx")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "inputs:\n  - input_name: ids\n    shape: 2x5xsi32\n"
        f"    data: {{random: {{uniform: {{min: 0, max: {maximum}}}}}}}\n"
    )
    report = _in_child(
        "from converters.errors import ModelLensError\n"
        "from runtime.engine import prepare\n"
        "try:\n"
        f"    prepare({str(path)!r}, spec={str(spec)!r}); error = ''\n"
        "except ModelLensError as err:\n"
        "    error = str(err)\n"
        "result = {'error': error}"
    )
    assert report["heavy"] == []
    if refused:
        assert "5000" in report["error"] and "/embeddings/word_embeddings/Gather" in report["error"]
    else:
        assert report["error"] == ""
