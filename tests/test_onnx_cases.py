"""The ONNX case table (tests/model_cases.py) through ``modellens.load``/``summarize`` and the CLI.

Expected values come from ``model_cases.expected_info``, which reads the ONNX proto directly; the
hand-written ``pins`` of each case check that helper in turn.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import modellens
from converters.errors import ModelLensError
from converters.schema import ModelGraph, validate_graph
from tests import model_cases
from tests.model_cases import CASES, ModelCase, dtype_name, edge_tensors, expected_info

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_TYPES: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "format": str,
    "format_label": str,
    "producer": str,
    "ir_version": int,
    "opsets": dict,
    "metadata": dict,
    "sha256": str,
    "nodes": int,
    "edges": int,
    "inputs": list,
    "outputs": list,
    "op_types": dict,
    "parameters": int,
    "parameter_bytes": int,
    "subgraphs": int,
    "warnings": list,
}
# keys whose value follows from the file alone (expected_info computes them)
PINNED_KEYS = (
    "schema_version",
    "format",
    "ir_version",
    "opsets",
    "metadata",
    "sha256",
    "nodes",
    "edges",
    "inputs",
    "outputs",
    "op_types",
    "parameters",
    "parameter_bytes",
    "subgraphs",
)
BY_ID = {case.id: case for case in CASES}
params = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


class Opened:
    def __init__(self, path: Path, graph: ModelGraph, info: dict[str, Any]) -> None:
        self.path, self.graph, self.info = path, graph, info
        self.expected = expected_info(path)
        self.proto = onnx.load(str(path), load_external_data=False)


@pytest.fixture(scope="module")
def open_case(build_case: Callable[[ModelCase], Path]) -> Callable[[ModelCase], Opened]:
    cache: dict[str, Opened] = {}

    def get(case: ModelCase) -> Opened:
        if case.id not in cache:
            path = build_case(case)
            graph = modellens.load(path)
            cache[case.id] = Opened(path, graph, modellens.summarize(graph))
        return cache[case.id]

    return get


def op_nodes(graph: ModelGraph) -> list[tuple[str, dict[str, Any]]]:
    return [(n, d) for n, d in graph.nodes(data=True) if d["kind"] in ("op", "constant")]


def total_subgraphs(graph: ModelGraph) -> int:
    """Distinct subgraph ids reachable from the graph (a flat shared registry or nested ones)."""
    seen: set[str] = set()
    stack = [graph]
    while stack:
        for sub_id, sub in stack.pop().graph.get("subgraphs", {}).items():
            if sub_id not in seen:
                seen.add(sub_id)
                stack.append(sub)
    return len(seen)


def run_cli(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(path), "--json", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------------- the builders themselves


@params
def test_builder_writes_the_model_it_promises(
    case: ModelCase, build_case: Callable[[ModelCase], Path]
) -> None:
    path = build_case(case)
    model = onnx.load(str(path))
    expected = expected_info(path)
    assert {k: expected[k] for k in case.pins} == case.pins
    if case.checker:
        onnx.checker.check_model(str(path), full_check=True)
    else:
        with pytest.raises(onnx.checker.ValidationError):
            onnx.checker.check_model(str(path), full_check=True)
    if case.runs:
        outputs = model_cases.samples_module().check_model_file(path)
        assert len(outputs) == len(model.graph.output)


def test_shape_inference_case_really_fails(build_case: Callable[[ModelCase], Path]) -> None:
    model = onnx.load(str(build_case(BY_ID["shape_inference_fails"])))
    with pytest.raises(onnx.shape_inference.InferenceError):
        onnx.shape_inference.infer_shapes(model, strict_mode=True)


def test_make_synthetic_50k_builds_fast(tmp_path: Path) -> None:
    import time

    start = time.perf_counter()
    path = model_cases.make_synthetic(tmp_path, 50_000)
    assert time.perf_counter() - start < 5
    model = onnx.load(str(path))
    assert len(model.graph.node) == 50_000
    assert all(not n.name for n in model.graph.node)
    assert Counter(n.op_type for n in model.graph.node).keys() <= {"Add", "Mul", "Relu", "Sigmoid"}


# -------------------------------------------------------------------------------- summarize()


@params
def test_summary_matches_proto(case: ModelCase, open_case: Callable[[ModelCase], Opened]) -> None:
    opened = open_case(case)
    info, expected = opened.info, opened.expected
    for key, kind in CONTRACT_TYPES.items():
        assert key in info, f"summary lacks {key!r}"
        assert isinstance(info[key], kind), f"{key}: {info[key]!r} is not {kind}"
    got = {k: info[k] for k in PINNED_KEYS}
    want = {k: expected[k] for k in PINNED_KEYS}
    assert got == want
    assert "onnx" in info["format_label"].lower()
    assert expected["producer_name"] in info["producer"]
    assert all(isinstance(w, str) and w for w in info["warnings"])
    if case.warnings is True:
        assert info["warnings"], "expected a warning"
    elif case.warnings is False:
        assert info["warnings"] == []
    assert json.loads(json.dumps(info)) == info, "summary is not JSON-safe"


@params
def test_cli_info_json_equals_summarize(case: ModelCase, open_case: Callable[[ModelCase], Opened]) -> None:
    opened = open_case(case)
    result = run_cli(opened.path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout) == opened.info


# ------------------------------------------------------------------------------------- load()


@params
def test_graph_matches_proto(case: ModelCase, open_case: Callable[[ModelCase], Opened]) -> None:
    opened = open_case(case)
    graph, expected, proto = opened.graph, opened.expected, opened.proto
    assert validate_graph(graph) == []
    assert graph.graph["format"] == "onnx"

    ops = op_nodes(graph)
    assert len(ops) == expected["nodes"], "node ids collapsed or nodes lost"
    assert all(isinstance(n, str) and n for n, _ in ops)
    assert Counter(d["op_type"] for _, d in ops) == Counter(expected["op_types"])
    assert Counter((d["op_type"], tuple(d["input_names"])) for _, d in ops) == Counter(
        (n.op_type, tuple(n.input)) for n in proto.graph.node
    )
    constants = [d for _, d in ops if d["kind"] == "constant"]
    assert len(constants) <= expected["op_types"].get("Constant", 0)

    # graph IO: one node each, in order, named after the tensor
    for key, kind in (("inputs", "input"), ("outputs", "output")):
        ids = graph.graph[key]
        assert [graph.nodes[i]["kind"] for i in ids] == [kind] * len(ids)
        assert [graph.nodes[i]["name"] for i in ids] == [e["name"] for e in expected[key]]
        assert sum(1 for _, d in graph.nodes(data=True) if d["kind"] == kind) == len(ids)
    for node_id, entry in zip(graph.graph["inputs"], expected["inputs"], strict=True):
        info = graph.nodes[node_id]["outputs"][0]
        assert (info.dtype, None if info.shape is None else list(info.shape)) == (
            entry["dtype"],
            entry["shape"],
        )

    # edges: activations only, one per producer-port -> consumer-port
    assert graph.number_of_edges() == expected["edges"]
    assert Counter(d["tensor"] for _, _, d in graph.edges(data=True)) == edge_tensors(proto.graph)

    # weights stay on the nodes that use them
    inits = {t.name: t for t in proto.graph.initializer}
    used = {name for n in proto.graph.node for name in n.input if name in inits}
    weights = {w.name: w for _, d in ops for w in d["weights"].values()}
    assert set(weights) == used
    for name, w in weights.items():
        assert w.is_initializer
        assert list(w.shape or ()) == list(inits[name].dims)
        assert w.dtype == dtype_name(inits[name].data_type)

    assert total_subgraphs(graph) == expected["subgraphs"]


@params
def test_node_ids_are_stable(case: ModelCase, open_case: Callable[[ModelCase], Opened]) -> None:
    opened = open_case(case)
    again = modellens.load(opened.path)
    assert list(again.nodes) == list(opened.graph.nodes)
    assert sorted(again.edges(keys=True)) == sorted(opened.graph.edges(keys=True))


@pytest.mark.parametrize("case", [c for c in CASES if c.namespaces], ids=lambda c: c.id)
def test_module_scopes_become_namespaces(case: ModelCase, open_case: Callable[[ModelCase], Opened]) -> None:
    namespaces = {d["namespace"] for _, d in op_nodes(open_case(case).graph)}
    for part in case.namespaces:
        assert any(part in ns for ns in namespaces), f"no namespace mentions {part!r}: {sorted(namespaces)}"
    assert len({ns.split("/")[0] for ns in namespaces if ns}) >= 2, sorted(namespaces)


@pytest.mark.parametrize("case_id", ["duplicate_names", "empty_names"])
def test_duplicate_and_empty_names_keep_every_node(
    case_id: str, open_case: Callable[[ModelCase], Opened]
) -> None:
    opened = open_case(BY_ID[case_id])
    ops = op_nodes(opened.graph)
    assert Counter(d["name"] for _, d in ops) == Counter(n.name for n in opened.proto.graph.node)
    assert len({n for n, _ in ops}) == len(opened.proto.graph.node)
    assert all(d["label"] for _, d in ops), "every node needs a visible label"


def test_ir3_initializers_are_weights_not_inputs(open_case: Callable[[ModelCase], Opened]) -> None:
    opened = open_case(BY_ID["ir3_initializers_as_inputs"])
    names = {opened.graph.nodes[i]["name"] for i in opened.graph.graph["inputs"]}
    assert names == {"data"}
    gemm = [d for _, d in op_nodes(opened.graph) if d["op_type"] == "Gemm"]
    assert sorted(w.name for d in gemm for w in d["weights"].values()) == ["B1", "B2", "W1", "W2"]


def test_control_flow_bodies_and_function(open_case: Callable[[ModelCase], Opened]) -> None:
    graph = open_case(BY_ID["control_flow_if_loop"]).graph
    subs = graph.graph["subgraphs"]
    by_op = {d["op_type"]: d for _, d in op_nodes(graph)}

    def body_ops(sub_id: str) -> Counter[str]:
        return Counter(d["op_type"] for _, d in op_nodes(subs[sub_id]))

    assert sorted(sum(body_ops(s).values()) for s in by_op["If"]["subgraph_ids"]) == [1, 2]
    (loop_body,) = by_op["Loop"]["subgraph_ids"]
    assert body_ops(loop_body) == Counter({"Identity": 2, "Constant": 1, "ScaleAdd": 1, "Tanh": 1})
    function_bodies = [s for s in subs if body_ops(s) == Counter({"Constant": 1, "Mul": 1, "Add": 1})]
    assert function_bodies, f"function mylib.ScaleAdd not among subgraphs {sorted(subs)}"


def test_external_data_values_are_reachable(open_case: Callable[[ModelCase], Opened]) -> None:
    """Weights in ``weights.bin`` are readable on demand through the graph's ``tensor_store``."""
    opened = open_case(BY_ID["external_data"])
    assert opened.info["warnings"] == []
    model = onnx.load(str(opened.path))  # with its external data
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = {w.name: w for _, d in op_nodes(opened.graph) for w in d["weights"].values()}
    assert set(weights) == set(values)
    store = opened.graph.graph["tensor_store"]
    for name, array in values.items():
        np.testing.assert_array_equal(store.array(name), array)
        preview = np.asarray(weights[name].preview, dtype=np.float64).ravel()
        np.testing.assert_allclose(preview, array.ravel()[: preview.size].astype(np.float64), rtol=1e-6)


