"""Pure data for the inspector and summary: pandas frames and small dicts, no streamlit."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from converters.op_catalog import OpDoc, dtype_enum_text, onnx_doc_in
from converters.schema import (
    ModelGraph,
    TensorInfo,
    format_shape,
    iter_op_nodes,
    python_values,
    referenced_attribute,
)
from viewer.hierarchy import Grouping
from viewer.summary import dim_range_text

PREVIEW_VALUES = 64
HISTOGRAM_BINS = 40


def node_table(graph: ModelGraph) -> pd.DataFrame:
    """One row per node: id, name, op type, category, namespace, inputs, outputs, weights."""
    rows = []
    for node_id, data in graph.nodes(data=True):
        rows.append(
            {
                "id": node_id,
                "name": data["name"],
                "op_type": data["op_type"],
                "domain": data["domain"],
                "kind": data["kind"],
                "category": data["category"],
                "namespace": data["namespace"],
                "inputs": "; ".join(n for n in data["input_names"] if n),
                "outputs": "; ".join(t.name for t in data["outputs"]),
                "output_shapes": "; ".join(format_shape(t.shape) for t in data["outputs"]),
                "weights": "; ".join(f"{w.name} {format_shape(w.shape)}" for w in data["weights"].values()),
                "parameters": sum(w.size or 0 for w in data["weights"].values()),
            }
        )
    return pd.DataFrame(rows)


def io_table(graph: ModelGraph, which: str) -> pd.DataFrame:
    """Graph inputs or outputs: name, dtype, shape; plus ``dynamic dims`` (``s0 ∈ [1, 64]``) when the
    format records the ranges of its symbolic dims."""
    ranges = graph.graph.get("dim_ranges") or {}
    typed = any("torch_type" in graph.nodes[n] for n in graph.graph[which])  # TorchScript's annotations
    defaults = which == "inputs" and any(
        "default" in graph.nodes[n]["attributes"] for n in graph.graph[which]
    )
    columns = [
        "name",
        *(["type"] if typed else []),
        "dtype",
        "shape",
        *(["default"] if defaults else []),
        *(["dynamic dims"] if ranges else []),
    ]
    rows = []
    for node_id in graph.graph[which]:
        data = graph.nodes[node_id]
        info = data["outputs"][0] if which == "inputs" else data.get("tensor") or TensorInfo(data["name"])
        row = {"name": info.name, "dtype": info.dtype or "?", "shape": format_shape(info.shape)}
        if "value" in data["attributes"]:  # a constant argument fixed when the model was saved
            row["dtype"] = f"{row['dtype']} = {data['attributes']['value']!r}"
        if typed:
            row["type"] = _annotated_type(data.get("torch_type"), info)
        if defaults:
            row["default"] = repr(data["attributes"]["default"]) if "default" in data["attributes"] else ""
        if ranges:
            symbols = sorted({s for d in info.shape or () if isinstance(d, str) for s in _symbols(d)})
            row["dynamic dims"] = ", ".join(dim_range_text(s, ranges[s]) for s in symbols if s in ranges)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _annotated_type(torch_type: str | None, info: TensorInfo) -> str:
    """The annotation (``Tensor``, ``Optional[Tensor]``); a Tensor whose dtype and shape the file
    does not store says so (they come from input specs or a run)."""
    if torch_type == "Tensor" and info.dtype is None:
        return "Tensor (dtype, shape not stored)"
    return torch_type or ""


def _symbols(dim: str) -> list[str]:
    """Symbol names in a dim expression: ``2*s0 + s1`` -> ``['s0', 's1']``."""
    return re.findall(r"[A-Za-z_]\w*", dim)


def op_histogram(graph: ModelGraph) -> pd.DataFrame:
    """Operator nodes (constants included) per (op type, category), in the main graph and every
    subgraph (control-flow bodies and functions), most frequent first."""
    graphs = [graph, *graph.graph.get("subgraphs", {}).values()]
    counts = Counter((d["op_type"], d["category"]) for g in graphs for _, d in iter_op_nodes(g))
    rows = [{"op_type": op, "category": cat, "count": n} for (op, cat), n in counts.items()]
    frame = pd.DataFrame(rows, columns=["op_type", "category", "count"])
    return frame.sort_values(["count", "op_type"], ascending=[False, True], ignore_index=True)


def signature_table(graph: ModelGraph) -> pd.DataFrame:
    """A SavedModel's signatures: key, inputs and outputs as ``name dtype shape`` (empty otherwise)."""

    def described(entries: list[dict[str, Any]]) -> str:
        return "; ".join(f"{e['name']} {e['dtype']} {format_shape(_shape(e['shape']))}" for e in entries)

    rows = [
        {"signature": key, "inputs": described(sig["inputs"]), "outputs": described(sig["outputs"])}
        for key, sig in (graph.graph.get("signatures") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["signature", "inputs", "outputs"])


def _shape(dims: list[Any] | None) -> tuple[Any, ...] | None:
    return None if dims is None else tuple(dims)


def metadata_table(graph: ModelGraph) -> pd.DataFrame:
    items = graph.graph.get("metadata", {}).items()
    return pd.DataFrame([{"key": k, "value": v} for k, v in items], columns=["key", "value"])


@dataclass(frozen=True)
class PortRow:
    port: int
    formal: str
    tensor: str
    dtype: str
    shape: str
    links: tuple[str, ...]  # producer (inputs) or consumers (outputs) node ids


def input_rows(graph: ModelGraph, node_id: str, doc: OpDoc | None) -> list[PortRow]:
    data = graph.nodes[node_id]
    producers = {d["dst_port"]: (src, d["src_port"]) for src, _, d in graph.in_edges(node_id, data=True)}
    formals = data.get("input_formals") or ()
    rows = []
    port_names = data.get("port_names") or []  # formats whose operators name their inputs (aten)
    for port, name in enumerate(data["input_names"]):
        formal = doc.inputs[port] if doc and port < len(doc.inputs) else f"input {port}"
        if doc is None and port < len(formals):
            formal = formals[port]
            if not name and port not in producers and formal in data["attributes"]:
                continue  # a folded constant: shown with the attributes
        elif doc is None and port < len(port_names):
            formal = port_names[port]
        if port in data["weights"]:
            info = data["weights"][port]
            rows.append(PortRow(port, formal, name, info.dtype or "?", format_shape(info.shape), ()))
            continue
        if port in producers:
            src, src_port = producers[port]
            info = graph.nodes[src]["outputs"][src_port]
            rows.append(PortRow(port, formal, name, info.dtype or "?", format_shape(info.shape), (src,)))
        else:
            rows.append(PortRow(port, formal, name or "(omitted)", "", "", ()))
    return rows


def output_rows(graph: ModelGraph, node_id: str, doc: OpDoc | None) -> list[PortRow]:
    data = graph.nodes[node_id]
    consumers: dict[int, list[str]] = {}
    for _, dst, d in graph.out_edges(node_id, data=True):
        consumers.setdefault(d["src_port"], []).append(dst)
    rows = []
    for port, info in enumerate(data["outputs"]):
        formal = doc.outputs[port] if doc and port < len(doc.outputs) else f"output {port}"
        rows.append(
            PortRow(
                port,
                formal,
                info.name,
                info.dtype or "?",
                format_shape(info.shape),
                tuple(consumers.get(port, [])),
            )
        )
    return rows


def node_doc(graph: ModelGraph, node_id: str) -> OpDoc | None:
    data = graph.nodes[node_id]
    if data["kind"] not in ("op", "constant"):
        return None
    if "op_docs" in graph.graph:  # formats that bring their own (TensorFlow: OpDef + table)
        doc: OpDoc | None = graph.graph["op_docs"].get(data["op_type"])
        return doc
    if graph.graph.get("format") not in ("onnx", "ort"):
        return None
    return onnx_doc_in(data["op_type"], data["domain"], graph.graph.get("opsets", {}))


@dataclass(frozen=True)
class AttributeRow:
    """One attribute as the inspector lists it. ``value`` is display text (floats in their stored
    precision; a reference to the calling node's attribute as ``= @name → value (source)``, see
    ``attribute_text``); ``subgraphs`` are the ids of the bodies a graph attribute holds (If/Loop/Scan)."""

    name: str
    value: str
    is_default: bool
    description: str
    subgraphs: tuple[str, ...] = ()


def attribute_rows(
    graph: ModelGraph, node_id: str, doc: OpDoc | None, bindings: dict[str, Binding] | None = None
) -> list[AttributeRow]:
    """Attributes set on the node, then the defaults of those left unset (ONNX documents them). A
    reference to the calling node's attribute (function bodies) shows as ``= @name``, followed by
    the value ``bindings`` gives it (see ``attribute_bindings``)."""
    data = graph.nodes[node_id]
    describe = doc.attribute_docs.get if doc else (lambda _name, _default="": "")
    dtypes = doc.dtype_attributes if doc else frozenset()

    def shown(name: str, value: Any) -> Any:  # a data type enum by its name: BOOL (9)
        return dtype_enum_text(value) if name in dtypes and isinstance(value, int) else value

    rows = [
        AttributeRow(
            name,
            attribute_text(shown(name, value), bindings or {}),
            False,
            describe(name, ""),
            _bodies(data, node_id, name),
        )
        for name, value in data["attributes"].items()
    ]
    if doc is not None:
        rows += [
            AttributeRow(name, value_text(shown(name, value)), True, describe(name, ""))
            for name, value in doc.attribute_defaults.items()
            if name not in data["attributes"]
        ]
    return rows


def attribute_text(value: Any, bindings: dict[str, Binding]) -> str:
    """An attribute value as shown: ``= @v`` for a reference, ``= @v → 1.0 (…)`` once resolved."""
    ref = referenced_attribute(value)
    if ref is None:
        return value_text(value)
    binding = bindings.get(ref)
    if binding is None:
        return f"= @{ref}"
    return value_text(f"= @{ref} → {attribute_text(binding.value, {})} ({binding.source})")


@dataclass(frozen=True)
class Binding:
    """The value a function attribute takes at a call site, and where it came from."""

    value: Any
    source: str


def function_call_sites(root: ModelGraph) -> dict[str, list[tuple[str, str]]]:
    """Function id -> (graph id, node id) of every node calling it, in the main graph ("") and in
    every subgraph (function bodies and control-flow bodies at any depth)."""
    subgraphs = root.graph.get("subgraphs", {})
    functions = {sub_id for sub_id, sub in subgraphs.items() if sub.graph.get("function") == sub_id}
    sites: dict[str, list[tuple[str, str]]] = {fid: [] for fid in functions}
    for graph_id, graph in (("", root), *subgraphs.items()):
        for node_id, data in graph.nodes(data=True):
            for sub_id in data["subgraph_ids"]:
                if sub_id in functions:
                    sites[sub_id].append((graph_id, node_id))
    return sites


def attribute_bindings(
    root: ModelGraph,
    sub_id: str,
    caller: tuple[str, str] | None = None,
    _depth: int = 0,
    callers: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Binding]:
    """Values of the attributes of the function that ``sub_id`` is (or is nested in): passed by
    ``caller`` (graph id, node id) when it calls that function, else by ``callers[function]`` (the
    call the user came through), else by the function's only call site; the function's defaults
    fill what the caller leaves out. A caller inside another function passes references resolved the
    same way, through ``callers``, at any depth. Empty outside functions or when the call site is
    unknown and there are no defaults."""
    subgraphs = root.graph.get("subgraphs", {})
    function = subgraphs[sub_id].graph.get("function") if sub_id in subgraphs else None
    if function is None or function not in subgraphs or _depth > 16:
        return {}
    defaults = subgraphs[function].graph.get("attribute_defaults", {})
    bindings = {name: Binding(value, "function default") for name, value in defaults.items()}
    sites = function_call_sites(root).get(function, [])
    if caller is None and callers:
        caller = callers.get(function)
    if caller not in sites:
        caller = sites[0] if len(sites) == 1 else None
    if caller is None:
        return bindings
    caller_graph = root if caller[0] == "" else subgraphs[caller[0]]
    outer = attribute_bindings(root, caller[0], None, _depth + 1, callers)
    for name, value in caller_graph.nodes[caller[1]]["attributes"].items():
        ref = referenced_attribute(value)
        if ref is not None and ref in outer:
            value = outer[ref].value
        bindings[name] = Binding(value, f"passed by {caller[1]}")
    return bindings


def _bodies(data: dict[str, Any], node_id: str, attribute: str) -> tuple[str, ...]:
    """Subgraph ids of a graph attribute: ``…/{node}/{attr}`` or ``…/{node}/{attr}[i]``."""
    tails = (f"{node_id}/{attribute}", f"{node_id}/{attribute}[")
    return tuple(s for s in data["subgraph_ids"] if s.endswith(tails[0]) or tails[1] in s)


def value_text(value: Any, limit: int = 2000) -> str:
    """An attribute value as text: lists as ``[1, 2]``, strings as written, floats shortest."""
    text = str(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subgraph_trail(subgraph_ids: Any, sub_id: str) -> list[tuple[str, str]]:
    """The breadcrumb of a control-flow body: (graph id, owner node id) from the outermost body
    down to ``sub_id``; each owner node lives in the graph before it ("" = main graph). Functions
    (``function:…``) have no single owner: their trail is just themselves with owner "".
    """
    known = set(subgraph_ids)
    chain = [s for s in sorted(known, key=len) if sub_id == s or sub_id.startswith(s + "/")]
    trail, parent = [], ""
    for body in chain:
        rest = body[len(parent) + 1 :] if parent else body
        owner = rest.rsplit("/", 1)[0] if "/" in rest and not body.startswith("function:") else ""
        trail.append((body, owner))
        parent = body
    return trail


@dataclass(frozen=True)
class TensorStats:
    dtype: str
    shape: str
    count: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    std: float | None
    zeros: int | None
    preview: list[Any]
    histogram: pd.DataFrame


def tensor_stats(values: np.ndarray) -> TensorStats:
    """Statistics, a capped preview and a histogram of a weight's values. ``std`` is the sample
    (unbiased, n - 1) standard deviation of the finite values, as ``torch.Tensor.std()`` and
    ``pandas`` give it (NaN for a single value), whatever the model's format."""
    flat = values.reshape(-1)
    preview = python_values(flat[:PREVIEW_VALUES])
    histogram = pd.DataFrame(columns=["start", "end", "count"])
    if flat.size and (np.issubdtype(flat.dtype, np.number) or flat.dtype == np.bool_):
        numeric = flat.astype(np.float64, copy=False)
        finite = numeric[np.isfinite(numeric)]
        if finite.size:
            counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
            histogram = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "count": counts})
            return TensorStats(
                dtype=str(values.dtype),
                shape=format_shape(values.shape),
                count=int(flat.size),
                minimum=float(finite.min()),
                maximum=float(finite.max()),
                mean=float(finite.mean()),
                std=float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
                zeros=int(np.count_nonzero(numeric == 0)),
                preview=preview,
                histogram=histogram,
            )
    return TensorStats(
        str(values.dtype),
        format_shape(values.shape),
        int(flat.size),
        None,
        None,
        None,
        None,
        None,
        preview,
        histogram,
    )


