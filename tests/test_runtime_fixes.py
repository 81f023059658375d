"""Regression tests for the engine faults found by the issue 7 test report (runfix): spec file
numbers, user mistakes that must be one-line errors, MAX compatibility, lossless JSON inputs,
declared shapes in proposals, TorchScript node ids and messages, non-tensor arguments, .pt2 safety.
Expected values come from the frameworks' own runs (onnxruntime, torch) or from Python's float()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from converters import InputSpecError, ModelLoadError, ModelRunError, load_model
from runtime.data import generate_inputs, make_array
from runtime.engine import (
    SpecNeededError,
    bench_model,
    check_seed,
    check_threads,
    model_shapes,
    propose_for,
    resolve_declared,
    run_model,
)
from runtime.propose import propose_specs
from runtime.results import FailedNode
from runtime.runners import detect_run_format, runnable_path
from runtime.spec_file import dumps_spec, loads_spec
from runtime.specs import DataSource, InputSpec, InputSpecs, ModelInput, validate_specs
from runtime.torch_runners import check_call_targets
from runtime.worker import WorkerPool
from tests.model_cases import ROOT


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=3, idle_timeout_s=300) as shared:
        yield shared


def _spec(std: str) -> str:
    data = f"{{random: {{normal: {{mean: 0, std: {std}}}}}}}"
    return f"inputs:\n  - input_name: x\n    shape: 2xf32\n    data: {data}\n"


# --- 2. numbers in scientific notation ---------------------------------------------------------


@pytest.mark.parametrize("text", ["1e-3", "1e3", "1.0e10", "1E+5", "2.5e-2", ".5", "1_000.5", '"1e-3"', "3"])
def test_yaml_numbers_in_every_form(text: str) -> None:
    expected = float(json.loads(text) if text.startswith('"') else text.replace("_", ""))
    assert loads_spec(_spec(text)).inputs[0].data.std == expected


@pytest.mark.parametrize("text", ["1e-3", "1E3", "2.5e+2", "0.125", "7"])
def test_json_numbers_are_read_with_json(text: str) -> None:
    data = '{"random": {"uniform": {"min": 0, "max": ' + text + "}}}"
    document = '{"inputs": [{"input_name": "x", "shape": "2xf32", "data": ' + data + "}]}"
    assert loads_spec(document).inputs[0].data.high == json.loads(text)


def test_json_syntax_errors_name_the_line() -> None:
    with pytest.raises(InputSpecError, match="line 2: not valid JSON"):
        loads_spec('{"inputs":\n [,]}')


def test_yaml_words_stay_words() -> None:
    with pytest.raises(InputSpecError, match="'e3' is not a number"):
        loads_spec(_spec("e3"))


# --- 8. MAX compatibility: names only, unknown keys --------------------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "shape: 1x3xf32\n    shpe: 2x3xf32",
            "unknown key 'shpe'. Fix: an entry takes only input_name, shape",
        ),
        (
            "shape: 1x3xf32\n    data: {random: {uniform: {min: 0, max: 1, mean: 3}}}",
            "uniform takes min and max, not 'mean'",
        ),
        (
            "shape: 1x3xf32\n    data: {random: {normal: {mean: 0, std: 1, min: 3}}}",
            "normal takes mean and std, not 'min'",
        ),
        ("compile_shape: ?x3xf32", "no shape"),
    ],
)
def test_unexpected_keys_are_named(entry: str, message: str) -> None:
    with pytest.raises(InputSpecError, match=message.replace("(", r"\(")):
        loads_spec(f"inputs:\n  - input_name: x\n    {entry}\n")


def test_an_entry_with_only_a_name_round_trips() -> None:
    specs = loads_spec("inputs:\n  - input_name: ids\n  - input_name: mask\n    data: {constant: 1}\n")
    assert [s.declared for s in specs] == [True, True]
    assert [s.declared_data for s in specs] == [True, False]
    assert loads_spec(dumps_spec(specs)) == specs


def _bert_like(tmp: Path) -> Path:
    """input_ids (batch, seq) int64 → Gather on a 30-row table; mask (batch, seq) int64."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [30, 4], np.arange(120, dtype=np.float32).tolist())
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], name="gather"),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Unsqueeze", ["maskf", "axes"], ["mask3"], name="unsq"),
        helper.make_node("Mul", ["emb", "mask3"], ["y"], name="mul"),
    ]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    graph = helper.make_graph(
        nodes,
        "bert_like",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 4])],
        [table, axes],
    )
    path = tmp / "bert_like.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    return path


