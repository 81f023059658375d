"""Model files → ModelGraph (a networkx.MultiDiGraph in one schema, see converters.schema).

The errors are imported at once; the rest (registry, schema, source: networkx, onnx and every
format module) on first use (PEP 562), so ``from converters.errors import ...`` in a one-shot
``modellens run`` or the run worker does not pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from converters.errors import (
    InputSpecError,
    InternalError,
    ModelLensError,
    ModelLoadError,
    ModelRunError,
    NotAModelError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from converters.registry import FORMAT_MODULES, check_openable, detect_format, load_model, load_source
    from converters.schema import ModelGraph, TensorInfo, format_shape, validate_graph
    from converters.source import ModelSource

_LAZY = {
    "FORMAT_MODULES": "converters.registry",
    "check_openable": "converters.registry",
    "detect_format": "converters.registry",
    "load_model": "converters.registry",
    "load_source": "converters.registry",
    "ModelGraph": "converters.schema",
    "TensorInfo": "converters.schema",
    "format_shape": "converters.schema",
    "validate_graph": "converters.schema",
    "ModelSource": "converters.source",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'converters' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FORMAT_MODULES",
    "InputSpecError",
    "InternalError",
    "ModelGraph",
    "ModelLensError",
    "ModelLoadError",
    "ModelRunError",
    "ModelSource",
    "NotAModelError",
    "TensorInfo",
    "UnsupportedFormatError",
    "check_openable",
    "detect_format",
    "format_shape",
    "load_model",
    "load_source",
    "validate_graph",
]
