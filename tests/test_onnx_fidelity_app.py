"""The inspector (AppTest) on the issue-8 kinds: a function body's reference resolved from the call
site the user came from, a sparse weight's density, a packed weight's size, names that are not
UTF-8. Expected values are read from the protos with onnx."""

from __future__ import annotations

import math
from pathlib import Path

import onnx
from onnx import helper, numpy_helper
from streamlit.testing.v1 import AppTest

from converters import ModelSource
from tests import test_onnx_fidelity as fidelity
from tests.app_helpers import attribute_values
from viewer import app_state
from viewer.summary import human_bytes

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def _open(name: str, data: bytes, node: str | None = None) -> AppTest:
    app_state._upload_store()[f"fidelity-{name}"] = ModelSource.from_uploads([(name, data)])
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["model"] = f"upload:fidelity-{name}"
    if node:
        app.query_params["node"] = node
    return app.run()


def _shown(app: AppTest) -> str:
    texts = [str(m.value) for m in [*app.markdown, *app.caption, *app.code]]
    texts += [e.label for e in app.expander] + [b.label for b in app.button]
    return "\n".join(texts).replace("\\", "").replace("<wbr>", "")


def test_function_body_shows_the_value_its_caller_passes() -> None:
    model = fidelity.ref_two_call_sites()
    model.ir_version = 10
    app = _open("refs.onnx", model.SerializeToString(), node="second")
    next(b for b in app.button if b.label.startswith("Open function")).click().run()
    assert not app.exception
    body = app.session_state.subgraph
    app.session_state.selection = {"kind": "node", "id": "Constant_0"}
    app.run()
    second = next(n for n in model.graph.node if n.name == "second")
    expected = helper.get_attribute_value(second.attribute[0])
    values = attribute_values(app)
    assert f"= @v → {expected} (passed by second)" in values, (body, values)


def test_sparse_weight_shows_dense_shape_and_density() -> None:
    model = fidelity.sparse_smallest()
    app = _open("sparse.onnx", model.SerializeToString(), node="Identity_0")
    assert not app.exception
    (sparse,) = model.graph.sparse_initializer
    stored, dense = math.prod(sparse.values.dims), math.prod(sparse.dims)
    dtype = helper.tensor_dtype_to_np_dtype(sparse.values.data_type).name
    shown = _shown(app)
    assert f"Weight {sparse.values.name} · {dtype} · {'×'.join(map(str, sparse.dims))}" in shown
    assert f"Sparse: {stored:,} stored values of {dense:,} ({stored / dense:.2%} dense)" in shown


def test_packed_weight_size() -> None:
    model = fidelity._packed_model(onnx.TensorProto.INT4, 3, typed_fields=False)
    app = _open("int4.onnx", model.SerializeToString(), node="Identity_0")
    assert not app.exception
    packed = len(numpy_helper.from_array(numpy_helper.to_array(model.graph.initializer[0])).raw_data)
    assert f"· {human_bytes(packed)}" in _shown(app)


def test_names_that_are_not_utf8_show_replaced(tmp_path: Path) -> None:
    data = fidelity._write_bad("node", tmp_path / "node.onnx").read_bytes()
    expected = fidelity.Placeholder("node").bad.decode("utf-8", "replace")
    app = _open("utf8.onnx", data, node=expected)
    assert not app.exception
    assert expected in _shown(app)


def test_overload_call_opens_its_own_body_with_breadcrumbs() -> None:
    model = fidelity.overloads_smallest()
    model.ir_version = 10
    for call in model.graph.node:
        app = _open("overloads.onnx", model.SerializeToString(), node=call.name)
        next(b for b in app.button if b.label.startswith("Open function")).click().run()
        assert not app.exception
        (function,) = [
            f
            for f in model.functions
            if (f.domain, f.name, f.overload) == (call.domain, call.op_type, call.overload)
        ]
        shown = _shown(app)
        assert f"function:{function.domain}.{function.name}:{function.overload}" in shown
        assert app.session_state.subgraph.endswith(f":{function.overload}")


def test_html_export_of_a_function_body_shows_the_value_its_caller_passes(tmp_path: Path) -> None:
    """The export's inspector (payload ``attrs``) resolves ``@v`` through the call the user took,
    as the app's inspector does; without a caller, a body with two call sites shows ``= @v``."""
    from viewer.model_view import open_model

    model = fidelity.ref_two_call_sites()
    model.ir_version = 10
    path = tmp_path / "refs.onnx"
    onnx.save(model, str(path))
    opened = open_model("export-refs", ModelSource.from_path(path))
    (function,) = [s for s, g in opened.graph.graph["subgraphs"].items() if g.graph.get("function") == s]
    for call in model.graph.node:
        payload = opened.export_payload(function, ("", call.name))
        (constant,) = [n for n in payload["nodes"] if n.get("attrs")]
        expected = helper.get_attribute_value(call.attribute[0])
        assert constant["attrs"][0][1] == f"= @v → {expected} (passed by {call.name})"
    (constant,) = [n for n in opened.export_payload(function)["nodes"] if n.get("attrs")]
    assert constant["attrs"][0][1] == "= @v"
