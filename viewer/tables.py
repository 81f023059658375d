"""Pure data for the inspector and summary: pandas frames and small dicts, no streamlit."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from converters.op_catalog import OpDoc, onnx_op_doc
from converters.schema import (
    ModelGraph,
    TensorInfo,
    format_shape,
    iter_op_nodes,
    op_text,
    referenced_attribute,
)
from viewer.summary import dim_range_text

PREVIEW_VALUES = 64
HISTOGRAM_BINS = 40
SEARCH_LIMIT = 200


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
    counts = Counter((d["op_type"], d["category"]) for _, d in iter_op_nodes(graph))
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
    opset = graph.graph.get("opsets", {}).get(data["domain"] or "ai.onnx")
    return onnx_op_doc(data["op_type"], data["domain"], opset)


def attribute_table(
    graph: ModelGraph, node_id: str, doc: OpDoc | None, bindings: dict[str, Binding] | None = None
) -> pd.DataFrame:
    """Attributes set on the node plus the defaults of those left unset. A reference to the calling
    node's attribute (function bodies) shows as ``= @name``, followed by the value ``bindings``
    gives it (see ``attribute_bindings``)."""
    data = graph.nodes[node_id]
    rows = [
        {
            "attribute": k,
            "value": attribute_text(v, bindings or {}),
            "set": "yes",
            "description": doc.attribute_docs.get(k, "") if doc else "",
        }
        for k, v in data["attributes"].items()
    ]
    if doc is not None:
        rows += [
            {
                "attribute": k,
                "value": _short(v),
                "set": "default",
                "description": doc.attribute_docs.get(k, ""),
            }
            for k, v in doc.attribute_defaults.items()
            if k not in data["attributes"]
        ]
    return pd.DataFrame(rows, columns=["attribute", "value", "set", "description"])


def attribute_text(value: Any, bindings: dict[str, Binding]) -> str:
    """An attribute value as shown: ``= @v`` for a reference, ``= @v → 1.0 (…)`` once resolved."""
    ref = referenced_attribute(value)
    if ref is None:
        return _short(value)
    binding = bindings.get(ref)
    if binding is None:
        return f"= @{ref}"
    return _short(f"= @{ref} → {attribute_text(binding.value, {})} ({binding.source})")


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


def _short(value: Any, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    """Statistics, a capped preview and a histogram of a weight's values."""
    flat = values.reshape(-1)
    preview = flat[:PREVIEW_VALUES].tolist()
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
                std=float(finite.std()),
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


@dataclass(frozen=True)
class SearchHit:
    node_id: str
    label: str


def search_nodes(graph: ModelGraph, query: str, limit: int = SEARCH_LIMIT) -> list[SearchHit]:
    """Nodes whose name, op type or any input/output tensor name contains ``query`` (case-insensitive)."""
    needle = query.strip().lower()
    if not needle:
        return []
    hits = []
    for node_id, data in graph.nodes(data=True):
        tensors = [*data["input_names"], *(t.name for t in data["outputs"])]
        overload = f"{data['op_type']}:{data['overload']}" if data.get("overload") else ""
        fields = (node_id, data["name"], op_text(data), overload, *tensors)
        if any(needle in field.lower() for field in fields if field):
            matched_tensor = next((t for t in tensors if t and needle in t.lower()), "")
            suffix = (
                f"  · tensor {matched_tensor}" if matched_tensor and needle not in node_id.lower() else ""
            )
            hits.append(SearchHit(node_id, f"{op_text(data)}  {data['name'] or node_id}{suffix}"))
            if len(hits) >= limit:
                break
    return hits


def tensor_consumers(graph: ModelGraph, src: str, src_port: int) -> list[str]:
    return [dst for _, dst, d in graph.out_edges(src, data=True) if d["src_port"] == src_port]
