"""Running models through the worker: outputs bit-equal to the framework's own run, bad inputs
refused with one message, crashes and hangs contained, the pool reusing loaded models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from converters import InputSpecError, ModelRunError
from runtime.data import generate_inputs
from runtime.engine import SpecNeededError, bench_model, model_shapes, prepare, run_model
from runtime.propose import propose_specs
from runtime.spec_file import loads_spec
from runtime.specs import DataSource, InputSpec, InputSpecs, ModelInput
from runtime.worker import Worker, WorkerPool
from tests.model_cases import CASES, ROOT, SAMPLES_DIR, ModelCase

ONNX_RUN_CASES = [case for case in CASES if case.runs]
CONV_SPEC = "inputs:\n  - input_name: x\n    shape: 2x3x16x16xf32\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=3, idle_timeout_s=300) as shared:
        yield shared


def _bare_ort(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def _ort_inputs(path: Path) -> list[ModelInput]:
    from runtime.runners import ORT_TYPES, _ort_dim

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [
        ModelInput(i.name, ORT_TYPES[i.type], tuple(_ort_dim(d) for d in i.shape))
        for i in session.get_inputs()
    ]


@pytest.mark.parametrize("case", ONNX_RUN_CASES, ids=lambda c: c.id)
def test_onnx_outputs_bit_equal_to_bare_onnxruntime(
    case: ModelCase, build_case: Callable[[ModelCase], Path], pool: WorkerPool
) -> None:
    path = build_case(case)
    from converters import load_model

    specs = propose_specs(_ort_inputs(path), load_model(path))
    feeds = generate_inputs(specs, seed=3)
    result = run_model(path, inputs=feeds, pool=pool, want_arrays=True)
    expected = _bare_ort(path, feeds)
    assert result.provider == "CPUExecutionProvider" and result.device == "cpu"
    assert result.arrays is not None and len(result.arrays) == len(expected)
    for (name, ours), theirs, stats in zip(result.arrays.items(), expected, result.outputs, strict=True):
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
        assert stats.shape == theirs.shape and stats.dtype == str(theirs.dtype)
        if theirs.dtype.kind == "f" and theirs.size and np.isfinite(theirs).all():
            assert stats.min == float(theirs.min()) and stats.max == float(theirs.max())
            assert stats.mean == pytest.approx(float(theirs.astype(np.float64).mean()))


def test_generated_inputs_are_the_same_as_in_process(pool: WorkerPool) -> None:
    """Without --inputs the worker generates the spec's inputs: same seed, same outputs."""
    path = SAMPLES_DIR / "transformer_block.onnx"
    from converters import load_model

    specs = propose_specs(_ort_inputs(path), load_model(path))
    result = run_model(path, spec=specs, seed=5, pool=pool, want_arrays=True)
    expected = _bare_ort(path, generate_inputs(specs, seed=5))
    assert result.arrays is not None
    for ours, theirs in zip(result.arrays.values(), expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.fixture(scope="module")
def torch_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests import runtime_models as rm

    tmp = tmp_path_factory.mktemp("torch_models")
    return {
        "scripted": rm.build_scripted(tmp),
        "traced": rm.build_traced(tmp),
        "exported": rm.build_exported(tmp),
        "token_scripted": rm.build_scripted(tmp, rm.TokenNet),
    }


@pytest.mark.parametrize("kind", ["scripted", "traced", "exported"])
def test_torch_outputs_bit_equal_to_eager(kind: str, torch_models: dict[str, Path], pool: WorkerPool) -> None:
    import torch

    path = torch_models[kind]
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    result = run_model(path, inputs={"x": x}, pool=pool, want_arrays=True)
    module = torch.export.load(str(path)).module() if kind == "exported" else torch.jit.load(str(path))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert result.arrays is not None
    np.testing.assert_array_equal(result.arrays["output"], expected)
    assert result.provider == "torch cpu"


def test_nested_outputs_are_flattened_with_dotted_names(
    torch_models: dict[str, Path], pool: WorkerPool
) -> None:
    spec = loads_spec(
        "inputs:\n  - input_name: tokens\n    shape: 2x5xsi64\n"
        "    data: {random: {uniform: {min: 0, max: 49}}}\n"
    )
    result = run_model(torch_models["token_scripted"], spec=spec, pool=pool)
    assert [(o.name, o.shape) for o in result.outputs] == [("output.0", (2, 3)), ("output.1", (2, 5, 6))]


def test_torchscript_without_a_spec_asks_for_one(torch_models: dict[str, Path], pool: WorkerPool) -> None:
    with pytest.raises(SpecNeededError) as caught:
        run_model(torch_models["scripted"], pool=pool)
    assert "declares no input shapes" in str(caught.value)
    assert loads_spec(caught.value.template).names() == ["x"]


def test_exported_program_proposes_from_its_signature(
    torch_models: dict[str, Path], pool: WorkerPool
) -> None:
    prepared = prepare(torch_models["exported"], pool=pool)
    (declared,) = prepared.worker.info["inputs"]
    assert declared.dtype == "float32" and declared.shape[1:] == (3, 16, 16)
    assert isinstance(declared.shape[0], str) and declared.dim_ranges[declared.shape[0]] == (1, 64)
    assert prepared.specs.inputs[0].shape == (1, 3, 16, 16)
    with pytest.raises(InputSpecError, match=r"outside the model's range 1\.\.64"):
        run_model(torch_models["exported"], spec=loads_spec(CONV_SPEC.replace("2x3", "65x3")), pool=pool)


@pytest.mark.parametrize(
    ("spec", "inputs", "message"),
    [
        (
            "inputs:\n  - input_name: nope\n    shape: 1x4xf32\n",
            None,
            "the spec names nope, which the model does not take",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1x4x1xf32\n",
            None,
            "x: expected rank 2 (batch, 4), got 3 (1x4x1)",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1x4xsi64\n",
            None,
            "x: dtype int64, but the model takes float32",
        ),
        ("inputs:\n  - input_name: x\n    shape: 1x5xf32\n", None, "x: dim 1 must be 4, got 5"),
        ("inputs:\n  - input_name: x\n    shape: 3750000000x4xf32\n", None, "the inputs need 60.0 GB"),
        (None, {"y": np.zeros((1, 4), np.float32)}, "holds y, which the model does not take"),
        (None, {"x": np.zeros((1, 4), np.float64)}, "x in inputs is float64, the model takes float32"),
    ],
)
def test_bad_specs_and_inputs_get_one_message(
    spec: str | None, inputs: dict[str, np.ndarray] | None, message: str, tmp_path: Path, pool: WorkerPool
) -> None:
    from tests.runtime_models import build_reshape_onnx

    path = build_reshape_onnx(tmp_path)
    with pytest.raises(InputSpecError) as caught:
        run_model(path, inputs=inputs, spec=None if spec is None else loads_spec(spec), pool=pool)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_npz_with_missing_and_extra_keys(tmp_path: Path, pool: WorkerPool) -> None:
    path = SAMPLES_DIR / "transformer_block.onnx"
    np.savez(tmp_path / "some.npz", input_ids=np.ones((1, 8), np.int64))
    partial = InputSpecs((InputSpec("input_ids", "int64", (1, 8)),))
    with pytest.raises(InputSpecError, match="the spec omits an input the model needs: attention_mask"):
        run_model(path, spec=partial, pool=pool)
    # --inputs holds input_ids; the proposal makes attention_mask with the same batch and seq
    result = run_model(path, inputs=tmp_path / "some.npz", pool=pool)
    assert result.outputs[0].shape == (1, 8, 64)
    np.savez(
        tmp_path / "extra.npz", input_ids=np.ones((1, 8), np.int64), token_type_ids=np.ones((1, 8), np.int64)
    )
    with pytest.raises(
        InputSpecError, match=r"extra\.npz holds token_type_ids, which the model does not take"
    ):
        run_model(path, inputs=tmp_path / "extra.npz", pool=pool)
    mask = InputSpecs((InputSpec("attention_mask", "int64", (1, 16), ("batch", "seq"), DataSource.ones()),))
    with pytest.raises(InputSpecError, match="seq is 16 in attention_mask but 8 in input_ids"):
        run_model(path, inputs=tmp_path / "some.npz", spec=mask, pool=pool)


def test_onnx_failure_names_the_node_with_its_input_shapes(tmp_path: Path, pool: WorkerPool) -> None:
    from tests.runtime_models import build_reshape_onnx

    path = build_reshape_onnx(tmp_path)
    spec = loads_spec("inputs:\n  - input_name: x\n    shape: 3x4xf32\n")
    result = model_shapes(path, spec=spec, pool=pool)
    assert result.failed is not None
    assert (result.failed.node, result.failed.op_type) == ("bad_reshape", "Reshape")
    assert result.failed.input_shapes == [[3, 4], [2]]
    assert "cannot be reshaped" in result.failed.message
    assert result.nodes["relu"] == [[3, 4]]
    with pytest.raises(ModelRunError, match="failed at node bad_reshape \\(Reshape\\)"):
        run_model(path, spec=spec, pool=pool)
    good = model_shapes(path, spec=loads_spec("inputs:\n  - input_name: x\n    shape: 1x4xf32\n"), pool=pool)
    assert good.failed is None and good.nodes["bad_reshape"] == [[2, 2]] and "confirmed" in good.method


def test_onnx_shapes_follow_the_spec_dims(pool: WorkerPool) -> None:
    path = SAMPLES_DIR / "transformer_block.onnx"
    specs = propose_specs(_ort_inputs(path)).with_dim("seq", 24).with_dim("batch", 3)
    specs = InputSpecs(
        tuple(InputSpec(s.name, s.dtype, s.shape, s.dim_names, DataSource.ones()) for s in specs)
    )
    result = model_shapes(path, spec=specs, pool=pool)
    assert result.failed is None
    shapes = [s for outs in result.nodes.values() for s in outs if s]
    assert [3, 24, 64] in shapes and not any(isinstance(d, str) for s in shapes for d in s)


@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_torchscript_failure_names_the_node(
    kind: str, torch_models: dict[str, Path], pool: WorkerPool
) -> None:
    spec = loads_spec(CONV_SPEC.replace("2x3x", "1x4x"))
    result = model_shapes(torch_models[kind], spec=spec, pool=pool)
    assert result.failed is not None
    assert result.failed.op_type in ("aten::conv2d", "aten::_convolution")
    assert result.failed.input_shapes[:2] == [[1, 4, 16, 16], [8, 3, 3, 3]]
    assert "expected input[1, 4, 16, 16] to have 3 channels, but got 4 channels" in result.failed.message
    good = model_shapes(torch_models[kind], spec=loads_spec(CONV_SPEC), pool=pool)
    assert good.failed is None and [2, 8, 16, 16] in [s for v in good.nodes.values() for s in v]


def test_exported_program_shapes_node_by_node(torch_models: dict[str, Path], pool: WorkerPool) -> None:
    result = model_shapes(torch_models["exported"], spec=loads_spec(CONV_SPEC), pool=pool)
    assert result.failed is None and "Interpreter" in result.method
    assert result.nodes["x"] == [[2, 3, 16, 16]]
    assert result.nodes["conv2d"] == [[2, 8, 16, 16]]
    assert result.nodes["linear"] == [[2, 4]]


def test_second_run_reuses_the_loaded_worker(pool: WorkerPool) -> None:
    path = SAMPLES_DIR / "cnn_branches.onnx"
    first = prepare(path, pool=pool)
    second = prepare(path, pool=pool)
    assert second.reused and second.worker is first.worker
    assert prepare(path, pool=pool, device="cpu", threads=1).worker is not first.worker


def test_pool_is_bounded_and_reaps_idle_workers(tmp_path: Path) -> None:
    from tests.runtime_models import build_reshape_onnx

    paths = [
        SAMPLES_DIR / "cnn_branches.onnx",
        SAMPLES_DIR / "transformer_block.onnx",
        build_reshape_onnx(tmp_path),
    ]
    with WorkerPool(max_workers=2, idle_timeout_s=300) as small:
        workers = [small.get(p)[0] for p in paths]
        assert len(small) == 2 and not workers[0].alive
        small.idle_timeout_s = 0.0
        small._reap_idle()
        assert len(small) == 0 and not any(w.alive for w in workers)


@pytest.mark.parametrize(("fault", "how"), [("segfault", "segmentation fault"), ("exit", "exit code 3")])
def test_a_crashing_worker_leaves_the_caller_working(fault: str, how: str) -> None:
    worker = Worker(SAMPLES_DIR / "cnn_branches.onnx")
    with pytest.raises(ModelRunError) as caught:
        worker.request(("fault", fault), 30)
    assert how in str(caught.value) and not worker.alive
    with WorkerPool() as fresh:
        assert run_model(SAMPLES_DIR / "cnn_branches.onnx", pool=fresh).outputs[0].shape == (1, 10)


def test_an_endless_loop_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    from tests.runtime_models import build_endless_loop

    path = build_endless_loop(tmp_path)
    with WorkerPool() as fresh:
        with pytest.raises(ModelRunError, match="did not finish running within 3 s; its worker was stopped"):
            run_model(path, pool=fresh, timeout_s=3)
        assert len(fresh) == 0
        assert run_model(SAMPLES_DIR / "cnn_branches.onnx", pool=fresh).outputs[0].shape == (1, 10)


def test_bench_statistics(pool: WorkerPool) -> None:
    result = bench_model(SAMPLES_DIR / "cnn_branches.onnx", iterations=12, warmup=2, pool=pool)
    data = result.to_json()
    assert set(data) == {"device", "iterations", "latency_ms", "throughput_per_s"}
    assert data["iterations"] == 12 and list(data["latency_ms"]) == [
        "min",
        "mean",
        "p50",
        "p90",
        "p95",
        "p99",
        "max",
    ]
    stats = data["latency_ms"]
    assert stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"] <= stats["max"]
    assert data["throughput_per_s"] == pytest.approx(12 / (sum(result.latencies_ms) / 1000))
    budget = bench_model(
        SAMPLES_DIR / "cnn_branches.onnx", iterations=0, warmup=0, time_budget_s=0.2, pool=pool
    )
    assert budget.iterations >= 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modellens", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_cli_run_json_and_save_outputs(tmp_path: Path) -> None:
    path = SAMPLES_DIR / "cnn_branches.onnx"
    done = _cli("run", str(path), "--json", "--save-outputs", str(tmp_path / "out.npz"), "--seed", "4")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"device", "provider", "outputs", "latency_ms"}
    assert data["provider"] == "CPUExecutionProvider"
    assert [set(o) for o in data["outputs"]] == [{"name", "dtype", "shape", "min", "max", "mean", "std"}]
    with np.load(tmp_path / "out.npz") as saved:
        assert saved.files == ["logits"] and saved["logits"].shape == (1, 10)
        assert float(saved["logits"].max()) == data["outputs"][0]["max"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs:\n  - input_name: image\n    shape: 1x4x32x32xf32\n")
    done = _cli("shapes", str(path), "--input-spec", str(bad))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: image: dim 1 must be 3, got 4")


def test_cli_shapes_names_the_failing_node(tmp_path: Path) -> None:
    from tests.runtime_models import build_reshape_onnx

    path = build_reshape_onnx(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"inputs": [{"input_name": "x", "shape": "3x4xf32"}]}))
    done = _cli("shapes", str(path), "--input-spec", str(spec), "--json")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: node bad_reshape (Reshape) failed with inputs [3x4, 2]")
    data = json.loads(done.stdout)
    assert data["failed"]["node"] == "bad_reshape" and data["nodes"]["relu"] == [[3, 4]]


