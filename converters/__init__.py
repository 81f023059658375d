"""Model files → ModelGraph (a networkx.MultiDiGraph in one schema, see converters.schema)."""

from converters.errors import (
    InputSpecError,
    InternalError,
    ModelLensError,
    ModelLoadError,
    ModelRunError,
    NotAModelError,
    UnsupportedFormatError,
)
from converters.registry import FORMAT_MODULES, check_openable, detect_format, load_model, load_source
from converters.schema import ModelGraph, TensorInfo, format_shape, validate_graph
from converters.source import ModelSource

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
