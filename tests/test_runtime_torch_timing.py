"""Per-node times for TorchScript and .pt2 models, keyed by the graph's node ids.

Expected values come from torch: the inlined TorchScript graph (``forward.inlined_graph``) and the
ExportedProgram's fx graph give the nodes and their order; the torch profiler's own event tree
shows which aten ops ran inside each node's scope."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from converters import load_model
from runtime.runners import make_runner
from runtime.shapes import torchscript_ports
from runtime.torch_timing import instrumented_forward
from tests.runtime_models import ConvNet, build_exported, build_scripted, build_traced
from viewer.run_panel import heat_map, timing_rows


class Branchy(nn.Module):
    """Two branches joined, an if on the data and a loop: control flow at the top level."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Conv2d(3, 4, 3, padding=1)
        self.right = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.left(x)) + torch.sigmoid(self.right(x))
        if bool(y.mean() > 0):
            y = y * 2.0
        for _ in range(2):
            y = y - 0.5
        return y.flatten(1)


def _feeds() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(0).random((2, 3, 8, 8)).astype(np.float32)}


def _torchscript(tmp_path: Path, kind: str) -> Path:
    if kind == "traced":
        return build_traced(tmp_path, ConvNet)
    return build_scripted(tmp_path, ConvNet if kind == "scripted" else Branchy)


def _expected_torchscript(path: Path, ports: dict[str, tuple[str, int, int]]) -> list[tuple[str, str]]:
    """(converter node id, node kind) for every top-level node of torch's inlined graph whose
    output the converter draws, in torch's order."""
    found: list[tuple[str, str]] = []
    for node in torch.jit.load(str(path)).forward.inlined_graph.nodes():
        ids = [ports[o.debugName()][0] for o in node.outputs() if o.debugName() in ports]
        if ids and node.kind() != "prim::Constant" and ids[0] not in {i for i, _ in found}:
            found.append((ids[0], node.kind()))
    return found


@pytest.mark.parametrize("kind", ["scripted", "traced", "control_flow"])
def test_torchscript_times_every_drawn_node_in_torchs_order(tmp_path: Path, kind: str) -> None:
    path = _torchscript(tmp_path, kind)
    runner = make_runner(path)
    ports = torchscript_ports(runner)
    expected = _expected_torchscript(path, ports)
    assert any(k.startswith("aten::conv") or k == "aten::_convolution" for _, k in expected)
    if kind == "control_flow":
        assert {"prim::If", "prim::Loop"} <= {k for _, k in expected}
    timings = runner.profile(_feeds())
    assert sorted((t.node, t.op_type) for t in timings) == sorted(expected)
    graph = load_model(path)
    assert all(t.node in graph for t in timings) and all(t.duration_us > 0 for t in timings)
    heat = heat_map(graph, timings)
    assert set(heat) == {t.node for t in timings} and max(heat.values()) == 1.0
    assert timing_rows(graph, timings)["on graph"].all()


@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_torchscript_scopes_hold_their_nodes_aten_ops(tmp_path: Path, kind: str) -> None:
    """In the torch profiler's event tree, each node's scope contains the aten op of that node,
    and the scopes open in the order of torch's inlined graph."""
    path = _torchscript(tmp_path, kind)
    runner = make_runner(path)
    ports = torchscript_ports(runner)
    module = runner.module  # type: ignore[attr-defined]
    function, scopes = instrumented_forward(module, ports)
    x = torch.from_numpy(_feeds()["x"])
    with torch.no_grad(), torch.jit.optimized_execution(False):
        function(module._c, x)
        with torch.profiler.profile() as prof:
            function(module._c, x)
    events = sorted((e for e in prof.events() if e.name in scopes), key=lambda e: e.time_range.start)
    assert [e.name for e in events] == [i for i, _ in _expected_torchscript(path, ports)]
    for event in events:
        kind_name = scopes[event.name]
        if kind_name.startswith("aten::"):
            assert kind_name in {child.name for child in event.cpu_children}, event.name


def test_exported_program_times_every_fx_call_by_node_name(tmp_path: Path) -> None:
    path = build_exported(tmp_path, ConvNet)
    runner = make_runner(path)
    program = torch.export.load(str(path))  # trusted test file: torch's own reading of the graph
    expected = {n.name for n in program.module().graph.nodes if n.op == "call_function"}
    timings = runner.profile(_feeds())
    assert {t.node for t in timings} == expected
    graph = load_model(path)
    assert all(t.node in graph for t in timings)
    assert {t.op_type for t in timings} >= {"conv2d.default", "relu.default", "linear.default"}
    heat = heat_map(graph, timings)
    assert set(heat) == expected and max(heat.values()) == 1.0