def test_missing_external_data_warns_but_loads(
    build_case: Callable[[ModelCase], Path], tmp_path: Path
) -> None:
    source = build_case(BY_ID["external_data"])
    assert (source.parent / "weights.bin").exists()
    lonely = tmp_path / "model.onnx"
    shutil.copy(source, lonely)  # weights.bin left behind
    graph = modellens.load(lonely)
    info = modellens.summarize(graph)
    assert info["warnings"], "a missing external data file must give a warning"
    assert any("weights.bin" in w or "external" in w.lower() for w in info["warnings"]), info["warnings"]
    assert info["nodes"] == 5
    assert info["parameters"] == expected_info(lonely)["parameters"]
    with pytest.raises(ModelLensError) as err:
        graph.graph["tensor_store"].array("fc1.weight")
    assert err.value.fix
    result = run_cli(lonely)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == info["warnings"]


def test_shape_inference_failure_is_a_warning(open_case: Callable[[ModelCase], Opened]) -> None:
    opened = open_case(BY_ID["shape_inference_fails"])
    assert len(op_nodes(opened.graph)) == 3
    assert any("shape" in w.lower() for w in opened.info["warnings"]), opened.info["warnings"]


def test_load_of_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLensError) as err:
        modellens.load(tmp_path / "nope.onnx")
    assert err.value.fix


