"""PyTorch helpers for TorchScript: TorchScript value types and JSON-safe
constants (dtype names and the tensor store live in ``converters.torch_tensors``).

Nothing here imports torch at module import time; functions that need it import it.
"""

from __future__ import annotations

from typing import Any

from converters.aten_catalog import BUILTIN_NAMESPACES
from converters.torch_tensors import dtype_name

TORCH_EXTRA_FIX = 'pip install "modellens[torch]"'

# operator namespaces PyTorch itself defines: an unknown operator there is not a missing library
CORE_NAMESPACES = BUILTIN_NAMESPACES

# torch's ScalarType names (``Float``; also the ``FloatStorage`` prefix) -> dtype names
REAL_SCALAR_TYPE_NAMES = {
    "Float": "float32",
    "Double": "float64",
    "Half": "float16",
    "BFloat16": "bfloat16",
    "Long": "int64",
    "Int": "int32",
    "Short": "int16",
    "Char": "int8",
    "Byte": "uint8",
    "Bool": "bool",
}
_SCALAR_TYPE_NAMES = {
    **REAL_SCALAR_TYPE_NAMES,
    "ComplexFloat": "complex64",
    "ComplexDouble": "complex128",
    "ComplexHalf": "complex32",
}
_SCALAR_KIND_NAMES = {"IntType": "int64", "FloatType": "float64", "BoolType": "bool", "StringType": "str"}


def describe_jit_type(jit_type: Any) -> tuple[str | None, tuple[int | None, ...] | None]:
    """(dtype, shape) of a TorchScript value type. A Tensor gives its recorded dtype/sizes (usually
    unknown: None); ``int``/``float``/``bool``/``str`` are scalars (``int64``, ``float64``,
    shape ``()``); containers give their annotation (``List[Tensor]``, ``Optional[Tensor]``)."""
    kind = jit_type.kind()
    if kind == "TensorType":
        scalar = jit_type.scalarType()
        sizes = jit_type.varyingSizes()
        shape = None if sizes is None else tuple(None if d is None else int(d) for d in sizes)
        return (_SCALAR_TYPE_NAMES.get(scalar, scalar.lower()) if scalar else None), shape
    if kind in _SCALAR_KIND_NAMES:
        return _SCALAR_KIND_NAMES[kind], ()
    if kind == "NoneType":
        return "None", None
    return str(jit_type.annotation_str), None


def json_safe(value: Any, depth: int = 0) -> Any:
    """A constant as JSON: scalars as is, sequences as lists, dicts as dicts, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # a tensor held in a list or tuple
        return f"tensor {dtype_name(value.dtype)} {list(value.shape)}"
    if depth > 4:
        return str(value)[:200]
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value[:256]]
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in list(value.items())[:256]}
    return str(value)[:200]
