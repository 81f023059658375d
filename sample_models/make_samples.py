"""Regenerate the sample models next to this file: ``python sample_models/make_samples.py``.

Every model is built in code with seeded random weights (nothing is downloaded):

* ``cnn_branches.onnx``      a small CNN (residual adds, a concat of two conv paths, BatchNorm, Relu,
                             MaxPool, pooling, Gemm) exported with ``torch.onnx.export(dynamo=True)``;
                             nodes carry ``namespace`` metadata_props with the module path.
* ``transformer_block.onnx`` a 2-layer BERT encoder (``transformers.BertModel``, tiny config) with named
                             dynamic ``batch``/``seq`` dims.
* ``control_flow_if_loop.onnx`` built with ``onnx.helper``: an ``If`` (then/else bodies), a ``Loop``
                             whose body calls a model-local function.
* ``cnn_dynamic_batch.pt2``  the branch CNN as a PyTorch ExportedProgram (``torch.export.save``) with a
                             dynamic ``batch`` dim in [1, 64]; ``cnn_dynamic_batch.inputs.yaml`` beside
                             it is an input spec for running it (MAX's ``inputs:`` format).

* ``cnn_traced.torchscript``  the branch CNN above, ``torch.jit.trace``d at 1x3x32x32.
* ``control_flow_scripted.torchscript`` a ``torch.jit.script``ed model with a data-dependent if/else,
                             a fixed-count loop and a data-dependent while loop, tuple output.

Each TorchScript sample has ``<name>.inputs.yaml`` beside it (MAX-style input specs). Their
``*.debug_pkl`` entries (source ranges holding this machine's file paths) and the random
``.data/serialization_id`` are dropped and the script runs with ``PYTHONHASHSEED=0`` (TorchScript
writes class constants in set order), so regenerating gives the same bytes.

Each ONNX file is checked with ``onnx.checker`` and run once in onnxruntime. The builders are also
imported by ``tests/model_cases.py`` so tests build the same models fresh.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
SEED = 0
OPSET = 18


# --------------------------------------------------------------------------------------------- torch


def _torch_export(module: Any, args: tuple[Any, ...], path: Path, **kwargs: Any) -> Path:
    """``torch.onnx.export(dynamo=True)`` into one self-contained file, export chatter silenced."""
    import io
    import logging
    from contextlib import redirect_stdout

    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=True, external_data=False, verbose=False, **kwargs)
    model = onnx.load(str(path))
    # The exporter records a Python stack trace per node; drop it so files do not carry local paths.
    for node in model.graph.node:
        keep = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    model.doc_string = ""
    onnx.save(model, str(path))
    return path


def _tidy_names(*classes: type) -> None:
    """Module classes defined in a function: drop ``<locals>`` from the names the exporter records."""
    for cls in classes:
        cls.__qualname__ = cls.__name__
        cls.__module__ = "samples"


def _branch_net() -> Any:
    """A small CNN with residual blocks and a two-path concat, seeded, with non-trivial BatchNorm
    statistics, in eval mode."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(channels)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(y)) + x)

    class BranchNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.layer1 = Block(8)
            self.left = nn.Conv2d(8, 8, 1)
            self.right = nn.Conv2d(8, 8, 3, padding=1)
            self.merge_bn = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.layer2 = Block(16)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.stem(image))
            x = self.layer1(x)
            x = self.merge_bn(torch.cat([self.left(x), self.right(x)], dim=1))
            x = self.layer2(self.pool(x))
            return self.fc(torch.flatten(self.gap(x), 1))

    _tidy_names(Block, BranchNet)
    torch.manual_seed(SEED)
    model = BranchNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def build_cnn_branches(path: Path) -> Path:
    """The branch CNN through the current (dynamo) exporter; dynamic ``batch`` dim."""
    import torch

    batch = torch.export.Dim("batch", max=1024)
    return _torch_export(
        _branch_net(),
        (torch.randn(2, 3, 32, 32),),
        path,
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes={"image": {0: batch}},
    )


