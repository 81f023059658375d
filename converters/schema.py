"""The one graph schema every format converts into (see ARCHITECTURE.md, "The graph schema").

A ``ModelGraph`` is a ``networkx.MultiDiGraph``:

* ``G.graph``: format, format_label, producer, metadata, inputs/outputs (ordered node ids),
  subgraphs (id -> ModelGraph), warnings, plus format extras (ir_version, opsets, ...).
* nodes: ``kind`` (input | output | op | constant), ``op_type``, ``domain``, ``name``, ``label``,
  ``namespace`` ("a/b/c", "" = root), ``category``, ``attributes`` (JSON-safe), ``outputs``
  (TensorInfo per output port), ``weights`` (port -> TensorInfo for stored tensors),
  ``input_names`` (tensor name per input port), ``subgraph_ids``, ``doc``, ``source``; optional
  ``control_inputs`` (ids of nodes that must run first without passing a tensor: TensorFlow's
  control dependencies; drawn as dashed edges, never graph edges, so edge readers stay data-only).
* edges: key ``"{src_port}:{dst_port}"`` with ``tensor``, ``src_port``, ``dst_port``. An
  activation's shape lives once, on the producer's ``outputs[src_port]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import networkx as nx

ModelGraph: TypeAlias = nx.MultiDiGraph
Dim: TypeAlias = int | str | None
Shape: TypeAlias = tuple[Dim, ...] | None

NODE_KINDS: tuple[str, ...] = ("input", "output", "op", "constant")
CATEGORIES: tuple[str, ...] = (
    "layer",
    "activation",
    "pool",
    "normalization",
    "shape",
    "tensor",
    "control",
    "constant",
    "custom",
    "other",
)
FORMATS: tuple[str, ...] = ("onnx", "torchscript", "exported_program", "savedmodel", "ort")
PREVIEW_LIMIT = 64


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's static description; ``preview`` holds at most PREVIEW_LIMIT values."""

    name: str
    dtype: str | None = None
    shape: Shape = None
    is_initializer: bool = False
    preview: tuple[Any, ...] = field(default=(), compare=False)
    nbytes: int | None = None

    @property
    def size(self) -> int | None:
        """Element count, or None when a dimension is not a known integer."""
        if self.shape is None or not all(isinstance(d, int) for d in self.shape):
            return None
        count = 1
        for dim in self.shape:
            count *= int(dim)  # type: ignore[arg-type]
        return count

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
        }


def format_shape(shape: Shape) -> str:
    """``(1, 'batch', None)`` -> ``1×batch×?``; a scalar is ``scalar``; unknown rank is ``?``."""
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    return "×".join("?" if d is None else str(d) for d in shape)


ATTRIBUTE_REF_KEY = "ref_attr"


def attribute_ref(name: str) -> dict[str, str]:
    """An attribute value that is the calling node's attribute ``name`` (ONNX function bodies)."""
    return {ATTRIBUTE_REF_KEY: name}


def referenced_attribute(value: Any) -> str | None:
    """The caller's attribute name when ``value`` is an ``attribute_ref``, else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(ATTRIBUTE_REF_KEY), str):
        return str(value[ATTRIBUTE_REF_KEY])
    return None


def python_values(values: Any) -> Any:
    """A numpy array or scalar as JSON-safe Python values whose floats print as the stored dtype
    prints them: a float32 ``1e-12`` stays ``1e-12``, not ``9.999999960041972e-13``.

    Each float16/float32 element becomes the Python float of its shortest decimal repr
    (``float(str(np.float32(x)))``), which rounds back to the same float32; other dtypes go
    through ``tolist()`` unchanged.
    """
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:
        if array.ndim == 0:
            return float(str(array[()]))
        shortest = np.empty(array.shape, dtype=object)
        shortest.flat[:] = [float(str(x)) for x in array.flat]
        return shortest.tolist()
    return array.tolist()


def edge_key(src_port: int, dst_port: int) -> str:
    return f"{src_port}:{dst_port}"


def new_graph(fmt: str, format_label: str, producer: str = "") -> ModelGraph:
    graph = nx.MultiDiGraph()
    graph.graph.update(
        format=fmt,
        format_label=format_label,
        producer=producer,
        metadata={},
        inputs=[],
        outputs=[],
        subgraphs={},
        warnings=[],
    )
    return graph


def add_node(
    graph: ModelGraph,
    node_id: str,
    *,
    kind: str,
    op_type: str,
    category: str,
    name: str = "",
    domain: str = "",
    namespace: str = "",
    attributes: dict[str, Any] | None = None,
    outputs: Sequence[TensorInfo] = (),
    weights: dict[int, TensorInfo] | None = None,
    input_names: Sequence[str] = (),
    subgraph_ids: Sequence[str] = (),
    doc: str = "",
    source: str = "",
) -> None:
    graph.add_node(
        node_id,
        kind=kind,
        op_type=op_type,
        domain=domain,
        name=name,
        label=name or op_type,
        namespace=namespace,
        category=category,
        attributes=attributes or {},
        outputs=list(outputs),
        weights=dict(weights or {}),
        input_names=list(input_names),
        subgraph_ids=list(subgraph_ids),
        doc=doc,
        source=source,
    )


def add_input(
    graph: ModelGraph,
    taken: set[str],
    name: str,
    output: TensorInfo,
    *,
    attributes: dict[str, Any] | None = None,
    doc: str = "",
) -> str:
    """Add a graph input node (kind ``input``, op ``Input``, id ``input:NAME`` made unique against
    ``taken``) whose one output is ``output``, list it in ``graph.graph["inputs"]``; returns its id."""
    node_id = unique_id(f"input:{name}", taken, "input")
    add_node(
        graph,
        node_id,
        kind="input",
        op_type="Input",
        category="other",
        name=name,
        attributes=attributes,
        outputs=[output],
        doc=doc,
    )
    graph.graph["inputs"].append(node_id)
    return node_id


def add_edge(graph: ModelGraph, src: str, dst: str, src_port: int, dst_port: int, tensor: str) -> None:
    graph.add_edge(
        src, dst, key=edge_key(src_port, dst_port), tensor=tensor, src_port=src_port, dst_port=dst_port
    )


def edge_tensor_info(graph: ModelGraph, src: str, src_port: int) -> TensorInfo | None:
    outputs = graph.nodes[src]["outputs"]
    return outputs[src_port] if 0 <= src_port < len(outputs) else None


def unique_id(wanted: str, taken: set[str], fallback: str) -> str:
    """A stable id: ``wanted`` if free, else ``fallback``/``wanted`` with a ``#n`` suffix."""
    base = wanted or fallback
    candidate, n = base, 1
    while candidate in taken:
        candidate = f"{base}#{n}"
        n += 1
    taken.add(candidate)
    return candidate


