"""ONNX model cases built in code, and their expected ``modellens info --json`` values.

Every builder takes a directory and writes one model into it, returning the model's path. Nothing is
downloaded: torch/transformers models get seeded random weights, the rest is ``onnx.helper`` +
numpy. ``expected_info(path)`` computes the expected summary straight from the ONNX proto, without
any ModelLens code, so the tests compare two independent readings of the same file.

This module imports only onnx and numpy at import time (torch inside the builders that need it), so
benchmarks can use ``make_synthetic``, ``make_resnet50_like`` and ``make_bert_base_like`` cheaply.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "sample_models"
SEED = 0

Builder = Callable[[Path], Path]


@cache
def samples_module() -> ModuleType:
    """``sample_models/make_samples.py`` (a script directory, so loaded by path)."""
    spec = importlib.util.spec_from_file_location("modellens_make_samples", SAMPLES_DIR / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vi(name: str, elem_type: int, shape: Iterable[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape))


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _model(graph: onnx.GraphProto, opset: int = 17, **kwargs: Any) -> onnx.ModelProto:
    imports = [helper.make_opsetid("", opset), *kwargs.pop("extra_opsets", [])]
    model = helper.make_model(graph, opset_imports=imports, producer_name="modellens-tests", **kwargs)
    model.ir_version = 8
    return model


# ------------------------------------------------------------------------------------------- builders


def build_cnn_branches(tmp: Path) -> Path:
    return samples_module().build_cnn_branches(tmp / "cnn_branches.onnx")


def build_cnn_legacy(tmp: Path) -> Path:
    return samples_module().build_cnn_legacy(tmp / "cnn_legacy.onnx")


def build_transformer_block(tmp: Path) -> Path:
    return samples_module().build_transformer_block(tmp / "transformer_block.onnx")


def build_control_flow(tmp: Path) -> Path:
    return samples_module().build_control_flow(tmp / "control_flow_if_loop.onnx")


def _mlp_model(hidden: int = 16, batch: int | str = "batch") -> onnx.ModelProto:
    rng = np.random.default_rng(SEED)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, hidden), dtype=np.float32), "fc1.weight"),
        numpy_helper.from_array(rng.standard_normal((hidden,), dtype=np.float32), "fc1.bias"),
        numpy_helper.from_array(rng.standard_normal((hidden, 3), dtype=np.float32), "fc2.weight"),
        numpy_helper.from_array(rng.standard_normal((3,), dtype=np.float32), "fc2.bias"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "fc1.weight"], ["h0"], name="fc1/MatMul"),
        helper.make_node("Add", ["h0", "fc1.bias"], ["h1"], name="fc1/Add"),
        helper.make_node("Relu", ["h1"], ["h2"], name="act/Relu"),
        helper.make_node("MatMul", ["h2", "fc2.weight"], ["h3"], name="fc2/MatMul"),
        helper.make_node("Add", ["h3", "fc2.bias"], ["y"], name="fc2/Add"),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [_vi("x", TensorProto.FLOAT, [batch, 8])],
        [_vi("y", TensorProto.FLOAT, [batch, 3])],
        inits,
    )
    model = _model(graph)
    helper.set_model_props(model, {"task": "classification", "classes": "3"})
    return model


def build_mlp(tmp: Path) -> Path:
    """x[batch,8] -> MatMul/Add/Relu/MatMul/Add -> y[batch,3]; 4 initializers, 2 metadata props."""
    return _save(_mlp_model(), tmp / "mlp.onnx")


def build_duplicate_names(tmp: Path) -> Path:
    """Five nodes all named ``block``, plus names that collide with generated ids (``Relu_1``,
    ``input:x``, ``output:y``)."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="block"),
        helper.make_node("Neg", ["a"], ["b"], name="block"),
        helper.make_node("Relu", ["b"], ["c"], name="block"),
        helper.make_node("Abs", ["c"], ["d"], name="block"),
        helper.make_node("Add", ["a", "d"], ["e"], name="block"),
        helper.make_node("Relu", ["e"], ["f"], name="Relu_1"),
        helper.make_node("Sigmoid", ["f"], ["g"], name="input:x"),
        helper.make_node("Tanh", ["g"], ["y"], name="output:y"),
    ]
    graph = helper.make_graph(
        nodes, "duplicates", [_vi("x", TensorProto.FLOAT, [2, 3])], [_vi("y", TensorProto.FLOAT, [2, 3])]
    )
    return _save(_model(graph), tmp / "duplicate_names.onnx")