def _mlp(tmp: Path, dtype: int = TensorProto.FLOAT, name: str = "mlp.onnx") -> Path:
    """y = x @ W (x: batch×3) for a float dtype, or y = x + x for an integer one."""
    if dtype == TensorProto.FLOAT:
        weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        nodes, inits = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [weight]
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])
    else:
        nodes, inits = [helper.make_node("Add", ["x", "x"], ["y"], name="add")], []
        out = helper.make_tensor_value_info("y", dtype, ["batch", 3])
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", dtype, ["batch", 3])], [out], inits
    )
    path = tmp / name
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    return path


def _bare(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return list(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds))


def test_names_only_use_the_declared_shape_and_the_vocabulary_range(tmp_path: Path, pool: WorkerPool) -> None:
    path = _bert_like(tmp_path)
    spec = tmp_path / "names.yaml"
    spec.write_text(
        "inputs:\n  - input_name: input_ids\n  - input_name: attention_mask\n    data: {constant: 1}\n"
    )
    result = run_model(path, spec=spec, pool=pool, want_arrays=True)
    assert result.arrays is not None
    # the ids were drawn from 0..29 (the table size): every output row is a table row
    rows = np.arange(120, dtype=np.float32).reshape(30, 4)
    feeds_ids = (result.arrays["y"][0, :, 0] / 4).astype(np.int64)
    expected = _bare(
        path, {"input_ids": feeds_ids[None], "attention_mask": np.ones((1, len(feeds_ids)), np.int64)}
    )
    np.testing.assert_array_equal(result.arrays["y"], expected[0])
    assert set(result.arrays["y"][0, :, 0]) <= set(rows[:, 0])


def test_names_only_without_a_declared_shape_is_an_error(tmp_path: Path) -> None:
    specs = loads_spec("inputs:\n  - input_name: x\n")
    with pytest.raises(InputSpecError, match="x: the spec gives no shape and the model does not declare one"):
        resolve_declared(tmp_path / "m.pt", specs, [ModelInput("x", None, None)])


# --- 5. user mistakes are InputSpecErrors ------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True])
def test_bad_seeds(seed: object) -> None:
    with pytest.raises(InputSpecError, match="is not a valid seed"):
        check_seed(seed)


def test_largest_seed_is_accepted() -> None:
    assert check_seed(2**64 - 1) == 2**64 - 1


@pytest.mark.parametrize("threads", [-3, -1, 1.5])
def test_bad_thread_counts(threads: object) -> None:
    with pytest.raises(InputSpecError, match="is not a thread count"):
        check_threads(threads)


@pytest.mark.parametrize(
    ("dtype", "source", "bad"),
    [
        ("uint8", DataSource.constant(300), "constant: 300 does not fit uint8 \\(0..255\\)"),
        ("uint8", DataSource("values", values=[1, 2, 300, -1]), "typed values: 300 does not fit uint8"),
        ("int8", DataSource.constant(-129), "constant: -129 does not fit int8 \\(-128..127\\)"),
        ("int8", DataSource.uniform(-200, 0), "range -200..0: -200 does not fit int8"),
        ("uint64", DataSource.uniform(0, 2**64), "does not fit uint64 \\(0..18446744073709551615\\)"),
    ],
)
def test_values_outside_an_integer_dtype(dtype: str, source: DataSource, bad: str) -> None:
    with pytest.raises(InputSpecError, match=bad):
        make_array(InputSpec("q", dtype, (4,), data=source))


def test_uint64_up_to_its_maximum() -> None:
    top = 2**64 - 1
    array = make_array(InputSpec("q", "uint64", (64,), data=DataSource.uniform(top - 3, top)), seed=3)
    assert array.dtype == np.uint64 and int(array.min()) >= top - 3 and int(array.max()) <= top
    constant = make_array(InputSpec("q", "uint64", (2,), data=DataSource.constant(top)))
    assert constant.tolist() == [top, top]


