"""SavedModel per-node shapes recorded while TensorFlow runs the inlined signature.

Expected values come from TensorFlow: each node's ``_output_shapes`` as TensorFlow traced it (read
from the SavedModel proto), the signature's outputs from ``tf.saved_model.load(...).signatures``,
and the error TensorFlow itself raises for a bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converters import load_model
from converters.errors import InputSpecError
from runtime.engine import model_shapes
from runtime.runners import make_runner
from runtime.shapes import propagate
from runtime.worker import WorkerPool
from tests.test_savedmodel_cases import saved
from viewer.run_panel import shape_overlay

__all__ = ["saved"]
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_models" / "savedmodel_cnn"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BATCH = 3
# case → signature key (the cases' own serving signature)
CASES = {
    "keras_sequential": "serving_default",
    "keras_two_in_two_out": "serving_default",
    "module_two_signatures": "project",
    "module_control_flow": "serving_default",
    "module_nested_calls": "serving_default",
    "keras3_export": "serving_default",
    "tf1_graph": "serving_default",
    "keras_rnn_save": "serving_default",
    "module_side_effects": "serving_default",
}


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool() as workers:
        yield workers


def _tf() -> Any:
    return pytest.importorskip("tensorflow")


def _feeds(tf: Any, path: Path, key: str) -> dict[str, np.ndarray]:
    """Inputs for the signature as TensorFlow declares it (unknown dims = BATCH)."""
    function = tf.saved_model.load(str(path)).signatures[key]
    _, specs = function.structured_input_signature
    rng = np.random.default_rng(0)
    feeds = {}
    for name, spec in specs.items():
        shape = [BATCH if d is None else d for d in spec.shape.as_list()]
        dtype = spec.dtype.as_numpy_dtype
        values = rng.integers(0, 5, shape) if spec.dtype.is_integer else rng.random(shape)
        feeds[name] = values.astype(dtype)
    return feeds


def _traced_shapes(tf: Any, path: Path) -> dict[tuple[str, str], list[list[list[int] | None]]]:
    """(node name in its function body or the main graph, op) → TensorFlow's traced output
    shapes, one list per node of that name (functions traced several times repeat names)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    traced: dict[tuple[str, str], list[list[list[int] | None]]] = {}
    for meta in proto.meta_graphs:
        nodes = [*meta.graph_def.node, *(n for f in meta.graph_def.library.function for n in f.node_def)]
        for node in nodes:
            shapes = node.attr["_output_shapes"].list.shape
            own = [None if s.unknown_rank else [d.size for d in s.dim] for s in shapes]
            traced.setdefault((node.name, node.op), []).append(own)
    return traced