def test_cli_torchscript_without_spec_prints_a_template(
    torch_models: dict[str, Path], tmp_path: Path
) -> None:
    done = _cli("run", str(torch_models["scripted"]))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--input-spec" in done.stderr
    assert loads_spec(done.stdout).names() == ["x"]


def test_python_api_returns_the_cli_structures() -> None:
    import modellens

    data = modellens.run(SAMPLES_DIR / "cnn_branches.onnx")
    assert set(data) == {"device", "provider", "outputs", "latency_ms"}
    stats = modellens.bench(SAMPLES_DIR / "cnn_branches.onnx", iterations=3, warmup=1)
    assert stats["iterations"] == 3 and stats["device"] == "cpu"


def test_torchscript_failure_maps_to_the_converter_node_by_source() -> None:
    from converters import schema
    from runtime.engine import node_at_source

    graph = schema.new_graph("torchscript", "TorchScript")
    for node_id, op, source in [
        ("conv", "aten::conv2d", "conv.py:560"),
        ("bias", "aten::add", "conv.py:560"),
        ("relu", "aten::relu", "model.py:27"),
    ]:
        schema.add_node(graph, node_id, kind="op", op_type=op, category="layer", source=source)
    assert node_at_source(graph, "conv.py:560", "aten::conv2d") == "conv"
    assert node_at_source(graph, "conv.py:560", "aten::add") == "bias"
    assert node_at_source(graph, "model.py:27") == "relu"
    assert node_at_source(graph, "other.py:1") is None