# --- 7. JSON inputs are cast to the model's dtype when nothing is lost -------------------------


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        (TensorProto.FLOAT, [[1.0, 2, 3]]),
        (TensorProto.FLOAT, [[1, 2, 3]]),
        (TensorProto.FLOAT, [[0.1, 1e-3, 1e30]]),
        (TensorProto.INT32, [[1, 2, 3]]),
        (TensorProto.INT64, [[1.0, 2.0, 3.0]]),
        (TensorProto.UINT8, [[0, 255, 7]]),
    ],
)
def test_json_inputs_take_the_model_dtype(tmp_path: Path, pool: WorkerPool, dtype: int, values: list) -> None:
    path = _mlp(tmp_path, dtype, f"m{dtype}.onnx")
    data = tmp_path / "x.json"
    data.write_text(json.dumps({"x": values}))
    result = run_model(path, inputs=data, pool=pool, want_arrays=True)
    numpy_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    expected = _bare(path, {"x": np.asarray(values).astype(numpy_dtype)})
    assert result.arrays is not None
    np.testing.assert_array_equal(result.arrays["y"], expected[0])
    python = run_model(path, inputs={"x": values}, pool=pool, want_arrays=True)  # the same as lists
    assert python.arrays is not None
    np.testing.assert_array_equal(python.arrays["y"], expected[0])


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        (TensorProto.INT64, [[1.5, 2, 3]]),
        (TensorProto.UINT8, [[0, 256, 1]]),
        (TensorProto.FLOAT, [[2**25 + 1, 0, 0]]),
    ],
)
def test_lossy_json_inputs_are_refused(tmp_path: Path, pool: WorkerPool, dtype: int, values: list) -> None:
    path = _mlp(tmp_path, dtype, f"m{dtype}.onnx")
    data = tmp_path / "x.json"
    data.write_text(json.dumps({"x": values}))
    with pytest.raises(InputSpecError, match="values do not fit"):
        run_model(path, inputs=data, pool=pool)


def test_python_api_refuses_what_is_not_an_array(tmp_path: Path, pool: WorkerPool) -> None:
    path = _mlp(tmp_path)
    with pytest.raises(InputSpecError, match="not an array of numbers"):
        run_model(path, inputs={"x": ["a", "b", "c"]}, pool=pool)
    with pytest.raises(InputSpecError, match="inputs is a list"):
        run_model(path, inputs=[[1.0, 2.0, 3.0]], pool=pool)  # type: ignore[arg-type]
    with pytest.raises(InputSpecError, match="spec is a int"):
        run_model(path, spec=3, pool=pool)  # type: ignore[arg-type]


def test_python_api_takes_a_spec_dict(tmp_path: Path, pool: WorkerPool) -> None:
    path = _mlp(tmp_path)
    spec = {"inputs": [{"input_name": "x", "shape": "2x3xf32", "data": {"constant": 1}}]}
    result = run_model(path, spec=spec, pool=pool, want_arrays=True)  # type: ignore[arg-type]
    assert result.arrays is not None
    np.testing.assert_array_equal(result.arrays["y"], _bare(path, {"x": np.ones((2, 3), np.float32)})[0])


# --- torch models: proposals from the trace example, messages, scalar arguments, threads --------


