"""TorchScript cases built in code (scripted and traced), opened with ``modellens.load``.

Each case pins format, node count, op histogram, inputs, parameter count, subgraph count and the
top-level module groups. Expected values come from torch itself (``torch_expectations`` reads the
inlined ``forward`` graph and the module's parameters); each case's hand-written ``pins`` check that
helper in turn.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import modellens
from converters import ModelLoadError, ModelSource, load_source, validate_graph
from converters.registry import detect_format
from converters.schema import ModelGraph
from viewer import tables
from viewer.canvas_payload import build_payload
from viewer.hierarchy import build_groups

ROOT = Path(__file__).resolve().parents[1]
FOLDED_CONSTRUCTS = ("prim::ListConstruct", "prim::TupleConstruct")
RETURN_CONSTRUCTS = ("prim::TupleConstruct", "prim::ListConstruct", "prim::DictConstruct")


# ------------------------------------------------------------------------------------------ models


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.bn1(self.conv1(x)))) + x)


class BranchCNN(nn.Module):
    """Two conv paths concatenated, residual blocks, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = Block(8)
        self.left = nn.Conv2d(8, 8, 1)
        self.right = nn.Conv2d(8, 8, 3, padding=1)
        self.layer2 = Block(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.layer1(torch.relu(self.stem(image)))
        x = self.layer2(torch.cat([self.left(x), self.right(x)], dim=1))
        return self.fc(x.mean(dim=(2, 3)))


class Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if bool(h.sum() > 0):
            return torch.relu(self.fc(h))
        return torch.sigmoid(self.fc(h))


class ControlFlow(nn.Module):
    """A data-dependent if/else inside a submodule and a loop with a count given as input."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.gate = Gate()
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        h = self.gate(self.encoder(x))
        for _ in range(steps):
            h = torch.tanh(h) * 0.9
        return self.head(h)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 12, num_layers=2, batch_first=True)
        self.gru = nn.GRU(12, 5, batch_first=True)

    def forward(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(seq)
        out, hidden = self.gru(out)
        return out, hidden


class MixedInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.proj = nn.Linear(8, 8)

    def forward(
        self, ids: torch.Tensor, scale: float, repeat: int, flag: bool, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        h = self.proj(self.embed(ids)) * scale
        if mask is not None:
            h = h * mask.unsqueeze(-1)
        if flag:
            h = h.repeat(1, repeat, 1)
        return {"hidden": h, "pooled": h.mean(dim=1)}


class TupleOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.a(x) + y
        return h, self.b(h)


class TiedLM(nn.Module):
    """The decoder shares the embedding's weight: counted once."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.decoder = nn.Linear(8, 50)
        self.decoder.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.tanh(self.embed(ids)))


def scripted(factory: Callable[[], nn.Module]) -> Callable[[Path], Path]:
    def build(out: Path) -> Path:
        path = out / "model.pt"
        torch.manual_seed(0)
        torch.jit.script(factory().eval()).save(str(path))
        return path

    return build


def traced(factory: Callable[[], nn.Module], *example: Any, **kwargs: Any) -> Callable[[Path], Path]:
    def build(out: Path) -> Path:
        path = out / "model.pt"
        torch.manual_seed(0)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about frozen Python values
            torch.jit.trace(factory().eval(), example, **kwargs).save(str(path))
        return path

    return build


def tiny_bert(out: Path) -> Path:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=100,
        max_position_embeddings=32,
        torchscript=True,
        return_dict=False,  # transformers 5 returns a ModelOutput dict unless told otherwise
    )
    model = BertModel(config).eval()
    ids = torch.randint(0, 100, (1, 8))
    path = out / "bert.pt"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, (ids, torch.ones(1, 8, dtype=torch.int64))).save(str(path))
    return path


