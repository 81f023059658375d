"""Pure data behind the pages: group details, attribute rows, subgraph trails, float text, the
operator chart. Expected values come from the ONNX protos (onnx.helper) and numpy, not ModelLens."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters import load_model
from converters.schema import python_values
from viewer import tables
from viewer.hierarchy import build_groups
from viewer.pages import op_chart

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_models"


def _two_blocks(tmp_path: Path) -> Path:
    """x -> /a/MatMul(W) -> /a/Add(B) -> /a/Relu -> /b/Mul -> /b/Sigmoid -> y, plus /a/Relu -> y2."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "B")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["mm"], name="/a/MatMul"),
        helper.make_node("Add", ["mm", "B"], ["add"], name="/a/Add"),
        helper.make_node("Relu", ["add"], ["relu"], name="/a/Relu"),
        helper.make_node("Mul", ["relu", "relu"], ["mul"], name="/b/Mul"),
        helper.make_node("Sigmoid", ["mul"], ["y"], name="/b/Sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("relu", TensorProto.FLOAT, [2, 3]),
        ],
        [w, b],
    )
    path = tmp_path / "two_blocks.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _expected_group(model: onnx.ModelProto, prefix: str) -> dict[str, Any]:
    """A group's contents read from the proto: nodes named ``prefix/...``."""
    inside = [n for n in model.graph.node if n.name.startswith(prefix + "/")]
    produced = {o for n in inside for o in n.output}
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    used = {i for n in inside for i in n.input if i in initializers}
    consumed_outside = {i for n in model.graph.node if n not in inside for i in n.input}
    consumed_outside |= {o.name for o in model.graph.output}
    return {
        "op_mix": Counter(n.op_type for n in inside),
        "parameters": sum(initializers[name].size for name in used),
        "parameter_bytes": sum(initializers[name].nbytes for name in used),
        "entering": sorted(
            {i for n in inside for i in n.input if i not in produced and i not in initializers}
        ),
        "leaving": sorted(produced & consumed_outside),
    }


@pytest.mark.parametrize("group", ["a", "b"])
def test_group_details_match_the_proto(tmp_path: Path, group: str) -> None:
    path = _two_blocks(tmp_path)
    graph = load_model(path)
    details = tables.group_details(graph, build_groups(graph), group)
    expected = _expected_group(onnx.load(str(path)), f"/{group}")
    assert Counter(dict(details.op_mix)) == expected["op_mix"]
    assert details.op_nodes == sum(expected["op_mix"].values())
    assert details.parameters == expected["parameters"]
    assert details.parameter_bytes == expected["parameter_bytes"]
    assert sorted(t.tensor for t in details.entering) == expected["entering"]
    assert sorted(t.tensor for t in details.leaving) == expected["leaving"]
    assert details.path == (group,)


def test_group_boundary_names_the_nodes_on_both_sides(tmp_path: Path) -> None:
    graph = load_model(_two_blocks(tmp_path))
    details = tables.group_details(graph, build_groups(graph), "a")
    (relu,) = details.leaving
    assert relu.tensor == "relu" and relu.dtype == "float32" and relu.shape == "2×3"
    assert relu.inside == ("/a/Relu",)
    assert set(relu.outside) == {"/b/Mul", "output:relu"}
    (x,) = details.entering
    assert x.outside == ("input:x",) and x.inside == ("/a/MatMul",)


def test_nested_group_details_list_children_and_path() -> None:
    graph = load_model(SAMPLES / "transformer_block.onnx")
    grouping = build_groups(graph)
    outer = tables.group_details(graph, grouping, "encoder")
    assert set(outer.children) == {g.id for g in grouping.groups.values() if g.parent == "encoder"}
    inner = tables.group_details(graph, grouping, outer.children[0])
    assert inner.path == ("encoder", outer.children[0])
    assert inner.op_nodes + inner.constants <= outer.op_nodes + outer.constants


def test_group_details_of_an_unknown_group_raise_key_error(tmp_path: Path) -> None:
    graph = load_model(_two_blocks(tmp_path))
    with pytest.raises(KeyError):
        tables.group_details(graph, build_groups(graph), "nope")


def test_graph_attributes_are_links_into_their_bodies() -> None:
    graph = load_model(SAMPLES / "control_flow_if_loop.onnx")
    proto = onnx.load(str(SAMPLES / "control_flow_if_loop.onnx"))
    for node in proto.graph.node:
        graph_attributes = {a.name for a in node.attribute if a.type == onnx.AttributeProto.GRAPH}
        if not graph_attributes:
            continue
        rows = tables.attribute_rows(graph, node.name, tables.node_doc(graph, node.name))
        linked = {row.name: row.subgraphs for row in rows if row.subgraphs}
        assert linked == {name: (f"{node.name}/{name}",) for name in graph_attributes}
        assert all(sub in graph.graph["subgraphs"] for subs in linked.values() for sub in subs)


