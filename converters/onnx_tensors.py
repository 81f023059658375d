"""ONNX values: dtype and shape descriptions, attribute values, stored sizes, and the tensor store
that reads initializer values on demand (inline, lazily from the file, or from external data)."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters import schema
from converters.errors import ModelLoadError
from converters.onnx_lazy import Span, read_raw

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


def attribute_graphs(attribute: onnx.AttributeProto) -> list[onnx.GraphProto]:
    if attribute.HasField("g"):
        return [attribute.g]
    return list(attribute.graphs)


def element_count(dims: Iterable[int]) -> int:
    count = 1
    for dim in dims:
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


@dataclass
class OnnxTensorStore:
    """Reads initializer values on demand; external data comes from ``base_dir``."""

    model: onnx.ModelProto
    base_dir: Path
    path: Path
    lazy: dict[str, Span] = field(default_factory=dict)
    _index: dict[str, onnx.TensorProto] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for graph in all_graphs(self.model.graph):
            for tensor in graph.initializer:
                self._index.setdefault(tensor.name, tensor)

    def names(self) -> list[str]:
        return list(self._index)

    def tensor(self, name: str) -> onnx.TensorProto | None:
        return self._index.get(name)

    def array(self, name: str) -> np.ndarray:
        """The initializer's values; ModelLoadError when its external data is unavailable."""
        from onnx import numpy_helper

        tensor = self._index.get(name)
        if tensor is None:
            raise ModelLoadError(f"No stored tensor named {name!r}", "pick a weight listed by the node")
        try:
            if name in self.lazy:
                tensor = _with_raw_data(tensor, read_raw(self.path, self.lazy[name]))
            return numpy_helper.to_array(tensor, base_dir=str(self.base_dir))
        except Exception as err:
            raise ModelLoadError(
                f"The values of {name!r} are not available ({first_line(err)})",
                "open the model by path, or upload its external data files together with the .onnx",
            ) from err

    def external_locations(self) -> set[str]:
        locations = set()
        for tensor in self._index.values():
            if is_external(tensor):
                entry = {item.key: item.value for item in tensor.external_data}
                if "location" in entry:
                    locations.add(entry["location"])
        return locations

    def missing_external_data_warnings(self, model_name: str) -> list[str]:
        missing = sorted(loc for loc in self.external_locations() if not (self.base_dir / loc).is_file())
        return [
            f"External data file {loc!r} is missing next to {model_name}: weights show shapes only. "
            "Put the file beside the model (or upload it together with the .onnx)"
            for loc in missing
        ]


def _with_raw_data(tensor: onnx.TensorProto, raw: bytes) -> onnx.TensorProto:
    import onnx

    full = onnx.TensorProto()
    full.CopyFrom(tensor)
    full.raw_data = raw
    return full


def stored_bytes(tensor: onnx.TensorProto) -> int:
    """Bytes a tensor occupies in the file (raw or typed fields) or in its external file."""
    if is_external(tensor):
        entry = {item.key: item.value for item in tensor.external_data}
        if "length" in entry:
            return int(entry["length"])
        return element_count(tensor.dims) * _item_size(tensor.data_type)
    if tensor.string_data:
        return sum(len(item) for item in tensor.string_data)
    return element_count(tensor.dims) * _item_size(tensor.data_type)


@functools.lru_cache(maxsize=64)
def _item_size(elem_type: int) -> int:
    """Bytes per element as stored (4-bit types count as half a byte, rounded up per tensor)."""
    import onnx

    try:
        return int(onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize)
    except (KeyError, TypeError, ValueError):
        return 0


def attribute_value(attribute: onnx.AttributeProto) -> Any:
    """A JSON-safe view of an attribute (tensors summarised, graphs referenced by name)."""
    import onnx

    kind = attribute.type
    if kind == onnx.AttributeProto.TENSOR:
        return _tensor_summary(attribute.t)
    if kind == onnx.AttributeProto.TENSORS:
        return [_tensor_summary(t) for t in attribute.tensors]
    if kind == onnx.AttributeProto.GRAPH:
        return {"graph": attribute.g.name, "nodes": len(attribute.g.node)}
    if kind == onnx.AttributeProto.GRAPHS:
        return [{"graph": g.name, "nodes": len(g.node)} for g in attribute.graphs]
    if kind == onnx.AttributeProto.TYPE_PROTO:
        return type_description(attribute.tp)[0]
    if kind == onnx.AttributeProto.SPARSE_TENSOR:
        return {"sparse_tensor": list(attribute.sparse_tensor.dims)}
    value = onnx.helper.get_attribute_value(attribute)
    if kind in (onnx.AttributeProto.FLOAT, onnx.AttributeProto.FLOATS):  # stored as float32
        import numpy

        return schema.python_values(numpy.asarray(value, dtype=numpy.float32))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
    return value


def _tensor_summary(tensor: onnx.TensorProto) -> dict[str, Any]:
    from onnx import numpy_helper

    summary: dict[str, Any] = {
        "dtype": dtype_name(tensor.data_type),
        "shape": [int(d) for d in tensor.dims],
    }
    if not is_external(tensor) and element_count(tensor.dims) <= schema.PREVIEW_LIMIT:
        with contextlib.suppress(ValueError, TypeError):
            summary["value"] = schema.python_values(numpy_helper.to_array(tensor))
    return summary