def build_empty_names(tmp: Path) -> Path:
    """Unnamed nodes, one of them between nodes named like the generated fallback ids."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"], name="Relu_0"),
        helper.make_node("Relu", ["b"], ["c"]),
        helper.make_node("Add", ["c", "a"], ["d"], name="Relu_2"),
        helper.make_node("Add", ["d", "x"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "empty_names", [_vi("x", TensorProto.FLOAT, [4])], [_vi("y", TensorProto.FLOAT, [4])]
    )
    return _save(_model(graph), tmp / "empty_names.onnx")


def build_ir3_initializers_as_inputs(tmp: Path) -> Path:
    """IR version 3 / opset 8: every initializer is also listed in graph.input (old exporters)."""
    rng = np.random.default_rng(SEED)
    w1 = rng.standard_normal((6, 5)).astype(np.float32)
    inits = [
        helper.make_tensor("W1", TensorProto.FLOAT, w1.shape, w1.flatten().tolist()),  # float_data, not raw
        numpy_helper.from_array(rng.standard_normal((5,), dtype=np.float32), "B1"),
        numpy_helper.from_array(rng.standard_normal((5, 2), dtype=np.float32), "W2"),
        numpy_helper.from_array(rng.standard_normal((2,), dtype=np.float32), "B2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["data", "W1", "B1"], ["h"], name="gemm1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "W2", "B2"], ["prob_logits"], name="gemm2"),
        helper.make_node("Softmax", ["prob_logits"], ["prob"], name="softmax"),
    ]
    inputs = [_vi("data", TensorProto.FLOAT, [1, 6])] + [
        _vi(t.name, t.data_type, list(t.dims)) for t in inits
    ]
    graph = helper.make_graph(nodes, "ir3", inputs, [_vi("prob", TensorProto.FLOAT, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)], producer_name="old-exporter")
    model.ir_version = 3
    return _save(model, tmp / "ir3_initializers_as_inputs.onnx")


def build_external_data(tmp: Path) -> Path:
    """The MLP (hidden 64) with every initializer in one external file ``weights.bin``."""
    out = tmp / "external_data"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    onnx.save_model(
        _mlp_model(hidden=64),
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return path


def build_shape_inference_fails(tmp: Path) -> Path:
    """Loads fine, but strict shape inference fails: a declared output shape (rank 3) contradicts the
    inferred one (rank 2), a custom-domain op has no schema, and one output has no shape at all."""
    nodes = [
        helper.make_node("Relu", ["x"], ["y"], name="relu"),
        helper.make_node("FancyNorm", ["x"], ["z"], name="fancy", domain="com.example", eps=1e-5),
        helper.make_node("Add", ["z", "x"], ["w"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "bad_shapes",
        [_vi("x", TensorProto.FLOAT, [2, 3])],
        [
            _vi("y", TensorProto.FLOAT, [2, 3, 4]),  # wrong: Relu keeps x's [2, 3]
            _vi("w", TensorProto.FLOAT, None),  # unknown rank
        ],
    )
    model = _model(graph, extra_opsets=[helper.make_opsetid("com.example", 1)])
    return _save(model, tmp / "shape_inference_fails.onnx")


def build_constants(tmp: Path) -> Path:
    """Constant nodes (tensor, value_float, value_ints) feeding ops; one Constant is a graph output."""
    nodes = [
        helper.make_node(
            "Constant", [], ["offset"], value=numpy_helper.from_array(np.arange(6, dtype=np.float32))
        ),
        helper.make_node("Constant", [], ["scale"], name="scale_const", value_float=2.0),
        helper.make_node("Constant", [], ["new_shape"], value_ints=[2, 3]),
        helper.make_node("Add", ["x", "offset"], ["a"], name="add_offset"),
        helper.make_node("Mul", ["a", "scale"], ["b"], name="mul_scale"),
        helper.make_node("Reshape", ["b", "new_shape"], ["y"], name="reshape"),
    ]
    graph = helper.make_graph(
        nodes,
        "constants",
        [_vi("x", TensorProto.FLOAT, [6])],
        [_vi("y", TensorProto.FLOAT, [2, 3]), _vi("new_shape", TensorProto.INT64, [2])],
    )
    return _save(_model(graph), tmp / "constants.onnx")


def build_symbolic_dims(tmp: Path) -> Path:
    """Named dims (batch, seq), an anonymous unknown dim, a scalar input; int64/bool/float dtypes."""
    rng = np.random.default_rng(SEED)
    table = numpy_helper.from_array(rng.standard_normal((100, 16), dtype=np.float32), "embedding")
    nodes = [
        helper.make_node("Gather", ["embedding", "tokens"], ["emb"], name="embed"),
        helper.make_node("Cast", ["mask"], ["maskf"], name="mask_cast", to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis"], ["mask3"], name="mask_unsqueeze"),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"], name="apply_mask"),
        helper.make_node("Mul", ["masked", "temperature"], ["scaled"], name="scale"),
        helper.make_node("ReduceSum", ["scaled", "axis1"], ["pooled"], name="pool", keepdims=0),
        helper.make_node("Add", ["feats", "feats"], ["feats2"], name="double_feats"),
    ]
    inits = [
        table,
        numpy_helper.from_array(np.array([-1], np.int64), "axis"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    graph = helper.make_graph(
        nodes,
        "symbolic",
        [
            _vi("tokens", TensorProto.INT64, ["batch", "seq"]),
            _vi("mask", TensorProto.BOOL, ["batch", "seq"]),
            _vi("temperature", TensorProto.FLOAT, []),
            _vi("feats", TensorProto.FLOAT, ["batch", None, 16]),
        ],
        [
            _vi("pooled", TensorProto.FLOAT, ["batch", 16]),
            _vi("feats2", TensorProto.FLOAT, ["batch", None, 16]),
        ],
        inits,
    )
    return _save(_model(graph), tmp / "symbolic_dims.onnx")


def build_nontensor_types(tmp: Path) -> Path:
    """A sequence output (SplitToSequence), a sequence-of-maps output (ZipMap), float16 and bfloat16
    tensors (a bfloat16 initializer), and a string input passed through."""
    bf16 = helper.make_tensor(
        "bf16_bias",
        TensorProto.BFLOAT16,
        [4],
        [0.5, -1.0, 2.0, 0.25],
    )
    nodes = [
        helper.make_node("SplitToSequence", ["x"], ["pieces"], name="split", axis=0, keepdims=1),
        helper.make_node("Cast", ["half"], ["as_bf16"], name="to_bf16", to=TensorProto.BFLOAT16),
        helper.make_node("Add", ["as_bf16", "bf16_bias"], ["bf16_out"], name="add_bf16"),
        helper.make_node(
            "ZipMap",
            ["scores"],
            ["labelled"],
            name="zipmap",
            domain="ai.onnx.ml",
            classlabels_strings=["cat", "dog", "fish"],
        ),
        helper.make_node("Identity", ["words"], ["words_out"], name="words"),
    ]
    graph = helper.make_graph(
        nodes,
        "nontensor",
        [
            _vi("x", TensorProto.FLOAT, [4, 2]),
            _vi("half", TensorProto.FLOAT16, ["batch", 4]),
            _vi("scores", TensorProto.FLOAT, ["batch", 3]),
            _vi("words", TensorProto.STRING, [None]),
        ],
        [
            helper.make_tensor_sequence_value_info("pieces", TensorProto.FLOAT, None),
            _vi("bf16_out", TensorProto.BFLOAT16, ["batch", 4]),
            helper.make_value_info(
                "labelled",
                helper.make_sequence_type_proto(
                    helper.make_map_type_proto(
                        TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
                    )
                ),
            ),
            _vi("words_out", TensorProto.STRING, [None]),
        ],
        [bf16],
    )
    model = _model(graph, extra_opsets=[helper.make_opsetid("ai.onnx.ml", 3)])
    return _save(model, tmp / "nontensor_types.onnx")


def build_io_edges(tmp: Path) -> Path:
    """Edge-counting corner cases: an input used twice by one node, an input passed straight to an
    output, an unused input, an omitted optional input (""), an unused node output, and a node output
    that is both consumed and a graph output."""
    nodes = [
        helper.make_node("Add", ["x", "x"], ["twice"], name="add_self"),  # 2 edges from input:x
        helper.make_node("Clip", ["twice", "", "hi"], ["clipped"], name="clip"),  # "" = omitted min
        helper.make_node("Split", ["clipped"], ["left", "unused_right"], name="split", axis=0, num_outputs=2),
        helper.make_node("Relu", ["left"], ["left_relu"], name="relu"),
        helper.make_node("Neg", ["left_relu"], ["neg"], name="neg"),
    ]
    graph = helper.make_graph(
        nodes,
        "io_edges",
        [
            _vi("x", TensorProto.FLOAT, [4, 2]),
            _vi("hi", TensorProto.FLOAT, []),
            _vi("unused", TensorProto.INT32, [1]),
        ],
        [
            _vi("x", TensorProto.FLOAT, [4, 2]),  # graph input passed through as an output
            _vi("left_relu", TensorProto.FLOAT, [2, 2]),
            _vi("neg", TensorProto.FLOAT, [2, 2]),
        ],
    )
    return _save(_model(graph, opset=18), tmp / "io_edges.onnx")


def make_synthetic(tmp: Path, n_nodes: int, *, seed: int = SEED, name: str | None = None) -> Path:
    """A chain of ``n_nodes`` cheap unnamed ops (Add/Mul/Relu/Sigmoid) with occasional skip
    connections: x[1,64] -> ... -> y[1,64]. 50,000 nodes build in well under a few seconds."""
    rng = np.random.default_rng(seed)
    ops = rng.integers(0, 4, size=n_nodes)
    skips = rng.integers(2, 16, size=n_nodes)
    nodes = []
    prev = "x"
    for i in range(n_nodes):
        node = onnx.NodeProto()
        out = f"t{i}"
        op = int(ops[i])
        if op == 0 and i >= 16:
            node.op_type = "Add"
            node.input.extend([prev, f"t{i - int(skips[i])}"])
        elif op == 1:
            node.op_type = "Mul"
            node.input.extend([prev, "w"])
        elif op == 2:
            node.op_type = "Relu"
            node.input.append(prev)
        else:
            node.op_type = "Sigmoid"
            node.input.append(prev)
        node.output.append(out)
        nodes.append(node)
        prev = out
    nodes[-1].output[0] = "y"
    weight = numpy_helper.from_array(rng.standard_normal((64,), dtype=np.float32), "w")
    graph = helper.make_graph(
        nodes,
        "synthetic",
        [_vi("x", TensorProto.FLOAT, [1, 64])],
        [_vi("y", TensorProto.FLOAT, [1, 64])],
        [weight],
    )
    return _save(_model(graph), tmp / (name or f"synthetic_{n_nodes}.onnx"))


class _Weights:
    """Random float32 initializers sliced from one pre-generated pool (fast for 100M+ values)."""

    def __init__(self, total: int, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        self.pool = (rng.standard_normal(min(total, 1 << 24), dtype=np.float32) * 0.02).astype(np.float32)
        self.tensors: list[onnx.TensorProto] = []

    def add(self, name: str, shape: tuple[int, ...]) -> str:
        count = math.prod(shape)
        reps = -(-count // self.pool.size)
        data = np.tile(self.pool, reps)[:count] if reps > 1 else self.pool[:count]
        tensor = onnx.TensorProto()
        tensor.name = name
        tensor.data_type = TensorProto.FLOAT
        tensor.dims.extend(shape)
        tensor.raw_data = np.ascontiguousarray(data).tobytes()
        self.tensors.append(tensor)
        return name

    def add_int64(self, name: str, values: list[int]) -> str:
        self.tensors.append(numpy_helper.from_array(np.array(values, np.int64), name))
        return name


def make_resnet50_like(tmp: Path) -> Path:
    """ResNet-50 v1 topology with BatchNorm folded into Conv (53 Conv, 49 Relu, 16 Add, MaxPool,
    GlobalAveragePool, Flatten, Gemm = 122 nodes), 25.5M random float32 weights (~102 MB)."""
    w = _Weights(26_000_000)
    nodes: list[onnx.NodeProto] = []

    def conv(x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> str:
        wname = w.add(f"{name}.weight", (cout, cin, k, k))
        bname = w.add(f"{name}.bias", (cout,))
        out = f"{name}_out"
        nodes.append(
            helper.make_node(
                "Conv",
                [x, wname, bname],
                [out],
                name=f"/{name.replace('.', '/')}/Conv",
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
            )
        )
        if relu:
            nodes.append(
                helper.make_node("Relu", [out], [f"{name}_relu"], name=f"/{name.replace('.', '/')}/Relu")
            )
            return f"{name}_relu"
        return out

    x = conv("input", "conv1", 3, 64, 7, 2)
    nodes.append(
        helper.make_node(
            "MaxPool",
            [x],
            ["pool1"],
            name="/maxpool/MaxPool",
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        )
    )
    x, cin = "pool1", 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1):
        for b in range(blocks):
            prefix = f"layer{stage}.{b}"
            stride = 2 if b == 0 and stage > 1 else 1
            y = conv(x, f"{prefix}.conv1", cin, width, 1)
            y = conv(y, f"{prefix}.conv2", width, width, 3, stride)
            y = conv(y, f"{prefix}.conv3", width, width * 4, 1, relu=False)
            shortcut = conv(x, f"{prefix}.downsample", cin, width * 4, 1, stride, relu=False) if b == 0 else x
            nodes.append(helper.make_node("Add", [y, shortcut], [f"{prefix}_sum"], name=f"/{prefix}/Add"))
            nodes.append(
                helper.make_node("Relu", [f"{prefix}_sum"], [f"{prefix}_out"], name=f"/{prefix}/Relu_out")
            )
            x, cin = f"{prefix}_out", width * 4
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="/avgpool/GlobalAveragePool"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="/Flatten", axis=1))
    nodes.append(
        helper.make_node(
            "Gemm",
            ["flat", w.add("fc.weight", (1000, 2048)), w.add("fc.bias", (1000,))],
            ["logits"],
            name="/fc/Gemm",
            transB=1,
        )
    )
    graph = helper.make_graph(
        nodes,
        "resnet50_like",
        [_vi("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [_vi("logits", TensorProto.FLOAT, ["batch", 1000])],
        w.tensors,
    )
    return _save(_model(graph), tmp / "resnet50_like.onnx")


def make_bert_base_like(tmp: Path) -> Path:
    """BERT-base topology (12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522) as an opset-14
    export would write it (LayerNorm and GELU decomposed): ~110M random weights, ~440 MB."""
    hidden, heads, ffn, layers, vocab, max_pos = 768, 12, 3072, 12, 30522, 512
    w = _Weights(111_000_000)
    nodes: list[onnx.NodeProto] = []
    count = Counter[str]()

    def node(op: str, inputs: list[str], scope: str, **attrs: Any) -> str:
        count[op] += 1
        out = f"{scope}/{op}_{count[op]}_output_0"
        nodes.append(helper.make_node(op, inputs, [out], name=f"{scope}/{op}_{count[op]}", **attrs))
        return out

    def const(name: str, values: list[int]) -> str:
        return w.add_int64(name, values)

    one_f = numpy_helper.from_array(np.array(1.0, np.float32), "one_f")
    half_f = numpy_helper.from_array(np.array(0.5, np.float32), "half_f")
    sqrt2 = numpy_helper.from_array(np.array(math.sqrt(2.0), np.float32), "sqrt2")
    eps = numpy_helper.from_array(np.array(1e-12, np.float32), "ln_eps")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two_f")
    neg_big = numpy_helper.from_array(np.array(-10000.0, np.float32), "neg_big")
    scale = numpy_helper.from_array(np.array(math.sqrt(hidden // heads), np.float32), "attn_scale")
    w.tensors.extend([one_f, half_f, sqrt2, eps, two, neg_big, scale])
    w.tensors.extend(
        [
            numpy_helper.from_array(np.array(0, np.int64), "zero_scalar"),
            numpy_helper.from_array(np.array(1, np.int64), "one_scalar"),
        ]
    )
    axes_12 = const("axes_12", [1, 2])
    split_heads = const("split_heads_shape", [0, 0, heads, hidden // heads])
    merge_heads = const("merge_heads_shape", [0, 0, hidden])

    def layer_norm(x: str, scope: str) -> str:
        mean = node("ReduceMean", [x], scope, axes=[-1])
        centered = node("Sub", [x, mean], scope)
        sq = node("Pow", [centered, "two_f"], scope)
        var = node("ReduceMean", [sq], scope, axes=[-1])
        var_eps = node("Add", [var, "ln_eps"], scope)
        std = node("Sqrt", [var_eps], scope)
        normed = node("Div", [centered, std], scope)
        scaled = node("Mul", [normed, w.add(f"{scope}.weight", (hidden,))], scope)
        return node("Add", [scaled, w.add(f"{scope}.bias", (hidden,))], scope)

    def linear(x: str, scope: str, cin: int, cout: int) -> str:
        y = node("MatMul", [x, w.add(f"{scope}.weight", (cin, cout))], scope)
        return node("Add", [y, w.add(f"{scope}.bias", (cout,))], scope)

    # embeddings
    scope = "/embeddings"
    words = node("Gather", [w.add("embeddings.word_embeddings.weight", (vocab, hidden)), "input_ids"], scope)
    types = node(
        "Gather", [w.add("embeddings.token_type_embeddings.weight", (2, hidden)), "token_type_ids"], scope
    )
    shape = node("Shape", ["input_ids"], scope)
    seq_len = node("Gather", [shape, "one_scalar"], scope, axis=0)  # scalar index -> scalar
    positions = node("Range", ["zero_scalar", seq_len, "one_scalar"], scope)
    pos = node(
        "Gather", [w.add("embeddings.position_embeddings.weight", (max_pos, hidden)), positions], scope
    )
    x = node("Add", [node("Add", [words, types], scope), pos], scope)
    x = layer_norm(x, "/embeddings/LayerNorm")

    # additive attention mask [batch, 1, 1, seq]
    mask = node("Unsqueeze", ["attention_mask", axes_12], "/mask")
    mask = node("Cast", [mask], "/mask", to=TensorProto.FLOAT)
    mask = node("Sub", ["one_f", mask], "/mask")
    mask = node("Mul", [mask, "neg_big"], "/mask")

    for i in range(layers):
        scope = f"/encoder/layer.{i}"
        att = f"{scope}/attention/self"
        q = node(
            "Transpose",
            [node("Reshape", [linear(x, f"{att}/query", hidden, hidden), split_heads], att)],
            att,
            perm=[0, 2, 1, 3],
        )
        k = node(
            "Transpose",
            [node("Reshape", [linear(x, f"{att}/key", hidden, hidden), split_heads], att)],
            att,
            perm=[0, 2, 3, 1],
        )
        v = node(
            "Transpose",
            [node("Reshape", [linear(x, f"{att}/value", hidden, hidden), split_heads], att)],
            att,
            perm=[0, 2, 1, 3],
        )
        scores = node("Div", [node("MatMul", [q, k], att), "attn_scale"], att)
        probs = node("Softmax", [node("Add", [scores, mask], att)], att, axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], att)], att, perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_heads], att)
        out = linear(ctx, f"{scope}/attention/output/dense", hidden, hidden)
        x = layer_norm(
            node("Add", [out, x], f"{scope}/attention/output"), f"{scope}/attention/output/LayerNorm"
        )
        h = linear(x, f"{scope}/intermediate/dense", hidden, ffn)
        gelu_scope = f"{scope}/intermediate/intermediate_act_fn"
        erf = node("Erf", [node("Div", [h, "sqrt2"], gelu_scope)], gelu_scope)
        h = node(
            "Mul",
            [node("Mul", [h, node("Add", [erf, "one_f"], gelu_scope)], gelu_scope), "half_f"],
            gelu_scope,
        )
        out = linear(h, f"{scope}/output/dense", ffn, hidden)
        x = layer_norm(node("Add", [out, x], f"{scope}/output"), f"{scope}/output/LayerNorm")

    nodes[-1].output[0] = "last_hidden_state"
    first = node("Gather", ["last_hidden_state", "zero_scalar"], "/pooler", axis=1)
    pooled = node(
        "Gemm",
        [first, w.add("pooler.dense.weight", (hidden, hidden)), w.add("pooler.dense.bias", (hidden,))],
        "/pooler/dense",
        transB=1,
    )
    node("Tanh", [pooled], "/pooler/activation")
    nodes[-1].output[0] = "pooler_output"

    int_ids = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes,
        "bert_base_like",
        [
            _vi("input_ids", TensorProto.INT64, int_ids),
            _vi("attention_mask", TensorProto.INT64, int_ids),
            _vi("token_type_ids", TensorProto.INT64, int_ids),
        ],
        [
            _vi("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden]),
            _vi("pooler_output", TensorProto.FLOAT, ["batch", hidden]),
        ],
        w.tensors,
    )
    return _save(_model(graph, opset=14), tmp / "bert_base_like.onnx")


def build_synthetic_small(tmp: Path) -> Path:
    return make_synthetic(tmp, 500, name="synthetic_small.onnx")


# ------------------------------------------------------------------------------ independent expectation

_NUMPY_NAMES = {"FLOAT": "float32", "DOUBLE": "float64"}
_ITEMSIZE = {
    "float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int8": 1, "uint8": 1, "int16": 2,
    "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "complex64": 8,
    "complex128": 16, "float8e4m3fn": 1, "float8e4m3fnuz": 1, "float8e5m2": 1, "float8e5m2fnuz": 1,
}  # fmt: skip


def dtype_name(elem_type: int) -> str:
    """ONNX elem type -> numpy name (float32, int64, ...), else the ONNX name lowercased."""
    name = TensorProto.DataType.Name(elem_type)
    return _NUMPY_NAMES.get(name, name.lower())


def type_name(tp: onnx.TypeProto) -> str | None:
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        return dtype_name(tp.tensor_type.elem_type)
    if kind == "sequence_type":
        return f"sequence<{type_name(tp.sequence_type.elem_type)}>"
    if kind == "map_type":
        return f"map<{dtype_name(tp.map_type.key_type)},{type_name(tp.map_type.value_type)}>"
    if kind == "optional_type":
        return f"optional<{type_name(tp.optional_type.elem_type)}>"
    return None


def io_entry(value: onnx.ValueInfoProto) -> dict[str, Any]:
    shape: list[int | str | None] | None = None
    if value.type.WhichOneof("value") == "tensor_type" and value.type.tensor_type.HasField("shape"):
        shape = []
        for dim in value.type.tensor_type.shape.dim:
            which = dim.WhichOneof("value")
            shape.append(
                dim.dim_value if which == "dim_value" else dim.dim_param if which == "dim_param" else None
            )
    return {"name": value.name, "dtype": type_name(value.type), "shape": shape}


def count_subgraphs(nodes: Iterable[onnx.NodeProto]) -> int:
    total = 0
    for node in nodes:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                total += 1 + count_subgraphs(attr.g.node)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                total += sum(1 + count_subgraphs(g.node) for g in attr.graphs)
    return total


def edge_tensors(graph: onnx.GraphProto) -> Counter[str]:
    """Tensor name per producer-port -> consumer-port connection: graph inputs and node outputs feeding
    node inputs and graph outputs; initializers (also when listed as inputs) are weights, not edges."""
    inits = {t.name for t in graph.initializer}
    produced = {v.name for v in graph.input if v.name not in inits}
    for node in graph.node:
        produced.update(o for o in node.output if o)
    tensors = Counter(name for node in graph.node for name in node.input if name and name in produced)
    tensors.update(v.name for v in graph.output if v.name in produced)
    return tensors


def count_edges(graph: onnx.GraphProto) -> int:
    return sum(edge_tensors(graph).values())


def _initializers_deep(graph: onnx.GraphProto) -> Iterable[onnx.TensorProto]:
    """Initializers of ``graph`` and of every control-flow body in it, at any depth."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from _initializers_deep(sub)


