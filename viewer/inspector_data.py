"""What the inspector shows, as JSON-safe data: one description for the app's panel
(viewer.inspector) and the HTML export's (``standalone.js``, through ``build_payload(details=True)``).

Both draw from the same row functions of viewer.tables (attributes, ports, group details); the
texts that combine them (a body link's label, a group's counts line) are built here once.
"""

from __future__ import annotations

from typing import Any

from converters.schema import ModelGraph
from viewer import tables
from viewer.hierarchy import Grouping, group_label
from viewer.summary import human_bytes

MAX_LINKS = 12  # jump links per port or crossing tensor, in the app and the export alike


def body_link_label(root_subgraphs: dict[str, ModelGraph], sub_id: str) -> str:
    """``Open else_branch · 2 operator nodes``: a control-flow body (or function) link's text."""
    body = root_subgraphs.get(sub_id)
    name = sub_id.rsplit("/", 1)[-1]
    if body is None:
        return f"Open {name}"
    # operator nodes as the canvas counts them: ops and constants
    nodes = sum(1 for _, d in body.nodes(data=True) if d["kind"] in ("op", "constant"))
    return f"Open {name} · {nodes} operator node{'' if nodes == 1 else 's'}"


def group_counts_text(details: tables.GroupDetails) -> str:
    """``12 operator nodes + 2 constants · 1,536 parameters (6.0 KiB)``."""
    constants = f" + {details.constants:,} constants" if details.constants else ""
    params = (
        f" · {details.parameters:,} parameters ({human_bytes(details.parameter_bytes)})"
        if details.parameters
        else ""
    )
    return f"{details.op_nodes:,} operator nodes{constants}{params}"


def node_inspector(
    graph: ModelGraph, node_id: str, bindings: dict[str, tables.Binding] | None = None
) -> dict[str, Any]:
    """A node's ports and links, as the export's inspector draws them (attributes and the
    documentation travel separately, in the payload's ``attrs`` and ``docs``):

    ``inputs``: ``[[formal, tensor, dtype, shape, [producer id]], ...]``; ``outputs``: ``[[formal,
    tensor, dtype, shape, [consumer ids, at most MAX_LINKS], consumer count], ...]`` (one row per
    tensor, however many consume it); ``links``: ``{attribute: [[body id, label], ...]}`` for graph
    attributes (If/Loop/Scan); ``bodies``: other subgraphs the node opens (functions). Empty keys
    are left out."""
    doc = tables.node_doc(graph, node_id)
    subgraphs = graph.graph.get("subgraphs", {})
    info: dict[str, Any] = {}
    inputs = [
        [r.formal, r.tensor, r.dtype, r.shape, list(r.links)] for r in tables.input_rows(graph, node_id, doc)
    ]
    outputs = [
        [r.formal, r.tensor, r.dtype, r.shape, list(r.links[:MAX_LINKS]), len(r.links)]
        for r in tables.output_rows(graph, node_id, doc)
    ]
    links = {
        row.name: [[sub, body_link_label(subgraphs, sub)] for sub in row.subgraphs if sub in subgraphs]
        for row in tables.attribute_rows(graph, node_id, doc, bindings)
        if row.subgraphs
    }
    linked = {sub for pairs in links.values() for sub, _ in pairs}
    bodies = [
        [sub, body_link_label(subgraphs, sub)]
        for sub in graph.nodes[node_id]["subgraph_ids"]
        if sub in subgraphs and sub not in linked
    ]
    for key, value in (("inputs", inputs), ("outputs", outputs), ("links", links), ("bodies", bodies)):
        if value:
            info[key] = value
    return info


def group_inspector(
    graph: ModelGraph, grouping: Grouping, group_id: str, index: tables.GroupIndex | None = None
) -> dict[str, Any]:
    """A group as the inspector shows it (see ``tables.group_details``): ``path`` (labels, outermost
    first), ``counts`` (the counts line), ``mix`` (``[[op type, count], ...]``), ``children``
    (``[[group id, label], ...]``), ``entering``/``leaving`` (``[[tensor, dtype, shape, [outside
    node ids, at most MAX_LINKS], count], ...]``, one row per tensor) and their totals. ``index``:
    ``tables.group_index`` of the graph, when describing many groups."""
    details = tables.group_details(graph, grouping, group_id, index)

    def crossing(rows: tuple[tables.BoundaryTensor, ...]) -> list[list[Any]]:
        return [
            [t.tensor, t.dtype, t.shape, list(t.outside[:MAX_LINKS]), len(t.outside)]
            for t in rows[:MAX_LINKS]
        ]

    return {
        "path": [group_label(g) for g in details.path],
        "counts": group_counts_text(details),
        "parameters": details.parameters,
        "mix": [[op, n] for op, n in details.op_mix],
        "children": [[c, group_label(c)] for c in details.children[:MAX_LINKS]],
        "entering": crossing(details.entering),
        "leaving": crossing(details.leaving),
        "totals": [len(details.entering), len(details.leaving), len(details.children)],
    }
