"""Inspector texts of the app and the HTML export alike (issue 9, retest item 14): data type enums
by name with their number, ONNX doc links that work outside the onnx repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import onnx.defs
import pytest
from onnx import TensorProto, helper
from streamlit.testing.v1 import AppTest

from converters import ModelSource, load_model
from converters.op_catalog import onnx_op_doc
from tests.app_helpers import attribute_values
from tests.export_models import LN_NAME, inspector_model
from viewer import app_state, tables
from viewer.canvas_payload import build_payload

F = TensorProto.FLOAT
ROOT = Path(__file__).resolve().parent.parent

# (node, attribute, the value set on it or None for the operator's default)
CASES = [
    (helper.make_node("Cast", ["x"], ["c"], name="cast", to=TensorProto.BOOL), "to", TensorProto.BOOL),
    (
        helper.make_node("EyeLike", ["m"], ["e"], name="eye", dtype=TensorProto.DOUBLE),
        "dtype",
        TensorProto.DOUBLE,
    ),
    (helper.make_node("RandomNormal", [], ["r"], name="rand", shape=[2]), "dtype", None),
    (helper.make_node("LayerNormalization", ["x", "s"], ["l"], name="ln"), "stash_type", None),
    (
        helper.make_node("QuantizeLinear", ["x", "s"], ["q"], name="quant", output_dtype=TensorProto.UINT8),
        "output_dtype",
        TensorProto.UINT8,
    ),
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Any:
    graph = helper.make_graph(
        [node for node, _, _ in CASES],
        "enums",
        [helper.make_tensor_value_info("x", F, [2]), helper.make_tensor_value_info("m", F, [2, 2])],
        [helper.make_tensor_value_info(name, F, None) for name in ("c", "e", "r", "l", "q")],
        [helper.make_tensor("s", F, [], [1.0])],
    )
    path = tmp_path_factory.mktemp("enums") / "enums.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), str(path))
    return load_model(path)


@pytest.mark.parametrize(("node", "attribute", "value"), CASES, ids=[c[0].name for c in CASES])
def test_data_type_attributes_show_the_enum_name_and_number(
    graph: Any, node: onnx.NodeProto, attribute: str, value: int | None
) -> None:
    if value is None:  # the schema's default
        value = onnx.defs.get_schema(node.op_type, 21).attributes[attribute].default_value.i
    expected = f"{TensorProto.DataType.Name(value)} ({value})"
    rows = {r.name: r for r in tables.attribute_rows(graph, node.name, tables.node_doc(graph, node.name))}
    assert rows[attribute].value == expected  # the app's inspector
    entry = next(n for n in build_payload(graph, details=True)["nodes"] if n["id"] == node.name)
    assert [a[1] for a in entry["attrs"] if a[0] == attribute] == [expected]  # the HTML export's


def test_other_int_attributes_stay_numbers(graph: Any) -> None:
    rows = {r.name: r.value for r in tables.attribute_rows(graph, "ln", tables.node_doc(graph, "ln"))}
    assert rows["axis"] == "-1"


@pytest.mark.parametrize("op", ["Add", "Where", "Mul", "Pow"])
def test_relative_onnx_doc_links_point_to_the_onnx_repository(op: str) -> None:
    assert "](Broadcasting.md)" in onnx.defs.get_schema(op).doc  # as onnx writes it
    doc = onnx_op_doc(op)
    assert doc is not None and "](Broadcasting.md)" not in doc.doc
    assert "](https://github.com/onnx/onnx/blob/main/docs/Broadcasting.md)" in doc.doc


def _open_in_app(path: Path, node: str) -> AppTest:
    app_state._upload_store()[f"display-{path.name}"] = ModelSource.from_uploads(
        [(path.name, path.read_bytes())]
    )
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["model"] = f"upload:display-{path.name}"
    app.query_params["node"] = node
    return app.run()


def test_the_app_shows_enum_names_and_lets_long_names_wrap_at_separators(tmp_path: Path) -> None:
    path = inspector_model(tmp_path / "inspector.onnx")
    app = _open_in_app(path, "/head/Cast")
    assert not app.exception
    assert attribute_values(app) == [f"{TensorProto.DataType.Name(TensorProto.BOOL)} ({TensorProto.BOOL})"]
    app = _open_in_app(path, LN_NAME)
    escaped = LN_NAME.replace("/", "/<wbr>").replace(".", "\\.<wbr>").replace("_", "\\_<wbr>")
    title = f"**{escaped}**"
    assert title in [m.value for m in app.markdown]  # a break opportunity after each separator
    ports = [str(m.value) for m in app.markdown if str(m.value).startswith("Y: ")]
    assert ports == ["Y: **ln** · float32 · 2×4"]
