"""ONNX Runtime .ort files open as the common graph.

Each .ort file is written by onnxruntime itself (``SessionOptions.optimized_model_filepath`` with
``session.save_model_format = ORT``) from a case of tests/model_cases.py; the same session options
with the default save format write its twin ``.onnx`` — the very graph ORT serialized, readable by
the onnx library. Expected values come from that twin (``onnx.load``/``expected_info``) and from
``onnxruntime.InferenceSession`` on the .ort file, never from ModelLens output.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import modellens
from converters import ModelSource, load_source, ort_format, registry
from converters.errors import ModelLoadError
from converters.onnx_tensors import all_graphs
from converters.schema import validate_graph
from tests.app_helpers import weight_stats
from tests.model_cases import CASES, ModelCase, edge_tensors, expected_info
from viewer.canvas_payload import build_payload

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("flatbuffers")

BY_ID = {case.id: case for case in CASES}
# (case, optimization level): DISABLE_ALL keeps the exported graph; ENABLE_EXTENDED fuses into contrib ops
ROWS = [
    ("mlp", "ORT_DISABLE_ALL"),
    ("control_flow_if_loop", "ORT_DISABLE_ALL"),
    ("constants", "ORT_DISABLE_ALL"),
    ("symbolic_dims", "ORT_DISABLE_ALL"),
    ("io_edges", "ORT_DISABLE_ALL"),
    ("external_data", "ORT_DISABLE_ALL"),
    ("cnn_branches", "ORT_DISABLE_ALL"),
    ("cnn_branches", "ORT_ENABLE_EXTENDED"),
    ("transformer_block", "ORT_ENABLE_EXTENDED"),
]
PINNED = (
    "ir_version",
    "opsets",
    "metadata",
    "nodes",
    "edges",
    "inputs",
    "outputs",
    "op_types",
    "parameters",
    "parameter_bytes",
    "subgraphs",
)


def save_with_ort(source: Path, out: Path, level: str) -> tuple[Path, Path]:
    """(model.ort, twin.onnx) written by onnxruntime from ``source`` at optimization ``level``."""
    out.mkdir(parents=True, exist_ok=True)
    for side_file in source.parent.iterdir():  # external data the twin .onnx still points at
        if side_file != source and side_file.is_file():
            shutil.copy(side_file, out / side_file.name)
    paths = (out / "model.ort", out / "twin.onnx")
    for path, save_format in zip(paths, ("ORT", "ONNX"), strict=True):
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.optimized_model_filepath = str(path)
        options.add_session_config_entry("session.save_model_format", save_format)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return paths


@pytest.fixture(scope="module")
def ort_pair(
    build_case: Callable[[ModelCase], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], tuple[Path, Path]]:
    made: dict[tuple[str, str], tuple[Path, Path]] = {}

    def get(case_id: str, level: str) -> tuple[Path, Path]:
        if (case_id, level) not in made:
            source = build_case(BY_ID[case_id])
            made[case_id, level] = save_with_ort(source, tmp_path_factory.mktemp(case_id), level)
        return made[case_id, level]

    return get


@pytest.mark.parametrize(("case_id", "level"), ROWS, ids=[f"{c}-{lv}" for c, lv in ROWS])
def test_ort_file_matches_what_onnxruntime_saved(
    case_id: str, level: str, ort_pair: Callable[[str, str], tuple[Path, Path]], tmp_path: Path
) -> None:
    ort_path, twin_path = ort_pair(case_id, level)
    assert ort_path.read_bytes()[4:8] == b"ORTM"
    blind = tmp_path / "model.bin"  # detected by content, not by name
    shutil.copy(ort_path, blind)
    assert registry.detect_format(ModelSource.from_path(blind)) is ort_format

    graph = modellens.load(blind)
    info = modellens.summarize(graph)
    twin = onnx.load(str(twin_path))
    expected = expected_info(twin_path)
    assert validate_graph(graph) == []
    assert info["format"] == "ort"
    assert all(sub.graph["format"] == "ort" for sub in graph.graph["subgraphs"].values())
    opset = expected["opsets"]["ai.onnx"]
    assert info["format_label"].startswith("ONNX Runtime ORT v")
    assert info["format_label"].endswith(f"(ONNX IR v{twin.ir_version}), opset {opset}")
    assert {k: info[k] for k in PINNED} == {k: expected[k] for k in PINNED}
    assert info["warnings"] == []

    session = ort.InferenceSession(str(ort_path), providers=["CPUExecutionProvider"])
    for key, values in (("inputs", session.get_inputs()), ("outputs", session.get_outputs())):
        assert [(io["name"], io["shape"]) for io in info[key]] == [(v.name, v.shape) for v in values]

    ops = [d for _, d in graph.nodes(data=True) if d["kind"] in ("op", "constant")]
    assert Counter((d["name"], d["op_type"], d["domain"], tuple(d["input_names"])) for d in ops) == Counter(
        (n.name, n.op_type, n.domain, tuple(n.input)) for n in twin.graph.node
    )
    assert Counter(d["tensor"] for _, _, d in graph.edges(data=True)) == edge_tensors(twin.graph)

    store = graph.graph["tensor_store"]
    for body in all_graphs(twin.graph):
        for tensor in body.initializer:
            np.testing.assert_array_equal(store.array(tensor.name), numpy_helper.to_array(tensor))
    payload = build_payload(graph)
    assert len(payload["nodes"]) == graph.number_of_nodes()


def test_large_weights_stay_in_the_file(ort_pair: Callable[[str, str], tuple[Path, Path]]) -> None:
    """Weights over LAZY_MIN_BYTES are read from the .ort file on demand, not kept in memory."""
    ort_path, twin_path = ort_pair("symbolic_dims", "ORT_DISABLE_ALL")
    graph = modellens.load(ort_path)
    store = graph.graph["tensor_store"]
    big = [t for t in onnx.load(str(twin_path)).graph.initializer if t.ByteSize() > 4096]
    assert big, "the case needs a weight over 4 KB"
    for tensor in big:
        assert tensor.name in store.lazy
        assert not store.tensor(tensor.name).raw_data
        np.testing.assert_array_equal(store.array(tensor.name), numpy_helper.to_array(tensor))


def test_control_flow_bodies_are_subgraphs(ort_pair: Callable[[str, str], tuple[Path, Path]]) -> None:
    ort_path, twin_path = ort_pair("control_flow_if_loop", "ORT_DISABLE_ALL")
    graph = modellens.load(ort_path)
    twin = onnx.load(str(twin_path))
    by_op = {d["op_type"]: d for _, d in graph.nodes(data=True) if d["kind"] == "op"}
    twin_bodies = {
        n.op_type: sorted(len(a.g.node) for a in n.attribute if a.type == onnx.AttributeProto.GRAPH)
        for n in twin.graph.node
    }
    for op in ("If", "Loop"):
        subs = [graph.graph["subgraphs"][s] for s in by_op[op]["subgraph_ids"]]
        assert (
            sorted(sum(1 for _, d in s.nodes(data=True) if d["kind"] == "op") for s in subs)
            == twin_bodies[op]
        )


@pytest.mark.parametrize("cut", [9, 40, 200, -200, -8])
def test_truncated_ort_file_is_one_clear_error(
    cut: int, ort_pair: Callable[[str, str], tuple[Path, Path]], tmp_path: Path
) -> None:
    data = ort_pair("mlp", "ORT_DISABLE_ALL")[0].read_bytes()
    broken = tmp_path / "broken.ort"
    broken.write_bytes(data[:cut])
    with pytest.raises(ModelLoadError) as err:
        modellens.load(broken)
    assert "ORT" in err.value.message and "\n" not in err.value.message
    assert err.value.fix


@pytest.mark.parametrize("seed", range(12))
def test_mutated_ort_file_never_crashes(
    seed: int, ort_pair: Callable[[str, str], tuple[Path, Path]], tmp_path: Path
) -> None:
    data = bytearray(ort_pair("cnn_branches", "ORT_DISABLE_ALL")[0].read_bytes())
    rng = np.random.default_rng(seed)
    for position in rng.integers(8, len(data), size=8):
        data[position] = int(rng.integers(0, 256))
    mutated = tmp_path / "mutated.ort"
    mutated.write_bytes(bytes(data))
    try:
        graph = modellens.load(mutated)
    except ModelLoadError as err:
        assert "\n" not in err.message
    else:
        assert graph.graph["format"] == "ort"


def test_uploaded_ort_file_opens(ort_pair: Callable[[str, str], tuple[Path, Path]]) -> None:
    ort_path, twin_path = ort_pair("mlp", "ORT_DISABLE_ALL")
    source = ModelSource.from_uploads([("notes.txt", b"side file"), ("my model.ort", ort_path.read_bytes())])
    assert source.display_name == "my model.ort"
    graph = load_source(source)
    assert graph.graph["format"] == "ort"
    for tensor in onnx.load(str(twin_path)).graph.initializer:
        np.testing.assert_array_equal(
            graph.graph["tensor_store"].array(tensor.name), numpy_helper.to_array(tensor)
        )


def test_zipped_ort_file_opens(ort_pair: Callable[[str, str], tuple[Path, Path]], tmp_path: Path) -> None:
    import zipfile

    ort_path, _ = ort_pair("mlp", "ORT_DISABLE_ALL")
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(ort_path, "export/model.ort")
    graph = modellens.load(archive)
    assert graph.graph["format"] == "ort"
    assert modellens.summarize(graph)["nodes"] == modellens.summarize(modellens.load(ort_path))["nodes"]


def test_app_inspector_shows_ort_weights_and_op_docs(
    ort_pair: Callable[[str, str], tuple[Path, Path]],
) -> None:
    """AppTest: an uploaded .ort opens on the graph page; a Conv's weights show their statistics
    (values read from the .ort file) and the op's ONNX documentation."""
    from streamlit.testing.v1 import AppTest

    from viewer import app_state

    ort_path, twin_path = ort_pair("cnn_branches", "ORT_DISABLE_ALL")
    graph = modellens.load(ort_path)
    conv = next(n for n, d in graph.nodes(data=True) if d["op_type"] == "Conv" and d["weights"])
    app_state._upload_store()["ort-test"] = ModelSource.from_uploads([("cnn.ort", ort_path.read_bytes())])
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    app.query_params["model"] = "upload:ort-test"
    app.query_params["node"] = conv
    app.run()
    assert not app.exception
    assert any("Conv documentation" in e.label for e in app.expander)
    assert any(e.label.startswith("Weight ") for e in app.expander)
    twin = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(twin_path)).graph.initializer}
    shown = weight_stats(app)
    for weight in graph.nodes[conv]["weights"].values():  # each weight's expander, in port order
        values = twin[weight.name]
        assert any(
            s["min"] == pytest.approx(float(values.min()), rel=1e-5)
            and s["max"] == pytest.approx(float(values.max()), rel=1e-5)
            for s in shown
        )


def test_sparse_initializer_of_an_ort_file_is_a_weight(tmp_path: Path) -> None:
    """ORT keeps sparse initializers sparse in .ort files; they are weights with their dense shape."""
    from onnx import TensorProto, helper

    values = numpy_helper.from_array(np.array([5.0], np.float32), "S")
    indices = numpy_helper.from_array(np.array([1], np.int64), "S_indices")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "S"], ["y"], name="add")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        sparse_initializer=[helper.make_sparse_tensor(values, indices, [4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    source = tmp_path / "sparse.onnx"
    onnx.save(model, str(source))
    ort_path, _ = save_with_ort(source, tmp_path / "out", "ORT_DISABLE_ALL")
    loaded = modellens.load(ort_path)
    assert loaded.graph["warnings"] == []
    add = loaded.nodes["add"]
    assert [(w.name, w.shape) for w in add["weights"].values()] == [("S", (4,))]
    session = ort.InferenceSession(str(ort_path), providers=["CPUExecutionProvider"])
    (dense,) = session.run(None, {"x": np.zeros(4, np.float32)})  # y = 0 + S
    np.testing.assert_array_equal(loaded.graph["tensor_store"].array("S"), dense)
    assert modellens.summarize(loaded)["parameters"] == 4
