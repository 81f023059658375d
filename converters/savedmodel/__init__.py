"""TensorFlow SavedModel → ModelGraph, without TensorFlow.

A SavedModel is a folder holding ``saved_model.pb`` (one or more MetaGraphDefs, each with a tag
set, signatures and a function library) and ``variables/`` (a tensor bundle). The chosen
signature's computation is inlined into one graph (see converters.savedmodel.graph); variable
values are read from the bundle on demand (see converters.savedmodel.bundle).

Settings: ``signature`` (default ``serving_default``, else the first), ``tags`` (a tag set as a
comma-separated string or a list; default the one holding ``serve``, else the first).
"""

from converters.savedmodel.format import (
    EXTENSIONS,
    convert,
    explain_missing,
    explain_missing_in_folder,
    explain_part_file,
    match,
    zip_holds_saved_model,
)
from converters.savedmodel.graph import FORMAT

__all__ = [
    "EXTENSIONS",
    "FORMAT",
    "convert",
    "explain_missing",
    "explain_missing_in_folder",
    "explain_part_file",
    "match",
    "zip_holds_saved_model",
]