def op_text(data: dict[str, Any]) -> str:
    """A node's op type, with the function overload it calls (``F[a]``, IR 10) when there is one;
    brackets, not ``:``, so a call of overload ``a`` of ``F`` and a call of a function named ``F:a``
    read differently."""
    overload = data.get("overload")
    return f"{data['op_type']}[{overload}]" if overload else str(data["op_type"])


def iter_op_nodes(graph: ModelGraph) -> Iterable[tuple[str, dict[str, Any]]]:
    return ((n, d) for n, d in graph.nodes(data=True) if d["kind"] in ("op", "constant"))


REQUIRED_NODE_ATTRS = (
    "kind",
    "op_type",
    "domain",
    "name",
    "label",
    "namespace",
    "category",
    "attributes",
    "outputs",
    "weights",
    "input_names",
    "subgraph_ids",
)


def validate_graph(graph: ModelGraph, *, recurse: bool = True) -> list[str]:
    """Lint a ModelGraph against the schema; returns problems (empty when valid)."""
    problems: list[str] = []
    for key in ("format", "format_label", "inputs", "outputs", "subgraphs", "warnings", "metadata"):
        if key not in graph.graph:
            problems.append(f"graph attribute {key!r} missing")
    if graph.graph.get("format") not in FORMATS:
        problems.append(f"graph format {graph.graph.get('format')!r} is not one of {FORMATS}")
    for node_id, data in graph.nodes(data=True):
        missing = [a for a in REQUIRED_NODE_ATTRS if a not in data]
        if missing:
            problems.append(f"node {node_id!r} lacks {missing}")
            continue
        if data["kind"] not in NODE_KINDS:
            problems.append(f"node {node_id!r} has kind {data['kind']!r}")
        if data["category"] not in CATEGORIES:
            problems.append(f"node {node_id!r} has category {data['category']!r}")
        for sub_id in data["subgraph_ids"]:
            if sub_id not in graph.graph.get("subgraphs", {}):
                problems.append(f"node {node_id!r} names unknown subgraph {sub_id!r}")
        for control in data.get("control_inputs", ()):
            if control not in graph or control == node_id:
                problems.append(f"node {node_id!r} has a control input on {control!r}, not another node")
    for src, dst, key, data in graph.edges(keys=True, data=True):
        if key != edge_key(data["src_port"], data["dst_port"]):
            problems.append(f"edge {src}->{dst} has key {key!r}")
        if edge_tensor_info(graph, src, data["src_port"]) is None:
            problems.append(f"edge {src}->{dst} reads missing output port {data['src_port']}")
    for io_key in ("inputs", "outputs"):
        for node_id in graph.graph.get(io_key, []):
            if node_id not in graph:
                problems.append(f"graph {io_key} names missing node {node_id!r}")
    if recurse:
        for sub_id, sub in graph.graph.get("subgraphs", {}).items():
            problems.extend(f"[{sub_id}] {p}" for p in validate_graph(sub, recurse=False))
    return problems
