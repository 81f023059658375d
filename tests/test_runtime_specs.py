"""Input specs: the MAX-compatible schema file, validation messages, proposals from the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters import InputSpecError, load_model, schema
from runtime.data import check_provided, generate_inputs, image_to_input, load_arrays, make_array
from runtime.engine import cast_lossless
from runtime.propose import embedding_table_for, propose_specs
from runtime.spec_file import dumps_spec, load_spec_file, loads_spec
from runtime.specs import (
    MLIR_TO_NUMPY,
    DataSource,
    InputSpec,
    InputSpecs,
    ModelInput,
    validate_specs,
)
from runtime.worker import check_memory
from tests.model_cases import SAMPLES_DIR

MAX_FILE = """\
inputs:
  - input_name: input_ids
    shape: 1x128xsi64
    compile_shape: ?x128xsi64
    data:
      random:
        uniform:
          min: 0
          max: 30521
  - input_name: attention_mask
    shape: 1x128xsi64
    data:
      constant: 1
"""

BERT_INPUTS = [
    ModelInput("input_ids", "int64", ("batch", "seq")),
    ModelInput("attention_mask", "int64", ("batch", "seq")),
]
IMAGE_INPUT = [ModelInput("x", "float32", ("batch", 3, 224, 224))]


def test_reads_max_input_data_schema() -> None:
    specs = loads_spec(MAX_FILE)
    assert specs.names() == ["input_ids", "attention_mask"]
    ids, mask = specs.inputs
    assert (ids.dtype, ids.shape, ids.data.kind, ids.data.low, ids.data.high) == (
        "int64",
        (1, 128),
        "uniform",
        0,
        30521,
    )
    assert (mask.data.kind, mask.data.value) == ("constant", 1)


@pytest.mark.parametrize(("suffix", "dtype"), sorted(MLIR_TO_NUMPY.items()))
def test_every_mlir_dtype_suffix(suffix: str, dtype: str) -> None:
    specs = loads_spec(f"inputs:\n  - input_name: x\n    shape: 2x3x{suffix}\n")
    assert specs.inputs[0].dtype == dtype
    assert f"shape: 2x3x{suffix}" in dumps_spec(specs)


def test_round_trip_writes_additions_only_when_used() -> None:
    plain = InputSpecs((InputSpec("x", "float32", (1, 3), data=DataSource.uniform(-1, 1)),))
    text = dumps_spec(plain)
    assert "dim_names" not in text and "compile_shape" not in text and "normal" not in text
    assert loads_spec(text) == plain
    rich = InputSpecs(
        (
            InputSpec("ids", "int64", (2, 16), ("batch", "seq"), DataSource.normal(0.5, 2)),
            InputSpec("mask", "bool", (2, 16), ("batch", "seq"), DataSource.ones()),
            InputSpec("v", "float32", (1, 2), (), DataSource("values", values=[[1.5, 2]])),
        )
    )
    text = dumps_spec(rich)
    assert "compile_shape: ?x?xsi64" in text and "dim_names: [batch, seq]" in text
    assert loads_spec(text) == rich
    assert loads_spec(dumps_spec(rich, "json")) == rich


def test_file_paths_are_relative_to_the_spec_file(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (tmp_path / "spec.yaml").write_text(
        "inputs:\n  - input_name: x\n    shape: 2x3xf32\n    data: {file: x.npy}\n"
    )
    spec = load_spec_file(tmp_path / "spec.yaml").inputs[0]
    assert spec.data.path == str(tmp_path / "x.npy")
    np.testing.assert_array_equal(make_array(spec), np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inputs:\n  - input_name: x\n   shape: 1\n", "spec.yaml line 3: not valid YAML/JSON"),
        ("input: []\n", "spec.yaml has no `inputs:` list"),
        ("inputs:\n  - shape: 1xf32\n", "spec.yaml line 2 (inputs[0]): no input_name"),
        (
            "inputs:\n  - input_name: a\n    shape: 1xf32\n  - input_name: x\n    dim_names: [b]\n",
            "spec.yaml line 4 (inputs[1] x): no shape",
        ),
        ("inputs:\n  - input_name: x\n    shape: 1x3\n", "shape '1x3' does not end in a dtype"),
        (
            "inputs:\n  - input_name: x\n    shape: 1xbatchxf32\n",
            "dim 'batch' in shape '1xbatchxf32' is not a number",
        ),
        ("inputs:\n  - input_name: x\n    shape: 1x-3xf32\n", "(inputs[0] x): dim 1 is -3"),
        ("inputs:\n  - input_name: x\n    shape: 0x3xf32\n", "(inputs[0] x): dim 0 is 0"),
        (
            "inputs:\n  - input_name: x\n    shape: 1xf32\n    data: {random: {uniform: {min: 5, max: 1}}}\n",
            "range min 5 is above max 1",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1xf32\n    data: {random: {uniform: {min: a, max: 1}}}\n",
            "uniform min 'a' is not a number",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1xf32\n    data: {random: {uniform: {low: 0}}}\n",
            "uniform takes min and max, not 'low'",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1xf32\n"
            "    data: {random: {normal: {mean: 0, std: -1}}}\n",
            "normal std -1 is negative",
        ),
        ("inputs:\n  - input_name: x\n    shape: 1xf32\n    data: {magic: 1}\n", "unknown data kind 'magic'"),
        (
            "inputs:\n  - input_name: x\n    shape: 1x8xf32\n    compile_shape: ?x4xf32\n",
            "compile_shape fixes dim 1 to 4, but shape has 8",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1x8xf32\n    compile_shape: ?xf32\n",
            "compile_shape '?xf32' does not match shape 1x8xf32",
        ),
        (
            "inputs:\n  - input_name: x\n    shape: 1xf32\n  - input_name: x\n    shape: 1xf32\n",
            "listed twice",
        ),
        (
            "inputs:\n  - input_name: a\n    shape: 1x128xsi64\n    dim_names: [batch, seq]\n"
            "  - input_name: b\n    shape: 1x64xsi64\n    dim_names: [batch, seq]\n",
            "seq is 128 in a but 64 in b",
        ),
    ],
)
def test_malformed_spec_files_name_the_line_or_entry(text: str, message: str) -> None:
    with pytest.raises(InputSpecError) as caught:
        loads_spec(text, name="spec.yaml")
    assert message in str(caught.value)
    assert "Fix:" in str(caught.value) and "\n" not in str(caught.value)


def _spec(name: str, shape: tuple[int, ...], dtype: str = "int64") -> InputSpec:
    return InputSpec(name, dtype, shape)


@pytest.mark.parametrize(
    ("specs", "model", "message"),
    [
        (
            [_spec("input_ids", (1, 8, 4)), _spec("attention_mask", (1, 8))],
            BERT_INPUTS,
            "input_ids: expected rank 2 (batch, seq), got 3 (1x8x4)",
        ),
        ([_spec("x", (1, 4, 224, 224), "float32")], IMAGE_INPUT, "x: dim 1 must be 3, got 4"),
        (
            [_spec("input_ids", (1, 128)), _spec("attention_mask", (1, 64))],
            BERT_INPUTS,
            "seq is 128 in input_ids but 64 in attention_mask",
        ),
        (
            [_spec("input_ids", (1, 8))],
            BERT_INPUTS,
            "the spec omits an input the model needs: attention_mask",
        ),
        (
            [_spec("x", (1, 3, 224, 224), "float32"), _spec("y", (1,))],
            IMAGE_INPUT,
            "the spec names y, which the model does not take",
        ),
        ([_spec("x", (1, 3, 224, 224), "int64")], IMAGE_INPUT, "x: dtype int64, but the model takes float32"),
        ([_spec("x", (0, 3, 224, 224), "float32")], IMAGE_INPUT, "x: dim 0 is 0"),
        (
            [_spec("x", (1, 3), "float32")],
            [ModelInput("x", "float32", ("b", 3), {"b": (2, 8)})],
            "x: b = 1 is outside the model's range 2..8",
        ),
    ],
)
def test_validation_against_the_model(specs: list[InputSpec], model: list[ModelInput], message: str) -> None:
    with pytest.raises(InputSpecError) as caught:
        validate_specs(InputSpecs(tuple(specs)), model)
    assert str(caught.value).startswith(message)


def test_a_named_dim_is_set_once() -> None:
    specs = propose_specs(BERT_INPUTS).with_dim("seq", 64).with_dim("batch", 2)
    assert [s.shape for s in specs] == [(2, 64), (2, 64)]
    validate_specs(specs, BERT_INPUTS)
    with pytest.raises(InputSpecError, match="not a valid size"):
        specs.with_dim("seq", 0)


def test_a_60_gb_tensor_is_refused_before_allocation() -> None:
    spec = InputSpecs((InputSpec("x", "float32", (1, 3, 100_000, 50_000)),))
    with pytest.raises(InputSpecError) as caught:
        check_memory(spec.nbytes, "the inputs", available=16 * 10**9)
    assert "the inputs need 60.0 GB, but only 16.0 GB of memory is available" in str(caught.value)


def test_proposal_reads_vocabulary_size_from_the_embedding() -> None:
    path = SAMPLES_DIR / "transformer_block.onnx"
    graph = load_model(path)
    gather = next(n for n, d in graph.nodes(data=True) if d["op_type"] == "Gather" and 0 in d["weights"])
    rows = graph.nodes[gather]["weights"][0].shape[0]
    specs = propose_specs(BERT_INPUTS, graph)
    ids = specs.get("input_ids")
    assert ids is not None and (ids.data.low, ids.data.high) == (0, rows - 1)
    assert ids.data.origin == f"0–{rows - 1}: vocabulary size of {graph.nodes[gather]['name']}"
    assert embedding_table_for(graph, "input_ids") == (rows, graph.nodes[gather]["name"])
    assert [s.shape for s in specs] == [(1, 16), (1, 16)] and not any(s.guess for s in specs)


def _common_graph(op: str, weight_port: int, weight_shape: tuple[int, ...], attributes: dict | None = None):
    """input:x → one op with a weight, in the common schema (what any converter produces)."""
    graph = schema.new_graph("torchscript", "TorchScript")
    schema.add_node(
        graph,
        "input:x",
        kind="input",
        op_type="Input",
        category="other",
        name="x",
        outputs=[schema.TensorInfo("x")],
    )
    weight = schema.TensorInfo("w", "float32", weight_shape, is_initializer=True)
    schema.add_node(
        graph,
        "layer",
        kind="op",
        op_type=op,
        category="layer",
        name="model.layer",
        outputs=[schema.TensorInfo("y")],
        weights={weight_port: weight},
        attributes=attributes or {},
    )
    schema.add_edge(graph, "input:x", "layer", 0, 1 if weight_port == 0 else 0, "x")
    graph.graph["inputs"] = ["input:x"]
    return graph


@pytest.mark.parametrize(
    ("op", "port", "weight", "attributes", "shape", "dtype", "guess"),
    [
        (
            "aten::conv2d",
            1,
            (16, 3, 3, 3),
            {},
            (1, 3, 224, 224),
            "float32",
            "3 channels from convolution model.layer",
        ),
        ("Conv", 1, (32, 4, 3, 3), {"group": 2}, (1, 8, 224, 224), "float32", "8 channels"),
        ("aten::conv1d", 1, (16, 5, 3), {}, (1, 5, 128), "float32", "5 channels"),
        ("aten::linear", 1, (10, 20), {}, (1, 20), "float32", "20 features from model.layer"),
        ("MatMul", 1, (20, 10), {}, (1, 20), "float32", "20 features"),
        ("Gemm", 1, (10, 20), {"transB": 1}, (1, 20), "float32", "20 features"),
        ("aten::embedding", 0, (30522, 8), {}, (1, 16), "int64", "token ids for embedding model.layer"),
    ],
)
def test_proposal_guesses_shapes_from_the_first_layer(
    op: str,
    port: int,
    weight: tuple[int, ...],
    attributes: dict,
    shape: tuple[int, ...],
    dtype: str,
    guess: str,
) -> None:
    graph = _common_graph(op, port, weight, attributes)
    spec = propose_specs([ModelInput("x", None, None)], graph).inputs[0]
    assert (spec.shape, spec.dtype) == (shape, dtype)
    assert guess in spec.guess
    if dtype == "int64":
        assert (spec.data.low, spec.data.high) == (0, 30521)
        assert spec.data.origin == "0–30521: vocabulary size of model.layer"


def test_proposal_without_a_graph_is_marked_as_a_guess() -> None:
    spec = propose_specs([ModelInput("x", None, None)]).inputs[0]
    assert spec.guess and spec.shape == (1,)


def test_generation_is_seeded_and_respects_ranges() -> None:
    specs = InputSpecs(
        (
            InputSpec("a", "int64", (1000,), data=DataSource.uniform(3, 5)),
            InputSpec("b", "float32", (1000,), data=DataSource.uniform(-2, -1)),
            InputSpec("c", "float16", (2, 2), data=DataSource.zeros()),
            InputSpec("d", "bool", (10,)),
            InputSpec("e", "float64", (5000,), data=DataSource.normal(10, 0.1)),
        )
    )
    first, second = generate_inputs(specs, seed=7), generate_inputs(specs, seed=7)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert set(np.unique(first["a"])) == {3, 4, 5}
    assert first["b"].min() >= -2 and first["b"].max() <= -1 and first["b"].dtype == np.float32
    assert first["c"].dtype == np.float16 and not first["c"].any()
    assert first["d"].dtype == np.bool_
    assert abs(first["e"].mean() - 10) < 0.01
    assert not np.array_equal(generate_inputs(specs, seed=8)["b"], first["b"])


def test_integer_range_must_fit_the_dtype() -> None:
    with pytest.raises(InputSpecError, match="does not fit uint8"):
        make_array(InputSpec("x", "uint8", (2,), data=DataSource.uniform(0, 300)))


def test_array_files_and_their_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "in.npz", x=np.zeros((1, 3), np.float32), extra=np.zeros(1))
    (tmp_path / "in.json").write_text('{"x": [[1, 2, 3]]}')
    assert sorted(load_arrays(tmp_path / "in.npz")) == ["extra", "x"]
    assert load_arrays(tmp_path / "in.json")["x"].shape == (1, 3)
    model = [ModelInput("x", "float32", ("batch", 3))]
    with pytest.raises(InputSpecError, match=r"in\.npz holds extra, which the model does not take"):
        check_provided(load_arrays(tmp_path / "in.npz"), model, "in.npz")
    with pytest.raises(InputSpecError, match=r"x in in\.json: its values do not fit float32 exactly"):
        check_provided(load_arrays(tmp_path / "in.json"), model, "in.json")  # before the lossless cast
    cast = cast_lossless(load_arrays(tmp_path / "in.json"), model, "in.json")
    assert cast["x"].dtype == np.float32
    check_provided(cast, model, "in.json")
    with pytest.raises(InputSpecError, match="unknown array file type"):
        load_arrays(tmp_path / "in.txt")


def test_image_becomes_a_normalised_4d_input(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[..., 0] = 255
    Image.fromarray(pixels).save(tmp_path / "red.png")
    nchw = image_to_input(tmp_path / "red.png", size=(8, 6), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert nchw.shape == (1, 3, 8, 6) and nchw.dtype == np.float32
    np.testing.assert_allclose(nchw[0, 0], 1.0)
    np.testing.assert_allclose(nchw[0, 1], -1.0)
    nhwc = image_to_input((tmp_path / "red.png").read_bytes(), size=(8, 6), layout="NHWC")
    assert nhwc.shape == (1, 8, 6, 3)
    with pytest.raises(InputSpecError, match="Cannot read the image"):
        image_to_input(b"not an image")


def test_the_readme_spec_example_loads() -> None:
    import re

    readme = (SAMPLES_DIR.parent / "README.md").read_text()
    (example,) = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    specs = loads_spec(example)
    assert specs.dims() == {"batch": 1, "seq": 128}
    validate_specs(specs, BERT_INPUTS)


def test_an_image_fills_a_4d_input_from_the_spec_file(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.zeros((40, 30, 3), np.uint8)
    pixels[..., 2] = 255
    Image.fromarray(pixels).save(tmp_path / "blue.png")
    text = (
        "inputs:\n  - input_name: x\n    shape: 2x3x8x6xf32\n"
        "    data: {image: {path: blue.png, layout: NCHW, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}\n"
    )
    (tmp_path / "spec.yaml").write_text(text)
    specs = load_spec_file(tmp_path / "spec.yaml")
    assert loads_spec(dumps_spec(specs)) == specs
    array = make_array(specs.inputs[0])
    assert array.shape == (2, 3, 8, 6) and array.dtype == np.float32
    np.testing.assert_allclose(array[:, 2], 1.0)
    np.testing.assert_allclose(array[:, 0], -1.0)
    nhwc = InputSpec("x", "float32", (1, 8, 6, 3), data=DataSource.image(str(tmp_path / "blue.png"), "NHWC"))
    assert make_array(nhwc).shape == (1, 8, 6, 3)
    with pytest.raises(InputSpecError, match="an image fills a 4-D input with 3 channels"):
        make_array(InputSpec("x", "float32", (1, 8), data=DataSource.image(str(tmp_path / "blue.png"))))
    with pytest.raises(InputSpecError, match="image mean must list 3 numbers"):
        loads_spec(
            "inputs:\n  - input_name: x\n    shape: 1x3x2x2xf32\n    data: {image: {path: a, mean: [1]}}\n"
        )