def expected_info(path: Path) -> dict[str, Any]:
    """The ``modellens info --json`` values that follow from the file alone (no ModelLens code).
    ``format_label``, ``producer`` (see ``producer_name``) and ``warnings`` are left to the tests."""
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    parameters = 0
    parameter_bytes = 0
    for tensor in _initializers_deep(graph):
        count = math.prod(tensor.dims)
        parameters += count
        parameter_bytes += count * _ITEMSIZE[dtype_name(tensor.data_type)]
    return {
        "schema_version": 1,
        "format": "onnx",
        "producer_name": model.producer_name,
        "ir_version": model.ir_version,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "metadata": {p.key: p.value for p in model.metadata_props},
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "nodes": len(graph.node),
        "edges": count_edges(graph),
        "inputs": [io_entry(v) for v in graph.input if v.name not in inits],
        "outputs": [io_entry(v) for v in graph.output],
        "op_types": dict(Counter(n.op_type for n in graph.node)),
        "parameters": parameters,
        "parameter_bytes": parameter_bytes,
        "subgraphs": count_subgraphs(graph.node) + sum(1 + count_subgraphs(f.node) for f in model.functions),
    }


# ----------------------------------------------------------------------------------------------- table


@dataclass(frozen=True)
class ModelCase:
    """One row: how to build the model and what must hold beyond ``expected_info``.

    ``pins`` are hand-written values that must also equal ``expected_info`` (a check of the helper).
    ``warnings``: True = must warn, False = must not warn, None = either. ``checker``/``runs``: the
    file passes ``onnx.checker`` (full check) / runs in onnxruntime. ``needs``: importable modules."""

    id: str
    builder: Builder
    pins: dict[str, Any] = field(default_factory=dict)
    warnings: bool | None = False
    checker: bool = True
    runs: bool = True
    needs: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()  # substrings some node namespace must contain