class _Conv(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = torch.nn.Conv2d(3, 4, 3)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.c(img).mean(dim=(2, 3))


class _Options(torch.nn.Module):
    def forward(
        self, x: torch.Tensor, scale: float = 2.0, mask: torch.Tensor | None = None, k: int = 1
    ) -> torch.Tensor:
        y = x * scale + k
        if mask is not None:
            y = y * mask
        return y


class _IntArgument(torch.nn.Module):
    def forward(self, x: torch.Tensor, k: int, flag: bool) -> torch.Tensor:
        return x * k if flag else x - k


class _TwoInputs(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b.transpose(-1, -2)


def _save_traced(tmp: Path, example: torch.Tensor) -> Path:
    torch.manual_seed(0)
    path = tmp / "traced.pt"
    torch.jit.trace(_Conv().eval(), example).save(str(path))
    return path


def _run_in_process(path: Path, arrays: dict[str, np.ndarray], **scalars: object) -> np.ndarray:
    module = torch.jit.load(str(path))
    with torch.no_grad():
        result = module(**{k: torch.from_numpy(v) for k, v in arrays.items()}, **scalars)
    return result.numpy()


def test_traced_torchscript_runs_with_its_trace_example_shape(tmp_path: Path, pool: WorkerPool) -> None:
    path = _save_traced(tmp_path, torch.zeros(1, 3, 16, 16))
    _, specs = propose_for(path, pool=pool)
    assert [(s.name, s.shape, s.dtype, s.guess) for s in specs] == [("img", (1, 3, 16, 16), "float32", "")]
    result = run_model(path, pool=pool, want_arrays=True)  # no spec needed
    assert result.arrays is not None
    expected = _run_in_process(path, generate_inputs(specs))
    np.testing.assert_array_equal(result.arrays["output"], expected)


def test_declared_dims_are_kept_and_only_unknown_ones_filled() -> None:
    nhwc = ModelInput("x", "float32", (None, 32, 32, 3))
    assert propose_specs([nhwc]).inputs[0].shape == (1, 32, 32, 3)
    inner = ModelInput("x", "float32", (None, None, 8))
    spec = propose_specs([inner]).inputs[0]
    assert spec.shape == (1, 16, 8) and "dim 1 = 16" in spec.guess


def test_torchscript_errors_keep_the_framework_message(tmp_path: Path, pool: WorkerPool) -> None:
    path = _save_traced(tmp_path, torch.zeros(1, 3, 16, 16))
    bad = torch.zeros(1, 4, 16, 16)
    with pytest.raises(RuntimeError) as own:
        torch.jit.load(str(path))(bad)
    last_line = str(own.value).strip().splitlines()[-1].split(": ", 1)[1]
    spec = loads_spec("inputs:\n  - input_name: img\n    shape: 1x4x16x16xf32\n")
    with pytest.raises(ModelRunError) as ours:
        run_model(path, spec=spec, pool=pool)
    assert ours.value.message.startswith("torch failed at node ")
    assert ours.value.message.endswith(f": {last_line}")
    assert "to have 3 channels, but got 4 channels instead" in ours.value.message


def test_torchscript_scalar_and_optional_arguments(tmp_path: Path, pool: WorkerPool) -> None:
    path = tmp_path / "options.pt"
    torch.jit.script(_Options()).save(str(path))
    x = np.arange(4, dtype=np.float32)
    only_x = run_model(path, inputs={"x": x}, pool=pool, want_arrays=True)  # defaults used
    assert only_x.arrays is not None
    np.testing.assert_array_equal(only_x.arrays["output"], _run_in_process(path, {"x": x}))
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "inputs:\n  - input_name: scale\n    value: 3.5\n  - input_name: k\n    shape: si64\n"
        "    data: {constant: 4}\n  - input_name: mask\n    shape: 4xf32\n    data: {constant: 0.5}\n"
    )
    given = run_model(path, inputs={"x": x}, spec=spec, pool=pool, want_arrays=True)
    mask = np.full(4, 0.5, np.float32)
    assert given.arrays is not None
    expected = _run_in_process(path, {"x": x, "mask": mask}, scale=3.5, k=4)
    np.testing.assert_array_equal(given.arrays["output"], expected)
    wrong = loads_spec(
        "inputs:\n  - input_name: x\n    shape: 4xf32\n  - input_name: scale\n    shape: 2xf32\n"
    )
    with pytest.raises(InputSpecError, match="scale: the model takes a float, not a 2 tensor"):
        run_model(path, spec=wrong, pool=pool)


def test_required_scalar_arguments_are_asked_for(tmp_path: Path, pool: WorkerPool) -> None:
    path = tmp_path / "intarg.pt"
    torch.jit.script(_IntArgument()).save(str(path))
    with pytest.raises(SpecNeededError, match="k: an int argument: set its value; flag: a bool argument"):
        run_model(path, inputs={"x": np.ones(3, np.float32)}, pool=pool)
    spec = loads_spec("inputs:\n  - input_name: k\n    value: 3\n  - input_name: flag\n    value: false\n")
    result = run_model(path, inputs={"x": np.ones(3, np.float32)}, spec=spec, pool=pool, want_arrays=True)
    assert result.arrays is not None
    expected = _run_in_process(path, {"x": np.ones(3, np.float32)}, k=3, flag=False)
    np.testing.assert_array_equal(result.arrays["output"], expected)


def test_torch_runners_use_and_report_the_thread_count(tmp_path: Path, pool: WorkerPool) -> None:
    path = _save_traced(tmp_path, torch.zeros(1, 3, 8, 8))
    result = bench_model(path, pool=pool, iterations=2, warmup=0, threads=1)
    assert result.threads == 1
    default = bench_model(path, pool=pool, iterations=2, warmup=0)
    assert default.threads == torch.get_num_threads()


# --- 1. .pt2 with unbounded dims ---------------------------------------------------------------


class _Pair(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, y], dim=1).relu()


