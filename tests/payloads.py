"""Hand-built engine payloads (viewer/component/CONTRACT.md) shared by the render and browser tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CATEGORIES = {
    "layer": {"label": "Layer", "fill": "#335c99", "text": "#ffffff"},
    "activation": {"label": "Activation", "fill": "#702828", "text": "#ffffff"},
    "input": {"label": "Input", "fill": "#444444", "text": "#ffffff"},
}


def make_payload(
    nodes: list[tuple[str, str, str]],
    edges: list[tuple[int, int]],
    groups: Sequence[tuple[str, str]] = (),
    *,
    weights: dict[str, list[list[str]]] | None = None,
) -> dict[str, Any]:
    """nodes: (id, op, group); groups: (id, parent). Counts are computed here."""
    parent = dict(groups)
    counts = dict.fromkeys(parent, 0)
    for _, _, group in nodes:
        while group:
            counts[group] += 1
            group = parent[group]
    return {
        "schema": 1,
        "title": "test.onnx",
        "subtitle": "hand-built",
        "groups": [
            {"id": g, "label": g.rsplit("/", 1)[-1], "parent": p, "count": counts[g]} for g, p in groups
        ],
        "nodes": [
            {
                "id": nid,
                "name": nid,
                "op": op,
                "group": group,
                "kind": "input" if op == "Input" else "op",
                "cat": "input" if op == "Input" else ("activation" if op == "Relu" else "layer"),
                "weights": (weights or {}).get(nid, []),
                "subgraphs": 0,
            }
            for nid, op, group in nodes
        ],
        "edges": [[s, d, f"t{s}_{d}", f"1×{s + 1}", "float32"] for s, d in edges],
        "categories": CATEGORIES,
    }
