"""The model summary — the ``modellens info --json`` contract (schema_version 1)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from converters.schema import ModelGraph, iter_op_nodes

SCHEMA_VERSION = 1


def model_summary(graph: ModelGraph) -> dict[str, Any]:
    """A JSON-safe summary; consumers ignore keys they do not know."""
    meta = graph.graph
    op_nodes = list(iter_op_nodes(graph))
    bodies = meta.get("subgraphs", {})
    return {
        "schema_version": SCHEMA_VERSION,
        "format": meta["format"],
        "format_label": meta["format_label"],
        "producer": meta.get("producer", ""),
        "ir_version": meta.get("ir_version"),
        "opsets": dict(meta["opsets"]) if "opsets" in meta else None,  # ONNX-only keys are null
        "metadata": {str(k): str(v) for k, v in meta.get("metadata", {}).items()},
        "sha256": meta.get("sha256", ""),
        "nodes": len(op_nodes),
        "edges": graph.number_of_edges(),
        "inputs": [graph.nodes[n]["outputs"][0].to_json() for n in meta["inputs"]],
        "outputs": [graph.nodes[n]["tensor"].to_json() for n in meta["outputs"]],
        "op_types": dict(Counter(data["op_type"] for _, data in op_nodes)),
        "parameters": int(meta.get("parameters", 0)),
        "parameter_bytes": int(meta.get("parameter_bytes", 0)),
        "subgraphs": len(bodies),
        "subgraph_nodes": sum(sum(1 for _ in iter_op_nodes(body)) for body in bodies.values()),
        "warnings": list(meta.get("warnings", [])),
        "dim_ranges": {str(k): list(v) for k, v in meta.get("dim_ranges", {}).items()},
        # a TensorFlow SavedModel's tag sets and the signatures of each ([] for other formats)
        "tag_sets": [list(tags) for tags in meta.get("tag_sets", [])],
        "signatures": [dict(s) for s in meta.get("signature_list", [])],
    }


def format_summary_text(summary: dict[str, Any]) -> str:
    """The human-readable ``modellens info`` output."""
    lines = [
        f"format      {summary['format_label']}",
        f"producer    {summary['producer'] or '-'}",
        f"sha256      {summary['sha256']}",
        f"nodes       {summary['nodes']:,} operator nodes in the main graph"
        f" (+{summary.get('subgraph_nodes', 0):,} in {summary['subgraphs']} subgraphs)",
        f"edges       {summary['edges']:,}",
        f"parameters  {summary['parameters']:,} ({human_bytes(summary['parameter_bytes'])})",
    ]
    if summary["opsets"]:
        lines.append("opsets      " + ", ".join(f"{k} {v}" for k, v in summary["opsets"].items()))
    if summary.get("dim_ranges"):
        ranges = summary["dim_ranges"].items()
        lines.append("dynamic     " + ", ".join(dim_range_text(k, v) for k, v in ranges))
    for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
        lines.append(f"{title}:")
        lines.extend(
            f"  {io['name']}  {io['dtype'] or '?'}  {_shape_text(io['shape'])}" for io in summary[key]
        )
    lines.extend(_signature_lines(summary))
    top = sorted(summary["op_types"].items(), key=lambda item: (-item[1], item[0]))
    lines.append("op types    " + ", ".join(f"{op}×{count}" for op, count in top))
    for key, value in summary["metadata"].items():
        lines.append(f"metadata    {key} = {value}")
    lines.extend(f"warning     {w}" for w in summary["warnings"])
    return "\n".join(lines)


def _signature_lines(summary: dict[str, Any]) -> list[str]:
    """One line per SavedModel signature (every tag set); ``*`` marks the one shown."""
    if len(summary.get("signatures", [])) < 2 and len(summary.get("tag_sets", [])) < 2:
        return []
    shown = (summary["metadata"].get("tags", ""), summary["metadata"].get("signature", ""))

    def side(entries: list[dict[str, Any]]) -> str:
        return ", ".join(f"{e['name']} {e['dtype'] or '?'} {_shape_text(e['shape'])}" for e in entries)

    lines = ["signatures  (--tags TAGS --signature KEY; * = shown):"]
    for sig in summary["signatures"]:
        tags = ",".join(sig["tags"])
        mark = "*" if (tags, sig["key"]) == shown else " "
        lines.append(f" {mark} [{tags}] {sig['key']}: {side(sig['inputs'])} -> {side(sig['outputs'])}")
    return lines


def dim_range_text(name: str, bounds: list[int | None]) -> str:
    """``batch ∈ [1, 64]``; an unbounded end shows as ∞."""
    low, high = bounds
    return f"{name} ∈ [{'-∞' if low is None else low}, {'∞' if high is None else high}]"


def _shape_text(shape: list[Any] | None) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