@pytest.mark.parametrize(
    ("sub_id", "expected"),
    [
        ("a/then_branch", [("a/then_branch", "a")]),
        ("a/then_branch/b/body", [("a/then_branch", "a"), ("a/then_branch/b/body", "b")]),
        ("/x/If/else_branch", [("/x/If/else_branch", "/x/If")]),
        ("function:lib.F", [("function:lib.F", "")]),
    ],
)
def test_subgraph_trail(sub_id: str, expected: list[tuple[str, str]]) -> None:
    known = ["a/then_branch", "a/then_branch/b/body", "/x/If/else_branch", "function:lib.F", "a/else_branch"]
    assert tables.subgraph_trail(known, sub_id) == expected


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (1e-12, np.float32),
        ([1e-12, 0.1, 3.0, -2.5e-8], np.float32),
        ([[0.1, 0.2], [0.3, 65504.0]], np.float16),
        ([0.1, 1 / 3], np.float64),
        ([1, 2, 3], np.int64),
        ([float("inf"), float("-inf")], np.float32),
    ],
)
def test_floats_print_as_their_dtype_prints_them(values: Any, dtype: Any) -> None:
    array = np.asarray(values, dtype=dtype)
    result = python_values(array)
    flat = np.asarray(result, dtype=object).reshape(-1) if array.ndim else [result]
    for got, stored in zip(flat, array.reshape(-1), strict=True):
        shortest = array.dtype.kind == "f" and array.dtype.itemsize < 8
        assert got == (float(str(stored)) if shortest else stored.item())  # numpy's shortest text
        assert dtype(got) == stored  # the same stored value


def test_onnx_float_attributes_print_shortest(tmp_path: Path) -> None:
    node = helper.make_node("LayerNormalization", ["x", "s"], ["y"], name="ln", epsilon=1e-12)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [numpy_helper.from_array(np.ones(4, np.float32), "s")],
    )
    path = tmp_path / "ln.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    loaded = load_model(path)
    rows = {r.name: r.value for r in tables.attribute_rows(loaded, "ln", tables.node_doc(loaded, "ln"))}
    stored = onnx.load(str(path)).graph.node[0].attribute[0].f
    assert rows["epsilon"] == str(np.float32(stored)) == "1e-12"
    assert rows["axis"] == "-1"  # a default, from onnx.defs


def test_op_histogram_counts_subgraph_nodes() -> None:
    proto = onnx.load(str(SAMPLES / "control_flow_if_loop.onnx"))

    def walk(nodes: Any) -> Counter[str]:
        counts: Counter[str] = Counter()
        for node in nodes:
            counts[node.op_type] += 1
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    counts += walk(attribute.g.node)
        return counts

    expected = walk(proto.graph.node)
    for function in proto.functions:
        expected += Counter(n.op_type for n in function.node)
    histogram = tables.op_histogram(load_model(SAMPLES / "control_flow_if_loop.onnx"))
    assert dict(histogram.groupby("op_type")["count"].sum()) == dict(expected)


def test_op_chart_has_integer_ticks_readable_labels_and_the_graph_legend_names() -> None:
    from viewer.colors import CATEGORY_STYLES

    histogram = tables.op_histogram(load_model(SAMPLES / "cnn_branches.onnx"))
    spec = op_chart(histogram).to_dict()
    x, y, color = spec["encoding"]["x"], spec["encoding"]["y"], spec["encoding"]["color"]
    top = int(histogram["count"].max())
    assert x["axis"]["values"] == list(range(top + 1)) and x["axis"]["format"] == "d"
    assert y["axis"]["labelOverlap"] is False and y["title"] is None
    present = [c for c in CATEGORY_STYLES if c in set(histogram["category"])]
    assert color["scale"]["domain"] == [CATEGORY_STYLES[c]["label"] for c in present]
    assert color["scale"]["range"] == [CATEGORY_STYLES[c]["fill"] for c in present]
    assert color["legend"]["symbolLimit"] == 0  # every category listed
    assert spec["height"] == {"step": 22}  # a fixed band per op type: labels never overlap


def test_external_data_names_are_the_files_the_onnx_names(tmp_path: Path) -> None:
    from converters import ModelSource
    from tests.model_cases import build_external_data
    from viewer.app_state import external_data_names, ignored_side_files
    from viewer.model_view import open_model

    path = build_external_data(tmp_path)
    proto = onnx.load(str(path), load_external_data=False)
    named = {
        entry.value
        for tensor in proto.graph.initializer
        for entry in tensor.external_data
        if entry.key == "location"
    }
    model = open_model("upload:test", ModelSource.from_path(path))
    assert external_data_names(model) == named == {"weights.bin"}
    assert ignored_side_files(["model.onnx", "weights.bin", "notes.txt"], model) == ["notes.txt"]
    plain = open_model("sample:cnn", ModelSource.from_path(SAMPLES / "cnn_branches.onnx"))
    assert external_data_names(plain) == set()
