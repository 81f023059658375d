"""TF attribute and TensorProto values as JSON-safe Python (no TensorFlow needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from converters import schema
from converters.savedmodel.bundle import numpy_dtype
from converters.savedmodel.protos import dtype_name, shape_of

if TYPE_CHECKING:
    import numpy as np

SMALL_CONST_ELEMENTS = 16
_VAL_FIELDS = {
    "float32": "float_val",
    "float64": "double_val",
    "int32": "int_val",
    "int16": "int_val",
    "int8": "int_val",
    "uint8": "int_val",
    "uint16": "int_val",
    "int64": "int64_val",
    "uint32": "uint32_val",
    "uint64": "uint64_val",
    "bool": "bool_val",
    "float16": "half_val",
    "bfloat16": "half_val",
    "complex64": "scomplex_val",
    "complex128": "dcomplex_val",
}


def tensor_dtype_shape(tensor: Any) -> tuple[str, tuple[int, ...]]:
    shape = shape_of(tensor.tensor_shape) or ()
    return dtype_name(tensor.dtype), tuple(d or 0 for d in shape)


def tensor_array(tensor: Any) -> np.ndarray:
    """A TensorProto's values (``tensor_content`` or the typed ``*_val`` fields, broadcast as TF does)."""
    import numpy as np

    dtype, shape = tensor_dtype_shape(tensor)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if dtype == "string":
        values = list(tensor.string_val)
        array = np.empty(count, dtype=object)
        array[:] = (values + values[-1:] * count)[:count] if values else b""
        return array.reshape(shape)
    np_dtype = numpy_dtype(dtype)
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype=np_dtype).reshape(shape).copy()
    field = _VAL_FIELDS.get(dtype)
    if field is None:
        raise ValueError(f"no values for dtype {dtype}")
    raw = list(getattr(tensor, field))
    if dtype in ("float16", "bfloat16"):
        flat = np.array(raw, dtype=np.uint16).view(np_dtype)
    elif dtype.startswith("complex"):
        pairs = np.array(raw, dtype=np.float64).reshape(-1, 2)
        flat = (pairs[:, 0] + 1j * pairs[:, 1]).astype(np_dtype)
    else:
        flat = np.array(raw, dtype=np_dtype)
    if flat.size == 0:
        return np.zeros(shape, dtype=np_dtype)
    if flat.size < count:
        flat = np.concatenate([flat, np.full(count - flat.size, flat[-1], dtype=np_dtype)])
    return flat[:count].reshape(shape)


def tensor_summary(tensor: Any) -> dict[str, Any]:
    dtype, shape = tensor_dtype_shape(tensor)
    summary: dict[str, Any] = {"dtype": dtype, "shape": list(shape)}
    small = small_value(tensor)
    if small is not None:
        summary["value"] = small
    return summary


def small_value(tensor: Any, limit: int = schema.PREVIEW_LIMIT) -> Any | None:
    """The tensor's values as a (nested) list when it holds at most ``limit`` elements, else None."""
    _, shape = tensor_dtype_shape(tensor)
    count = 1
    for dim in shape:
        count *= dim
    if count > limit:
        return None
    try:
        values = tensor_array(tensor)
    except (ValueError, TypeError, ImportError):
        return None
    return _json_safe(schema.python_values(values))  # float32 0.001 stays 0.001


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, complex):
        return str(value)
    return value


def attr_value(attr: Any) -> Any:
    """A JSON-safe view of an AttrValue (dtype names, shapes with None, tensors summarised)."""
    import numpy as np

    kind = attr.WhichOneof("value")
    if kind == "s":
        return attr.s.decode("utf-8", "replace")
    if kind in ("i", "b"):
        return getattr(attr, kind)
    if kind == "f":  # stored as float32: the shortest text that reads back the same float32
        return schema.python_values(np.float32(attr.f))
    if kind == "type":
        return dtype_name(attr.type)
    if kind == "shape":
        shape = shape_of(attr.shape)
        return None if shape is None else list(shape)
    if kind == "tensor":
        return tensor_summary(attr.tensor)
    if kind == "func":
        return attr.func.name
    if kind == "placeholder":
        return f"${attr.placeholder}"
    if kind == "list":
        return _list_value(attr.list)
    return None


def _list_value(values: Any) -> Any:
    import numpy as np

    if values.s:
        return [s.decode("utf-8", "replace") for s in values.s]
    if values.i:
        return list(values.i)
    if values.f:
        return schema.python_values(np.asarray(values.f, dtype=np.float32))
    if values.b:
        return list(values.b)
    if values.type:
        return [dtype_name(t) for t in values.type]
    if values.shape:
        return [None if (s := shape_of(p)) is None else list(s) for p in values.shape]
    if values.tensor:
        return [tensor_summary(t) for t in values.tensor]
    if values.func:
        return [f.name for f in values.func]
    return []