def cuda_looking(out: Path) -> Path:
    """A traced CNN whose storages say ``cuda:0``: data.pkl's location strings are rewritten (a
    BINUNICODE opcode carries its own length, so the pickle stays valid)."""
    path = traced(BranchCNN, torch.rand(1, 3, 8, 8))(out)
    cuda_path = out / "cuda.pt"
    old, new = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(cuda_path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                assert old in data
                data = data.replace(old, new)
            dst.writestr(info.filename, data)
    return cuda_path


def _block_parameters(c: int) -> int:
    return (c * c * 9 + c) + (4 * c + 1) + c * c * 9  # conv1, bn1 (+ num_batches_tracked), conv2


BRANCH_CNN_PARAMETERS = (
    (8 * 3 * 9 + 8) + _block_parameters(8) + (8 * 8 + 8) + (8 * 8 * 9 + 8) + _block_parameters(16) + 170
)


@dataclass(frozen=True)
class Case:
    id: str
    builder: Callable[[Path], Path]
    kind: str  # scripted | traced
    groups: frozenset[str]  # top-level module groups drawn
    pins: dict[str, Any] = field(default_factory=dict)  # hand-checked values from torch_expectations
    inputs: tuple[tuple[str, str | None, Any], ...] = ()  # (name, dtype, shape)
    outputs: tuple[str, ...] = ()
    named_weights: bool = True  # parameters reach nodes as weights (an RNN's _flat_weights too)


CASES = (
    Case(
        "scripted_cnn",
        scripted(BranchCNN),
        "scripted",
        frozenset({"stem", "layer1", "left", "right", "layer2", "fc"}),
        pins={"conv2d": 7, "If": 0, "subgraphs": 0, "parameters": BRANCH_CNN_PARAMETERS},
        inputs=(("image", None, None),),
        outputs=("output",),
    ),
    Case(
        "traced_cnn",
        traced(BranchCNN, torch.rand(1, 3, 16, 16)),
        "traced",
        frozenset({"stem", "layer1", "left", "right", "layer2", "fc"}),
        pins={"_convolution": 7, "nodes": 20},
        inputs=(("image", "float32", (1, 3, 16, 16)),),
        outputs=("output",),
    ),
    Case(
        "control_flow",
        scripted(ControlFlow),
        "scripted",
        frozenset({"encoder", "gate", "head"}),
        pins={"If": 1, "Loop": 1, "subgraphs": 3},
        inputs=(("x", None, None), ("steps", "int64", ())),
        outputs=("output",),
    ),
    Case(
        "lstm_gru_traced",
        traced(Recurrent, torch.rand(2, 5, 6)),
        "traced",
        frozenset({"lstm", "gru"}),
        pins={"lstm": 1, "gru": 1},
        inputs=(("seq", "float32", (2, 5, 6)),),
        outputs=("output[0]", "output[1]"),
    ),
    Case(
        "lstm_scripted_overloaded_forward",
        scripted(lambda: nn.LSTM(4, 8, 2)),
        "scripted",
        frozenset(),
        pins={"lstm": 1, "parameters": 4 * 32 + 8 * 32 + 32 + 32 + 2 * (8 * 32) + 32 + 32},
        inputs=(("input", None, None), ("hx", "Optional[Tuple[Tensor, Tensor]]", None)),
        outputs=("output[0]", "output[1]"),
    ),
    Case(
        "mixed_inputs_dict_out",
        scripted(MixedInputs),
        "scripted",
        frozenset({"embed", "proj"}),
        pins={"If": 2},
        inputs=(
            ("ids", None, None),
            ("scale", "float64", ()),
            ("repeat", "int64", ()),
            ("flag", "bool", ()),
            ("mask", "Optional[Tensor]", None),
        ),
        outputs=("hidden", "pooled"),
    ),
    Case(
        "tuple_out_two_inputs",
        traced(TupleOut, torch.rand(2, 3), torch.rand(2, 3)),
        "traced",
        frozenset({"a", "b"}),
        pins={"nodes": 3, "parameters": 3 * 3 + 3 + 3 * 2 + 2},
        inputs=(("x", "float32", (2, 3)), ("y", "float32", (2, 3))),
        outputs=("output[0]", "output[1]"),
    ),
    Case(
        "tied_weights_traced",
        traced(TiedLM, torch.randint(0, 50, (2, 5))),
        "traced",
        frozenset({"embed", "decoder"}),
        pins={"parameters": 50 * 8 + 50, "nodes": 3},
        inputs=(("ids", "int64", (2, 5)),),
        outputs=("output",),
    ),
    Case(
        "bert_tiny_traced",
        tiny_bert,
        "traced",
        frozenset({"embeddings", "encoder", "pooler"}),
        pins={"layer_norm": 5},
        inputs=(("input_ids", "int64", (1, 8)), ("attention_mask", "int64", (1, 8))),
        outputs=("output[0]", "output[1]"),
    ),
    Case(
        "cuda_saved",
        cuda_looking,
        "traced",
        frozenset({"stem", "layer1", "left", "right", "layer2", "fc"}),
        inputs=(("image", "float32", (1, 3, 8, 8)),),
        outputs=("output",),
    ),
)
params = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


# ------------------------------------------------------------------------------ expectations


def torch_expectations(path: Path) -> dict[str, Any]:
    """What the file holds, read with torch: the inlined forward's operators less the folded
    plumbing (constants, attribute reads, constant lists, the returned tuple/dict, Ifs on a
    constant replaced by their taken block), control-flow blocks, forward's arguments, and the
    elements of all parameters and buffers (shared once)."""
    module = torch.jit.load(str(path), map_location="cpu")
    method = module.forward if module._c._has_method("forward") else module.forward__0  # overloads
    graph = method.graph.copy()
    torch._C._jit_pass_inline(graph)
    returned = next(iter(graph.return_node().inputs()))
    ret_node = returned.node()
    skip = ret_node if ret_node.kind() in RETURN_CONSTRUCTS and len(returned.uses()) == 1 else None
    walker = _Walker({next(iter(graph.inputs())).unique(): module}, skip, _checks(graph.block()))
    ops: Counter[str] = Counter()
    subgraphs = walker.walk(graph.nodes(), ops)
    seen, parameters = set(), 0
    for _, tensor in [*module.named_parameters(), *module.named_buffers()]:
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key not in seen:
            seen.add(key)
            parameters += tensor.numel()
    return {
        "nodes": sum(ops.values()),
        "op_types": dict(ops),
        "subgraphs": subgraphs,
        "inputs": [a.name for a in method.schema.arguments[1:]],
        "parameters": parameters,
        "module": module,
    }


def _checks(block: Any) -> set[Any]:
    """Input checks, not drawn: an If without outputs whose branches raise (or do nothing) and
    change nothing, and the operators whose results only such Ifs read."""
    found: set[Any] = set()
    nodes = list(block.nodes())
    for node in nodes:
        for inner in node.blocks():
            found |= _checks(inner)
        body = [n for b in node.blocks() for n in b.nodes() if n.kind() != "prim::Constant"]
        if (
            node.kind() == "prim::If"
            and not list(node.outputs())
            and any(n.kind() == "prim::RaiseException" for n in body)
            and not any(n.kind() in ("aten::append", "prim::Print") or n.kind().endswith("_") for n in body)
            and not any(list(n.blocks()) for n in body)
        ):
            found.add(node)
    for node in reversed(nodes):
        uses = [use for out in node.outputs() for use in out.uses()]
        if node.kind() in ("prim::Constant", "prim::GetAttr") or list(node.blocks()) or node in found:
            continue
        if uses and all(use.user in found for use in uses) and not node.kind().endswith("_"):
            found.add(node)
    return found


class _Walker:
    """Counts drawn operators (into ``ops`` for the main graph) and the blocks that become
    subgraphs, tracking module objects and constant values the way TorchScript defines them."""

    def __init__(self, modules: dict[int, Any], skip: Any, checks: set[Any]) -> None:
        self.modules, self.skip, self.checks = modules, skip, checks
        self.values: dict[int, Any] = {}

    def walk(self, nodes: Any, ops: Counter[str] | None) -> int:
        subgraphs = 0
        for node in nodes:
            kind, outs = node.kind(), list(node.outputs())
            ins = [v.unique() for v in node.inputs()]
            if kind == "prim::Constant" and not isinstance(outs[0].toIValue(), torch.Tensor):
                self.values[outs[0].unique()] = outs[0].toIValue()
            elif (
                kind == "prim::Constant"
                or (self.skip is not None and node == self.skip)
                or node in self.checks
            ):
                continue
            elif kind == "prim::GetAttr" and ins[0] in self.modules:
                value = getattr(self.modules[ins[0]], node.s("name"))
                if outs[0].type().kind() == "ClassType":
                    self.modules[outs[0].unique()] = value
                elif not isinstance(value, torch.Tensor):
                    self.values[outs[0].unique()] = value
            elif kind in FOLDED_CONSTRUCTS and all(i in self.values for i in ins):
                self.values[outs[0].unique()] = [self.values[i] for i in ins]
            elif kind == "prim::If" and isinstance(self.values.get(ins[0]), bool):
                block = list(node.blocks())[0 if self.values[ins[0]] else 1]
                subgraphs += self.walk(block.nodes(), ops)
                for out, result in zip(outs, block.returnNode().inputs(), strict=True):
                    if result.unique() in self.values:
                        self.values[out.unique()] = self.values[result.unique()]
            else:
                if ops is not None:
                    ops[kind] += 1
                for block in node.blocks():
                    subgraphs += 1 + self.walk(block.nodes(), None)
        return subgraphs


@dataclass
class Opened:
    path: Path
    graph: ModelGraph
    info: dict[str, Any]
    expected: dict[str, Any]


@pytest.fixture(scope="module")
def open_case(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], Opened]:
    cache: dict[str, Opened] = {}

    def get(case: Case) -> Opened:
        if case.id not in cache:
            out = tmp_path_factory.mktemp(case.id)
            path = case.builder(out)
            graph = modellens.load(path)
            cache[case.id] = Opened(path, graph, modellens.summarize(graph), torch_expectations(path))
        return cache[case.id]

    return get


