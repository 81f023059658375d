"""ModelGraph → the JSON payload the graph engine draws (see viewer/component/CONTRACT.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from converters.op_catalog import onnx_doc_in
from converters.schema import ModelGraph, TensorInfo, format_shape, op_text
from viewer.colors import CATEGORY_STYLES
from viewer.hierarchy import Grouping, build_groups
from viewer.summary import dim_range_text

PAYLOAD_SCHEMA = 1
_SYMBOL = re.compile(r"[A-Za-z_]\w*")


def build_payload(
    graph: ModelGraph,
    grouping: Grouping | None = None,
    title: str = "",
    *,
    details: bool = False,
    bindings: Mapping[str, Any] | None = None,
    overlay: Mapping[str, Sequence[Any]] | None = None,
    heat: Mapping[str, float] | None = None,
    root: ModelGraph | None = None,
    graph_id: str = "",
    callers: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The engine payload of ``graph``. ``details=True`` adds what the HTML export's inspector
    shows and the app's canvas does not need: each op node's attributes (``attrs``) and its
    operator documentation (``doc``, a key into the payload-level ``docs``). ``bindings``
    (``tables.attribute_bindings``) resolve a function body's attribute references there.
    ``overlay`` (node id → shape per output port, from a run) replaces the file's shapes on the
    edges those nodes produce; ``heat`` (node id → 0..1, a run's relative time) adds ``heat``.

    With ``details``, each node and group also carries ``info`` (viewer.inspector_data: what the
    inspector shows), and ``subgraphs`` holds the payload of every control-flow body and function
    reachable from ``graph`` (``graph_id`` in ``root``, the main graph by default), each with its
    breadcrumb ``crumbs``; ``callers`` (function id → calling (graph id, node id)) are the calls the
    user took, which resolve attribute references inside function bodies."""
    grouping = grouping or build_groups(graph)
    index = {node_id: i for i, node_id in enumerate(graph.nodes)}
    groups = grouping.ordered_groups()
    group_index = {group.id: i for i, group in enumerate(groups)}
    meta = graph.graph
    payload = {
        "schema": PAYLOAD_SCHEMA,
        "title": title or meta.get("source_name") or meta.get("name") or "model",
        "subtitle": meta.get("format_label", ""),
        "groups": [
            {"id": g.id, "label": _group_label(meta, g.id, g.label), "parent": g.parent, "count": g.count}
            for g in groups
        ],
        "nodes": [_node_entry(graph, node_id, grouping, group_index) for node_id in graph.nodes],
        "edges": [
            *(
                _edge_entry(graph, index, src, dst, data, overlay)
                for src, dst, data in graph.edges(data=True)
            ),
            *_control_edges(graph, index),
        ],
        "categories": CATEGORY_STYLES,
    }
    if heat:
        for entry in payload["nodes"]:
            value = heat.get(entry["id"])
            if value:
                entry["heat"] = round(min(1.0, max(0.0, float(value))), 3)
    if details:
        _add_details(graph, payload, dict(bindings or {}))
        _add_inspector(graph, grouping, payload, dict(bindings or {}))
        payload["graph"] = graph_id
        payload["crumbs"] = _crumbs(graph, graph_id)
        if root is not None or graph_id == "":
            payload["subgraphs"] = _subgraph_payloads(
                root or graph, graph, graph_id, payload["title"], callers
            )
    return payload


def _add_inspector(
    graph: ModelGraph, grouping: Grouping, payload: dict[str, Any], bindings: dict[str, Any]
) -> None:
    """``info`` on every node and group: what the inspector shows (viewer.inspector_data)."""
    from viewer.inspector_data import group_inspector, node_inspector
    from viewer.tables import group_index

    for entry, node_id in zip(payload["nodes"], graph.nodes, strict=True):
        info = node_inspector(graph, node_id, bindings)
        if info:
            entry["info"] = info
    index = group_index(graph, grouping) if payload["groups"] else None
    for entry in payload["groups"]:
        entry["info"] = group_inspector(graph, grouping, entry["id"], index)


def _crumbs(graph: ModelGraph, graph_id: str) -> list[list[str]]:
    """The breadcrumb of graph ``graph_id``, as the app's: ``[[graph id, label, node id to select
    there or ""], ...]`` from the main graph down to it (``[]`` for the main graph)."""
    if not graph_id:
        return []
    from viewer.tables import subgraph_trail

    crumbs = [["", "main graph", ""]]
    parent = ""
    for body, owner in subgraph_trail(graph.graph.get("subgraphs", {}), graph_id):
        if owner:
            crumbs.append([parent, owner, owner])
        rest = body[len(parent) + 1 :] if parent else body
        crumbs.append([body, rest[len(owner) + 1 :] if owner else rest, ""])
        parent = body
    return crumbs


def _subgraph_payloads(
    root: ModelGraph,
    graph: ModelGraph,
    graph_id: str,
    title: str,
    callers: Mapping[str, tuple[str, str]] | None,
) -> dict[str, dict[str, Any]]:
    """Detailed payloads of the bodies and functions reachable from ``graph``, keyed by id. A
    function body resolves attribute references through the first call met (or ``callers``)."""
    from viewer.tables import attribute_bindings

    subgraphs = root.graph.get("subgraphs", {})
    taken = dict(callers or {})
    found: dict[str, dict[str, Any]] = {}
    queue = [(graph_id, graph)]
    while queue:
        owner_id, owner = queue.pop(0)
        for node_id, data in owner.nodes(data=True):
            for sub_id in data["subgraph_ids"]:
                if sub_id in found or sub_id not in subgraphs or sub_id == graph_id:
                    continue
                sub = subgraphs[sub_id]
                if sub.graph.get("function") == sub_id:
                    taken.setdefault(sub_id, (owner_id, node_id))
                bindings = attribute_bindings(root, sub_id, callers=taken)
                found[sub_id] = build_payload(
                    sub,
                    build_groups(sub),
                    f"{title} › {sub_id}",
                    details=True,
                    bindings=bindings,
                    graph_id=sub_id,
                )
                queue.append((sub_id, sub))
    return found