def test_profile_times_the_graph_nodes(pool: WorkerPool, torch_models: dict[str, Path]) -> None:
    from converters import load_model
    from runtime.engine import profile_model

    path = SAMPLES_DIR / "cnn_branches.onnx"
    timings = profile_model(path, pool=pool)
    names = {data["name"] for _, data in load_model(path).nodes(data=True)}
    assert timings and {t.node for t in timings} <= names
    assert [t.duration_us for t in timings] == sorted((t.duration_us for t in timings), reverse=True)
    assert {t.op_type for t in timings} >= {"Conv", "Relu"}
    torch_timings = profile_model(torch_models["exported"], spec=loads_spec(CONV_SPEC), pool=pool)
    exported = load_model(torch_models["exported"])
    assert torch_timings and all(t.node in exported for t in torch_timings)
    assert any(t.op_type.startswith("conv") for t in torch_timings)


def test_bench_reports_progress(pool: WorkerPool) -> None:
    seen: list[float] = []
    result = bench_model(
        SAMPLES_DIR / "cnn_branches.onnx", iterations=30, warmup=1, pool=pool, progress=seen.append
    )
    assert result.iterations == 30 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) == 20


def test_a_zip_holding_an_onnx_model_runs(tmp_path: Path, pool: WorkerPool) -> None:
    import zipfile

    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(SAMPLES_DIR / "cnn_branches.onnx", "export/cnn_branches.onnx")
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    result = run_model(archive, inputs={"image": x}, pool=pool, want_arrays=True)
    assert result.arrays is not None
    np.testing.assert_array_equal(
        result.arrays["logits"], _bare_ort(SAMPLES_DIR / "cnn_branches.onnx", {"image": x})[0]
    )