def test_pt2_with_unbounded_dims_runs(tmp_path: Path, pool: WorkerPool) -> None:
    batch = torch.export.Dim("b")  # no max: the upper bound is torch's int_oo
    program = torch.export.export(
        _Pair(), (torch.randn(2, 3), torch.randn(2, 4)), dynamic_shapes={"x": {0: batch}, "y": {0: batch}}
    )
    path = tmp_path / "pair.pt2"
    torch.export.save(program, str(path))
    info, specs = propose_for(path, pool=pool)
    (symbol, (low, high)), *_ = info["inputs"][0].dim_ranges.items()
    torch_range = next(iter(program.range_constraints.values()))
    assert str(torch_range.upper) == "int_oo"  # read as unbounded (capped at 2**31-1)
    assert (low, high) == (max(int(torch_range.lower), 1), 2**31 - 1)
    assert info["inputs"][0].shape == (symbol, 3)
    result = run_model(path, pool=pool, want_arrays=True)
    arrays = generate_inputs(specs)
    expected = torch.export.load(str(path)).module()(*(torch.from_numpy(a) for a in arrays.values()))
    assert result.arrays is not None
    np.testing.assert_array_equal(result.arrays["output"], expected.numpy())
    shapes = model_shapes(path, pool=pool)
    assert shapes.failed is None and shapes.nodes["relu"] == [[specs.inputs[0].shape[0], 7]]
    assert not [node for node in shapes.nodes if node.startswith("_guards")]  # export's guards are no node


# --- 4. shapes keyed by the converter's node ids, the failing node named -----------------------


def test_torchscript_shapes_are_keyed_by_graph_node_ids(tmp_path: Path, pool: WorkerPool) -> None:
    torch.manual_seed(0)
    eager = _Conv().eval()
    example = torch.zeros(2, 3, 12, 12)
    for kind, module in (("traced", torch.jit.trace(eager, example)), ("scripted", torch.jit.script(eager))):
        path = tmp_path / f"{kind}.pt"
        module.save(str(path))
        spec = loads_spec("inputs:\n  - input_name: img\n    shape: 2x3x12x12xf32\n")
        result = model_shapes(path, spec=spec, pool=pool)
        graph = load_model(path)
        assert result.failed is None
        assert set(result.nodes) <= set(graph.nodes), kind
        conv = next(
            n
            for n in graph.nodes
            if str(graph.nodes[n].get("op_type", "")).endswith("convolution")
            or str(graph.nodes[n].get("op_type", "")).endswith("conv2d")
        )
        assert result.nodes[conv] == [list(eager.c(example).shape)], kind
        assert result.nodes["input:img"] == [[2, 3, 12, 12]]


def test_traced_failure_names_the_graph_node(tmp_path: Path, pool: WorkerPool) -> None:
    path = _save_traced(tmp_path, torch.zeros(1, 3, 16, 16))
    spec = loads_spec("inputs:\n  - input_name: img\n    shape: 1x4x16x16xf32\n")
    failed = model_shapes(path, spec=spec, pool=pool).failed
    assert failed is not None and failed.node in load_model(path)
    assert failed.node == "c/_convolution" and failed.input_shapes[0] == [1, 4, 16, 16]
    with pytest.raises(RuntimeError) as own:
        torch.jit.load(str(path))(torch.zeros(1, 4, 16, 16))
    assert failed.message == str(own.value).strip().splitlines()[-1].split(": ", 1)[1]


