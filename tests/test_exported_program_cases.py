"""PyTorch ExportedProgram (.pt2) cases, built in the tests with torch.export; every expected value
is computed from torch (the exported program, the module, its outputs), never from our graph."""

from __future__ import annotations

import builtins
import json
import operator
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modellens
from converters import ModelLoadError, validate_graph
from converters.schema import ModelGraph
from tests.app_helpers import weight_stats

torch = pytest.importorskip("torch")
nn = torch.nn
pytree = torch.utils._pytree


# ------------------------------------------------------------------------------------- models


class ConvBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Any) -> Any:
        return self.relu(x + self.conv2(self.relu(self.bn1(self.conv1(x)))))


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.layer1 = nn.Sequential(ConvBlock(8), ConvBlock(8))
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8, 10)

    def forward(self, x: Any) -> Any:
        x = self.pool(self.layer1(self.stem(x)))
        return self.head(x.mean((2, 3)))


class MixedInputs(nn.Module):
    """float32 features, int64 token ids, a bool mask."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.proj = nn.Linear(4, 6)

    def forward(self, features: Any, ids: Any, mask: Any) -> Any:
        tokens = self.embed(ids) * mask.unsqueeze(-1).to(torch.float32)
        return tokens.sum(1) + self.proj(features)


class TupleDictOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        y = self.lin(x)
        values, indices = torch.max(y, dim=1)
        return y.relu(), {"values": values, "indices": indices}


class Attention(nn.Module):
    """A hand-written attention block (transformers' BERT is the other transformer case)."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Any) -> Any:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        return x + self.out((attn @ v).transpose(1, 2).reshape(b, t, d))


class TiedHead(nn.Module):
    """A language-model head sharing the embedding's weight: counted once."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.lm_head = nn.Linear(8, 30, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, ids: Any) -> Any:
        return self.lm_head(self.embed(ids))


class Branchy(nn.Module):
    """torch.cond: both branches become subgraphs."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        return torch.cond(x.sum() > 0, lambda v: self.lin(v).relu(), lambda v: v * 2.0, (x,))


class Loops(nn.Module):
    """map over the leading dim, then a while_loop: three bodies as subgraphs."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, xs: Any) -> Any:
        from torch._higher_order_ops.map import map as map_over
        from torch._higher_order_ops.while_loop import while_loop

        ys = map_over(lambda x: self.lin(x).relu(), xs)
        _, y = while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 0.5), (torch.tensor(0), ys.sum(0)))
        return y


def _bert() -> tuple[Any, tuple[Any, ...]]:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    return transformers.BertModel(config).eval(), (torch.randint(0, 100, (1, 8)),)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], tuple[Any, tuple[Any, ...]]]
    dynamic_shapes: Any = None
    dim_ranges: dict[str, list[int]] = field(default_factory=dict)  # Dim name -> [min, max]
    decompose: bool = False  # save the ATen dialect (run_decompositions): mutations become outputs


CASES = (
    Case("cnn", lambda: (SmallCNN().eval(), (torch.randn(1, 3, 16, 16),))),
    Case(
        "mixed_dtypes",
        lambda: (
            MixedInputs().eval(),
            (torch.randn(2, 4), torch.randint(0, 20, (2, 5)), torch.rand(2, 5) > 0.5),
        ),
    ),
    Case("tuple_dict_outputs", lambda: (TupleDictOutputs().eval(), (torch.randn(3, 4),))),
    Case(
        "dynamic_batch",
        lambda: (SmallCNN().eval(), (torch.randn(2, 3, 16, 16),)),
        dynamic_shapes=lambda: {"x": {0: torch.export.Dim("batch", min=1, max=64)}},
        dim_ranges={"batch": [1, 64]},
    ),
    Case("attention", lambda: (Attention().eval(), (torch.randn(2, 5, 16),))),
    Case("bert", _bert),
    Case("tied_weights", lambda: (TiedHead().eval(), (torch.randint(0, 30, (2, 6)),))),
    Case("cond", lambda: (Branchy().eval(), (torch.randn(3, 4),))),
    Case("loops", lambda: (Loops().eval(), (torch.randn(5, 2, 4),))),
    Case(
        "aten_dialect_training_bn", lambda: (nn.BatchNorm1d(4).train(), (torch.randn(3, 4),)), decompose=True
    ),
)


@dataclass
class Built:
    path: Path
    module: Any
    args: tuple[Any, ...]
    program: Any  # the ExportedProgram as torch.export.load reads the file back
    graph: ModelGraph
    info: dict[str, Any]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], Built]:
    cache: dict[str, Built] = {}

    def get(case: Case) -> Built:
        if case.id not in cache:
            torch.manual_seed(0)
            module, args = case.build()
            dynamic = case.dynamic_shapes() if callable(case.dynamic_shapes) else None
            program = torch.export.export(module, args, dynamic_shapes=dynamic)
            if case.decompose:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    program = program.run_decompositions()
            path = tmp_path_factory.mktemp(case.id) / f"{case.id}.pt2"
            torch.export.save(program, path)
            graph = modellens.load(path)
            cache[case.id] = Built(
                path, module, args, torch.export.load(path), graph, modellens.summarize(graph)
            )
        return cache[case.id]

    return get


params = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


# ----------------------------------------------------------------------- expected, from torch


def _folded(node: Any) -> bool:
    """torch's getitem on a multi-output operator: drawn as that operator's output port."""
    return (
        node.target is operator.getitem
        and hasattr(node.args[0], "meta")
        and isinstance(node.args[0].meta.get("val"), tuple | list)
    )


def _op_name(target: Any) -> str:
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order.{target.name()}"
    return str(target)


def expected_ops(program: Any) -> Counter[str]:
    return Counter(
        _op_name(n.target) for n in program.graph.nodes if n.op == "call_function" and not _folded(n)
    )


def _dims(value: Any) -> list[Any]:
    return [int(d) if isinstance(d, int) else str(d) for d in value.shape]


def expected_inputs(program: Any) -> list[dict[str, Any]]:
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user = [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    return [
        {
            "name": name,
            "dtype": str(placeholders[name].meta["val"].dtype).removeprefix("torch."),
            "shape": _dims(placeholders[name].meta["val"]),
        }
        for name in user
    ]


def expected_outputs(module: Any, args: tuple[Any, ...]) -> list[tuple[str, str, list[int]]]:
    with torch.no_grad():
        result = module(*args)
    flat = pytree.tree_flatten_with_path(result)[0]
    return [
        ("output" + pytree.keystr(path), str(t.dtype).removeprefix("torch."), list(t.shape))
        for path, t in flat
    ]


def expected_parameters(module: Any) -> int:
    """Elements of all parameters and buffers, a tensor shared by two names counted once."""
    tensors = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    return sum(t.numel() for t in tensors.values())


def expected_stored(program: Any) -> int:
    """Elements of every tensor the file stores: its state_dict (parameters, persistent buffers) and
    constants (non-persistent buffers, lifted tensors), a tensor shared by two names counted once."""
    values = [*program.state_dict.values(), *program.constants.values()]
    tensors = {
        (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride())): t.numel()
        for t in values
        if isinstance(t, torch.Tensor)
    }
    return sum(tensors.values())


def called_modules(module: Any, args: tuple[Any, ...]) -> dict[str, str]:
    """{namespace: class name} of every submodule a forward call runs (forward hooks)."""
    called: dict[str, str] = {}

    def hook_for(name: str) -> Callable[..., None]:
        def record(sub: Any, _args: Any) -> None:
            called.setdefault(name.replace(".", "/"), type(sub).__name__)

        return record

    handles = [sub.register_forward_pre_hook(hook_for(name)) for name, sub in module.named_modules() if name]
    with torch.no_grad():
        module(*args)
    for handle in handles:
        handle.remove()
    return called


def _batch_symbol(program: Any) -> str:
    """The symbol torch.export gave the ``batch`` Dim (files keep symbols, not Dim names)."""
    user = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == "x")
    return str(user.meta["val"].shape[0])


# ------------------------------------------------------------------------------------- tests


@params
def test_summary_pins_what_torch_records(case: Case, built: Callable[[Case], Built]) -> None:
    b = built(case)
    info = b.info
    assert info["format"] == "exported_program"
    assert info["format_label"] == f"ExportedProgram, PyTorch {torch.__version__}"
    assert info["ir_version"] is None and info["opsets"] is None
    assert info["op_types"] == dict(expected_ops(b.program))
    assert info["nodes"] == sum(expected_ops(b.program).values())
    assert info["inputs"] == expected_inputs(b.program)
    outputs = expected_outputs(b.module, b.args)
    assert [(o["name"], o["dtype"]) for o in info["outputs"]] == [(n, d) for n, d, _ in outputs]
    if not case.dim_ranges:  # a dynamic dim is a symbol in the file, a number in an eager run
        assert [o["shape"] for o in info["outputs"]] == [shape for _, _, shape in outputs]
    assert info["parameters"] == expected_stored(b.program)
    lifted = sum(t.numel() for n, t in b.program.constants.items() if n.startswith("lifted_tensor"))
    assert info["parameters"] == expected_parameters(b.module) + lifted
    assert validate_graph(b.graph) == []
    assert json.loads(json.dumps(info)) == info


@params
def test_module_groups_are_the_called_modules(case: Case, built: Callable[[Case], Built]) -> None:
    b = built(case)
    called = called_modules(b.module, b.args)
    labels = b.graph.graph["group_labels"]
    assert labels.items() <= called.items()
    with_weights = {
        name.replace(".", "/")
        for name, sub in b.module.named_modules()
        if name and any(True for _ in sub.parameters(recurse=False))
    }
    assert with_weights & set(called) <= set(labels)
    namespaces = {d["namespace"] for _, d in b.graph.nodes(data=True) if d["kind"] == "op"}
    assert namespaces - {""} <= set(labels)


@params
def test_weights_carry_names_shapes_and_values(case: Case, built: Callable[[Case], Built]) -> None:
    b = built(case)
    graphs = [b.graph, *b.graph.graph["subgraphs"].values()]
    weights = {w.name: w for g in graphs for _, d in g.nodes(data=True) for w in d["weights"].values()}
    state = b.program.state_dict
    used = {
        s.target
        for s in b.program.graph_signature.input_specs
        if s.kind.name in ("PARAMETER", "BUFFER") and s.target in state
    }
    used = {t for t in used if any(u.op != "output" for u in _placeholder(b.program, t).users)}
    assert used <= set(weights)
    store = b.graph.graph["tensor_store"]
    for name in sorted(used)[:6]:
        assert weights[name].shape == tuple(state[name].shape)
        assert weights[name].dtype == str(state[name].dtype).removeprefix("torch.")
        np.testing.assert_array_equal(store.array(name), state[name].detach().numpy())


def _placeholder(program: Any, target: str) -> Any:
    name = next(s.arg.name for s in program.graph_signature.input_specs if s.target == target)
    return next(n for n in program.graph.nodes if n.name == name)


def test_dynamic_dim_shows_symbol_and_range(built: Callable[[Case], Built]) -> None:
    case = next(c for c in CASES if c.id == "dynamic_batch")
    b = built(case)
    symbol = _batch_symbol(b.program)
    ranges = b.program.range_constraints
    bounds = next(v for k, v in ranges.items() if str(k) == symbol)
    assert [int(bounds.lower), int(bounds.upper)] == case.dim_ranges["batch"]
    assert b.graph.graph["dim_ranges"][symbol] == case.dim_ranges["batch"]
    assert b.info["dim_ranges"][symbol] == [1, 64]
    assert b.info["inputs"][0]["shape"][0] == symbol
    assert b.info["outputs"][0]["shape"] == [symbol, 10]
    from viewer.tables import io_table

    table = io_table(b.graph, "inputs")
    assert table.loc[0, "dynamic dims"] == f"{symbol} ∈ [1, 64]"


def test_getitem_of_multi_output_ops_is_folded(built: Callable[[Case], Built]) -> None:
    b = built(next(c for c in CASES if c.id == "tuple_dict_outputs"))
    assert not any(d["op_type"] == "operator.getitem" for _, d in b.graph.nodes(data=True))
    producer = next(n for n, d in b.graph.nodes(data=True) if d["op_type"].startswith("aten.max."))
    assert len(b.graph.nodes[producer]["outputs"]) == 2
    ports = {d["src_port"] for _, _, d in b.graph.out_edges(producer, data=True)}
    assert ports == {0, 1}


@pytest.mark.parametrize("case_id", ["cond", "loops"])
def test_higher_order_bodies_are_subgraphs(case_id: str, built: Callable[[Case], Built]) -> None:
    b = built(next(c for c in CASES if c.id == case_id))
    bodies = {n.name: n.target for n in b.program.graph.nodes if n.op == "get_attr"}
    assert b.info["subgraphs"] == len(bodies) > 0
    for node in b.program.graph.nodes:
        used = [bodies[a.name] for a in node.args if isinstance(a, torch.fx.Node) and a.name in bodies]
        if not used:
            continue
        sub_ids = b.graph.nodes[node.name]["subgraph_ids"]
        assert [s.rsplit("/", 1)[-1] for s in sub_ids] == used
        for sub_id, target in zip(sub_ids, used, strict=True):
            body = getattr(b.program.graph_module, target)
            sub = b.graph.graph["subgraphs"][sub_id]
            ops = Counter(d["op_type"] for _, d in sub.nodes(data=True) if d["kind"] == "op")
            assert ops == Counter(_op_name(n.target) for n in body.graph.nodes if n.op == "call_function")


def test_forward_schema_for_the_runner(built: Callable[[Case], Built]) -> None:
    b = built(next(c for c in CASES if c.id == "mixed_dtypes"))
    schema = b.graph.graph["forward_schema"]
    assert schema["arg_names"] == ["features", "ids", "mask"]
    assert schema["inputs"] == [b.graph.nodes[n]["name"] for n in b.graph.graph["inputs"]]
    with torch.no_grad():
        got = b.program.module()(*b.args)
        want = b.module(*b.args)
    torch.testing.assert_close(got, want)
    assert pytree.treespec_loads(schema["in_spec"]) == b.program.call_spec.in_spec


def test_a_zipped_pt2_opens_and_the_extension_is_only_a_hint(
    built: Callable[[Case], Built], tmp_path: Path
) -> None:
    b = built(CASES[0])
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(b.path.read_bytes())
    assert modellens.summarize(modellens.load(renamed))["op_types"] == b.info["op_types"]
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.write(b.path, "models/cnn.pt2")
    assert modellens.summarize(modellens.load(bundle))["op_types"] == b.info["op_types"]


# -------------------------------------------------------------------------------- bad .pt2


def _doctor_version(path: Path, out: Path, major_delta: int, torch_version: str) -> None:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if re.search(r"models/[^/]+\.json$", item.filename):
                document = json.loads(data)
                document["schema_version"]["major"] += major_delta
                document["torch_version"] = torch_version
                data = json.dumps(document).encode()
            dst.writestr(item, data)


def test_a_file_from_a_newer_pytorch_names_the_version_needed(
    built: Callable[[Case], Built], tmp_path: Path
) -> None:
    doctored = tmp_path / "newer.pt2"
    _doctor_version(built(CASES[0]).path, doctored, +1, "9.1.0+cu130")
    with pytest.raises(ModelLoadError) as err:
        modellens.load(doctored)
    message = str(err.value)
    assert "PyTorch 9.1.0" in message and torch.__version__ in message
    assert 'pip install -U "torch>=9.1.0"' in err.value.fix


def test_a_file_from_an_older_schema_says_so(built: Callable[[Case], Built], tmp_path: Path) -> None:
    doctored = tmp_path / "older.pt2"
    _doctor_version(built(CASES[0]).path, doctored, -1, "2.1.0")
    with pytest.raises(ModelLoadError, match=r"PyTorch 2\.1\.0.*cannot read") as err:
        modellens.load(doctored)
    assert "torch==2.1.0" in err.value.fix


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_archive_is_a_clear_error(
    built: Callable[[Case], Built], tmp_path: Path, keep: float
) -> None:
    data = built(CASES[0]).path.read_bytes()
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError, match=r"truncated or corrupt \.pt2") as err:
        modellens.load(cut)
    assert "re-save" in err.value.fix
    assert "\n" not in str(err.value)


def test_without_torch_the_error_names_the_extra(
    built: Callable[[Case], Built], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = built(CASES[0]).path
    real_import = builtins.__import__

    def no_torch(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ModelLoadError, match="needs PyTorch") as err:
        modellens.load(path)
    assert err.value.fix == 'install PyTorch support: pip install "modellens[torch]"'


# --------------------------------------------------------------------------- committed sample

SAMPLE = Path(__file__).resolve().parents[1] / "sample_models" / "cnn_dynamic_batch.pt2"


def test_committed_pt2_sample_and_its_input_spec() -> None:
    yaml = pytest.importorskip("yaml")
    assert SAMPLE.stat().st_size < 1_000_000
    program = torch.export.load(SAMPLE)
    info = modellens.summarize(modellens.load(SAMPLE))
    assert info["op_types"] == dict(expected_ops(program))
    assert info["inputs"] == expected_inputs(program)
    symbol = info["inputs"][0]["shape"][0]
    assert info["dim_ranges"] == {symbol: [1, 64]}
    spec = yaml.safe_load(SAMPLE.with_name("cnn_dynamic_batch.inputs.yaml").read_text())
    (entry,) = spec["inputs"]
    assert entry["input_name"] == info["inputs"][0]["name"]
    *dims, dtype = entry["shape"].split("x")
    assert [int(d) for d in dims[1:]] == info["inputs"][0]["shape"][1:] and dtype == "f32"
    assert entry["data"] == {"random": {"uniform": {"min": 0, "max": 1}}}


@pytest.mark.timeout(300)
def test_app_shows_the_pt2_sample_and_a_conv_weight() -> None:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    app.query_params["model"] = "sample:cnn_dynamic_batch.pt2"
    app.query_params["node"] = "conv2d"
    app.run()
    assert not app.exception
    assert "cnn_dynamic_batch.pt2" in app.selectbox(key="sample_header_0").options  # the Open… menu
    texts = "\n".join(str(m.value) for m in [*app.markdown, *app.caption])
    assert "aten.conv2d.default" in texts
    labels = [e.label.replace("\\", "") for e in app.expander]
    assert any("stem.weight" in label and "8×3×3×3" in label for label in labels), labels
    stats = weight_stats(app)[0]
    assert list(stats) == ["min", "max", "mean", "std"]
    weight = torch.export.load(SAMPLE).state_dict["stem.weight"].detach()
    assert stats["min"] == pytest.approx(float(weight.min()), rel=1e-5)


@pytest.mark.timeout(120)
def test_render_draws_the_pt2_sample(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "graph.svg"
    result = subprocess.run(
        [sys.executable, "-m", "modellens", "render", str(SAMPLE), "-o", str(out), "--expand", "all"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    svg = out.read_text()
    program = torch.export.load(SAMPLE)
    assert svg.count(">aten.conv2d.default<") == expected_ops(program)["aten.conv2d.default"]


def test_ports_are_named_by_the_operator_schema(built: Callable[[Case], Built]) -> None:
    b = built(CASES[0])
    for node in b.program.graph.nodes:
        if node.op != "call_function" or node.name not in b.graph:
            continue
        schema = node.target._schema
        tensor_args = [
            a.name for a, v in zip(schema.arguments, node.args, strict=False) if isinstance(v, torch.fx.Node)
        ]
        data = b.graph.nodes[node.name]
        assert data["port_names"] == tensor_args
        assert data["doc"] == str(schema)


def test_buffer_mutations_are_drawn_but_not_graph_outputs(built: Callable[[Case], Built]) -> None:
    b = built(next(c for c in CASES if c.id == "aten_dialect_training_bn"))
    specs = b.program.graph_signature.output_specs
    mutated = [s.target for s in specs if s.kind.name == "BUFFER_MUTATION"]
    assert mutated == ["running_mean", "running_var", "num_batches_tracked"]
    drawn = [d["name"] for _, d in b.graph.nodes(data=True) if d["op_type"] == "Mutation"]
    assert drawn == [f"{t} (buffer mutation)" for t in mutated]
    assert len(b.graph.graph["outputs"]) == sum(s.kind.name == "USER_OUTPUT" for s in specs)
    assert b.info["metadata"]["dialect"] == "ATEN"


# ------------------------------------------------------------------------- custom operators


@torch.library.custom_op("modellens_test::scale", mutates_args=())
def _scale(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@_scale.register_fake
def _scale_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class UsesCustomOp(nn.Module):
    def forward(self, x: Any) -> Any:
        return _scale(x).relu()


def _custom_op_file(tmp_path: Path) -> Path:
    path = tmp_path / "custom.pt2"
    torch.export.save(torch.export.export(UsesCustomOp(), (torch.randn(3),)), path)
    return path


def test_a_registered_custom_operator_is_drawn_as_custom(tmp_path: Path) -> None:
    graph = modellens.load(_custom_op_file(tmp_path))
    node = next(d for _, d in graph.nodes(data=True) if d["domain"] == "modellens_test")
    assert node["op_type"] == str(torch.ops.modellens_test.scale.default)
    assert node["category"] == "custom"


def test_an_operator_whose_library_is_missing_is_named(tmp_path: Path) -> None:
    path = _custom_op_file(tmp_path)
    doctored = tmp_path / "missing_lib.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(doctored, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("models/model.json"):
                data = data.replace(b"torch.ops.modellens_test.scale", b"torch.ops.not_installed_lib.scale")
            dst.writestr(item, data)
    with pytest.raises(ModelLoadError, match="not_installed_lib::scale") as err:
        modellens.load(doctored)
    assert "not_installed_lib::" in err.value.fix