def tensor_consumers(graph: ModelGraph, src: str, src_port: int) -> list[str]:
    return [dst for _, dst, d in graph.out_edges(src, data=True) if d["src_port"] == src_port]


def namespace_text(graph: ModelGraph, namespace: str) -> str:
    """``encoder/layer/0/attention (BertAttention)``: the namespace and, where the format records
    module classes (``G.graph["group_labels"]``), the class of the module it names (as group
    labels show it)."""
    module_class = (graph.graph.get("group_labels") or {}).get(namespace)
    return f"{namespace} ({module_class})" if module_class else namespace


@dataclass(frozen=True)
class BoundaryTensor:
    """A tensor crossing a group's border: ``inside`` are its producer or consumers in the group,
    ``outside`` its producer (entering) or consumers (leaving) outside it."""

    tensor: str
    dtype: str
    shape: str
    inside: tuple[str, ...]
    outside: tuple[str, ...]


@dataclass(frozen=True)
class GroupDetails:
    """What a collapsed or open group holds, as Model Explorer's layer panel shows it.

    ``path``: group ids from the outermost ancestor down to this group. ``op_nodes``: operator
    nodes (kind op) anywhere below it; ``constants`` likewise. ``op_mix``: (op type, count) over
    both, most frequent first. ``parameters``/``parameter_bytes``: elements and bytes of the
    stored tensors its nodes use. ``children``: direct child group ids.
    """

    id: str
    path: tuple[str, ...]
    op_nodes: int
    constants: int
    op_mix: tuple[tuple[str, int], ...]
    parameters: int
    parameter_bytes: int
    children: tuple[str, ...]
    entering: tuple[BoundaryTensor, ...]
    leaving: tuple[BoundaryTensor, ...]


