"""ONNX attributes as JSON-safe values: every attribute form the installed onnx defines, references
to a calling node's attribute (function bodies), untyped attributes of old files, and types newer
than this onnx; never raises."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from converters import schema
from converters.onnx_tensors import (
    decode_text,
    dtype_name,
    element_count,
    first_line,
    is_external,
    tensor_array,
    type_description,
)

if TYPE_CHECKING:
    import onnx


def attribute_value(attribute: onnx.AttributeProto) -> Any:
    """A JSON-safe view of any attribute: tensors summarised, graphs referenced by name, a reference
    to the caller's attribute (functions) as ``schema.attribute_ref``; never raises."""
    if attribute.ref_attr_name:
        return schema.attribute_ref(attribute.ref_attr_name)
    try:
        return _attribute_value(attribute, attribute.type or _implied_type(attribute))
    except Exception as err:  # noqa: BLE001 - one odd attribute must not hide the model
        return f"<unreadable {attribute.name} attribute: {first_line(err)}>"


def _implied_type(attribute: onnx.AttributeProto) -> int:
    """The type of an attribute written without ``type`` (IR 1 files): the field that is set."""
    import onnx

    for field_name, kind in (
        ("f", onnx.AttributeProto.FLOAT),
        ("i", onnx.AttributeProto.INT),
        ("s", onnx.AttributeProto.STRING),
        ("t", onnx.AttributeProto.TENSOR),
        ("g", onnx.AttributeProto.GRAPH),
        ("sparse_tensor", onnx.AttributeProto.SPARSE_TENSOR),
        ("tp", onnx.AttributeProto.TYPE_PROTO),
    ):
        if attribute.HasField(field_name):
            return kind
    for field_name, kind in (
        ("floats", onnx.AttributeProto.FLOATS),
        ("ints", onnx.AttributeProto.INTS),
        ("strings", onnx.AttributeProto.STRINGS),
        ("tensors", onnx.AttributeProto.TENSORS),
        ("graphs", onnx.AttributeProto.GRAPHS),
        ("sparse_tensors", onnx.AttributeProto.SPARSE_TENSORS),
        ("type_protos", onnx.AttributeProto.TYPE_PROTOS),
    ):
        if len(getattr(attribute, field_name)):
            return kind
    return onnx.AttributeProto.UNDEFINED


def _attribute_value(attribute: onnx.AttributeProto, kind: int) -> Any:
    import numpy as np
    import onnx

    A = onnx.AttributeProto
    if kind == A.FLOAT:  # stored as float32: the shortest text that reads back the same float32
        return schema.python_values(np.float32(attribute.f))
    if kind == A.INT:
        return int(attribute.i)
    if kind == A.STRING:
        return decode_text(attribute.s)
    if kind == A.FLOATS:
        return schema.python_values(np.asarray(attribute.floats, dtype=np.float32))
    if kind == A.INTS:
        return [int(v) for v in attribute.ints]
    if kind == A.STRINGS:
        return [decode_text(v) for v in attribute.strings]
    if kind == A.TENSOR:
        return _tensor_summary(attribute.t)
    if kind == A.TENSORS:
        return [_tensor_summary(t) for t in attribute.tensors]
    if kind == A.GRAPH:
        return {"graph": decode_text(attribute.g.name), "nodes": len(attribute.g.node)}
    if kind == A.GRAPHS:
        return [{"graph": decode_text(g.name), "nodes": len(g.node)} for g in attribute.graphs]
    if kind == A.TYPE_PROTO:
        return type_description(attribute.tp)[0]
    if kind == A.TYPE_PROTOS:
        return [type_description(tp)[0] for tp in attribute.type_protos]
    if kind == A.SPARSE_TENSOR:
        return _sparse_summary(attribute.sparse_tensor)
    if kind == A.SPARSE_TENSORS:
        return [_sparse_summary(s) for s in attribute.sparse_tensors]
    if kind == A.UNDEFINED:
        return None
    return f"<attribute type {kind} unknown to this onnx version>"


def _sparse_summary(sparse: onnx.SparseTensorProto) -> dict[str, Any]:
    return {
        "sparse_tensor": [int(d) for d in sparse.dims],
        "dtype": dtype_name(sparse.values.data_type),
        "stored": element_count(sparse.values.dims),
    }


def _tensor_summary(tensor: onnx.TensorProto) -> dict[str, Any]:

    summary: dict[str, Any] = {
        "dtype": dtype_name(tensor.data_type),
        "shape": [int(d) for d in tensor.dims],
    }
    if not is_external(tensor) and element_count(tensor.dims) <= schema.PREVIEW_LIMIT:
        with contextlib.suppress(Exception):
            summary["value"] = schema.python_values(tensor_array(tensor))
    return summary
