"""Propose input specs from what the file knows, and from the graph where it knows nothing.

``propose_specs(model_inputs, graph)``: a declared shape is used as is, a named dim gets a value
(1 for batch-like names, else the smallest sensible size inside the model's range), and an input
with no shape gets one guessed from the first layer it reaches in the graph (common schema only):
channels from a convolution's weight, features from a linear/Gemm/MatMul weight, a token input from
an embedding/Gather. Integer inputs that index an embedding/Gather get the range 0..table_size-1
with its origin. Guesses are marked in ``InputSpec.guess`` for the user to confirm.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runtime.specs import SCALAR_KINDS, DataSource, InputSpec, InputSpecs, ModelInput

if TYPE_CHECKING:
    from converters.schema import ModelGraph

BATCH_NAMES = {"batch", "batch_size", "n", "b", "bs", "num_batches", "batchsize"}
IMAGE_NAMES = {"height", "width", "h", "w", "img_h", "img_w", "image_height", "image_width"}
DEFAULT_DIM = 16
IMAGE_DIM = 224
DEFAULT_INT_RANGE = (0, 9)
_CONV = ("conv",)
_LINEAR = ("gemm", "matmul", "linear", "addmm", "dense")
_EMBEDDING = ("gather", "embedding")
_PASS_THROUGH = ("cast", "reshape", "unsqueeze", "squeeze", "flatten", "identity", "to", "view", "contiguous")
_MAX_HOPS = 12


def propose_specs(
    model_inputs: Sequence[ModelInput],
    graph: ModelGraph | None = None,
    tables: Mapping[str, tuple[int, str]] | None = None,
) -> InputSpecs:
    """One spec per model input (see module docstring); never raises for a missing graph.
    Arguments with a default (``optional``) get none: the model uses its default. ``tables``
    (input name → (table rows, node label)) stands in for the graph's embedding lookup when the
    caller read them without converting the graph (``converters.onnx_tables``)."""
    specs = [
        _propose_one(model_input, graph, tables) for model_input in model_inputs if not model_input.optional
    ]
    return InputSpecs(tuple(specs))


def _propose_one(
    model_input: ModelInput, graph: ModelGraph | None, tables: Mapping[str, tuple[int, str]] | None = None
) -> InputSpec:
    if model_input.kind in SCALAR_KINDS:
        return InputSpec(
            model_input.name,
            SCALAR_KINDS[model_input.kind],
            (),
            (),
            DataSource.constant(1),
            f"{'an' if model_input.kind == 'int' else 'a'} {model_input.kind} argument: set its value",
        )
    dtype: str | None = model_input.dtype
    guess = ""
    declared = model_input.shape
    if declared is None and graph is not None:
        file_shape = _file_input_shape(graph, model_input.name)  # e.g. a trace example's
        if file_shape is not None:
            declared, dtype = file_shape[0], dtype or file_shape[1]
    if declared is not None and all(d is not None for d in declared):
        shape, names = _fill_named(declared, model_input.dim_ranges)
    elif declared is not None:  # a known rank with unknown dims: keep the known ones
        shape, names, guess = _fill_unknown(model_input, declared, graph)
    else:
        found = _guess_from_graph(model_input.name, graph) if graph is not None else None
        if found is not None:
            shape, names, guessed_dtype, guess = found
            dtype = dtype or guessed_dtype
        else:
            shape, names, guess = (1,), ("batch",), "no shape known: set it"
    dtype = dtype or "float32"
    data = _default_data(dtype, model_input.name, graph, tables)
    return InputSpec(model_input.name, dtype, shape, names if any(names) else (), data, guess)


def _file_input_shape(graph: ModelGraph, name: str) -> tuple[tuple[int | str, ...], str | None] | None:
    """(shape, dtype) the converted file gives an input (a traced TorchScript's example) when
    every dim is known; else None."""
    node = _input_node(graph, name)
    outputs = graph.nodes[node].get("outputs") if node is not None else None
    info = outputs[0] if outputs else None
    shape = getattr(info, "shape", None)
    if shape is None or not all(isinstance(d, (int, str)) for d in shape):
        return None
    return tuple(shape), getattr(info, "dtype", None)


def _fill_unknown(
    model_input: ModelInput, declared: Sequence[int | str | None], graph: ModelGraph | None
) -> tuple[tuple[int, ...], tuple[str | None, ...], str]:
    """Declared dims kept; an unknown dim 0 is a batch of 1; other unknown dims come from the
    graph's guess when it agrees with every declared dim, else 16 (said in the guess text)."""
    found = _guess_from_graph(model_input.name, graph) if graph is not None else None
    agrees = (
        found is not None
        and len(found[0]) == len(declared)
        and all(not isinstance(d, int) or d == g for d, g in zip(declared, found[0], strict=True))
    )
    filled: list[int | str] = []
    guessed: list[str] = []
    for axis, dim in enumerate(declared):
        if dim is not None:
            filled.append(dim)
        elif axis == 0:
            filled.append(1)
        elif agrees and found is not None:
            filled.append(found[0][axis])
            guessed.append(f"dim {axis} = {found[0][axis]} ({found[3]})")
        else:
            filled.append(DEFAULT_DIM)
            guessed.append(f"dim {axis} = {DEFAULT_DIM}")
    shape, names = _fill_named(filled, model_input.dim_ranges)
    names = tuple(None if declared[a] is None else n for a, n in enumerate(names))
    return shape, names, ("unknown " + ", ".join(guessed)) if guessed else ""


def _fill_named(
    shape: Sequence[int | str | None], ranges: Mapping[str, tuple[int, int]]
) -> tuple[tuple[int, ...], tuple[str | None, ...]]:
    sizes: list[int] = []
    names: list[str | None] = []
    for axis, dim in enumerate(shape):
        if isinstance(dim, int):
            sizes.append(dim)
            names.append(None)
            continue
        name = str(dim)
        sizes.append(default_dim_value("batch" if axis == 0 else name, ranges.get(name)))
        names.append(name)
    return tuple(sizes), tuple(names)


def default_dim_value(name: str, dim_range: tuple[int, int] | None = None) -> int:
    """1 for batch-like names, 224 for image sides, else 16; clamped into the model's range."""
    lowered = name.lower()
    value = (
        1
        if lowered in BATCH_NAMES or "batch" in lowered
        else IMAGE_DIM
        if lowered in IMAGE_NAMES
        else DEFAULT_DIM
    )
    if dim_range is not None:
        low, high = dim_range
        value = max(low, min(high, value))
    return max(1, value)


def _default_data(
    dtype: str, name: str, graph: ModelGraph | None, tables: Mapping[str, tuple[int, str]] | None = None
) -> DataSource:
    if dtype == "bool":
        return DataSource.uniform(0, 1)
    if dtype.startswith(("int", "uint")):
        table = embedding_table_for(graph, name) if graph is not None else (tables or {}).get(name)
        if table is not None:
            size, node_name = table
            return DataSource.uniform(0, size - 1, origin=f"0–{size - 1}: vocabulary size of {node_name}")
        if "mask" in name.lower():
            return DataSource.constant(1)
        return DataSource.uniform(*DEFAULT_INT_RANGE, origin="default integer range")
    return DataSource.uniform(0.0, 1.0)


# --- reading the graph ------------------------------------------------------------------------


def _input_node(graph: ModelGraph, name: str) -> str | None:
    for node_id in graph.graph.get("inputs", []):
        if graph.nodes[node_id].get("name") == name or node_id == f"input:{name}":
            return str(node_id)
    return None


def _reachable(graph: ModelGraph, start: str) -> list[tuple[str, int, int]]:
    """(node, dst_port, hops) for ops reached from ``start``, breadth first."""
    seen, order = {start}, []
    queue: deque[tuple[str, int]] = deque([(start, 0)])
    while queue:
        node, hops = queue.popleft()
        if hops >= _MAX_HOPS:
            continue
        for _, dst, data in graph.out_edges(node, data=True):
            order.append((dst, int(data.get("dst_port", 0)), hops + 1))
            if dst not in seen:
                seen.add(dst)
                queue.append((dst, hops + 1))
    return order


def _op(graph: ModelGraph, node: str) -> str:
    return str(graph.nodes[node].get("op_type", "")).lower().split("::")[-1]


def _weight_shape(graph: ModelGraph, node: str, port: int) -> tuple[int, ...] | None:
    weights: dict[Any, Any] = graph.nodes[node].get("weights", {})
    info = weights.get(port, weights.get(str(port)))
    if info is None or info.shape is None or not all(isinstance(d, int) for d in info.shape):
        return None
    return tuple(int(d) for d in info.shape)


def _constant_input_shape(graph: ModelGraph, node: str, port: int) -> tuple[int, ...] | None:
    """The shape of a constant node's output feeding ``node`` at ``port`` (an ONNX Constant)."""
    for source, _, data in graph.in_edges(node, data=True):
        if int(data.get("dst_port", 0)) != port or graph.nodes[source].get("kind") != "constant":
            continue
        outputs = graph.nodes[source].get("outputs") or []
        src_port = int(data.get("src_port", 0))
        shape = getattr(outputs[src_port], "shape", None) if src_port < len(outputs) else None
        if shape and all(isinstance(d, int) for d in shape):
            return tuple(int(d) for d in shape)
    return None


def _node_label(graph: ModelGraph, node: str) -> str:
    return str(graph.nodes[node].get("name") or node)


def embedding_table_for(graph: ModelGraph, input_name: str) -> tuple[int, str] | None:
    """(table rows, node name) when the input reaches an embedding/Gather's index port through
    casts and reshapes only; else None."""
    start = _input_node(graph, input_name)
    if start is None:
        return None
    frontier, seen = [start], {start}
    for _ in range(_MAX_HOPS):
        next_frontier = []
        for node in frontier:
            for _, dst, data in graph.out_edges(node, data=True):
                op = _op(graph, dst)
                if any(key in op for key in _EMBEDDING) and int(data.get("dst_port", 0)) == 1:
                    shape = _weight_shape(graph, dst, 0) or _constant_input_shape(graph, dst, 0)
                    if shape:
                        axis = int(graph.nodes[dst].get("attributes", {}).get("axis", 0) or 0)
                        return shape[axis], _node_label(graph, dst)
                if op in _PASS_THROUGH and dst not in seen:
                    seen.add(dst)
                    next_frontier.append(dst)
        frontier = next_frontier
    return None


def _guess_from_graph(
    name: str, graph: ModelGraph
) -> tuple[tuple[int, ...], tuple[str | None, ...], str, str] | None:
    """(shape, dim names, dtype, why) read from the first layer the input reaches."""
    start = _input_node(graph, name)
    if start is None:
        return None
    for node, port, _ in _reachable(graph, start):
        op = _op(graph, node)
        label = _node_label(graph, node)
        if any(key in op for key in _EMBEDDING) and port == 1:
            table = _weight_shape(graph, node, 0)
            if table:
                return (1, DEFAULT_DIM), ("batch", "seq"), "int64", f"token ids for embedding {label}"
        if any(key in op for key in _CONV):
            weight = _weight_shape(graph, node, 1)
            if weight and len(weight) >= 3:
                groups = int(graph.nodes[node].get("attributes", {}).get("group", 1) or 1)
                channels = weight[1] * groups
                spatial = len(weight) - 2
                side = {1: 128, 2: IMAGE_DIM, 3: 16}.get(spatial, 16)
                shape = (1, channels, *([side] * spatial))
                names = ("batch", None, *(("height", "width") if spatial == 2 else ([None] * spatial)))
                return shape, names, "float32", f"{channels} channels from convolution {label}"
        if any(key in op for key in _LINEAR):
            features = _linear_features(graph, node, op)
            if features:
                return (1, features), ("batch", None), "float32", f"{features} features from {label}"
    return None


def _linear_features(graph: ModelGraph, node: str, op: str) -> int | None:
    """Input features of a linear layer: torch Linear (out, in), Gemm (transB), MatMul (in, out)."""
    attributes = graph.nodes[node].get("attributes", {})
    if op == "addmm":
        weight = _weight_shape(graph, node, 2)
        return weight[0] if weight and len(weight) == 2 else None
    weight = _weight_shape(graph, node, 1)
    if not weight or len(weight) != 2:
        return None
    if op == "linear" or (op == "gemm" and attributes.get("transB")):
        return weight[1]
    return weight[0]
