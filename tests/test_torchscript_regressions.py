"""TorchScript faults found by testing, each fixed as a kind and pinned here with expected values
read from torch (the module's own tree, its forward graph, its ONNX export)."""

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
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import modellens
from converters import ModelLoadError, validate_graph
from converters.schema import ModelGraph
from viewer.hierarchy import build_groups

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_models" / "control_flow_scripted.torchscript"


# ------------------------------------------------------------------- zip entry names not UTF-8


def _with_non_utf8_name(data: bytes) -> bytes:
    """The first central-directory entry name gets a byte that is not UTF-8, its UTF-8 flag set."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    out[at + 9] |= 0x08
    out[at + 46 + 2] = 0xE9
    return bytes(out)


@pytest.mark.parametrize("name", ["model.pt", "model.onnx", "model.pt2", "model.zip"])
def test_non_utf8_entry_name_is_a_corrupt_archive(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(_with_non_utf8_name(SAMPLE.read_bytes()))
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(path)  # what zipfile itself does with it
    with pytest.raises(ModelLoadError) as err:
        modellens.load(path)
    assert "truncated or corrupt zip archive" in err.value.message and "\n" not in str(err.value)


def test_non_utf8_entry_name_inside_an_uploaded_zip(tmp_path: Path) -> None:
    """A container zip (a model inside) whose own directory is damaged: the same one-line error."""
    inner = tmp_path / "bundle.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("models/model.onnx", b"x" * 64)
    path = tmp_path / "upload.zip"
    path.write_bytes(_with_non_utf8_name(inner.read_bytes()))
    with pytest.raises(ModelLoadError) as err:
        modellens.load(path)
    assert "truncated or corrupt zip archive" in err.value.message


def test_runner_detection_of_a_non_utf8_entry_name(tmp_path: Path) -> None:
    from runtime.runners import detect_run_format

    path = tmp_path / "model.pt"
    path.write_bytes(_with_non_utf8_name(SAMPLE.read_bytes()))
    with pytest.raises(ModelLoadError, match="corrupt zip archive"):
        detect_run_format(path)


# ------------------------------------------------------- models with containers and shared modules


class Bottleneck(nn.Module):
    """torchvision's Bottleneck: one ``relu`` module called three times."""

    def __init__(self, cin: int, width: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4))
            if downsample
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(8, 4, True), Bottleneck(16, 4, False))
        self.layer2 = nn.Sequential(Bottleneck(16, 8, True), Bottleneck(32, 8, False))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Blk(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class UNetish(nn.Module):
    """Two ModuleLists iterated in forward: both record their items as ``0(Blk)``, ``1(Blk)``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.ModuleList([Blk(), Blk()])
        self.up = nn.ModuleList([Blk(), Blk()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for d in self.down:
            x = d(x)
        for u in self.up:
            x = u(x)
        return x


class Containers(nn.Module):
    """A Sequential, a ModuleList looped over with functional ops between, a ModuleDict."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(8, 3), "reg": nn.Linear(8, 2)})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.seq(x)
        for block in self.blocks:
            x = torch.relu(block(x)) * 0.5
        return self.heads["cls"](x), self.heads["reg"](x)


MODELS: dict[str, tuple[Callable[[], nn.Module], torch.Tensor]] = {
    "resnet": (ResNetish, torch.rand(1, 3, 8, 8)),
    "unet": (UNetish, torch.rand(1, 4, 8, 8)),
    "containers": (Containers, torch.rand(2, 4)),
}
SAVED = [(name, how) for name in MODELS for how in ("scripted", "traced")]


def save_model(name: str, how: str, out: Path) -> Path:
    factory, example = MODELS[name]
    torch.manual_seed(0)
    module = factory().eval()
    path = out / f"{name}_{how}.pt"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = torch.jit.script(module) if how == "scripted" else torch.jit.trace(module, (example,))
        saved.save(str(path))
    return path


def export_onnx(name: str, out: Path) -> Path:
    factory, example = MODELS[name]
    torch.manual_seed(0)
    path = out / f"{name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(factory().eval(), (example,), str(path), dynamo=False)
    return path


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    out = tmp_path_factory.mktemp("models")
    return functools.cache(lambda name, how: save_model(name, how, out))


def onnx_module_path(namespace: str) -> str:
    """The module path of an ONNX export's scope: ``layer1/layer1.0/relu_1`` -> ``layer1.0.relu_1``,
    ``down.0/act`` -> ``down.0.act``, ``layer1/layer1.0/downsample/downsample.0`` ->
    ``layer1.0.downsample.0`` (a scope repeats its parent's name before an index)."""
    path = ""
    for part in namespace.split("/"):
        head = path.rsplit(".", 1)[-1]
        if not path or part.startswith(f"{path}."):
            path = part
        elif part.startswith(f"{head}."):
            path = f"{path}{part[len(head) :]}"
        else:
            path = f"{path}.{part}"
    return path


def module_paths(graph: ModelGraph, *, onnx: bool) -> set[str]:
    namespaces = {d["namespace"] for _, d in graph.nodes(data=True) if d["kind"] == "op" and d["namespace"]}
    return {onnx_module_path(ns) if onnx else ns.replace("/", ".") for ns in namespaces}


@pytest.mark.parametrize(("name", "how"), SAVED)
def test_module_paths_match_the_onnx_export(
    name: str, how: str, saved_model: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """Calls of modules in containers get their full path (``down.0``, not ``0``) and each call of a
    shared module its own (``relu_1``), as in the ONNX export of the same model; the only modules the
    export lacks are the BatchNorms it folds into the convolutions."""
    graph = modellens.load(saved_model(name, how))
    ours = module_paths(graph, onnx=False)
    exported = module_paths(modellens.load(export_onnx(name, tmp_path)), onnx=True)
    module = torch.jit.load(str(saved_model(name, how)))
    classes = {n: m.original_name for n, m in module.named_modules()}
    # the exporter drops a ModuleDict's name (``heads["cls"]`` is scoped ``cls``): the full path
    exported = {
        p if re.sub(r"_\d+$", "", p) in classes else next(q for q in classes if q.endswith(f".{p}"))
        for p in exported
    }
    assert exported <= ours
    assert {classes[re.sub(r"_\d+$", "", p)] for p in ours - exported} <= {"BatchNorm2d"}
    if name == "resnet":
        assert {"layer1.0.relu", "layer1.0.relu_1", "layer1.0.relu_2"} <= ours


@pytest.mark.parametrize(("name", "how"), [(n, h) for n, h in SAVED if n != "containers"])
def test_top_level_groups_match_the_onnx_export(
    name: str, how: str, saved_model: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """Scripted modules carry input checks (BatchNorm's ``if input.dim() != 4: raise``, the adaptive
    pool's output-size check) that the exporter folds away: not drawn, so the same groups open. (The
    exporter scopes ModuleList items at the top, ``down.0``: compared by their top module. The
    containers model is left out: the exporter drops a ModuleDict's name.)"""
    graph = modellens.load(saved_model(name, how))
    exported = modellens.load(export_onnx(name, tmp_path))
    top = {g for g, v in build_groups(graph).groups.items() if not v.parent}
    onnx_top = {
        onnx_module_path(g).split(".")[0] for g, v in build_groups(exported).groups.items() if not v.parent
    }
    assert top == onnx_top
    if how == "scripted" and name == "resnet":
        assert graph.graph["folded_guards"] > 0


@pytest.mark.parametrize(("name", "how"), SAVED)
def test_group_labels_are_the_module_classes(
    name: str, how: str, saved_model: Callable[[str, str], Path]
) -> None:
    graph = modellens.load(saved_model(name, how))
    module = torch.jit.load(str(saved_model(name, how)))
    for group, label in graph.graph["group_labels"].items():
        owner = functools.reduce(getattr, re.sub(r"_\d+(/|$)", r"\1", group).split("/"), module)
        assert label == owner.original_name, group


# ------------------------------------------------------------- lists built by appending to []


class FPNish(nn.Module):
    """``feats = []`` then one ``feats.append`` per level, returned: the list is data, not ``[]``."""

    def __init__(self) -> None:
        super().__init__()
        self.levels = nn.ModuleList([nn.Conv2d(3, 3, 1) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats: list[torch.Tensor] = []
        for level in self.levels:
            x = level(x)
            feats.append(x)
        return feats


class AppendInLoop(nn.Module):
    """Appends inside a data-dependent loop; the list is the second output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, n: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out: list[torch.Tensor] = []
        for _ in range(n):
            x = torch.relu(self.fc(x))
            out.append(x)
        return x, out


def _jit_ops(module: torch.jit.ScriptModule) -> list[str]:
    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    kinds: list[str] = []

    def walk(nodes: Any) -> None:
        for node in nodes:
            kinds.append(node.kind())
            for block in node.blocks():
                walk(block.nodes())

    walk(graph.nodes())
    return kinds


def test_list_appended_to_is_drawn_as_data_flow(tmp_path: Path) -> None:
    path = tmp_path / "fpn.pt"
    torch.jit.script(FPNish().eval()).save(str(path))
    appends = _jit_ops(torch.jit.load(str(path))).count("aten::append")
    graph = modellens.load(path)
    drawn = [n for n, d in graph.nodes(data=True) if d["op_type"] == "aten::append"]
    assert len(drawn) == appends == 3
    assert all("self" not in graph.nodes[n]["attributes"] for n in drawn)  # not a folded []
    output = graph.graph["outputs"][0]
    assert "value" not in graph.nodes[output]["attributes"]
    convs = [n for n, d in graph.nodes(data=True) if d["op_type"] == "aten::conv2d"]
    assert len(convs) == 3 and all(nx.has_path(graph, conv, output) for conv in convs)
    assert any(d["op_type"] == "prim::ListConstruct" for _, d in graph.nodes(data=True))


def test_list_appended_to_inside_a_loop_flows_out_of_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "loop.pt"
    torch.jit.script(AppendInLoop().eval()).save(str(path))
    assert "aten::append" in _jit_ops(torch.jit.load(str(path)))
    graph = modellens.load(path)
    loop = next(n for n, d in graph.nodes(data=True) if d["op_type"] == "prim::Loop")
    listed = next(n for n, d in graph.nodes(data=True) if d["op_type"] == "prim::ListConstruct")
    second = graph.graph["outputs"][1]
    assert "value" not in graph.nodes[second]["attributes"]
    assert [u for u, _ in graph.in_edges(second)] == [loop]
    assert graph.has_edge(listed, loop)
    assert validate_graph(graph) == []


# ------------------------------------------------------------------ operators this PyTorch lacks


def _rewrite_code(src: Path, dst: Path, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, data.replace(old, new) if info.filename.endswith(".py") else data)


@pytest.mark.parametrize("namespace", ["aten", "prim"])
def test_unknown_core_operator_means_a_newer_pytorch_or_a_corrupt_file(
    namespace: str, tmp_path: Path
) -> None:
    """An operator of PyTorch's own namespaces that this PyTorch lacks (a file from a newer one) is
    not a library to pip install."""
    path, bad = tmp_path / "model.pt", tmp_path / "bad.pt"
    torch.jit.script(AppendInLoop().eval()).save(str(path))
    _rewrite_code(path, bad, b"torch.relu(", f"ops.{namespace}.relux(".encode())
    with pytest.raises(RuntimeError, match=f"{namespace}::relux"):
        torch.jit.load(str(bad))  # torch's own verdict: the operator is unknown
    with pytest.raises(ModelLoadError) as err:
        modellens.load(bad)
    message = err.value.message
    assert f"{namespace}::relux" in message and torch.__version__ in message and "newer PyTorch" in message
    assert "pip install -U torch" in err.value.fix and "pip install aten" not in str(err.value)


def test_library_operator_returning_a_tuple_still_shows_the_graph(tmp_path: Path) -> None:
    """``myx::split2(Tensor) -> (Tensor, Tensor)`` registered only in the saving process: the
    placeholder returns two Tensors as the calls use them, so the graph shows with torch's ops."""
    lib = torch.library.Library("mlens_tuple", "DEF")  # kept alive while the module is scripted
    lib.define("split2(Tensor x) -> (Tensor, Tensor)")
    lib.impl("split2", lambda x: (x + 1, x - 1), "CompositeExplicitAutograd")
    lib.define("parts(Tensor x) -> Tensor[]")
    lib.impl("parts", lambda x: [x, x], "CompositeExplicitAutograd")

    class Splitter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = torch.ops.mlens_tuple.split2(self.fc(x))
            total = a * b
            for part in torch.ops.mlens_tuple.parts(total):
                total = total + part
            return total

    path = tmp_path / "splitter.pt"
    scripted = torch.jit.script(Splitter())
    scripted.save(str(path))
    expected = Counter(k for k in _jit_ops(scripted) if k not in ("prim::Constant", "prim::GetAttr"))
    probe = (
        "import json, sys, modellens\nprint(json.dumps(modellens.summarize(modellens.load(sys.argv[1]))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["op_types"]["mlens_tuple::split2"] == expected["mlens_tuple::split2"] == 1
    assert info["op_types"]["mlens_tuple::parts"] == 1 and info["op_types"]["prim::Loop"] == 1
    assert info["op_types"]["aten::mul"] == expected["aten::mul"]
    assert "pip install mlens-tuple" in info["warnings"][0]


# ------------------------------------------------------------------- trace-example input shapes


class TwoInputs(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a.sum() + b.sum()


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        # keyword inputs in another order than forward's: the file cannot say which is which
        ({"b": torch.rand(5, 6), "a": torch.rand(2, 3, dtype=torch.float64)}, None),
        # positional inputs that differ: the same archive layout, so not claimed either
        ((torch.rand(2, 3, dtype=torch.float64), torch.rand(5, 6)), None),
        # every example tensor alike: the order does not matter
        ((torch.rand(4, 4), torch.rand(4, 4)), [("float32", (4, 4)), ("float32", (4, 4))]),
    ],
    ids=["kwargs_reordered", "positional_different", "positional_alike"],
)
def test_trace_example_shapes_only_where_the_mapping_is_certain(
    example: Any, expected: list[tuple[str, tuple[int, ...]]] | None, tmp_path: Path
) -> None:
    path = tmp_path / "two.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(example, dict):
            traced = torch.jit.trace(TwoInputs(), example_kwarg_inputs=example)
        else:
            traced = torch.jit.trace(TwoInputs(), example)
    traced.save(str(path))
    info = modellens.summarize(modellens.load(path))
    shapes = [(i["dtype"], _tuple(i["shape"])) for i in info["inputs"]]
    if expected is None:
        assert shapes == [(None, None), (None, None)]
        assert any("does not record which input" in w for w in info["warnings"])
    else:
        assert shapes == expected
        assert not any("does not record which input" in w for w in info["warnings"])
    if isinstance(example, dict):  # what the old by-position mapping gave was wrong
        by_name = {k: (str(v.dtype).removeprefix("torch."), tuple(v.shape)) for k, v in example.items()}
        assert list(by_name.values()) != [by_name["a"], by_name["b"]]


def _tuple(shape: list[Any] | None) -> tuple[Any, ...] | None:
    return None if shape is None else tuple(shape)


# ------------------------------------------------------------------ damaged records in the archive


def _rewrite_entry(
    src: Path, dst: Path, leaf: str, change: Callable[[bytes], bytes], *, keep_crc: bool
) -> None:
    """Copy an archive with one entry's bytes changed; ``keep_crc`` leaves the old CRC-32 in place
    (a flipped byte in transit), else the entry is consistent (a record cut short when written)."""
    with zipfile.ZipFile(src) as zin:
        entries = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info, data in entries:
            zout.writestr(info.filename, change(data) if info.filename.endswith(leaf) else data)
    if keep_crc:  # put the original CRC back into both headers
        with zipfile.ZipFile(src) as zin:
            original = next(i for i in zin.infolist() if i.filename.endswith(leaf))
        raw = bytearray(dst.read_bytes())
        with zipfile.ZipFile(dst) as zout:
            changed = next(i for i in zout.infolist() if i.filename.endswith(leaf))
        new, old = changed.CRC.to_bytes(4, "little"), original.CRC.to_bytes(4, "little")
        dst.write_bytes(bytes(raw).replace(new, old))


def _flip_first_byte(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:]


@pytest.mark.parametrize(
    ("leaf", "change", "expected"),
    [
        ("data/1", lambda data: data[:8], "holds 8 bytes where its tensor needs"),
        (".debug_pkl", lambda data: b"\0" * len(data), "its debug records"),
    ],
    ids=["storage_short", "debug_pkl_zeroed"],
)
def test_damaged_records_are_a_corrupt_archive(
    leaf: str, change: Callable[[bytes], bytes], expected: str, tmp_path: Path
) -> None:
    """torch itself opens these files (with wrong values, or fails late); ModelLens says corrupt."""
    path, bad = tmp_path / "model.pt", tmp_path / "bad.pt"
    torch.manual_seed(0)
    save_model("resnet", "traced", tmp_path).rename(path)  # tracing compiles no library code
    _rewrite_entry(path, bad, leaf, change, keep_crc=False)
    if leaf.startswith("data/"):
        torch.jit.load(str(bad))  # torch does not notice
    with pytest.raises(ModelLoadError) as err:
        modellens.load(bad)
    assert "corrupt TorchScript archive" in err.value.message and expected in err.value.message
    assert "please report" not in str(err.value) and "\n" not in str(err.value)


def test_storage_failing_its_crc_shows_no_values(tmp_path: Path) -> None:
    """A flipped byte in a weight (its zip CRC-32 no longer matches; torch does not check it): the
    graph opens, but reading any weight's values says the data is damaged instead of showing them."""
    path, bad = tmp_path / "model.pt", tmp_path / "bad.pt"
    save_model("resnet", "traced", tmp_path).rename(path)
    _rewrite_entry(path, bad, "data/0", _flip_first_byte, keep_crc=True)
    loaded = torch.jit.load(str(bad))  # torch does not notice
    with zipfile.ZipFile(bad) as archive, pytest.raises(zipfile.BadZipFile, match="CRC"):
        archive.read(next(n for n in archive.namelist() if n.endswith("data/0")))
    graph = modellens.load(bad)
    store = graph.graph["tensor_store"]
    name = next(iter(dict(loaded.named_parameters())))
    with pytest.raises(ModelLoadError, match="data/0 fails its CRC check"):
        store.array(name)
    with pytest.raises(ModelLoadError, match="CRC"):  # every weight, the check is done once
        store.array(list(store.names())[-1])
    good = modellens.load(path).graph["tensor_store"]  # the intact file's values show
    original = dict(torch.jit.load(str(path)).named_parameters())[name]
    np.testing.assert_array_equal(good.array(name), original.detach().numpy())
    assert not np.array_equal(
        original.detach().numpy(), dict(loaded.named_parameters())[name].detach().numpy()
    )


# ------------------------------------------------------------------------------- frozen modules


def test_frozen_model_weights_are_named_and_counted(tmp_path: Path) -> None:
    """torch.jit.freeze turns the weights into constants (``CONSTANTS.c0`` in the code): they keep
    the file's names, carry their values, and count as the parameters."""
    torch.manual_seed(0)
    path = tmp_path / "frozen.pt"
    frozen = torch.jit.freeze(torch.jit.load(str(save_model("resnet", "traced", tmp_path))))
    frozen.save(str(path))
    loaded = torch.jit.load(str(path))
    assert not list(loaded.parameters())
    _, constants = loaded.code_with_constants
    tensors = {f"CONSTANTS.{k}": v for k, v in constants.const_mapping.items() if isinstance(v, torch.Tensor)}
    graph = modellens.load(path)
    weights = {w.name: w for _, d in graph.nodes(data=True) for w in d["weights"].values()}
    assert set(weights) == set(tensors)
    for name, tensor in tensors.items():
        assert weights[name].shape == tuple(tensor.shape)
        np.testing.assert_array_equal(graph.graph["tensor_store"].array(name), tensor.numpy())
    assert modellens.summarize(graph)["parameters"] == sum(t.numel() for t in tensors.values())
    assert any("frozen model" in w for w in graph.graph["warnings"])


# ------------------------------------------------------------------ inputs and outputs described


class Scored(NamedTuple):
    logits: torch.Tensor
    score: float


class NamedOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor], name: str = "x", k: int = 3) -> Scored:
        return Scored(self.fc(pair[0] + pair[1]), float(k))


def test_named_tuple_outputs_and_described_inputs(tmp_path: Path) -> None:
    from viewer import tables

    path = tmp_path / "named.pt"
    torch.jit.script(NamedOut()).save(str(path))
    schema = torch.jit.load(str(path)).forward.schema
    graph = modellens.load(path)
    assert [o["name"] for o in modellens.summarize(graph)["outputs"]] == list(Scored._fields)
    inputs = tables.io_table(graph, "inputs")
    arguments = list(schema.arguments)[1:]
    assert list(inputs["name"]) == [a.name for a in arguments]
    assert list(inputs["type"]) == [a.type.annotation_str for a in arguments]
    assert list(inputs["default"]) == [
        repr(a.default_value) if a.has_default_value() else "" for a in arguments
    ]
    outputs = tables.io_table(graph, "outputs")
    assert outputs["type"][0] == "Tensor (dtype, shape not stored)" and outputs["dtype"][0] == "?"
    metadata = dict(zip(*tables.metadata_table(graph).T.values, strict=True))
    signature = "forward(pair: Tuple[Tensor, Tensor], name: str = 'x', k: int = 3) -> "
    assert metadata["forward"] == signature + schema.returns[0].type.annotation_str


# --------------------------------------------------------------------------- zips holding models


@pytest.mark.parametrize("inner", ["m.ptl", "model.bin", "nested/weights.torchscript"])
def test_zip_holding_torchscript_under_any_name_opens(inner: str, tmp_path: Path) -> None:
    model = save_model("unet", "traced", tmp_path)
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(model, inner)
        archive.writestr("README.md", "a model")
    direct = modellens.summarize(modellens.load(model))
    opened = modellens.summarize(modellens.load(bundle))
    assert opened["format"] == "torchscript" and opened["op_types"] == direct["op_types"]
    assert not any("models; showing" in w for w in opened["warnings"])


def test_zip_holding_two_models_says_which_it_opened(tmp_path: Path) -> None:
    first, second = save_model("unet", "traced", tmp_path), save_model("containers", "traced", tmp_path)
    bundle = tmp_path / "two.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(first, "a.pt")
        archive.write(second, "b.pt")
    graph = modellens.load(bundle)
    assert graph.graph["source_name"] == "a.pt"
    (warning,) = [w for w in graph.graph["warnings"] if "holds 2 models" in w]
    assert "showing a.pt" in warning and "not b.pt" in warning