def test_threads_asking_for_the_same_model_share_one_worker() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with WorkerPool(max_workers=2) as shared, ThreadPoolExecutor(4) as threads:
        results = list(
            threads.map(lambda _: run_model(SAMPLES_DIR / "cnn_branches.onnx", pool=shared), range(4))
        )
        assert len(shared) == 1
    assert len({r.outputs[0].max for r in results}) == 1


def test_files_that_are_not_runnable_models_say_what_they_are(tmp_path: Path) -> None:
    import torch

    from converters import ModelLoadError, NotAModelError
    from runtime.runners import detect_run_format

    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "weights.pt")
    with pytest.raises(NotAModelError, match="state_dict"):
        run_model(tmp_path / "weights.pt")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    with pytest.raises(ModelLoadError, match=r"blob\.bin is not a model ModelLens can run"):
        detect_run_format(tmp_path / "blob.bin")


def test_propose_for_a_run_panel(pool: WorkerPool) -> None:
    from converters import load_model
    from runtime.engine import propose_for

    path = SAMPLES_DIR / "transformer_block.onnx"
    info, specs = propose_for(path, load_model(path), pool=pool)
    assert info["format"] == "onnx" and info["output_names"] == ["last_hidden_state", "pooler_output"]
    assert specs.names() == ["input_ids", "attention_mask"] and specs.dims() == {"batch": 1, "seq": 16}
    assert "vocabulary size" in specs.inputs[0].data.origin


