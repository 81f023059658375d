"""Embedding table sizes for an ONNX model's integer inputs, read without converting the graph.

``gather_tables(path, names)``: for each input that reaches the index port of a Gather op through
casts and reshapes only, the number of rows of the table it indexes (the initializer's dims along
``axis``) and the node's label (its name, else ``{op_type}_{index}`` as ``onnx_format`` names it).
The file's protobuf wire format is walked over a memory map (no onnx import, weight bytes never
touched): the same answer ``runtime.propose.embedding_table_for`` gives on the converted graph,
for the cost of one pass over the structure instead of importing onnx and networkx and building
the whole ModelGraph (what a one-shot ``modellens run`` of a BERT paid before).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# field numbers of onnx.proto (ModelProto.graph, GraphProto.node/initializer, NodeProto,
# AttributeProto, TensorProto) and the length-delimited wire type
_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_INITIALIZER = 7, 1, 5
_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 1, 2, 3, 4, 5
_ATTR_NAME, _ATTR_INT, _ATTR_TENSOR = 1, 3, 5
_TENSOR_DIMS, _TENSOR_NAME = 1, 8
_BYTES = 2
PASS_THROUGH = frozenset({"Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity"})
MAX_HOPS = 12


def gather_tables(path: str | Path, names: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Input name → (table rows, Gather node label) for the inputs in ``names`` that index a
    stored table; inputs that reach none are left out. Raises WireFormatError for a file that is
    not a well-formed ModelProto, OSError for one that cannot be read."""
    nodes, dims = _read_structure(Path(path))
    users: dict[str, list[tuple[int, int]]] = {}
    for index, node in enumerate(nodes):
        for port, tensor in enumerate(node.inputs):
            if tensor:
                users.setdefault(tensor, []).append((index, port))
    found: dict[str, tuple[int, str]] = {}
    for name in names:
        table = _table_for(nodes, users, dims, name)
        if table is not None:
            found[name] = table
    return found


@dataclass
class _Node:
    op_type: str = ""
    name: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    axis: int = 0
    value_dims: list[int] | None = None  # a Constant's ``value`` tensor


def _read_structure(path: Path) -> tuple[list[_Node], dict[str, list[int]]]:
    """The main graph's nodes (op type, name, inputs, outputs, ``axis``) and the dims of every
    stored tensor (initializers and Constant values), walked over the protobuf wire format of a
    memory map without importing onnx; weight bytes are skipped, never read."""
    from converters.onnx_lazy import _fields

    nodes: list[_Node] = []
    dims: dict[str, list[int]] = {}
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        for number, wire, _, start, end in _fields(buf, 0, len(buf)):
            if number != _MODEL_GRAPH or wire != _BYTES:
                continue
            for item, item_wire, _, item_start, item_end in _fields(buf, start, end):
                if item_wire != _BYTES:
                    continue
                if item == _GRAPH_NODE:
                    nodes.append(_node(buf, item_start, item_end))
                elif item == _GRAPH_INITIALIZER:
                    name, shape = _tensor(buf, item_start, item_end)
                    dims[name] = shape
    for node in nodes:
        if node.op_type == "Constant" and node.outputs and node.value_dims is not None:
            dims[node.outputs[0]] = node.value_dims
    return nodes, dims


def _node(buf: Any, start: int, end: int) -> _Node:
    from converters.onnx_lazy import _fields

    node = _Node()
    for number, wire, _, item_start, item_end in _fields(buf, start, end):
        if wire != _BYTES:
            continue
        if number in (_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_OP_TYPE):
            text = bytes(buf[item_start:item_end]).decode("utf-8", "replace")
            if number == _NODE_INPUT:
                node.inputs.append(text)
            elif number == _NODE_OUTPUT:
                node.outputs.append(text)
            elif number == _NODE_NAME:
                node.name = text
            else:
                node.op_type = text
        elif number == _NODE_ATTRIBUTE:
            _attribute(buf, item_start, item_end, node)
    return node


def _attribute(buf: Any, start: int, end: int, node: _Node) -> None:
    """``axis`` (an int) and ``value`` (a tensor's dims) onto ``node``; other attributes ignored."""
    from converters.onnx_lazy import _fields, _varint

    name, integer, tensor = "", 0, None
    for number, wire, _, item_start, item_end in _fields(buf, start, end):
        if number == _ATTR_NAME and wire == _BYTES:
            name = bytes(buf[item_start:item_end]).decode("utf-8", "replace")
        elif number == _ATTR_INT and wire == 0:
            integer = _signed(_varint(buf, item_start, item_end)[0])
        elif number == _ATTR_TENSOR and wire == _BYTES:
            tensor = _tensor(buf, item_start, item_end)[1]
    if name == "axis":
        node.axis = integer
    elif name == "value" and tensor is not None:
        node.value_dims = tensor


def _tensor(buf: Any, start: int, end: int) -> tuple[str, list[int]]:
    """A TensorProto's name and dims (packed or not); its data is skipped."""
    from converters.onnx_lazy import _fields, _varint

    name, shape = "", []
    for number, wire, _, item_start, item_end in _fields(buf, start, end):
        if number == _TENSOR_DIMS and wire == 0:
            shape.append(_signed(_varint(buf, item_start, item_end)[0]))
        elif number == _TENSOR_DIMS and wire == _BYTES:
            pos = item_start
            while pos < item_end:
                value, pos = _varint(buf, pos, item_end)
                shape.append(_signed(value))
        elif number == _TENSOR_NAME and wire == _BYTES:
            name = bytes(buf[item_start:item_end]).decode("utf-8", "replace")
    return name, shape


def _signed(value: int) -> int:
    """An int64 read as an unsigned varint (two's complement) → its signed value."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _table_for(
    nodes: list[_Node], users: dict[str, list[tuple[int, int]]], dims: dict[str, list[int]], start: str
) -> tuple[int, str] | None:
    frontier, seen = [start], {start}
    for _ in range(MAX_HOPS):
        next_frontier = []
        for tensor in frontier:
            for index, port in users.get(tensor, []):
                node = nodes[index]
                if "gather" in node.op_type.lower() and port == 1:  # Gather, GatherElements, GatherND
                    shape = dims.get(node.inputs[0])
                    if shape and -len(shape) <= node.axis < len(shape):
                        return int(shape[node.axis]), node.name or f"{node.op_type}_{index}"
                if node.op_type in PASS_THROUGH and node.outputs and node.outputs[0] not in seen:
                    seen.add(node.outputs[0])
                    next_frontier.append(node.outputs[0])
        frontier = next_frontier
    return None
