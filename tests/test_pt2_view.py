"""What an ExportedProgram shows beyond its operators: module classes on groups and in the
inspector, symbol ranges beside edge shapes, constant (specialised) arguments, and lifted constant
tensors in the parameter count. Expected values come from torch (the program, the module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modellens
from viewer import tables
from viewer.canvas_payload import build_payload
from viewer.hierarchy import build_groups
from viewer.summary import dim_range_text

torch = pytest.importorskip("torch")
nn = torch.nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.act = nn.GELU()

    def forward(self, x: Any) -> Any:
        return self.act(self.fc(x)) + x


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(6, 2)
        self.const = torch.arange(4.0)  # a plain tensor attribute: torch.export lifts it as a constant
        self.head2 = nn.Linear(6, 2)
        self.head2.weight = self.head.weight  # tied: counted once

    def forward(self, x: Any, *, mode: str = "a") -> Any:
        for block in self.blocks:
            x = block(x)
        y = x.reshape(x.shape[0], -1)
        out = self.head(y) + self.head2(y) + self.const[:2]
        return out * 2 if mode == "a" else out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    torch.manual_seed(0)
    module = Net().eval()
    batch = torch.export.Dim("batch", min=2, max=32)
    program = torch.export.export(
        module, (torch.randn(4, 6),), {"mode": "a"}, dynamic_shapes={"x": {0: batch}, "mode": None}
    )
    path = tmp_path_factory.mktemp("view") / "net.pt2"
    torch.export.save(program, path)
    return module, torch.export.load(path), path


def test_groups_carry_the_module_class(exported: tuple[Any, Any, Path]) -> None:
    module, _, path = exported
    graph = modellens.load(path)
    classes = {name.replace(".", "/"): type(sub).__name__ for name, sub in module.named_modules() if name}
    labels = {g["id"]: g["label"] for g in build_payload(graph)["groups"]}
    checked = 0
    for group_id, label in labels.items():
        namespace = group_id.replace("∕", "/")
        if namespace in classes and classes[namespace] != "ModuleList":
            assert label.endswith(f" ({classes[namespace]})"), (group_id, label)
            checked += 1
    assert checked >= 2, labels  # blocks/0 and blocks/1 (Block)
    node = next(n for n, d in graph.nodes(data=True) if d["namespace"] == "blocks/0/fc")
    assert tables.namespace_text(graph, graph.nodes[node]["namespace"]) == "blocks/0/fc (Linear)"


def test_torch_placeholder_stack_is_not_a_group(exported: tuple[Any, Any, Path]) -> None:
    _, program, path = exported
    placeholder = [
        n
        for n in program.graph.nodes
        if any(
            str(p).startswith("_empty_nn_module_stack")
            for p, _ in (n.meta.get("nn_module_stack") or {}).values()
        )
    ]
    assert placeholder  # this torch does write its placeholder stack for the dynamic batch
    graph = modellens.load(path)
    assert all(not d["namespace"].startswith("_empty") for _, d in graph.nodes(data=True))
    assert all(not g.startswith("_empty") for g in build_groups(graph).groups)
    for node in placeholder:  # torch's sym_size nodes of the dynamic batch sit at the top level
        assert graph.nodes[node.name]["namespace"] == ""


def test_edges_show_symbol_ranges_beside_the_dtype(exported: tuple[Any, Any, Path]) -> None:
    _, program, path = exported
    graph = modellens.load(path)
    ((symbol, bounds),) = program.range_constraints.items()
    expected = dim_range_text(str(symbol), [int(bounds.lower), int(bounds.upper)])
    assert expected == f"{symbol} ∈ [2, 32]"
    edges = build_payload(graph)["edges"]
    symbolic = [e for e in edges if str(symbol) in e[3]]
    assert symbolic and all(e[4].endswith(f" · {expected}") for e in symbolic)
    assert all("∈" not in e[3] for e in edges)  # the edge label keeps the short shape
    assert all("∈" not in e[4] for e in edges if str(symbol) not in e[3])


def test_a_specialised_constant_argument_shows_its_value(exported: tuple[Any, Any, Path]) -> None:
    _, program, path = exported
    value = next(n.meta["val"] for n in program.graph.nodes if n.op == "placeholder" and n.name == "mode")
    graph = modellens.load(path)
    frame = tables.io_table(graph, "inputs")
    row = frame[frame["name"] == "mode"].iloc[0]
    assert row["dtype"] == f"str = {value!r}" == "str = 'a'"


def test_lifted_constants_count_as_parameters(exported: tuple[Any, Any, Path]) -> None:
    _, program, path = exported
    tensors = {
        (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)): t.numel()
        for t in [*program.state_dict.values(), *program.constants.values()]
        if isinstance(t, torch.Tensor)
    }
    info = modellens.summarize(modellens.load(path))
    assert "const" in program.constants
    assert info["parameters"] == sum(tensors.values())


@pytest.mark.parametrize("values", [[1.0, 2.0, 4.0], [0.5, -0.5], list(range(100))])
def test_weight_std_is_torchs_sample_std(values: list[float]) -> None:
    import numpy as np

    stats = tables.tensor_stats(np.asarray(values, dtype=np.float32))
    assert stats.std == pytest.approx(float(torch.tensor(values, dtype=torch.float32).std()), rel=1e-6)


def test_a_zip_of_two_models_says_which_it_opened(exported: tuple[Any, Any, Path], tmp_path: Path) -> None:
    import zipfile

    _, program, path = exported
    other = torch.export.export(nn.Linear(3, 1), (torch.randn(1, 3),))
    other_path = tmp_path / "other.pt2"
    torch.export.save(other, other_path)
    bundle = tmp_path / "two.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(path, "a/net.pt2")
        archive.write(other_path, "b/other.pt2")
    graph = modellens.load(bundle)
    expected = sum(1 for n in program.graph.nodes if n.op == "call_function")
    assert modellens.summarize(graph)["nodes"] == expected
    (warning,) = [w for w in graph.graph["warnings"] if "holds 2 models" in w]
    assert "showing a/net.pt2" in warning and "b/other.pt2" in warning
