"""The HTML export's inspector data (issue 9, retest item 8): built by viewer.inspector_data from
the same rows as the app's panel, carrying subgraphs with their breadcrumbs, one row per tensor,
and the group's parameter count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from converters import load_model
from tests.export_models import LN_NAME, inspector_model
from viewer import tables
from viewer.canvas_payload import build_payload
from viewer.hierarchy import build_groups
from viewer.model_view import OpenModel
from viewer.summary import model_summary


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_model(inspector_model(tmp_path_factory.mktemp("insp") / "inspector.onnx"))


@pytest.fixture(scope="module")
def payload(graph: Any) -> dict[str, Any]:
    return build_payload(graph, details=True)


def _node(payload: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in payload["nodes"] if n["id"] == node_id)


def test_outputs_list_each_tensor_once_with_all_its_consumers(graph: Any, payload: dict[str, Any]) -> None:
    info = _node(payload, LN_NAME)["info"]
    (row,) = info["outputs"]
    assert row[:2] == ["Y", "ln"] and row[5] == 2
    assert sorted(row[4]) == sorted(tables.tensor_consumers(graph, LN_NAME, 0))
    (x_row, scale_row, bias_row) = info["inputs"]
    assert x_row[4] == ["input:x"] and scale_row[1] == "scale" and bias_row[4] == []


def test_groups_carry_the_app_s_details_with_parameters(graph: Any, payload: dict[str, Any]) -> None:
    grouping = build_groups(graph)
    for entry in payload["groups"]:
        details = tables.group_details(graph, grouping, entry["id"])
        info = entry["info"]
        assert info["parameters"] == details.parameters
        assert [t[0] for t in info["entering"]] == [t.tensor for t in details.entering]
        assert [t[0] for t in info["leaving"]] == [t.tensor for t in details.leaving]
        names = [t[0] for t in info["entering"]] + [t[0] for t in info["leaving"]]
        assert len(names) == len(set(names))  # each tensor once per list
    layer = next(e["info"] for e in payload["groups"] if e["info"]["parameters"])
    assert layer["parameters"] == 8 and "8 parameters (32 B)" in layer["counts"]


def test_graph_attributes_link_into_subgraphs_that_travel_with_the_export(payload: dict[str, Any]) -> None:
    links = _node(payload, "choose")["info"]["links"]
    assert links == {
        "else_branch": [["choose/else_branch", "Open else_branch · 2 operator nodes"]],
        "then_branch": [["choose/then_branch", "Open then_branch · 1 operator node"]],
    }
    assert set(payload["subgraphs"]) == {"choose/else_branch", "choose/then_branch", "refine/body"}
    body = payload["subgraphs"]["refine/body"]
    assert body["graph"] == "refine/body" and "subgraphs" not in body
    assert body["crumbs"] == [["", "main graph", ""], ["", "refine", "refine"], ["refine/body", "body", ""]]
    assert {n["id"] for n in body["nodes"]} >= {"body_identity", "body_cond"}
    assert payload["crumbs"] == [] and payload["graph"] == ""


def test_the_app_export_of_a_body_carries_its_breadcrumb(graph: Any) -> None:
    opened = OpenModel(key="k", name="inspector.onnx", graph=graph, summary=model_summary(graph))
    exported = opened.export_payload("choose/else_branch")
    assert exported["graph"] == "choose/else_branch"
    assert [c[1] for c in exported["crumbs"]] == ["main graph", "choose", "else_branch"]
    assert _node(exported, "else_neg")["info"]["outputs"][0][4] == ["else_sigmoid"]


def test_the_export_view_is_the_one_last_drawn() -> None:
    from viewer import export_view

    latest: dict[str, Any] = {}
    host = {"selected": {"kind": "node", "id": "a"}, "focus": "a", "theme": "dark", "height": "fill"}
    export_view.remember(latest, "k1", None, None, host)
    assert export_view.options_for(latest, "k1") == {
        "focus": "a",
        "selected": host["selected"],
        "theme": "dark",
    }
    same = latest
    view = {"direction": "LR", "labels": "name", "showWeights": False, "showShapes": True}
    export_view.remember(latest, "k1", ["g", "g/h"], view, {"selected": None, "focus": "a"})
    assert latest is same  # updated in place: a download registered earlier reads it too
    assert export_view.options_for(latest, "k1") == {**view, "expanded": ["g", "g/h"]}
    assert export_view.options_for(latest, "another canvas") == {}


@pytest.mark.parametrize("sample", ["transformer_block.onnx", "cnn_branches.onnx"])
def test_the_one_pass_group_index_lists_what_group_members_lists(sample: str) -> None:
    graph = load_model(Path(__file__).resolve().parent.parent / "sample_models" / sample)
    grouping = build_groups(graph)
    index = tables.group_index(graph, grouping)
    for group_id in grouping.groups:
        assert index.members[group_id] == tables.group_members(grouping, group_id)
        assert tables.group_details(graph, grouping, group_id, index) == tables.group_details(
            graph, grouping, group_id
        )


def test_body_links_count_nodes_as_the_canvas_does() -> None:
    """A body link's count is every node of the body's graph, Constants included (what the canvas
    says once the body is open): compared with the node lists onnx itself reads."""
    import onnx

    from viewer.inspector_data import body_link_label

    path = Path(__file__).resolve().parents[1] / "sample_models" / "control_flow_if_loop.onnx"
    model = onnx.load(str(path))
    graph = load_model(path)
    subgraphs = graph.graph["subgraphs"]
    checked = 0
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.type != onnx.AttributeProto.GRAPH:
                continue
            sub_id = next(s for s in subgraphs if s.endswith(f"/{attribute.name}") and node.name in s)
            count = len(attribute.g.node)
            assert body_link_label(subgraphs, sub_id).endswith(f"· {count} operator node{'s' * (count != 1)}")
            checked += 1
    assert checked >= 3