# ---------------------------------------------------------------------------- committed samples


@pytest.mark.parametrize("name", ["cnn_branches.onnx", "transformer_block.onnx", "control_flow_if_loop.onnx"])
def test_committed_sample_model(name: str) -> None:
    path = model_cases.SAMPLES_DIR / name
    assert path.exists(), "run: python sample_models/make_samples.py"
    assert path.stat().st_size < 2_000_000
    info = modellens.summarize(modellens.load(path))
    expected = expected_info(path)
    assert {k: info[k] for k in PINNED_KEYS} == {k: expected[k] for k in PINNED_KEYS}
    assert info["warnings"] == []


def test_sample_models_stay_small() -> None:
    total = sum(p.stat().st_size for p in model_cases.SAMPLES_DIR.glob("*.onnx*"))
    assert total < 5_000_000


# ------------------------------------------------------------------------------ benchmark sizes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("builder", "nodes", "min_mb", "max_mb"),
    [("resnet50_like", (110, 140), 95, 110), ("bert_base_like", (500, 1500), 420, 460)],
)
def test_benchmark_models_have_realistic_size(
    builder: str, nodes: tuple[int, int], min_mb: int, max_mb: int, tmp_path: Path
) -> None:
    path = model_cases.BENCHMARK_BUILDERS[builder](tmp_path)
    assert min_mb <= path.stat().st_size / 1e6 <= max_mb
    onnx.checker.check_model(str(path), full_check=True)
    info = modellens.summarize(modellens.load(path))
    expected = expected_info(path)
    assert nodes[0] <= info["nodes"] <= nodes[1]
    assert {k: info[k] for k in PINNED_KEYS} == {k: expected[k] for k in PINNED_KEYS}
    assert math.isclose(info["parameter_bytes"], path.stat().st_size, rel_tol=0.02)
