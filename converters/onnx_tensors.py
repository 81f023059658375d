"""ONNX values: dtype and shape descriptions, attribute values, stored sizes, and the tensor store
that reads initializer values on demand (inline, lazily from the file, or from external data)."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from converters import schema

if TYPE_CHECKING:
    import numpy as np
    import onnx

_INFERENCE_PLACEHOLDER = re.compile(r"^unk__\d+$")  # names shape inference invents for unknown dims
_NUMPY_DTYPES = {
    "FLOAT": "float32",
    "DOUBLE": "float64",
    "FLOAT16": "float16",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "BOOL": "bool",
    "COMPLEX64": "complex64",
    "COMPLEX128": "complex128",
}


def all_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            for sub in attribute_graphs(attribute):
                yield from all_graphs(sub)


def model_graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """Every GraphProto of a model: the main graph and its control-flow bodies at any depth, then
    the bodies inside model-local function bodies (a FunctionProto has nodes but no initializers)."""
    yield from all_graphs(model.graph)
    for function in model.functions:
        for node in function.node:
            for attribute in node.attribute:
                for sub in attribute_graphs(attribute):
                    yield from all_graphs(sub)


def attribute_graphs(attribute: onnx.AttributeProto) -> list[onnx.GraphProto]:
    if attribute.HasField("g"):
        return [attribute.g]
    return list(attribute.graphs)


def element_count(dims: Iterable[int]) -> int:
    """Elements of a tensor with ``dims``; 0 when a dimension is negative (a malformed file)."""
    count = 1
    for dim in dims:
        if dim < 0:
            return 0
        count *= dim
    return count


def is_external(tensor: onnx.TensorProto) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def dtype_name(elem_type: int) -> str:
    """numpy name for numeric types, else the ONNX name lowercased (bfloat16, string, ...)."""
    import onnx

    try:
        onnx_name = onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"type{elem_type}"
    return _NUMPY_DTYPES.get(onnx_name, onnx_name.lower())


def type_description(type_proto: onnx.TypeProto | None) -> tuple[str | None, schema.Shape]:
    """(dtype text, shape) of a TypeProto; sequences/maps/optionals become ``sequence<float32>``."""
    if type_proto is None:
        return None, None
    kind = type_proto.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        tensor = getattr(type_proto, kind)
        dtype = dtype_name(tensor.elem_type) if tensor.elem_type else None
        if kind == "sparse_tensor_type" and dtype:
            dtype = f"sparse<{dtype}>"
        if not tensor.HasField("shape"):
            return dtype, None
        return dtype, tuple(_dim_value(d) for d in tensor.shape.dim)
    if kind == "sequence_type":
        inner, _ = type_description(type_proto.sequence_type.elem_type)
        return f"sequence<{inner or '?'}>", None
    if kind == "map_type":
        value, _ = type_description(type_proto.map_type.value_type)
        return f"map<{dtype_name(type_proto.map_type.key_type)},{value or '?'}>", None
    if kind == "optional_type":
        inner, shape = type_description(type_proto.optional_type.elem_type)
        return f"optional<{inner or '?'}>", shape
    return None, None


def _dim_value(dim: onnx.TensorShapeProto.Dimension) -> schema.Dim:
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return int(dim.dim_value)
    if which == "dim_param" and dim.dim_param and not _INFERENCE_PLACEHOLDER.match(dim.dim_param):
        return str(dim.dim_param)
    return None


def with_raw_data(tensor: onnx.TensorProto, raw: bytes) -> onnx.TensorProto:
    import onnx

    full = onnx.TensorProto()
    full.CopyFrom(tensor)
    full.raw_data = raw
    return full


def stored_bytes(tensor: onnx.TensorProto, raw_length: int | None = None) -> int:
    """Bytes a tensor occupies in the file or its external file: ``raw_data`` as long as it is
    (``raw_length`` when the bytes were left in the file, see onnx_lazy); typed fields as the packed
    size of the shape: sub-byte types (INT4, UINT4, FLOAT4E2M1, INT2, UINT2, FLOAT6*) take
    ceil(n * bits / 8); strings their lengths (0 when none are stored)."""
    import onnx

    if is_external(tensor):
        entry = {item.key: item.value for item in tensor.external_data}
        if "length" in entry:
            with contextlib.suppress(ValueError):
                return max(int(entry["length"]), 0)
    elif tensor.data_type == onnx.TensorProto.STRING:
        return sum(len(item) for item in tensor.string_data)
    elif raw_length is not None or tensor.raw_data:
        return len(tensor.raw_data) if raw_length is None else raw_length
    elif not _typed_entries(tensor):
        return 0
    return packed_bytes(element_count(tensor.dims), tensor.data_type)


def _typed_entries(tensor: onnx.TensorProto) -> int:
    """Entries in the typed value fields (float_data, int32_data, ...)."""
    return sum(
        len(getattr(tensor, f))
        for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")
    )


def weight_problems(tensor: onnx.TensorProto, raw_length: int | None = None) -> list[str]:
    """What is malformed about a stored tensor, one line each: a negative dimension (counted as 0
    elements), ``raw_data`` shorter or longer than its shape needs, fewer strings than elements."""
    import onnx

    name, dims = decode_text(tensor.name), [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        return [f"Weight {name!r} has a negative dimension {dims}: counted as 0 elements"]
    count = element_count(dims)
    if tensor.data_type == onnx.TensorProto.STRING:
        if not is_external(tensor) and len(tensor.string_data) != count:
            stored = len(tensor.string_data)
            return [f"Weight {name!r} holds {stored} strings, its shape {dims} needs {count}"]
        return []
    length = len(tensor.raw_data) if raw_length is None else raw_length
    needed = packed_bytes(count, tensor.data_type)
    if (
        not is_external(tensor)
        and not length
        and not tensor.HasField("raw_data")
        and not _typed_entries(tensor)
    ):
        return (
            [f"Weight {name!r} holds no data, its shape {dims} needs {needed} bytes: counted as 0"]
            if count
            else []
        )
    if not is_external(tensor) and (length or tensor.HasField("raw_data")) and length != needed:
        return [
            f"Weight {name!r} holds {length} bytes of data, its shape {dims} needs {needed}: "
            f"counted as the {length} bytes in the file"
        ]
    return []


def packed_bytes(count: int, elem_type: int) -> int:
    """Bytes ``count`` elements of ONNX type ``elem_type`` take, packed: ceil(count * bits / 8)."""
    return -(-count * _bits_per_element(elem_type) // 8)


@functools.lru_cache(maxsize=64)
def _bits_per_element(elem_type: int) -> int:
    """Bits per stored element: numpy's item size, or the ml_dtypes width for the types numpy lacks
    (4 for INT4/UINT4/FLOAT4E2M1, 2 for INT2/UINT2, 6 for FLOAT6*); 0 when unknown."""
    import onnx

    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, TypeError, ValueError):
        return 0
    return _ml_dtypes_bits(dtype) or int(dtype.itemsize) * 8


def _ml_dtypes_bits(dtype: np.dtype) -> int | None:
    if not dtype.type.__module__.startswith("ml_dtypes"):
        return None
    import ml_dtypes

    for info in (ml_dtypes.iinfo, ml_dtypes.finfo):
        with contextlib.suppress(TypeError, ValueError):
            return int(info(dtype).bits)
    return None


def tensor_array(tensor: onnx.TensorProto, base_dir: str = "") -> np.ndarray:
    """``onnx.numpy_helper.to_array`` in a dtype numpy knows (see ``widened``); strings that are not
    UTF-8 keep their readable part (U+FFFD for bad bytes) instead of failing."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    if tensor.data_type == onnx.TensorProto.STRING:
        texts = [decode_text(item) for item in tensor.string_data]
        return np.array(texts, dtype=object).reshape(tuple(tensor.dims))
    return widened(numpy_helper.to_array(tensor, base_dir=base_dir))


def widened(values: np.ndarray) -> np.ndarray:
    """``values`` in a dtype numpy itself knows (for statistics and .npy files): the ml_dtypes
    types onnx unpacks to become int8/uint8 (INT4, INT2 / UINT4, UINT2) or float32 (bfloat16,
    FLOAT8*, FLOAT6*, FLOAT4E2M1); any other array is returned as is."""
    import numpy as np

    if not values.dtype.type.__module__.startswith("ml_dtypes"):
        return values
    import ml_dtypes

    try:
        limits = ml_dtypes.iinfo(values.dtype)
    except (TypeError, ValueError):
        return values.astype(np.float32)
    return values.astype(np.int8 if int(limits.min) < 0 else np.uint8)


def decode_text(value: str | bytes) -> str:
    """A string field as text; bytes that are not UTF-8 are replaced (U+FFFD)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