def _fits(recorded: list[int | str | None] | None, traced: list[int] | None) -> bool:
    if recorded is None or traced is None:
        return True
    return len(recorded) == len(traced) and all(
        t < 0 or r == t for r, t in zip(recorded, traced, strict=True)
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_node_gets_the_shape_tensorflow_produces(
    case: str, saved: Callable[[str], Path], pool: WorkerPool
) -> None:
    tf = _tf()
    path = saved(case)
    key = CASES[case]
    feeds = _feeds(tf, path, key)
    result = model_shapes(path, inputs=feeds, pool=pool, signature=key)
    assert result.failed is None
    graph = load_model(str(path), {"signature": key})
    ops = [n for n, d in graph.nodes(data=True) if d["kind"] == "op"]
    assert ops and [n for n in ops if n not in result.nodes] == []
    traced = _traced_shapes(tf, path)
    checked = 0
    for node_id in ops:
        data = graph.nodes[node_id]
        candidates = next(
            (traced[k, data["op_type"]] for k in _suffixes(data["name"]) if (k, data["op_type"]) in traced),
            None,
        )
        if candidates is None:
            continue
        recorded = result.nodes[node_id]
        assert any(all(_fits(r, e) for r, e in zip(recorded, own, strict=False)) for own in candidates), (
            node_id,
            recorded,
            candidates,
        )
        checked += 1
    assert checked >= len(ops) // 2
    expected_out = tf.saved_model.load(str(path)).signatures[key](
        **{k: tf.constant(v) for k, v in feeds.items()}
    )
    for name, tensor in expected_out.items():
        assert result.nodes[f"output:{name}"] == [list(tensor.shape)]


def _suffixes(full_name: str) -> list[str]:
    """``a/b/c`` → [``a/b/c``, ``b/c``, ``c``]: the node's name inside the function it came from."""
    parts = full_name.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


@pytest.mark.slow
def test_batch_dim_flows_through_the_inlined_calls(pool: WorkerPool) -> None:
    tf = _tf()
    feeds = {"x": np.random.default_rng(1).random((5, 32, 32, 3)).astype(np.float32)}
    result = model_shapes(SAMPLE, inputs=feeds, pool=pool)
    graph = load_model(str(SAMPLE))
    by_op = {graph.nodes[n]["op_type"]: result.nodes[n] for n in graph if n in result.nodes}
    expected = tf.saved_model.load(str(SAMPLE)).signatures["serving_default"](x=tf.constant(feeds["x"]))
    (out,) = expected.values()
    assert by_op["Softmax"] == [list(out.shape)]
    assert by_op["Conv2D"][0] is not None and by_op["Conv2D"][0][0] == 5


def _dynamic_matmul(path: Path) -> Path:
    tf = _tf()

    class Project(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.ones((3, 2)), name="w")

        @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            return {"y": tf.nn.relu(tf.matmul(x, self.w))}

    module = Project()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


@pytest.mark.slow
def test_shape_failure_names_the_node_tensorflow_rejects(tmp_path: Path, pool: WorkerPool) -> None:
    tf = _tf()
    path = _dynamic_matmul(tmp_path / "matmul")
    x = np.ones((2, 4), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Matrix size-incompatible"):
        tf.saved_model.load(str(path)).signatures["serving_default"](x=tf.constant(x))
    result = model_shapes(path, inputs={"x": x}, pool=pool)
    graph = load_model(str(path))
    matmul = next(n for n, d in graph.nodes(data=True) if d["op_type"] == "MatMul")
    assert result.failed is not None
    assert (result.failed.node, result.failed.op_type) == (matmul, "MatMul")
    assert result.failed.input_shapes == [[2, 4], [3, 2]]
    assert "{{node" not in result.failed.message
    assert result.nodes["input:x"] == [[2, 4]] and matmul not in result.nodes


@pytest.mark.slow
def test_run_time_failure_names_the_gather_with_shapes_before_it(
    saved: Callable[[str], Path], pool: WorkerPool
) -> None:
    tf = _tf()
    path = saved("module_nested_calls")
    ids = np.array([1, 12], np.int32)  # the table has 10 rows
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices\[1\] = 12 is not in \[0, 10\)"):
        tf.saved_model.load(str(path)).signatures["serving_default"](ids=tf.constant(ids))
    # The engine refuses these values before running (the table's rows bound them) ...
    with pytest.raises(InputSpecError, match=r"12 is outside 0–9, the vocabulary size of embedding_lookup"):
        model_shapes(path, inputs={"ids": ids}, pool=pool)
    # ... and a run that fails anyway (here forced past that check) is pinned to the op TF names.
    result = propagate(make_runner(path), {"ids": ids})
    graph = load_model(str(path))
    gather = next(n for n, d in graph.nodes(data=True) if d["op_type"] == "ResourceGather")
    assert result.failed is not None and result.failed.node == gather
    assert "12 is not in [0, 10)" in result.failed.message
    assert result.nodes["input:ids"] == [[2]]
    overlay = shape_overlay(graph, result)  # what the run page draws: the gather red, shapes up to it
    assert overlay["failed"] == gather and overlay["nodes"]["input:ids"] == [[2]]


@pytest.mark.slow
def test_cli_shapes_on_the_sample_prints_every_node(tmp_path: Path) -> None:
    tf = _tf()
    spec = tmp_path / "spec.yaml"
    spec.write_text("inputs:\n  - input_name: x\n    shape: 2x32x32x3xf32\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "modellens", "shapes", str(SAMPLE), "--input-spec", str(spec), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    nodes = json.loads(done.stdout)["nodes"]
    graph = load_model(str(SAMPLE))
    assert {n for n, d in graph.nodes(data=True) if d["kind"] == "op"} <= set(nodes)
    expected = tf.saved_model.load(str(SAMPLE)).signatures["serving_default"](x=tf.zeros((2, 32, 32, 3)))
    assert nodes["output:output_0"] == [list(next(iter(expected.values())).shape)]


def test_a_savedmodel_the_v1_loader_refuses_falls_back_to_output_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Degrade, never crash: the signature's outputs are still reported, and the method says why."""
    from runtime import shapes, tf_shapes

    def refuse(runner: Any, feeds: Any) -> Any:
        raise RuntimeError("MetaGraphDef associated with tags 'serve' could not be found")

    class Runner:
        format = "savedmodel"

        def infer(self, feeds: Any) -> list[tuple[str, np.ndarray]]:
            return [("y", np.zeros((2, 3), np.float32))]

    monkeypatch.setattr(tf_shapes, "savedmodel_shapes", refuse)
    result = shapes.propagate(Runner(), {"x": np.zeros((2, 4), np.float32)})  # type: ignore[arg-type]
    assert result.nodes == {"output:y": [[2, 3]]} and result.failed is None
    assert result.method.startswith("outputs only (per-node recording failed: MetaGraphDef")