def test_two_ops_on_one_line_blame_the_one_that_fails(tmp_path: Path, pool: WorkerPool) -> None:
    path = tmp_path / "two.pt"
    torch.jit.script(_TwoInputs()).save(str(path))
    a, b = torch.zeros(2, 5, 4), torch.zeros(2, 7, 3)
    with pytest.raises(RuntimeError) as own:
        _TwoInputs()(a, b)
    spec = loads_spec(
        "inputs:\n  - input_name: a\n    shape: 2x5x4xf32\n  - input_name: b\n    shape: 2x7x3xf32\n"
    )
    failed = model_shapes(path, spec=spec, pool=pool).failed
    graph = load_model(path)
    assert failed is not None and graph.nodes[failed.node]["op_type"] == "aten::matmul"
    assert failed.input_shapes == [list(a.shape), list(b.transpose(-1, -2).shape)]
    assert failed.message == str(own.value).strip().splitlines()[-1]


def test_onnx_unnamed_failing_node_gets_the_converter_id(tmp_path: Path, pool: WorkerPool) -> None:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [6, 3], [0.0] * 18)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])],
        "noname",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "k"])],  # k: 16 proposed
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight],
    )
    path = tmp_path / "noname.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    with pytest.raises(Exception, match="MatMul"):  # onnxruntime's own run fails in the MatMul
        _bare(path, {"x": np.zeros((1, 16), np.float32)})
    failed = model_shapes(path, pool=pool).failed
    assert failed is not None and failed.node in load_model(path)
    assert (failed.node, failed.op_type, failed.input_shapes) == ("MatMul_1", "MatMul", [[1, 16], [6, 3]])


def test_unknown_dims_print_as_question_marks() -> None:
    failed = FailedNode("n", "Expand", [[None, None], [2], None, []], "bad")
    assert failed.one_line() == "node n (Expand) failed with inputs [?x?, 2, ?, scalar]: bad"


# --- 13. a .pt2 runs only if its graphs call operators ----------------------------------------


class _Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, 2, dim=1)  # operator.getitem on the result
        chosen = torch.cond(
            x.sum() > 0, lambda t: t.cos(), lambda t: t.sin(), (parts[0],)
        )  # a higher-order op
        return chosen * x.shape[0]


def test_operator_graphs_pass_the_call_target_check() -> None:
    program = torch.export.export(_Branchy(), (torch.randn(3, 4),))
    targets = {type(n.target).__name__ for n in program.graph.nodes if n.op == "call_function"}
    assert {"OpOverload", "CondOp"} <= targets or {"OpOverload"} <= targets
    check_call_targets(program, "branchy.pt2")


@pytest.mark.parametrize("target", [torch.load, eval, __import__("os").system, np.load])
def test_a_program_calling_other_functions_is_refused(target: object) -> None:
    program = torch.export.export(_Pair(), (torch.randn(2, 3), torch.randn(2, 4)))
    node = next(n for n in program.graph_module.graph.nodes if n.op == "call_function")
    node.target = target
    with pytest.raises(ModelLoadError, match="which is not a torch operator: ModelLens refuses to run it"):
        check_call_targets(program, "evil.pt2")


# --- 10. bfloat16 ONNX inputs and outputs ------------------------------------------------------


