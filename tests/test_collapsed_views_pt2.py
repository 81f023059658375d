"""The collapsed-view property (see test_collapsed_views.py) over the ExportedProgram (.pt2) cases."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import pytest

from tests.test_collapsed_views import all_graphs, cycle_in_views
from tests.test_exported_program_cases import CASES, Built, Case, built

__all__ = ["built"]  # the fixture that exports each case once


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_collapsed_views_of_exported_programs_are_acyclic(case: Case, built: Callable[[Case], Built]) -> None:
    graph = built(case).graph
    for name, body in all_graphs(graph):
        assert nx.is_directed_acyclic_graph(nx.DiGraph(body)), f"{name}: the program itself is cyclic"
        problem = cycle_in_views(body)
        assert problem is None, f"{case.id} [{name}]: {problem}"
