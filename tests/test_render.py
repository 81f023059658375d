"""The graph engine run in V8: visible graph, SVG, DOT and the standalone HTML export."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from tests.payloads import make_payload
from viewer.render import render_dot, render_html, render_svg, visible_graph

# x -> a/conv -> a/relu -> a/b/conv -> a/b/relu -> y ; group a contains b
NESTED = make_payload(
    [
        ("x", "Input", ""),
        ("a/conv", "Conv", "a"),
        ("a/relu", "Relu", "a"),
        ("a/b/conv", "Conv", "a/b"),
        ("a/b/relu", "Relu", "a/b"),
        ("y", "Gemm", ""),
    ],
    [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (1, 3), (2, 2), (2, 4)],
    [("a", ""), ("a/b", "a")],
)


def ids(vg: dict[str, Any]) -> list[str]:
    return [n["id"] for n in vg["nodes"]]


@pytest.mark.parametrize(
    ("options", "expected_ids", "expected_expanded"),
    [
        ({}, ["x", "a/conv", "a/relu", "a/b/conv", "a/b/relu", "y"], ["a", "a/b"]),
        ({"expand": "none"}, ["x", "group:a", "y"], []),
        ({"expand": 1}, ["x", "a/conv", "a/relu", "group:a/b", "y"], ["a"]),
        ({"expand": "all"}, ["x", "a/conv", "a/relu", "a/b/conv", "a/b/relu", "y"], ["a", "a/b"]),
        ({"expanded": ["a/b"]}, ["x", "group:a", "y"], []),  # child open, parent closed
        ({"expanded": ["a"], "expand": "all"}, ["x", "a/conv", "a/relu", "group:a/b", "y"], ["a"]),
        (
            {"expand": "none", "focus": "a/b/relu"},
            ["x", "a/conv", "a/relu", "a/b/conv", "a/b/relu", "y"],
            ["a", "a/b"],
        ),
    ],
)
def test_visible_nodes(
    options: dict[str, Any], expected_ids: list[str], expected_expanded: list[str]
) -> None:
    vg = visible_graph(NESTED, options)
    assert ids(vg) == expected_ids
    assert vg["expanded"] == expected_expanded
    assert vg["total"] == 6


@pytest.mark.parametrize(
    ("options", "expected_edges"),
    [
        (
            {"expand": "all"},
            [
                ("x", "a/conv", [0]),
                ("a/conv", "a/relu", [1]),
                ("a/relu", "a/b/conv", [2]),
                ("a/b/conv", "a/b/relu", [3]),
                ("a/b/relu", "y", [4]),
                ("a/conv", "a/b/conv", [5]),
                ("a/relu", "a/b/relu", [7]),
            ],
        ),
        ({"expand": "none"}, [("x", "group:a", [0]), ("group:a", "y", [4])]),
        (
            {"expand": 1},
            [
                ("x", "a/conv", [0]),
                ("a/conv", "a/relu", [1]),
                ("a/relu", "group:a/b", [2, 7]),
                ("a/conv", "group:a/b", [5]),
                ("group:a/b", "y", [4]),
            ],
        ),
    ],
)
def test_edges_remapped_deduplicated(
    options: dict[str, Any], expected_edges: list[tuple[str, str, list[int]]]
) -> None:
    vg = visible_graph(NESTED, options)
    edges = sorted((e["source"], e["target"], e["edges"]) for e in vg["edges"])
    assert edges == sorted(expected_edges)


def test_collapsed_group_summary() -> None:
    vg = visible_graph(NESTED, {"expand": "none"})
    group = next(n for n in vg["nodes"] if n["kind"] == "group")
    assert group["count"] == 4
    assert group["ops"] == [["Conv", 2], ["Relu", 2]]
    assert vg["clusters"] == []


def test_clusters_are_nested() -> None:
    vg = visible_graph(NESTED, {"expand": "all"})
    assert [(c["id"], c["parent"]) for c in vg["clusters"]] == [("a", ""), ("a/b", "a")]
    parents = {n["id"]: n["parent"] for n in vg["nodes"]}
    assert parents["a/b/conv"] == "a/b" and parents["a/conv"] == "a" and parents["x"] == ""


def chain_payload(n_nodes: int, groups: dict[str, int]) -> dict[str, Any]:
    """A chain whose nodes fill the given top-level groups in order (sizes by group)."""
    nodes: list[tuple[str, str, str]] = []
    for group, size in groups.items():
        nodes += [(f"{group}/n{i}", "Conv", group) for i in range(size)]
    nodes += [(f"free{i}", "Relu", "") for i in range(n_nodes - len(nodes))]
    return make_payload(nodes, [(i, i + 1) for i in range(len(nodes) - 1)], [(g, "") for g in groups])


@pytest.mark.parametrize(
    ("groups", "expected_expanded"),
    [
        ({"big": 150, "mid": 60, "small": 5}, ["big", "small"]),  # largest first, then what still fits
        ({"g1": 100, "g2": 100, "g3": 100}, ["g1"]),
        ({"g1": 300}, []),  # expanding would pass 200
        ({"g1": 60, "g2": 60}, ["g1", "g2"]),
    ],
)
def test_automatic_first_view(groups: dict[str, int], expected_expanded: list[str]) -> None:
    payload = chain_payload(sum(groups.values()), groups)
    vg = visible_graph(payload, {})
    assert sorted(vg["expanded"]) == sorted(expected_expanded)
    assert len(vg["nodes"]) <= 200


def test_large_payload_automatic_view_is_fast() -> None:
    n, g = 50_000, 500
    payload = {
        "schema": 1,
        "title": "big",
        "categories": {},
        "groups": [{"id": f"g{i}", "label": f"g{i}", "parent": "", "count": n // g} for i in range(g)],
        "nodes": [
            {
                "id": f"n{i}",
                "name": f"n{i}",
                "op": "Add",
                "cat": "",
                "kind": "op",
                "group": f"g{i * g // n}",
                "weights": [],
                "subgraphs": 0,
            }
            for i in range(n)
        ],
        "edges": [[i, i + 1, f"t{i}", "1", "float32"] for i in range(n - 1)],
    }
    start = time.perf_counter()
    vg = visible_graph(payload, {})
    elapsed = time.perf_counter() - start
    assert len(vg["nodes"]) == g and len(vg["edges"]) == g - 1
    assert elapsed < 5.0, f"visible graph of 50k nodes took {elapsed:.2f}s"


EVIL = make_payload(
    [("in<put>", "Input", ""), ("n&\"quote'", "Conv", "g<1>"), ("</script><b>", "Relu", "g<1>")],
    [(0, 1), (1, 2)],
    [("g<1>", "")],
    weights={"n&\"quote'": [["W", "64×3×7×7"], ["B", "64"]]},
)


@pytest.mark.parametrize(
    ("options", "present", "absent"),
    [
        (
            {"expand": "all"},
            [
                'data-id="n&amp;&quot;quote&#39;"',
                "⟨64×3×7×7⟩",
                ">1×1<",
                "Layer",
                "Activation",
                'data-edges="0"',
                "#335c99",
                "g&lt;1&gt;",
            ],
            ["<b>", "quote'\""],
        ),
        (
            {"expand": "all", "showWeights": False, "showShapes": False},
            ['data-id="in&lt;put&gt;"'],
            ["⟨64×3×7×7⟩", ">1×1<"],
        ),
        ({"expand": "none"}, ['data-id="group:g&lt;1&gt;"', "2 ops"], ["data-cluster-head"]),
        ({"expand": "all", "theme": "dark"}, ["#16181c"], ['#ffffff"/><text class="ml-heading']),
        ({"expand": "all", "labels": "name", "direction": "LR"}, ["&lt;/script&gt;&lt;b&gt;"], ["</script>"]),
    ],
)
def test_render_svg(options: dict[str, Any], present: list[str], absent: list[str]) -> None:
    svg = render_svg(EVIL, options)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for text in present:
        assert text in svg
    for text in absent:
        assert text not in svg


def test_render_svg_is_well_formed_xml() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render_svg(NESTED, {"expand": "all"}))
    ns = "{http://www.w3.org/2000/svg}"
    ids_drawn = {g.get("data-id") for g in root.iter(f"{ns}g") if g.get("data-id")}
    assert ids_drawn == {"x", "a/conv", "a/relu", "a/b/conv", "a/b/relu", "y"}


@pytest.mark.parametrize(
    ("options", "present", "absent"),
    [
        (
            {"expand": "all"},
            ["digraph", "subgraph cluster_0", "subgraph cluster_1", 'label="1×2"', "rankdir=TB"],
            [],
        ),
        ({"expand": "none", "direction": "LR"}, ["rankdir=LR", "4 ops"], ["subgraph"]),
        ({"expand": "all", "showShapes": False}, ["->"], ['label="1×2"']),
    ],
)
def test_render_dot(options: dict[str, Any], present: list[str], absent: list[str]) -> None:
    dot = render_dot(NESTED, options)
    assert dot.rstrip().endswith("}")
    for text in present:
        assert text in dot
    for text in absent:
        assert text not in dot


def test_render_dot_escapes_quotes() -> None:
    dot = render_dot(EVIL, {"expand": "all"})
    assert 'tooltip="n&\\"quote\'"' in dot


def test_render_html_is_standalone_and_safe() -> None:
    html = render_html(EVIL, {"theme": "dark"})
    assert html.startswith("<!DOCTYPE html>")
    assert "ModelLensGraph.mountStandalone" in html
    assert html.count("</script>") == 4  # payload, options, bundle, mount: nothing from the payload
    # nothing is fetched from the web (the bundle's Markdown renderer holds URL strings, not loads)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//""", html)
    payload_json = re.search(r'id="ml-payload">(.*?)</script>', html, re.S)
    assert payload_json is not None
    assert json.loads(payload_json.group(1)) == EVIL
