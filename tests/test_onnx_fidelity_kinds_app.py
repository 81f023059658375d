"""The inspector (AppTest) on the issue-8 re-test kinds: references resolved through the chain of
calls the user opened, a sparse weight far too large to densify, same-named weights in two
branches, weights in a branch inside a function body, a function's declaration. Expected values
come from onnx (the protos, numpy_helper, ReferenceEvaluator)."""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from streamlit.testing.v1 import AppTest

from converters.onnx_format import function_id
from tests import test_onnx_fidelity_kinds as kinds
from tests.app_helpers import attribute_values
from tests.test_onnx_fidelity import OPSET, _model, _out
from tests.test_onnx_fidelity_app import _open, _shown


def _preview(values: np.ndarray) -> str:
    """The inspector's value preview: each of the first values as numpy prints that dtype."""
    return ", ".join(str(v) for v in values.ravel()[:64])


def _open_function_from(app: AppTest, node: str) -> AppTest:
    app.session_state.selection = {"kind": "node", "id": node}
    app.run()
    next(b for b in app.button if b.label.startswith("Open function")).click().run()
    assert not app.exception
    return app


def _attribute_values(app: AppTest) -> list[str]:
    return attribute_values(app)


def test_reference_through_two_calls_resolves_along_the_path_taken() -> None:
    model = kinds._chain_model(3)
    model.ir_version = 10
    expected = dict(zip(["first", "second"], ReferenceEvaluator(model).run(None, {}), strict=True))
    for entry in ("second", "first"):
        app = _open(f"chain-{entry}.onnx", model.SerializeToString(), node=entry)
        next(b for b in app.button if b.label.startswith("Open function")).click().run()
        _open_function_from(app, "call1")
        _open_function_from(app, "call2")
        assert app.session_state.subgraph == function_id("d", "F2")
        app.session_state.selection = {"kind": "node", "id": "Constant_0"}
        app.run()
        assert f"= @v → {float(expected[entry])} (passed by call2)" in _attribute_values(app)


def test_huge_sparse_weight_shows_stored_values_indices_and_density() -> None:
    dims = [10**12]
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.5], np.float32), "S"),
        numpy_helper.from_array(np.array([5], np.int64), ""),
        dims,
    )
    graph = helper.make_graph(
        [helper.make_node("Identity", ["S"], ["out"])],
        "g",
        [],
        [_out("out", dims)],
        sparse_initializer=[sparse],
    )
    model = _model(graph, opset_imports=[OPSET])
    model.ir_version = 9
    app = _open("huge-sparse.onnx", model.SerializeToString(), node="Identity_0")
    assert not app.exception
    shown = _shown(app)
    nnz, dense = math.prod(sparse.values.dims), math.prod(sparse.dims)
    assert f"Sparse: {nnz:,} stored values of {dense:,} ({nnz / dense:.3g} dense)" in shown
    assert str(numpy_helper.to_array(sparse.indices)) in shown
    assert _preview(numpy_helper.to_array(sparse.values)) in shown
    assert "No dense .npy" in shown and f"{dense:,}" in shown
    assert not [w for w in app.warning if "indices" in str(w.value)]


def test_same_named_weights_show_their_own_branch_values() -> None:
    model = kinds.weights_same_name_in_branches()
    model.ir_version = 9
    for branch in ("then_branch", "else_branch"):
        app = _open(f"branches-{branch}.onnx", model.SerializeToString())
        app.session_state.subgraph = f"if_out/{branch}"
        app.session_state.selection = {"kind": "node", "id": "Identity_0"}
        app.run()
        assert not app.exception
        proto = next(a.g for a in model.graph.node[0].attribute if a.name == branch)
        weight = numpy_helper.to_array(next(t for t in proto.initializer if t.name == "W"))
        shown = _shown(app)
        assert f"Weight W · float32 · {weight.size}" in shown
        assert _preview(weight) in shown


def test_weight_in_branch_inside_function_shows_values() -> None:
    model = kinds.weights_if_in_function()
    model.ir_version = 9
    app = _open("fn-branch.onnx", model.SerializeToString(), node="F_0")
    next(b for b in app.button if b.label.startswith("Open function")).click().run()
    then = next(a.g for a in model.functions[0].node[0].attribute if a.name == "then_branch")
    app.session_state.subgraph = f"{function_id('d', 'F')}/if_y/then_branch"
    app.session_state.selection = {"kind": "node", "id": "Identity_0"}
    app.run()
    assert not app.exception
    weight = numpy_helper.to_array(then.initializer[0])
    shown = _shown(app)
    assert "No stored tensor" not in shown
    assert _preview(weight) in shown


def test_function_declaration_is_shown() -> None:
    function = helper.make_function(
        "d",
        "F",
        ["x"],
        ["y"],
        [helper.make_node("Relu", ["x"], ["y"])],
        [OPSET],
        attributes=["alpha"],
        doc_string="clamps below zero",
    )
    function.attribute_proto.append(helper.make_attribute("beta", 0.25))
    graph = helper.make_graph(
        [helper.make_node("F", ["x"], ["y"], domain="d", name="call")],
        "g",
        [_out("x", [2])],
        [_out("y", [2], TensorProto.FLOAT)],
    )
    model = _model(graph, [function])
    model.ir_version = 10
    app = _open("declaration.onnx", model.SerializeToString(), node="call")
    next(b for b in app.button if b.label.startswith("Open function")).click().run()
    assert not app.exception
    shown = _shown(app)
    assert f"Function {function.name} · domain {function.domain}" in shown
    assert function.doc_string in shown
    defaults = [str(v) for frame in app.dataframe for v in frame.value.get("default", [])]
    assert str(helper.get_attribute_value(function.attribute_proto[0])) in defaults
    assert "required" in defaults
