"""ONNX values: dtype and shape descriptions, attribute values, stored sizes, and the tensor store
that reads initializer values on demand (inline, lazily from the file, or from external data)."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class SparseParts:
    """A sparse tensor as stored: ``values`` [NNZ], ``indices`` [NNZ] (linear) or [NNZ, rank]."""

    values: np.ndarray
    indices: np.ndarray
    dense_shape: tuple[int, ...]

    @property
    def density(self) -> float:
        """Stored values / dense elements, 0..1 (1.0 for an empty dense shape)."""
        total = element_count(self.dense_shape)
        return self.values.size / total if total else 1.0


@dataclass
class OnnxTensorStore:
    """Reads initializer values on demand; external data comes from ``base_dir``."""

    model: onnx.ModelProto
    base_dir: Path
    path: Path
    lazy: dict[str, Span] = field(default_factory=dict)
    _index: dict[str, onnx.TensorProto] = field(default_factory=dict, repr=False)
    _sparse: dict[str, onnx.SparseTensorProto] = field(default_factory=dict, repr=False)
    graphs: list[onnx.GraphProto] = field(default_factory=list, repr=False)  # main graph first

    def __post_init__(self) -> None:
        self.graphs = list(all_graphs(self.model.graph))
        for graph in self.graphs:
            for tensor in graph.initializer:
                self._index.setdefault(tensor.name, tensor)
            for sparse in graph.sparse_initializer:
                self._sparse.setdefault(sparse.values.name, sparse)

    def names(self) -> list[str]:
        return [*self._index, *(name for name in self._sparse if name not in self._index)]

    def sparse_parts(self, name: str) -> SparseParts | None:
        """A sparse initializer's stored values and indices; None for a dense (or unknown) name.
        ModelLoadError when they cannot be read."""

        sparse = self._sparse.get(name) if name not in self._index else None
        if sparse is None:
            return None
        try:
            values = tensor_array(sparse.values, base_dir=str(self.base_dir))
            indices = tensor_array(sparse.indices, base_dir=str(self.base_dir))
        except Exception as err:
            raise ModelLoadError(
                f"The values of sparse tensor {name!r} are not available ({first_line(err)})",
                "open the model by path, or upload its external data files together with the .onnx",
            ) from err
        dense_shape = tuple(int(d) for d in sparse.dims)
        return SparseParts(values, indices, dense_shape)

    def tensor(self, name: str) -> onnx.TensorProto | None:
        return self._index.get(name)

    def array(self, name: str) -> np.ndarray:
        """The initializer's values; ModelLoadError when its external data is unavailable."""

        tensor = self._index.get(name)
        if tensor is None and name in self._sparse:
            return self._dense(name)
        if tensor is None:
            raise ModelLoadError(f"No stored tensor named {name!r}", "pick a weight listed by the node")
        try:
            if name in self.lazy:
                tensor = _with_raw_data(tensor, read_raw(self.path, self.lazy[name]))
            return tensor_array(tensor, base_dir=str(self.base_dir))
        except Exception as err:
            raise ModelLoadError(
                f"The values of {name!r} are not available ({first_line(err)})",
                "open the model by path, or upload its external data files together with the .onnx",
            ) from err

    def _dense(self, name: str) -> np.ndarray:
        try:
            return sparse_to_dense(self._sparse[name], base_dir=str(self.base_dir))
        except Exception as err:
            raise ModelLoadError(
                f"The values of sparse tensor {name!r} are not available ({first_line(err)})",
                "re-export the model: its sparse indices do not fit its shape",
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
    """Bytes a tensor occupies in the file or its external file: sub-byte types (INT4, UINT4,
    FLOAT4E2M1, INT2, UINT2, FLOAT6*) packed, ceil(n * bits / 8); strings by their length."""
    if is_external(tensor):
        entry = {item.key: item.value for item in tensor.external_data}
        if "length" in entry:
            with contextlib.suppress(ValueError):
                return int(entry["length"])
    elif tensor.string_data:
        return sum(len(item) for item in tensor.string_data)
    return packed_bytes(element_count(tensor.dims), tensor.data_type)


def sparse_to_dense(sparse: onnx.SparseTensorProto, base_dir: str = "") -> np.ndarray:
    """The dense array a SparseTensorProto stands for (zeros where nothing is stored); indices are
    linear ([NNZ]) or coordinates ([NNZ, rank]). ValueError when they do not fit the shape."""
    import numpy as np

    values = tensor_array(sparse.values, base_dir=base_dir).reshape(-1)
    indices = tensor_array(sparse.indices, base_dir=base_dir).astype(np.int64)
    shape = tuple(int(d) for d in sparse.dims)
    if indices.size and int(indices.min()) < 0:
        raise ValueError(f"sparse tensor {sparse.values.name!r} has negative indices")
    dense = np.zeros(shape, dtype=values.dtype)
    try:
        if indices.ndim == 2 and indices.shape[1] == len(shape):
            dense[tuple(indices.T)] = values
        else:
            dense.reshape(-1)[indices.reshape(-1)] = values
    except (IndexError, ValueError) as err:
        raise ValueError(f"sparse tensor {sparse.values.name!r} has indices outside its shape") from err
    return dense


def sparse_stored_bytes(sparse: onnx.SparseTensorProto) -> int:
    """Bytes a sparse tensor occupies: its stored values plus its indices."""
    return stored_bytes(sparse.values) + stored_bytes(sparse.indices)


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
