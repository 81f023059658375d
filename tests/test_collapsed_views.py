"""A collapsed view of an acyclic graph is never cyclic, and "Collapse all" shows the model's real
top-level blocks rather than one wrapper group: properties of every model case.

The visible graph is what the canvas draws, computed by the JS engine (``viewer.render.visible_graph``,
the same bundle the browser runs) for several expansion levels: everything collapsed, each depth,
the automatic first view, everything open, and seeded random sets of open groups.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import modellens
from converters.schema import ModelGraph
from tests.model_cases import BENCHMARK_BUILDERS, CASES, ModelCase
from viewer.canvas_payload import build_payload
from viewer.hierarchy import weight_forwarders
from viewer.render import visible_graph

LEVELS: list[dict[str, Any]] = [{"expand": "none"}, {"expand": 1}, {"expand": 2}, {"expand": 3}, {}]
RANDOM_VIEWS = 6


def views(payload: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    group_ids = [g["id"] for g in payload["groups"]]
    rng = random.Random(seed)
    picks = [{"expanded": [g for g in group_ids if rng.random() < share]} for share in (0.2, 0.5, 0.8)]
    picks += [{"expanded": rng.sample(group_ids, k=min(len(group_ids), rng.randint(1, 4)))} for _ in range(3)]
    return [*LEVELS, {"expand": "all"}, *picks[:RANDOM_VIEWS]]


def wrapper_in_view(graph: ModelGraph, payload: dict[str, Any]) -> str | None:
    """A description of a root wrapper that "Collapse all" shows (one group, and beside it only
    graph inputs/outputs and nodes that forward weights), or None."""
    shown = visible_graph(payload, {"expand": "none"})["nodes"]
    groups = [n["label"] for n in shown if n["kind"] == "group"]
    strays = weight_forwarders(graph)
    others = [
        n["id"] for n in shown if n["kind"] not in ("group", "input", "output") and n["id"] not in strays
    ]
    if len(groups) == 1 and not others:
        return f"collapse all shows the wrapper {groups[0]!r} instead of the blocks inside it"
    return None


def cycle_in_views(graph: ModelGraph) -> str | None:
    """A description of the first cyclic view, or of a root wrapper left in place, or None."""
    payload = build_payload(graph)
    wrapper = wrapper_in_view(graph, payload)
    if wrapper is not None:
        return wrapper
    for options in views(payload, seed=len(payload["nodes"])):
        visible = visible_graph(payload, options)
        drawn = nx.DiGraph()
        drawn.add_nodes_from(n["id"] for n in visible["nodes"])
        drawn.add_edges_from((e["source"], e["target"]) for e in visible["edges"])
        if not nx.is_directed_acyclic_graph(drawn):
            cycle = nx.find_cycle(drawn)
            return f"view {options} has the cycle {' -> '.join(a for a, _ in cycle)}"
    return None


def all_graphs(graph: ModelGraph) -> list[tuple[str, ModelGraph]]:
    return [("main", graph), *sorted(graph.graph.get("subgraphs", {}).items())]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_collapsed_views_of_model_cases_are_acyclic(
    case: ModelCase, build_case: Callable[[ModelCase], Path]
) -> None:
    graph = modellens.load(build_case(case))
    for name, body in all_graphs(graph):
        assert nx.is_directed_acyclic_graph(nx.DiGraph(body)), f"{name}: the model itself is cyclic"
        problem = cycle_in_views(body)
        assert problem is None, f"{case.id} [{name}]: {problem}"


@pytest.mark.slow
@pytest.mark.parametrize("builder", sorted(BENCHMARK_BUILDERS))
def test_collapsed_views_of_benchmark_models_are_acyclic(builder: str, tmp_path: Path) -> None:
    graph = modellens.load(BENCHMARK_BUILDERS[builder](tmp_path))
    assert cycle_in_views(graph) is None