def _short(op_types: dict[str, int]) -> Counter[str]:
    return Counter({op.split("::", 1)[1]: n for op, n in op_types.items()})


# ------------------------------------------------------------------------------------- the cases


@params
def test_case_pins_match_torch(case: Case, open_case: Callable[[Case], Opened]) -> None:
    expected = open_case(case).expected
    short = _short(expected["op_types"])
    for key, value in case.pins.items():
        assert (expected[key] if key in expected else short[key]) == value, key


@params
def test_case_opens_as_torch_reads_it(case: Case, open_case: Callable[[Case], Opened]) -> None:
    opened = open_case(case)
    info, expected = opened.info, opened.expected
    assert validate_graph(opened.graph) == []
    assert info["format"] == "torchscript"
    assert re.fullmatch(rf"TorchScript \({case.kind}\), file format v\d+", info["format_label"])
    assert info["nodes"] == expected["nodes"]
    assert info["op_types"] == expected["op_types"]
    assert info["subgraphs"] == expected["subgraphs"]
    assert info["parameters"] == expected["parameters"]
    assert any("overloaded" in w for w in info["warnings"]) == case.id.endswith("overloaded_forward")
    assert [i["name"] for i in info["inputs"]] == expected["inputs"]
    assert [(i["name"], i["dtype"], _tuple(i["shape"])) for i in info["inputs"]] == list(case.inputs)
    assert [o["name"] for o in info["outputs"]] == list(case.outputs)
    assert info["ir_version"] is None and info["opsets"] is None
    assert opened.graph.graph["forward_schema"].startswith("forward(")


