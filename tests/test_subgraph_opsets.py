"""Operator docs inside subgraphs use the opset that applies there (issue 9, retest item 11): the
model's imports in control-flow bodies, a function's own imports in its body and in the bodies
nested in it. Expected versions come from onnx.defs.get_schema(op, max_inclusive_version=opset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import onnx.defs
import pytest
from onnx import TensorProto, helper

from converters import load_model
from viewer import tables
from viewer.canvas_payload import build_payload

MODEL_OPSET = 18
FUNCTION_OPSET = 14
F = TensorProto.FLOAT


def _branch(name: str, source: str) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", [source], [f"{name}_out"], name=f"{name}_identity")],
        name,
        [],
        [helper.make_tensor_value_info(f"{name}_out", F, None)],
    )


def _model(path: Path) -> Path:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="loop_cond"),
            helper.make_node("Identity", ["v"], ["v_out"], name="loop_identity"),
        ],
        "loop_body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", F, [2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", F, [2]),
        ],
    )
    function = helper.make_function(
        "mylib",
        "Pick",
        ["a", "c"],
        ["out"],
        [
            helper.make_node("Identity", ["a"], ["a1"], name="fn_identity"),
            helper.make_node(
                "If",
                ["c"],
                ["out"],
                name="fn_if",
                then_branch=_branch("fthen", "a1"),
                else_branch=_branch("felse", "a"),
            ),
        ],
        [helper.make_opsetid("", FUNCTION_OPSET)],
    )
    nodes = [
        helper.make_node("Identity", ["x"], ["x1"], name="main_identity"),
        helper.make_node("Pick", ["x1", "cond"], ["p"], name="call", domain="mylib"),
        helper.make_node("Loop", ["trip", "", "p"], ["y"], name="loop", body=body),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", F, [2]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("trip", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", F, [2])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", MODEL_OPSET), helper.make_opsetid("mylib", 1)],
        functions=[function],
    )
    onnx.save(model, str(path))
    return path


# (graph id, node id, the opset that applies there)
CASES = [
    ("", "main_identity", MODEL_OPSET),
    ("loop/body", "loop_identity", MODEL_OPSET),
    ("loop/body", "loop_cond", MODEL_OPSET),
    ("function:mylib.Pick", "fn_identity", FUNCTION_OPSET),
    ("function:mylib.Pick", "fn_if", FUNCTION_OPSET),
    ("function:mylib.Pick/fn_if/then_branch", "fthen_identity", FUNCTION_OPSET),
    ("function:mylib.Pick/fn_if/else_branch", "felse_identity", FUNCTION_OPSET),
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_model(_model(tmp_path_factory.mktemp("opsets") / "opsets.onnx"))


@pytest.mark.parametrize(("graph_id", "node_id", "opset"), CASES)
def test_docs_use_the_opset_that_applies_in_each_graph(
    graph: Any, graph_id: str, node_id: str, opset: int
) -> None:
    sub = graph if graph_id == "" else graph.graph["subgraphs"][graph_id]
    op = sub.nodes[node_id]["op_type"]
    expected = onnx.defs.get_schema(op, max_inclusive_version=opset).since_version
    assert expected != onnx.defs.get_schema(op).since_version  # the newest would differ
    doc = tables.node_doc(sub, node_id)
    assert doc is not None and doc.since_version == expected
    payload = build_payload(graph, details=True)
    drawn = payload if graph_id == "" else payload["subgraphs"][graph_id]
    entry = next(n for n in drawn["nodes"] if n["id"] == node_id)
    assert drawn["docs"][entry["doc"]]["since"] == expected  # the HTML export's inspector
