"""ONNX saved in every serialization the installed onnx writes opens, detected by content.

Each case of tests/model_cases.py is re-saved with ``onnx.save(model, path, format=FMT)`` under a
name that says nothing (``model.bin``); the expected graph is what ``onnx.load`` reads back from
the same text (``expected_info`` and the proto), never ModelLens output.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import modellens
from converters import ModelSource, onnx_format, registry
from converters.errors import ModelLoadError, NotAModelError
from converters.schema import validate_graph
from tests.model_cases import CASES, ModelCase, edge_tensors, expected_info

TEXT_FORMATS = ("textproto", "json", "onnxtxt")
SUFFIX = {"textproto": ".textproto", "json": ".json", "onnxtxt": ".onnxtxt"}
# cases whose models every text format round-trips (external data stays binary by definition)
CASE_IDS = ("mlp", "control_flow_if_loop", "constants", "symbolic_dims", "io_edges", "cnn_branches")
PINNED = ("ir_version", "opsets", "metadata", "nodes", "edges", "inputs", "outputs", "op_types", "parameters")
BY_ID = {case.id: case for case in CASES}


def test_every_format_onnx_registers_is_covered() -> None:
    formats = {"protobuf", *TEXT_FORMATS}
    assert all(onnx.serialization.registry.get(fmt) is not None for fmt in formats)
    # the registry has no public listing: compare with the formats its module defines serializers for
    defined = {
        cls.supported_format
        for cls in vars(onnx.serialization).values()
        if isinstance(cls, type) and isinstance(getattr(cls, "supported_format", None), str)
    }
    assert defined == formats


def _resave(source: Path, fmt: str, out: Path) -> tuple[Path, Path]:
    """(file with onnx's own extension, byte-identical copy named model.bin)."""
    model = onnx.load(str(source))
    out.mkdir(parents=True, exist_ok=True)
    named = out / f"model{SUFFIX[fmt]}"
    onnx.save(model, str(named), format=fmt)
    blind = out / "model.bin"
    shutil.copy(named, blind)
    return named, blind


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_text_serializations_open_like_onnx_load(
    case_id: str, fmt: str, build_case: Callable[[ModelCase], Path], tmp_path: Path
) -> None:
    named, blind = _resave(build_case(BY_ID[case_id]), fmt, tmp_path)
    with pytest.warns() if fmt == "onnxtxt" else contextlib.nullcontext():
        proto = onnx.load(str(named))
        expected = expected_info(named)

    assert onnx_format.match(ModelSource.from_path(blind)), "detected by content, not by name"
    graph = modellens.load(blind)
    info = modellens.summarize(graph)
    assert validate_graph(graph) == []
    assert {k: info[k] for k in PINNED} == {k: expected[k] for k in PINNED}
    assert info["sha256"] == hashlib.sha256(blind.read_bytes()).hexdigest()
    ir = proto.ir_version
    opset = expected["opsets"].get("ai.onnx")
    assert info["format_label"] == f"ONNX v{ir} ({fmt})" + (f", opset {opset}" if opset else "")
    assert graph.graph["serialization"] == fmt
    assert Counter(d["tensor"] for _, _, d in graph.edges(data=True)) == edge_tensors(proto.graph)
    ops = [d for _, d in graph.nodes(data=True) if d["kind"] in ("op", "constant")]
    assert Counter((d["op_type"], tuple(d["input_names"])) for d in ops) == Counter(
        (n.op_type, tuple(n.input)) for n in proto.graph.node
    )
    store = graph.graph["tensor_store"]
    for tensor in proto.graph.initializer:
        np.testing.assert_array_equal(store.array(tensor.name), numpy_helper.to_array(tensor))


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("# exported by hand\nir_version: 8\ngraph { name: 'g' }\n", "textproto"),
        ("\ufeffgraph {\n  name: 'g'\n}\nir_version: 8\nopset_import { version: 17 }\n", "textproto"),
        ('{"irVersion": "8", "graph": {"name": "g"}}', "json"),
        ('  {\n "ir_version": "8", "graph": {"name": "g"}}', "json"),
        ('<ir_version: 8, opset_import: ["" : 17]>\ng (float[2] x) => (float[2] y) {y = Relu(x)}', "onnxtxt"),
        ("g (float[2] x) => (float[2] y) {\n  y = Relu(x)\n}\n", "onnxtxt"),
    ],
)
def test_text_formats_detected_from_content(text: str, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "model.data"
    path.write_text(text, encoding="utf-8")
    source = ModelSource.from_path(path)
    assert registry.detect_format(source) is onnx_format
    assert onnx_format.onnx_text.serialization_of(source) == fmt
    with pytest.warns() if fmt == "onnxtxt" else contextlib.nullcontext():
        # onnx itself rejects a BOM (which ModelLens skips); 0 for a header-less onnxtxt
        ir_version = onnx.load_model_from_string(text.removeprefix("\ufeff").encode(), format=fmt).ir_version
    graph = modellens.load(path)
    assert graph.graph["format_label"].startswith(f"ONNX v{ir_version} ({fmt})")


@pytest.mark.parametrize(
    "text",
    [
        "hello, this is a README\n",
        '{"architectures": ["BertModel"], "hidden_size": 768}',
        'name: "not a model"\nvalue: 3\n',
        "<html><body>hi</body></html>",
        "x = 1\nprint(x)\n",
    ],
)
def test_other_text_is_still_not_a_model(text: str, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NotAModelError) as err:
        modellens.load(path)
    assert "text file" in err.value.message
    assert "textproto" in err.value.fix


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("ir_version: 8\ngraph { node { op_type: \n", "textproto"),
        ('{"irVersion": "8", "graph": {"node": [', "json"),
        ("<ir_version: 8>\ng (float[2] x) => (float[2] y) { y = Relu(x \n", "onnxtxt"),
    ],
)
def test_broken_text_model_is_one_clear_error(text: str, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelLoadError) as err:
        modellens.load(path)
    message = err.value.message
    assert fmt in message and "\n" not in message
    assert err.value.fix


def test_binary_onnx_is_still_binary(build_case: Callable[[ModelCase], Path]) -> None:
    graph = modellens.load(build_case(BY_ID["mlp"]))
    assert "serialization" not in graph.graph
    assert "(" not in graph.graph["format_label"]