def _add_details(graph: ModelGraph, payload: dict[str, Any], bindings: dict[str, Any]) -> None:
    """Attributes per node (``[name, value text, 1 when it is the operator's default]``) and one
    documentation entry per operator (``{text, url, since, attrs: {name: description}}``)."""
    from viewer.tables import attribute_rows, node_doc

    docs: dict[str, dict[str, Any]] = {}
    for entry, node_id in zip(payload["nodes"], graph.nodes, strict=True):
        doc = node_doc(graph, node_id)
        rows = attribute_rows(graph, node_id, doc, bindings)
        if rows:
            entry["attrs"] = [[row.name, row.value, 1 if row.is_default else 0] for row in rows]
        if doc is None:
            continue
        key = f"{doc.domain}.{doc.op_type}.{doc.since_version}"
        entry["doc"] = key
        if key not in docs:
            docs[key] = {
                "op": doc.op_type,
                "text": doc.doc.strip(),
                "url": doc.url,
                "since": doc.since_version,
                "attrs": dict(doc.attribute_docs),
            }
    payload["docs"] = docs


def _group_label(meta: dict[str, Any], group_id: str, label: str) -> str:
    """``0 (Bottleneck)``: the module class a format records for a namespace (G.graph["group_labels"])."""
    module_class = meta.get("group_labels", {}).get(group_id.replace("∕", "/"))
    return f"{label} ({module_class})" if module_class and module_class != label else label


def _node_entry(
    graph: ModelGraph, node_id: str, grouping: Grouping, group_index: dict[str, int]
) -> dict[str, Any]:
    """A node's drawing data; fields at their default (see CONTRACT.md) are left out to keep
    50,000-node payloads small."""
    data = graph.nodes[node_id]
    entry: dict[str, Any] = {"id": node_id, "op": op_text(data), "cat": data["category"]}
    if data["name"] and data["name"] != node_id:
        entry["name"] = data["name"]
    if data["kind"] != "op":
        entry["kind"] = data["kind"]
    group = grouping.node_group.get(node_id, "")
    if group:
        entry["group"] = group_index[group]
    if data["weights"]:
        entry["weights"] = [
            [weight_label(graph, node_id, port, info), format_shape(info.shape)]
            for port, info in sorted(data["weights"].items())
        ]
    if data["subgraph_ids"]:
        entry["subgraphs"] = len(data["subgraph_ids"])
    return entry


def weight_label(graph: ModelGraph, node_id: str, port: int, info: TensorInfo) -> str:
    """The operator's formal name for an input port (W, B, scale ...), else the tensor's short name."""
    data = graph.nodes[node_id]
    if graph.graph.get("format") in ("onnx", "ort") and data["kind"] == "op":
        doc = onnx_doc_in(data["op_type"], data["domain"], graph.graph.get("opsets", {}))
        if doc is not None and port < len(doc.inputs):
            return doc.inputs[port]
    return info.name.rsplit(".", 1)[-1] or info.name


def _edge_entry(
    graph: ModelGraph,
    index: dict[str, int],
    src: str,
    dst: str,
    data: dict,
    overlay: Mapping[str, Sequence[Any]] | None = None,
) -> list[Any]:
    outputs = graph.nodes[src]["outputs"]
    info = outputs[data["src_port"]] if data["src_port"] < len(outputs) else None
    shape = format_shape(info.shape) if info is not None and info.dtype is not None else ""
    ran = overlay.get(src) if overlay is not None else None
    if ran is not None and data["src_port"] < len(ran) and ran[data["src_port"]] is not None:
        shape = format_shape(ran[data["src_port"]])
    dtype = info.dtype if info is not None else None
    ranges = symbol_ranges(graph, info.shape if info is not None else None)
    dtype_text = " · ".join(filter(None, [dtype or "", *ranges]))
    return [index[src], index[dst], data["tensor"], shape, dtype_text]


def symbol_ranges(graph: ModelGraph, shape: list[Any] | None) -> list[str]:
    """``["s17 ∈ [2, 32]"]`` for each symbol in a shape's named dims (``s17``, ``2*s17``) whose
    range the graph records (``G.graph["dim_ranges"]``); shown beside the dtype in edge tooltips
    and the tensor inspector, while the edge label keeps the short shape."""
    ranges = graph.graph.get("dim_ranges") or {}
    if not shape or not ranges:
        return []
    found: list[str] = []
    for dim in shape:
        if isinstance(dim, str):
            found.extend(s for s in _SYMBOL.findall(dim) if s in ranges and s not in found)
    return [dim_range_text(symbol, ranges[symbol]) for symbol in found]


def _control_edges(graph: ModelGraph, index: dict[str, int]) -> list[list[Any]]:
    """Control dependencies (run-before, no tensor) as edges flagged 1 in a 6th field: drawn
    dashed. They come after the data edges, so a data edge's index is its place in graph.edges."""
    return [
        [index[src], index[dst], "", "", "", 1]
        for dst, data in graph.nodes(data=True)
        for src in data.get("control_inputs", ())
        if src in index
    ]