def _tuple(shape: list[Any] | None) -> tuple[Any, ...] | None:
    return None if shape is None else tuple(shape)


@params
def test_case_groups_are_the_modules(case: Case, open_case: Callable[[Case], Opened]) -> None:
    opened = open_case(case)
    grouping = build_groups(opened.graph)
    top = {g.id.split("∕", 1)[0] for g in grouping.groups.values() if not g.parent}
    namespaces = {d["namespace"].split("/", 1)[0] for _, d in opened.graph.nodes(data=True) if d["namespace"]}
    assert namespaces == set(case.groups)
    assert top <= set(case.groups)
    module = opened.expected["module"]
    labels = opened.graph.graph["group_labels"]
    for name in case.groups:
        assert labels[name] == getattr(module, name).original_name
    for node_id, data in _all_nodes(opened.graph):  # a weight is used inside the module owning it
        for info in data["weights"].values():
            if not info.name.startswith(("constant_", "CONSTANTS.")):
                owner, _, leaf = info.name.rpartition(".")
                if data["namespace"] != owner.replace(".", "/"):  # only a tied weight may be read
                    user = functools.reduce(getattr, data["namespace"].split("/"), module)  # elsewhere
                    tied = getattr(user, leaf).data_ptr() == _attribute(module, info.name).data_ptr()
                    assert tied, (node_id, info.name)