F32 = "float32"
CASES: tuple[ModelCase, ...] = (
    ModelCase(
        "mlp",
        build_mlp,
        pins={
            "nodes": 5,
            "edges": 6,
            "op_types": {"MatMul": 2, "Add": 2, "Relu": 1},
            "inputs": [{"name": "x", "dtype": F32, "shape": ["batch", 8]}],
            "outputs": [{"name": "y", "dtype": F32, "shape": ["batch", 3]}],
            "parameters": 8 * 16 + 16 + 16 * 3 + 3,
            "parameter_bytes": 4 * (8 * 16 + 16 + 16 * 3 + 3),
            "subgraphs": 0,
            "metadata": {"task": "classification", "classes": "3"},
            "opsets": {"ai.onnx": 17},
            "ir_version": 8,
        },
    ),
    ModelCase(
        "cnn_branches",
        build_cnn_branches,
        pins={
            "inputs": [{"name": "image", "dtype": F32, "shape": ["batch", 3, 32, 32]}],
            "outputs": [{"name": "logits", "dtype": F32, "shape": ["batch", 10]}],
            "subgraphs": 0,
        },
        needs=("torch", "onnxscript"),
        namespaces=("layer1", "layer2", "stem", "fc"),
    ),
    ModelCase(
        "cnn_legacy",
        build_cnn_legacy,
        pins={
            "inputs": [{"name": "image", "dtype": F32, "shape": ["batch", 3, 16, 16]}],
            "outputs": [{"name": "logits", "dtype": F32, "shape": ["batch", 10]}],
        },
        needs=("torch",),
        warnings=None,
        namespaces=("layer1",),
    ),
    ModelCase(
        "transformer_block",
        build_transformer_block,
        pins={
            "inputs": [
                {"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"]},
                {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "seq"]},
            ],
            "outputs": [
                {"name": "last_hidden_state", "dtype": F32, "shape": ["batch", "seq", 64]},
                {"name": "pooler_output", "dtype": F32, "shape": ["batch", 64]},
            ],
        },
        needs=("torch", "onnxscript", "transformers"),
        namespaces=("encoder", "layer"),
    ),
    ModelCase(
        "control_flow_if_loop",
        build_control_flow,
        pins={
            "nodes": 4,
            "edges": 7,
            "op_types": {"If": 1, "ScaleAdd": 1, "Constant": 1, "Loop": 1},
            "opsets": {"ai.onnx": 18, "mylib": 1},
            "subgraphs": 4,  # then, else, loop body, function mylib.ScaleAdd
            "parameters": 4,
            "inputs": [
                {"name": "x", "dtype": F32, "shape": ["batch", 4]},
                {"name": "use_relu", "dtype": "bool", "shape": []},
                {"name": "trip_count", "dtype": "int64", "shape": []},
            ],
            "outputs": [
                {"name": "final", "dtype": F32, "shape": ["batch", 4]},
                {"name": "history", "dtype": F32, "shape": [None, "batch", 4]},
            ],
        },
    ),
    # onnxruntime refuses duplicate node names; viewers must not
    ModelCase(
        "duplicate_names", build_duplicate_names, pins={"nodes": 8, "edges": 10}, warnings=None, runs=False
    ),
    ModelCase("empty_names", build_empty_names, pins={"nodes": 5, "edges": 8}, warnings=None),
    ModelCase(
        "ir3_initializers_as_inputs",
        build_ir3_initializers_as_inputs,
        pins={
            "ir_version": 3,
            "opsets": {"ai.onnx": 8},
            "inputs": [{"name": "data", "dtype": F32, "shape": [1, 6]}],
            "parameters": 30 + 5 + 10 + 2,
            "parameter_bytes": 4 * 47,
            "edges": 5,
        },
        warnings=None,
    ),
    ModelCase("external_data", build_external_data, pins={"parameters": 8 * 64 + 64 + 64 * 3 + 3}),
    ModelCase(
        "shape_inference_fails",
        build_shape_inference_fails,
        pins={
            "outputs": [
                {"name": "y", "dtype": F32, "shape": [2, 3, 4]},
                {"name": "w", "dtype": F32, "shape": None},
            ],
            "opsets": {"ai.onnx": 17, "com.example": 1},
        },
        warnings=True,
        checker=False,
        runs=False,
    ),
    ModelCase(
        "constants",
        build_constants,
        pins={
            "nodes": 6,
            "op_types": {"Constant": 3, "Add": 1, "Mul": 1, "Reshape": 1},
            "parameters": 0,
            "parameter_bytes": 0,
            "edges": 8,
        },
    ),
    ModelCase(
        "symbolic_dims",
        build_symbolic_dims,
        pins={
            "inputs": [
                {"name": "tokens", "dtype": "int64", "shape": ["batch", "seq"]},
                {"name": "mask", "dtype": "bool", "shape": ["batch", "seq"]},
                {"name": "temperature", "dtype": F32, "shape": []},
                {"name": "feats", "dtype": F32, "shape": ["batch", None, 16]},
            ],
            "parameters": 1600 + 2,
            "parameter_bytes": 6400 + 16,
        },
    ),
    ModelCase(
        "nontensor_types",
        build_nontensor_types,
        pins={
            "inputs": [
                {"name": "x", "dtype": F32, "shape": [4, 2]},
                {"name": "half", "dtype": "float16", "shape": ["batch", 4]},
                {"name": "scores", "dtype": F32, "shape": ["batch", 3]},
                {"name": "words", "dtype": "string", "shape": [None]},
            ],
            "outputs": [
                {"name": "pieces", "dtype": "sequence<float32>", "shape": None},
                {"name": "bf16_out", "dtype": "bfloat16", "shape": ["batch", 4]},
                {"name": "labelled", "dtype": "sequence<map<string,float32>>", "shape": None},
                {"name": "words_out", "dtype": "string", "shape": [None]},
            ],
            "parameters": 4,
            "parameter_bytes": 8,
            "opsets": {"ai.onnx": 17, "ai.onnx.ml": 3},
        },
        warnings=None,
        runs=False,
    ),
    ModelCase(
        "io_edges",
        build_io_edges,
        pins={
            "edges": 10,  # Add(x, x) 2, Clip 2, Split 1, Relu 1, Neg 1, outputs 3
            "inputs": [
                {"name": "x", "dtype": F32, "shape": [4, 2]},
                {"name": "hi", "dtype": F32, "shape": []},
                {"name": "unused", "dtype": "int32", "shape": [1]},
            ],
        },
        warnings=None,
    ),
    ModelCase("synthetic_small", build_synthetic_small, pins={"nodes": 500, "parameters": 64}),
)

CASE_IDS = tuple(case.id for case in CASES)

BENCHMARK_BUILDERS: dict[str, Builder] = {
    "resnet50_like": make_resnet50_like,
    "bert_base_like": make_bert_base_like,
}