def build_cnn_legacy(path: Path) -> Path:
    """The same CNN through the legacy TorchScript exporter: names like ``/layer1/conv1/Conv``,
    GlobalAveragePool and Flatten nodes. Raises RuntimeError when this torch has no legacy exporter."""
    import torch

    model = _branch_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                (torch.randn(2, 3, 16, 16),),
                str(path),
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
            )
        except Exception as exc:  # the legacy exporter is deprecated and may be removed
            raise RuntimeError(f"legacy torch.onnx exporter unavailable: {exc}") from exc
    return path


def build_transformer_block(path: Path) -> Path:
    """A tiny 2-layer BERT encoder with random weights; dynamic ``batch`` and ``seq`` dims."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(SEED)
    config = BertConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=1000,
        max_position_embeddings=128,
    )
    model = BertModel(config).eval()
    input_ids = torch.randint(0, config.vocab_size, (2, 16))
    attention_mask = torch.ones(2, 16, dtype=torch.int64)
    batch = torch.export.Dim("batch", max=1024)
    seq = torch.export.Dim("seq", max=config.max_position_embeddings)
    return _torch_export(
        model,
        (input_ids, attention_mask),
        path,
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state", "pooler_output"],
        dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
    )


# --------------------------------------------------------------------------------------- torchscript


def _control_flow_net() -> Any:
    """A scripted model that branches on data (if/else), loops a fixed number of times and loops
    while a data-dependent condition holds; returns a tuple."""
    import torch
    from torch import nn

    class Gate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 16)

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            if bool(h.mean() > 0):
                return torch.relu(self.fc(h))
            return torch.sigmoid(-self.fc(h))

    class Refine(nn.Module):
        def __init__(self, steps: int) -> None:
            super().__init__()
            self.steps = steps
            self.step = nn.Linear(16, 16)

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            for _ in range(self.steps):
                h = torch.tanh(self.step(h)) + h
            rounds = 0
            while bool(h.abs().max() > 1.0) and rounds < 8:
                h = h * 0.5
                rounds += 1
            return h

    class ControlFlowNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
            self.gate = Gate()
            self.refine = Refine(3)
            self.head = nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.refine(self.gate(self.encoder(x)))
            return self.head(h), torch.linalg.vector_norm(h, dim=-1)

    _tidy_names(Gate, Refine, ControlFlowNet)
    torch.manual_seed(SEED)
    return ControlFlowNet().eval()


def _save_torchscript(module: Any, path: Path) -> Path:
    """``torch.jit.save``, then the archive rewritten without ``*.debug_pkl`` (source ranges with
    local paths) and ``.data/serialization_id`` (random), with fixed timestamps."""
    import zipfile

    module.save(str(path))
    with zipfile.ZipFile(path) as archive:
        entries = [
            (info.filename, archive.read(info))
            for info in archive.infolist()
            if not info.filename.endswith((".debug_pkl", ".data/serialization_id"))
        ]
    stem = path.stem
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(f"{stem}/{name.split('/', 1)[1]}", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return path


def _write_input_spec(path: Path, name: str, shape: str) -> Path:
    """``<model>.inputs.yaml`` beside the model: one input, MAX-style (``1x3x32x32xf32``)."""
    spec = path.with_name(f"{path.stem}.inputs.yaml")
    spec.write_text(
        f"inputs:\n  - input_name: {name}\n    shape: {shape}\n    data:\n      random:\n"
        "        uniform: {min: 0, max: 1}\n"
    )
    return spec


def build_cnn_traced(path: Path) -> Path:
    """The branch CNN traced at 1x3x32x32 (the example's shape is kept in the archive)."""
    import torch

    with torch.no_grad():
        traced = torch.jit.trace(_branch_net(), torch.rand(1, 3, 32, 32))
    _write_input_spec(path, "image", "1x3x32x32xf32")
    return _save_torchscript(traced, path)


def build_control_flow_scripted(path: Path) -> Path:
    """The control-flow model through ``torch.jit.script``; input ``x`` float32[batch, 4]."""
    import torch

    _write_input_spec(path, "x", "2x4xf32")
    return _save_torchscript(torch.jit.script(_control_flow_net()), path)


def check_torchscript_file(path: Path, example: Any) -> list[Any]:
    """Load on CPU and run once; returns the outputs as a list."""
    import torch

    outputs = torch.jit.load(str(path), map_location="cpu")(example)
    return list(outputs) if isinstance(outputs, tuple) else [outputs]


# ---------------------------------------------------------------------------------------- onnx.helper


PT2_INPUTS_YAML = """\
inputs:
  - input_name: image
    shape: 1x3x32x32xf32
    data:
      random:
        uniform: {min: 0, max: 1}
"""


def build_cnn_pt2(path: Path) -> Path:
    """The branch CNN through ``torch.export`` (batch in [1, 64]) saved as a ``.pt2``, with its input
    spec YAML beside it. Stack traces (local paths) are dropped so the file is reproducible."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(
        _branch_net(), (torch.randn(2, 3, 32, 32),), dynamic_shapes={"image": {0: batch}}
    )
    for node in program.graph.nodes:
        node.meta.pop("stack_trace", None)
    torch.export.save(program, str(path))
    path.with_name(path.name.removesuffix(".pt2") + ".inputs.yaml").write_text(PT2_INPUTS_YAML)
    return path


def check_pt2_file(path: Path) -> list[np.ndarray]:
    """Load with torch.export.load and run the smallest and largest batch; returns the outputs."""
    import torch

    module = torch.export.load(str(path)).module()
    outputs = []
    with torch.no_grad():
        for batch in (1, 64):
            outputs.append(module(torch.rand(batch, 3, 32, 32)).numpy())
    return outputs


def _const(name: str, array: np.ndarray) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], name=f"const_{name}", value=numpy_helper.from_array(array)
    )


def build_control_flow(path: Path) -> Path:
    """If (then/else) + Loop (body with a Constant and a call to a local function) + a local function.

    Inputs: ``x`` float[batch, 4], ``use_relu`` bool scalar, ``trip_count`` int64 scalar.
    Outputs: ``final`` float[batch, 4] (loop-carried), ``history`` float[?, batch, 4] (scan output).
    """
    float_b4 = [("batch"), 4]

    # model-local function mylib.ScaleAdd(a, b) = a * 0.5 + b
    scale_add = helper.make_function(
        "mylib",
        "ScaleAdd",
        inputs=["a", "b"],
        outputs=["out"],
        nodes=[
            helper.make_node(
                "Constant", [], ["half"], value=numpy_helper.from_array(np.array(0.5, np.float32))
            ),
            helper.make_node("Mul", ["a", "half"], ["scaled"]),
            helper.make_node("Add", ["scaled", "b"], ["out"]),
        ],
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="a * 0.5 + b",
    )

    then_body = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["then_out"], name="then_relu")],  # captures outer-scope x
        "then_body",
        [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, float_b4)],
    )
    else_body = helper.make_graph(
        [
            helper.make_node("Neg", ["x"], ["neg_x"], name="else_neg"),
            helper.make_node("Sigmoid", ["neg_x"], ["else_out"], name="else_sigmoid"),
        ],
        "else_body",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, float_b4)],
    )
    loop_body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
            _const("step", np.array([0.25, -0.25, 0.5, -0.5], np.float32)),
            helper.make_node("ScaleAdd", ["v_in", "step"], ["v_mid"], name="body_scale_add", domain="mylib"),
            helper.make_node("Tanh", ["v_mid"], ["v_out"], name="body_tanh"),
            helper.make_node("Identity", ["v_out"], ["scan_out"], name="body_scan"),
        ],
        "loop_body",
        [
            helper.make_tensor_value_info("iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, float_b4),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, float_b4),
            helper.make_tensor_value_info("scan_out", TensorProto.FLOAT, float_b4),
        ],
    )

    rng = np.random.default_rng(SEED)
    bias = numpy_helper.from_array(rng.standard_normal((4,), dtype=np.float32), "bias")
    nodes = [
        helper.make_node(
            "If",
            ["use_relu"],
            ["branch"],
            name="choose_activation",
            then_branch=then_body,
            else_branch=else_body,
        ),
        helper.make_node("ScaleAdd", ["branch", "bias"], ["biased"], name="scale_add", domain="mylib"),
        _const("keep_going", np.array(True)),
        helper.make_node(
            "Loop",
            ["trip_count", "keep_going", "biased"],
            ["final", "history"],
            name="refine",
            body=loop_body,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "control_flow_if_loop",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, float_b4),
            helper.make_tensor_value_info("use_relu", TensorProto.BOOL, []),
            helper.make_tensor_value_info("trip_count", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("final", TensorProto.FLOAT, float_b4),
            helper.make_tensor_value_info("history", TensorProto.FLOAT, [None, "batch", 4]),
        ],
        initializer=[bias],
        doc_string="If + Loop + a model-local function, built with onnx.helper",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("mylib", 1)],
        functions=[scale_add],
        producer_name="modellens.make_samples",
        producer_version="1",
    )
    model.ir_version = 9
    helper.set_model_props(model, {"description": "control-flow sample", "author": "ModelLens"})
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------------------------------- checks


def sample_feeds(path: Path) -> dict[str, np.ndarray]:
    """Seeded inputs for a model's graph inputs (named dims -> 2, except ``seq`` -> 8)."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    rng = np.random.default_rng(SEED)
    feeds: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        if value.name in inits:
            continue
        tensor = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        shape = [
            d.dim_value if d.HasField("dim_value") else (8 if d.dim_param == "seq" else 2)
            for d in tensor.shape.dim
        ]
        if dtype == np.dtype(np.bool_):
            feeds[value.name] = np.ones(shape, np.bool_)
        elif value.name == "trip_count":
            feeds[value.name] = np.array(3, np.int64)
        elif value.name == "attention_mask":
            feeds[value.name] = np.ones(shape, dtype)
        elif np.issubdtype(dtype, np.integer):
            feeds[value.name] = rng.integers(0, 100, size=shape).astype(dtype)
        else:
            feeds[value.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def check_model_file(path: Path) -> list[np.ndarray]:
    """onnx.checker (full check with shape inference) + one onnxruntime run; returns the outputs."""
    import onnxruntime as ort

    onnx.checker.check_model(str(path), full_check=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, sample_feeds(path))


SAMPLES = {
    "cnn_branches.onnx": build_cnn_branches,
    "transformer_block.onnx": build_transformer_block,
    "control_flow_if_loop.onnx": build_control_flow,
    "cnn_dynamic_batch.pt2": build_cnn_pt2,
}


TORCHSCRIPT_SAMPLES = {
    "cnn_traced.torchscript": (build_cnn_traced, (1, 3, 32, 32)),
    "control_flow_scripted.torchscript": (build_control_flow_scripted, (2, 4)),
}


def main(out_dir: Path = HERE) -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":  # TorchScript writes set-ordered constants: fix it
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    import torch

    total = 0
    for name, builder in SAMPLES.items():
        path = builder(out_dir / name)
        outputs = check_pt2_file(path) if path.suffix == ".pt2" else check_model_file(path)
        size = path.stat().st_size
        total += size
        print(f"{name}: {size / 1024:.1f} KiB, outputs {[o.shape for o in outputs]}")
    for name, (ts_builder, shape) in TORCHSCRIPT_SAMPLES.items():
        path = ts_builder(out_dir / name)
        results = check_torchscript_file(path, torch.rand(*shape))
        size = path.stat().st_size
        total += size
        print(f"{name}: {size / 1024:.1f} KiB, outputs {[tuple(o.shape) for o in results]}")
    print(f"total {total / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
