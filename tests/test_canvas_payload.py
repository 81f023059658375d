"""The canvas payload and the engine's drawing of it (issue 9): names, export details, colours,
selection marks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from converters import load_model
from tests.payloads import make_payload
from viewer.canvas_payload import build_payload
from viewer.colors import CATEGORY_STYLES
from viewer.render import render_svg


def _conv_model(path: Path) -> Path:
    """x -> Conv (named "stem_conv", explicit pads) -> Relu (unnamed) -> y."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="stem_conv", pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", ["c"], ["y"])
    graph = helper.make_graph(
        [conv, relu],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def conv_graph(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_model(_conv_model(tmp_path_factory.mktemp("conv") / "conv.onnx"))


def _titles(svg: str) -> list[str]:
    return re.findall(r'<text class="ml-title"[^>]*>([^<]*)</text>', svg)


def test_name_labels_show_names_equal_to_the_id(conv_graph: Any) -> None:
    """The payload leaves `name` out when it equals the id; "name" labels still show it."""
    payload = build_payload(conv_graph)
    conv = next(n for n in payload["nodes"] if n.get("op") == "Conv")
    assert "name" not in conv  # the compact form the engine must read as name = id
    by_op = _titles(render_svg(payload, {"expand": "all"}))
    by_name = _titles(render_svg(payload, {"expand": "all", "labels": "name"}))
    assert "Conv" in by_op and "stem_conv" not in by_op
    assert "stem_conv" in by_name and "Conv" not in by_name


def test_long_names_are_shortened_with_the_full_name_as_tooltip() -> None:
    long_id = "/encoder/layer.11/attention/self/query/MatMul_with_a_long_tail"
    payload = make_payload([(long_id, "MatMul", "")], [])
    del payload["nodes"][0]["name"]
    svg = render_svg(payload, {"labels": "name"})
    (title,) = _titles(svg)
    assert "…" in title and len(title) <= 40
    assert f"<title>{long_id}</title>" in svg


def test_export_details_carry_attributes_and_docs(conv_graph: Any) -> None:
    plain = build_payload(conv_graph)
    detailed = build_payload(conv_graph, details=True)
    assert "docs" not in plain and all("attrs" not in n for n in plain["nodes"])
    conv = next(n for n in detailed["nodes"] if n.get("op") == "Conv")
    attrs = {name: (value, is_default) for name, value, is_default in conv["attrs"]}
    assert attrs["pads"] == ("[1, 1, 1, 1]", 0)
    assert attrs["auto_pad"][1] == 1  # an unset attribute shows its default
    doc = detailed["docs"][conv["doc"]]
    schema = onnx.defs.get_schema("Conv", 17, "")
    assert doc["since"] == schema.since_version and doc["op"] == "Conv"
    assert doc["text"] == schema.doc.strip()
    assert doc["attrs"]["pads"] == " ".join(schema.attributes["pads"].description.split())
    relu = next(n for n in detailed["nodes"] if n.get("op") == "Relu")
    assert relu["doc"] != conv["doc"] and len(detailed["docs"]) == 2


def _luminance(color: str) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


DARK_CANVAS = "#16181c"  # PALETTES.dark.bg in viewer/component/src/svg.js


@pytest.mark.parametrize("category", sorted(CATEGORY_STYLES))
def test_category_colours_read_in_both_themes(category: str) -> None:
    """White text on the fill meets WCAG AA (4.5:1); the fill stands out from the dark canvas."""
    style = CATEGORY_STYLES[category]
    assert _contrast(style["text"], style["fill"]) >= 4.5
    assert _contrast(style["fill"], DARK_CANVAS) >= 2.0


NESTED = make_payload(
    [("x", "Input", ""), ("g/a", "Conv", "g"), ("g/b", "Relu", "g"), ("y", "Conv", "")],
    [(0, 1), (1, 2), (2, 3)],
    [("g", "")],
)


def _marked(svg: str) -> dict[str, list[str]]:
    return {
        "nodes": re.findall(r'class="ml-node[^"]*ml-sel[^"]*" data-id="([^"]*)"', svg),
        "edges": re.findall(r'class="ml-edge ml-sel" data-edges="([^"]*)"', svg),
        "clusters": re.findall(r'class="ml-chead ml-sel" data-cluster-head="([^"]*)"', svg),
    }


@pytest.mark.parametrize(
    ("options", "nodes", "edges", "clusters"),
    [
        ({"expand": "all", "selected": "g/a"}, ["g/a"], [], []),
        ({"expand": "all", "selected": {"kind": "node", "id": "y"}}, ["y"], [], []),
        ({"expand": "none", "selected": {"kind": "node", "id": "g/b"}}, ["group:g"], [], []),
        ({"expand": "all", "selected": {"kind": "edge", "edges": [1]}}, [], ["1"], []),
        ({"expand": "all", "selected": {"kind": "group", "id": "g"}}, [], [], ["g"]),
        ({"expand": "none", "selected": {"kind": "group", "id": "g"}}, ["group:g"], [], []),
        ({"expand": "all", "selected": {"kind": "none"}, "focus": "y"}, [], [], []),
        ({"expand": "all", "selected": None}, [], [], []),
    ],
)
def test_one_selection_is_drawn(
    options: dict[str, Any], nodes: list[str], edges: list[str], clusters: list[str]
) -> None:
    """options.selected in each contract form marks exactly one thing (a node, an edge or a group)."""
    assert _marked(render_svg(NESTED, options)) == {"nodes": nodes, "edges": edges, "clusters": clusters}
