"""The collapsed-view property (see test_collapsed_views.py) over the TensorFlow SavedModel cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pytest

import modellens
from tests.test_collapsed_views import all_graphs, cycle_in_views
from tests.test_savedmodel_cases import BUILDERS, saved

__all__ = ["saved"]  # the fixture that builds each SavedModel once


@pytest.mark.parametrize("case", sorted(BUILDERS))
def test_collapsed_views_of_savedmodels_are_acyclic(case: str, saved: Callable[[str], Path]) -> None:
    graph = modellens.load(saved(case))
    for name, body in all_graphs(graph):
        assert nx.is_directed_acyclic_graph(nx.DiGraph(body)), f"{name}: the model itself is cyclic"
        problem = cycle_in_views(body)
        assert problem is None, f"{case} [{name}]: {problem}"
