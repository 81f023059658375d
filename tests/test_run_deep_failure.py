"""A failure deep in an ONNX graph (transformer_block with seq past its 1×128 position table):
the failing node's real input shapes (from onnxruntime run up to it), no shapes drawn past it,
and a constant upstream that bounds an input size named with the dim it bounds. Expected shapes
come from onnxruntime runs of the same graph and from networkx's descendants."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters import load_model
from runtime.engine import NodeRunError, model_shapes, propose_for, run_model
from runtime.shapes import bound_hint

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_models" / "transformer_block.onnx"


def _seq_specs(seq: int) -> object:
    graph = load_model(SAMPLE)
    _, specs = propose_for(SAMPLE, graph)
    return specs.with_dim("seq", seq)


def _ort_inputs_of(node_name: str, feeds: dict[str, np.ndarray], tmp_path: Path) -> list[list[int]]:
    """The failing node's input shapes as onnxruntime computes them on the part of the graph
    that feeds it (``onnx.utils.extract_model``)."""
    target = next(n for n in onnx.load(str(SAMPLE)).graph.node if n.name == node_name)
    part = tmp_path / "upstream.onnx"
    onnx.utils.extract_model(str(SAMPLE), str(part), list(feeds), list(target.input))
    session = ort.InferenceSession(str(part), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = dict(
        zip(names, session.run(names, {i.name: feeds[i.name] for i in session.get_inputs()}), strict=True)
    )
    return [list(values[name].shape) for name in target.input]


def test_the_failing_node_shows_its_real_inputs_and_nothing_is_drawn_after_it(tmp_path: Path) -> None:
    result = model_shapes(SAMPLE, spec=_seq_specs(600))
    failed = result.failed
    assert failed is not None and failed.node == "node_expand_1"
    feeds = {"input_ids": np.ones((1, 600), np.int64), "attention_mask": np.ones((1, 600), np.int64)}
    assert failed.input_shapes == _ort_inputs_of("node_expand_1", feeds, tmp_path)  # [[1, 128], [2]]
    graph = load_model(SAMPLE)
    after = nx.descendants(graph, "node_expand_1") | {"node_expand_1"}
    assert after - {"node_expand_1"}, "the sample has nodes after the failing one"
    for node in after & set(result.nodes):
        assert all(shape is None for shape in result.nodes[node]), node
    assert result.nodes["node_embedding"] == [[1, 600, 64]]  # before it: drawn
    assert "its input 1x128 has 128 from the constants" in failed.message
    assert "seq (now 600) may be at most 128" in failed.message


def test_the_run_names_the_dim_to_lower() -> None:
    with pytest.raises(NodeRunError) as caught:
        run_model(SAMPLE, spec=_seq_specs(600))
    assert caught.value.message.startswith(
        "onnxruntime failed at node node_expand_1 (Expand) with inputs [1x128, 2]: "
    )
    assert caught.value.fix == "set seq to 128 or less"
    assert run_model(SAMPLE, spec=_seq_specs(128)).outputs  # the bound itself runs


def _add_table(tmp_path: Path) -> Path:
    """x (1×n) + pos (an 1×8 initializer): fails unless n is 1 or 8."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "pos"], ["y"], name="add_pos")],
        "table",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((1, 8), np.float32), "pos")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "table.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("n", "bounded"), [(10, True), (4, False)])
def test_a_constant_bounds_a_size_only_when_the_inputs_exceed_it(
    tmp_path: Path, n: int, bounded: bool
) -> None:
    path = _add_table(tmp_path)
    x = np.zeros((1, n), np.float32)
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's own error: the case really fails
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    failed = model_shapes(path, inputs={"x": x}).failed
    assert failed is not None and failed.node == "add_pos"
    assert failed.input_shapes == [[1, n], [1, 8]]
    assert (failed.bound == (n, 8)) is bounded
    assert ("may be at most 8" in failed.message) is bounded


def test_bound_hint_table() -> None:
    feeds = {"x": np.zeros((1, 600))}
    assert bound_hint([[1, 128], [2]], [("pos", [1, 128])], feeds)[1] == (600, 128)
    assert bound_hint([[1, 128]], [], feeds) == ("", None)  # no constant has the size
    assert bound_hint([[1, 128]], [("pos", [1, 128])], {"x": np.zeros((1, 100))}) == ("", None)
    assert bound_hint([[1, 600]], [("pos", [1, 600])], feeds) == ("", None)  # the inputs have it too
    assert bound_hint([[2]], [("shape", [2])], feeds) == ("", None)  # a shape list, not a table


def _pages_script(cli_model: str) -> None:
    import streamlit as st

    from viewer import app_state, pages, run_page

    app_state.init_session_state(cli_model)
    if st.session_state.get("_page") == "graph":
        pages.graph_page()
    else:
        run_page.run_page()


def test_the_inspector_shows_the_runs_shapes_up_to_the_failing_node() -> None:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_pages_script, default_timeout=180, args=(str(SAMPLE),)).run()
    app.number_input(key="run1_dim_seq").set_value(600).run()
    app.button(key="run_button").click().run()
    assert not app.exception
    errors = [str(e.value).replace("\\", "") for e in app.error]
    assert len(errors) == 1 and "node node_expand_1 (Expand) with inputs [1x128, 2]" in errors[0]
    assert "seq (now 600) may be at most 128" in errors[0] and errors[0].endswith("set seq to 128 or less")
    app.session_state["_page"] = "graph"
    app.run()
    assert not app.exception
    assert app.session_state.selection == {"kind": "node", "id": "node_expand_1"}
    text = "\n".join(str(m.value) for m in app.markdown).replace("\\", "")
    assert "1×128 (this run)" in text  # the failing node's real input, not the file's 1×seq