def _attribute(module: Any, name: str) -> Any:
    return functools.reduce(getattr, name.split("."), module)


def _all_nodes(graph: ModelGraph) -> list[tuple[str, dict[str, Any]]]:
    graphs = [graph, *graph.graph["subgraphs"].values()]
    return [(n, d) for g in graphs for n, d in g.nodes(data=True)]


@params
def test_case_weights_carry_their_values(case: Case, open_case: Callable[[Case], Opened]) -> None:
    opened = open_case(case)
    module = opened.expected["module"]
    store = opened.graph.graph["tensor_store"]
    weights = {w.name: w for _, d in opened.graph.nodes(data=True) for w in d["weights"].values()}
    named = {name: info for name, info in weights.items() if not name.startswith(("constant_", "CONSTANTS."))}
    assert bool(named) == case.named_weights
    for name, info in named.items():
        tensor = _attribute(module, name)
        assert info.shape == tuple(tensor.shape) and info.dtype == str(tensor.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(store.array(name), tensor.detach().numpy())


# ----------------------------------------------------------------------------- specific behaviour


def test_scripted_control_flow_blocks_are_subgraphs(open_case: Callable[[Case], Opened]) -> None:
    graph = open_case(CASES[2]).graph
    (if_id,) = [n for n, d in graph.nodes(data=True) if d["op_type"] == "prim::If"]
    (loop_id,) = [n for n, d in graph.nodes(data=True) if d["op_type"] == "prim::Loop"]
    assert graph.nodes[if_id]["namespace"] == "gate"
    assert [s.rsplit("/", 1)[1] for s in graph.nodes[if_id]["subgraph_ids"]] == ["then", "else"]
    then = graph.graph["subgraphs"][graph.nodes[if_id]["subgraph_ids"][0]]
    assert {d["op_type"] for _, d in then.nodes(data=True)} >= {"aten::linear", "aten::relu"}
    linear = next(d for _, d in then.nodes(data=True) if d["op_type"] == "aten::linear")
    assert {w.name for w in linear["weights"].values()} == {"gate.fc.weight", "gate.fc.bias"}
    # the If reads the encoder's output: drawn as an extra ("captured") input edge
    assert any(src.startswith("encoder/") for src, _ in graph.in_edges(if_id))
    loop = graph.nodes[loop_id]
    assert any(e[0] == "input:steps" for e in graph.in_edges(loop_id))
    body = graph.graph["subgraphs"][loop["subgraph_ids"][0]]
    assert [body.nodes[n]["attributes"]["role"] for n in body.graph["inputs"]] == ["iteration", "carried"]


def test_conv_node_inspector_data(open_case: Callable[[Case], Opened]) -> None:
    graph = open_case(CASES[0]).graph
    conv = "layer1/conv1/conv2d"
    data = graph.nodes[conv]
    assert data["namespace"] == "layer1/conv1"
    assert data["schema"].startswith("aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None")
    assert data["attributes"] == {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1}
    assert data["source"].startswith("conv.py:")
    rows = tables.input_rows(graph, conv, None)
    assert [(r.formal, r.tensor) for r in rows] == [
        ("input", rows[0].tensor),
        ("weight", "layer1.conv1.weight"),
        ("bias", "layer1.conv1.bias"),
    ]
    payload = build_payload(graph)
    labels = {g["id"]: g["label"] for g in payload["groups"]}
    assert labels["layer1"] == "layer1 (Block)"


def test_traced_model_says_what_tracing_froze(open_case: Callable[[Case], Opened]) -> None:
    info = open_case(CASES[1]).info
    assert "frozen" in info["warnings"][0] and "torch.jit.script(model)" in info["warnings"][0]
    assert open_case(CASES[1]).graph.graph["shape_source"] == "trace example"
    traced_source = open_case(CASES[1]).graph.nodes["layer1/conv1/_convolution"]["source"]
    assert traced_source.startswith("test_torchscript_cases.py:")
    scripted_info = open_case(CASES[0]).info
    assert open_case(CASES[0]).graph.graph["resolved_branches"] == 4  # two per scripted BatchNorm
    assert "shapes" in scripted_info["warnings"][0] and not any(
        "frozen" in w for w in scripted_info["warnings"]
    )


def test_cuda_saved_archive_opens_on_cpu(open_case: Callable[[Case], Opened]) -> None:
    path = open_case(CASES[-1]).path
    with pytest.raises(RuntimeError):  # the archive really asks for CUDA
        torch.jit.load(str(path))
    tensor = open_case(CASES[-1]).graph.graph["tensor_store"].tensors["stem.weight"]
    assert tensor.device.type == "cpu"


def test_same_model_as_onnx_has_the_same_top_level_groups(
    open_case: Callable[[Case], Opened], tmp_path: Path
) -> None:
    onnx_path = tmp_path / "cnn.onnx"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(BranchCNN().eval(), (torch.rand(1, 3, 16, 16),), str(onnx_path), dynamo=False)
    onnx_groups = build_groups(modellens.load(onnx_path)).groups
    ts_groups = build_groups(open_case(CASES[1]).graph).groups
    assert {g for g, v in onnx_groups.items() if not v.parent} == {
        g for g, v in ts_groups.items() if not v.parent
    }


def test_truncated_archive_is_one_line_error(open_case: Callable[[Case], Opened], tmp_path: Path) -> None:
    data = open_case(CASES[1]).path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as err:
        modellens.load(cut)
    assert "truncated or corrupt TorchScript archive" in str(err.value) and "\n" not in str(err.value)


def test_without_torch_the_fix_names_the_extra(
    open_case: Callable[[Case], Opened], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = open_case(CASES[1]).path
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModelLoadError) as err:
        modellens.load(path)
    assert err.value.fix == 'pip install "modellens[torch]"'


def test_missing_operator_library_names_the_package(
    open_case: Callable[[Case], Opened], monkeypatch: pytest.MonkeyPatch
) -> None:
    def load(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("Unknown builtin op: torchvision::nms.\nCould not find any similar ops")

    monkeypatch.setattr(torch.jit, "load", load)
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ModelLoadError) as err:
        modellens.load(open_case(CASES[1]).path)
    assert "torchvision::nms" in err.value.message and err.value.fix == "pip install torchvision"


def test_missing_operator_library_still_shows_the_graph(tmp_path: Path) -> None:
    """An archive calling operators registered only in the saving process (as torchvision::nms is
    by ``import torchvision``): a fresh process draws them from placeholders and names the package;
    the placeholders are gone afterwards."""
    lib = torch.library.Library("mlens_test", "DEF")  # kept alive while the module is scripted
    lib.define("nms(Tensor boxes, Tensor scores, float iou) -> Tensor")
    lib.impl("nms", lambda boxes, scores, iou: scores.argsort(), "CompositeExplicitAutograd")

    class Detector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 4)

        def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            keep = torch.ops.mlens_test.nms(self.head(boxes), scores, 0.5)
            return boxes[keep]

    path = tmp_path / "detector.pt"
    torch.jit.script(Detector()).save(str(path))
    probe = (
        "import json, sys, torch, modellens\n"
        "graph = modellens.load(sys.argv[1])\n"
        "ops = [d for _, d in graph.nodes(data=True) if d['op_type'] == 'mlens_test::nms']\n"
        "print(json.dumps({'info': modellens.summarize(graph), 'op': ops[0]['attributes'],\n"
        "    'category': ops[0]['category'], 'schema': 'schema' in ops[0],\n"
        "    'left': hasattr(torch.ops.mlens_test, 'nms')}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["info"]["op_types"]["mlens_test::nms"] == 1
    assert found["info"]["op_types"]["aten::linear"] == 1
    assert "pip install mlens-test" in found["info"]["warnings"][0]
    assert found["op"] == {"a2": 0.5} and found["category"] == "custom" and not found["schema"]
    assert not found["left"]


def test_info_json_and_render_from_the_cli(tmp_path: Path) -> None:
    sample = ROOT / "sample_models" / "control_flow_scripted.torchscript"
    result = subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(sample), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    expected = torch_expectations(sample)
    assert (info["format"], info["nodes"], info["subgraphs"]) == ("torchscript", expected["nodes"], 6)
    assert info["inputs"] == [{"name": "x", "dtype": None, "shape": None}]
    svg = tmp_path / "graph.svg"
    rendered = subprocess.run(
        [sys.executable, "-m", "modellens", "render", str(sample), "-o", str(svg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "aten::linear" in svg.read_text()


def test_detection_is_by_content_not_extension(open_case: Callable[[Case], Opened], tmp_path: Path) -> None:
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(open_case(CASES[1]).path.read_bytes())
    assert detect_format(ModelSource.from_path(renamed)).FORMAT == "torchscript"
    zipped = tmp_path / "upload.zip"  # a TorchScript archive is a zip: opened, not unpacked
    zipped.write_bytes(renamed.read_bytes())
    graph = load_source(ModelSource.from_path(zipped))
    assert graph.graph["format"] == "torchscript"
    outer = tmp_path / "outer.zip"  # a zip holding a TorchScript file is unpacked first
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(renamed, "models/cnn.pt")
    assert load_source(ModelSource.from_path(outer)).graph["format"] == "torchscript"


def test_upload_of_sample_through_model_source() -> None:
    sample = ROOT / "sample_models" / "cnn_traced.torchscript"
    source = ModelSource.from_uploads([(sample.name, sample.read_bytes())])
    graph = load_source(source)
    assert graph.graph["format_label"].startswith("TorchScript (traced)")
    assert graph.graph["inputs"] == ["input:image"]


# ------------------------------------------------------------------------------------ the app pages

APP_TIMEOUT = 120


def _summary_script() -> None:
    from viewer import app_state, pages

    app_state.init_session_state(None)
    pages.summary_page()


def test_summary_page_of_a_torchscript_sample() -> None:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_summary_script, default_timeout=APP_TIMEOUT)
    app.query_params["model"] = "sample:control_flow_scripted.torchscript"
    app.run()
    assert not app.exception
    assert app.metric[0].value == "TorchScript (scripted)"
    assert any("input specs" in w.value for w in app.warning)


def test_graph_page_inspects_a_traced_conv_and_opens_a_scripted_if() -> None:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    app.query_params["model"] = "sample:cnn_traced.torchscript"
    app.query_params["node"] = "layer1/conv1/_convolution"
    app.run()
    assert not app.exception
    assert any(str(c.value).startswith("aten::_convolution(Tensor input") for c in app.code)
    assert any(str(c.value).startswith("Source: ") for c in app.caption)
    assert any("layer1.conv1.weight" in e.label.replace("\\", "") for e in app.expander)

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    app.query_params["model"] = "sample:control_flow_scripted.torchscript"
    app.query_params["node"] = "gate/If"
    app.run()
    next(b for b in app.button if b.label.startswith("Open subgraph")).click().run()
    assert not app.exception
    assert app.session_state.subgraph == "gate/If/then"


class NoForward(nn.Module):
    @torch.jit.export
    def double(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def test_module_without_forward_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "no_forward.pt"
    torch.jit.script(NoForward()).save(str(path))
    with pytest.raises(ModelLoadError, match="without a forward method"):
        modellens.load(path)


@pytest.mark.parametrize("name", ["cnn_traced", "control_flow_scripted"])
def test_sample_input_specs_name_the_model_inputs(name: str) -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with the runtime's input specs

    graph = modellens.load(ROOT / "sample_models" / f"{name}.torchscript")
    spec = yaml.safe_load((ROOT / "sample_models" / f"{name}.inputs.yaml").read_text())
    names = [graph.nodes[n]["outputs"][0].name for n in graph.graph["inputs"]]
    assert [entry["input_name"] for entry in spec["inputs"]] == names
    assert all(entry["shape"].endswith("xf32") for entry in spec["inputs"])