def _bfloat16_model(tmp: Path) -> Path:
    nodes = [
        helper.make_node("Cast", ["x"], ["as_float"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Identity", ["x"], ["same"], name="same"),
    ]
    graph = helper.make_graph(
        nodes,
        "bf16",
        [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2, 3])],
        [
            helper.make_tensor_value_info("as_float", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("same", TensorProto.BFLOAT16, [2, 3]),
        ],
    )
    path = tmp / "bf16.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    return path


def test_bfloat16_inputs_and_outputs_run(tmp_path: Path, pool: WorkerPool) -> None:
    import ml_dtypes

    path = _bfloat16_model(tmp_path)
    values = np.array([[1.5, -2.25, 3.0], [0.5, 7.0, -1.0]], dtype=ml_dtypes.bfloat16)
    result = run_model(path, inputs={"x": values}, pool=pool, want_arrays=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fed = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(values.view(np.uint16), TensorProto.BFLOAT16)
    own_float = session.run(["as_float"], {"x": fed})[0]  # onnxruntime's own run
    assert result.arrays is not None
    np.testing.assert_array_equal(result.arrays["as_float"], own_float)
    assert result.arrays["same"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(result.arrays["same"].astype(np.float32), own_float)
    stats = {o.name: o for o in result.outputs}
    assert stats["same"].dtype == "bfloat16" and stats["same"].max == float(own_float.max())


# --- 11. start-up: nothing heavy imported for `modellens run` ----------------------------------


def test_the_run_path_imports_no_converters_or_networkx() -> None:
    code = (
        "import sys, modellens, modellens.cli, modellens.run_cli, runtime.engine, runtime.worker\n"
        "from converters.errors import ModelLensError\n"
        "print(sorted(m for m in ('networkx', 'onnx', 'converters.registry', 'converters.schema', 'torch') "
        "if m in sys.modules))\n"
        "from converters import load_model, ModelGraph\n"
        "print(callable(load_model), 'networkx' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.splitlines() == ["[]", "True True"]


# --- 12. smaller CLI and API checks ------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "modellens", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_cli_user_mistakes_exit_2_with_one_line(tmp_path: Path) -> None:
    path = _mlp(tmp_path)
    scripted = tmp_path / "conv.pt"
    torch.jit.script(_Conv()).save(str(scripted))
    cases = [
        (("run", str(path), "--save-outputs", str(tmp_path / "missing" / "o.npz")), "the folder"),
        (("run", str(path), "--seed", "-1"), "seed -1 is not a valid seed"),
        (("bench", str(path), "--threads", "-3"), "threads -3 is not a thread count"),
        (("shapes", str(path), "--timeout", "-1"), "--timeout -1.0 is not a positive number"),
        (("run", str(path), "--signature", "foo"), "--signature foo is for SavedModels"),
        (("run", str(scripted), "--json"), "declares no input shapes"),
    ]
    for args, message in cases:
        done = _cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == "", args  # --json: the template goes to stderr
        assert done.stderr.strip().splitlines()[-1].startswith("error: ") and message in done.stderr, args


def test_bench_and_shapes_take_a_timeout(tmp_path: Path) -> None:
    path = _mlp(tmp_path)
    bench = _cli("bench", str(path), "--iterations", "3", "--warmup", "0", "--timeout", "120", "--json")
    assert bench.returncode == 0 and json.loads(bench.stdout)["iterations"] == 3
    shapes = _cli("shapes", str(path), "--timeout", "120", "--json")
    assert shapes.returncode == 0 and json.loads(shapes.stdout)["nodes"]["mm"] == [[1, 2]]


def test_saved_model_pb_path_means_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sm"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    assert detect_run_format(folder / "saved_model.pb") == "savedmodel"
    assert runnable_path(folder / "saved_model.pb") == folder


def test_pt2_symbols_are_called_dynamic_dims() -> None:
    model = [ModelInput("img", "float32", (1, 3, "s45", "s45"), {"s45": (2, 8)})]
    with pytest.raises(
        InputSpecError, match=r"img: dim 2 \(s45, dynamic\) = 1 is outside the model's range 2..8"
    ):
        validate_specs(InputSpecs((InputSpec("img", "float32", (1, 3, 1, 1)),)), model)
    with pytest.raises(InputSpecError, match=r"s45 \(a dynamic dim\) is 6 in img but 7 in img"):
        validate_specs(InputSpecs((InputSpec("img", "float32", (1, 3, 6, 7)),)), model)


def test_a_proposed_range_is_said_once() -> None:
    source = DataSource.uniform(0, 299, origin="0–299: vocabulary size of /m/Gather")
    assert source.describe() == "uniform 0–299: vocabulary size of /m/Gather"
    assert (
        DataSource.uniform(0, 9, origin="default integer range").describe()
        == "uniform 0–9 (default integer range)"
    )


def test_a_file_that_is_not_an_npz_says_so(tmp_path: Path) -> None:
    from runtime.data import load_arrays

    (tmp_path / "x.npz").write_bytes(b"not a zip at all")
    with pytest.raises(InputSpecError, match=r"x\.npz is not a \.npz array file") as caught:
        load_arrays(tmp_path / "x.npz")
    assert "allow_pickle" not in str(caught.value)