def group_members(grouping: Grouping, group_id: str) -> list[str]:
    """Node ids whose deepest group is ``group_id`` or lies below it, in the graph's order."""
    prefix = group_id + "/"
    return [n for n, g in grouping.node_group.items() if g == group_id or g.startswith(prefix)]


@dataclass(frozen=True)
class GroupIndex:
    """The members of every group (as ``group_members`` lists them) and each node's position in the
    graph, computed in one pass for callers that describe many groups (the HTML export)."""

    members: dict[str, list[str]]
    position: dict[str, int]


def group_index(graph: ModelGraph, grouping: Grouping) -> GroupIndex:
    members: dict[str, list[str]] = {g: [] for g in grouping.groups}
    prefixes: dict[str, list[str]] = {}
    for node_id, group in grouping.node_group.items():
        if not group:
            continue
        if group not in prefixes:  # the group and every group whose id is a path prefix of it
            parts = group.split("/")
            prefixes[group] = [
                p for p in ("/".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in members
            ]
        for owner in prefixes[group]:
            members[owner].append(node_id)
    return GroupIndex(members, {n: i for i, n in enumerate(graph.nodes)})


def group_details(
    graph: ModelGraph, grouping: Grouping, group_id: str, index: GroupIndex | None = None
) -> GroupDetails:
    """Details of one group; KeyError when ``group_id`` is not a group of ``grouping``. ``index``
    (``group_index``) saves a pass over the graph per call."""
    group = grouping.groups[group_id]
    members = index.members[group.id] if index is not None else group_members(grouping, group.id)
    position = index.position if index is not None else None
    inside = set(members)
    kinds = Counter(graph.nodes[n]["kind"] for n in members)
    mix = Counter(graph.nodes[n]["op_type"] for n in members if graph.nodes[n]["kind"] in ("op", "constant"))
    weights = {w.name: w for n in members for w in graph.nodes[n]["weights"].values()}
    return GroupDetails(
        id=group.id,
        path=tuple(grouping.ancestors(group.id)),
        op_nodes=kinds["op"],
        constants=kinds["constant"],
        op_mix=tuple(sorted(mix.items(), key=lambda item: (-item[1], item[0]))),
        parameters=sum(w.size or 0 for w in weights.values()),
        parameter_bytes=sum(w.nbytes or 0 for w in weights.values()),
        children=tuple(g.id for g in grouping.groups.values() if g.parent == group.id),
        entering=_boundary(graph, members, inside, entering=True, position=position),
        leaving=_boundary(graph, members, inside, entering=False, position=position),
    )


def _boundary(
    graph: ModelGraph,
    members: list[str],
    inside: set[str],
    *,
    entering: bool,
    position: dict[str, int] | None = None,
) -> tuple[BoundaryTensor, ...]:
    """Tensors crossing the border, one per produced tensor (producer, output port), in order."""
    crossing: dict[tuple[str, int], tuple[set[str], set[str]]] = {}
    order: list[tuple[str, int]] = []
    for node_id in members:
        edges = graph.in_edges(node_id, data=True) if entering else graph.out_edges(node_id, data=True)
        for src, dst, data in edges:
            other = src if entering else dst
            if other in inside:
                continue
            key = (src, data["src_port"])
            if key not in crossing:
                crossing[key] = (set(), set())
                order.append(key)
            crossing[key][0].add(node_id)
            crossing[key][1].add(other)
    if position is None:
        position = {n: i for i, n in enumerate(graph.nodes)} if order else {}
    result = []
    for src, port in order:
        outputs = graph.nodes[src]["outputs"]
        info = outputs[port] if port < len(outputs) else TensorInfo("")
        ins, outs = crossing[(src, port)]
        result.append(
            BoundaryTensor(
                tensor=info.name,
                dtype=info.dtype or "?",
                shape=format_shape(info.shape),
                inside=tuple(n for n in members if n in ins),
                outside=tuple(sorted(outs, key=position.__getitem__)),
            )
        )
    return tuple(result)
