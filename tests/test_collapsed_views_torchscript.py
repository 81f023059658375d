"""The collapsed-view property (see test_collapsed_views.py) over the TorchScript cases: the table of
test_torchscript_cases and the models with containers and shared modules (a Bottleneck calling one
``relu`` three times, ModuleLists iterated in forward), scripted and traced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pytest

import modellens
from converters.schema import ModelGraph
from tests.test_collapsed_views import all_graphs, cycle_in_views
from tests.test_torchscript_cases import CASES, Case, Opened, open_case
from tests.test_torchscript_regressions import SAVED, saved_model

__all__ = ["open_case", "saved_model"]  # the fixtures that build each model once


def _assert_acyclic_views(label: str, graph: ModelGraph) -> None:
    for name, body in all_graphs(graph):
        assert nx.is_directed_acyclic_graph(nx.DiGraph(body)), f"{name}: the model itself is cyclic"
        problem = cycle_in_views(body)
        assert problem is None, f"{label} [{name}]: {problem}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_collapsed_views_of_torchscript_cases_are_acyclic(
    case: Case, open_case: Callable[[Case], Opened]
) -> None:
    _assert_acyclic_views(case.id, open_case(case).graph)


@pytest.mark.parametrize(("name", "how"), SAVED)
def test_collapsed_views_of_shared_and_container_modules_are_acyclic(
    name: str, how: str, saved_model: Callable[[str, str], Path]
) -> None:
    _assert_acyclic_views(f"{name}_{how}", modellens.load(saved_model(name, how)))