def test_a_model_too_large_for_memory_is_refused_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    from converters import ModelLoadError
    from runtime import worker as worker_module

    monkeypatch.setattr(worker_module, "available_memory", lambda: 10_000)
    with WorkerPool() as fresh:
        with pytest.raises(
            ModelLoadError, match=r"the weights of cnn_branches\.onnx need .* but only 10\.0 KB"
        ):
            run_model(SAMPLES_DIR / "cnn_branches.onnx", pool=fresh)
        assert len(fresh) == 0


def test_unnamed_dynamic_dims_take_defaults(tmp_path: Path, pool: WorkerPool) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "anon.onnx")
    result = run_model(tmp_path / "anon.onnx", pool=pool)
    assert result.outputs[0].shape == (1, 3, 16)


def test_exported_program_failure_names_the_fx_node(tmp_path: Path, pool: WorkerPool) -> None:
    from tests.runtime_models import build_exported_index

    path = build_exported_index(tmp_path)
    spec = loads_spec(
        "inputs:\n  - input_name: table\n    shape: 4x3xf32\n"
        "  - input_name: index\n    shape: 2xsi64\n    data: {values: [1, 7]}\n"
    )
    result = model_shapes(path, spec=spec, pool=pool)
    assert result.failed is not None
    assert result.failed.node == "index_select" and "index_select" in result.failed.op_type
    assert result.failed.input_shapes == [[4, 3], [2]]
    assert "out of range" in result.failed.message
    assert result.nodes["mul"] == [[4, 3]] and "index_select" not in result.nodes


def test_the_worker_log_is_kept_short() -> None:
    worker = Worker(SAMPLES_DIR / "cnn_branches.onnx")
    try:
        _ = worker.info
        worker._log.write(b"x" * (2 << 20))
        worker._log.flush()
        worker._trim_log()
        assert os.fstat(worker._log.fileno()).st_size == 0
        with pytest.raises(ModelRunError, match="exit code 3"):
            worker.request(("fault", "exit"), 30)
    finally:
        worker.close()
