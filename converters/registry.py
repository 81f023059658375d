"""The ordered list of formats and content-based detection.

Adding a format = one module with FORMAT, EXTENSIONS, match(source), convert(source, settings),
listed in ``FORMAT_MODULES``. The extension is only a hint; bytes decide.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from converters import (
    exported_program_format,
    onnx_format,
    ort_format,
    savedmodel,
    schema,
    sniff,
    torchscript_format,
)
from converters.errors import UnsupportedFormatError
from converters.gc_pause import garbage_collection_paused
from converters.source import ZIP_READ_ERRORS, ModelSource

# savedmodel first: its match is by name, and saved_model.pb's first bytes also look like ONNX's
FORMAT_MODULES: tuple[ModuleType, ...] = (
    savedmodel,
    onnx_format,
    ort_format,
    torchscript_format,
    exported_program_format,
)
SUPPORTED_TEXT = (
    "ONNX (.onnx, optionally with external data, or a .zip of them; also saved as text); "
    "ONNX Runtime .ort; "
    "TorchScript (.pt, .pth, .torchscript saved by torch.jit.script or torch.jit.trace); "
    "PyTorch ExportedProgram (.pt2); "
    "TensorFlow SavedModel (a folder holding saved_model.pb, or a .zip of it)"
)
_MODEL_SUFFIXES_IN_ZIP = (".onnx", ".ort", ".pt2", ".pt", ".pth", ".torchscript", ".ptl")
_ZIP_MAGIC = b"PK\x03\x04"


def detect_format(source: ModelSource) -> ModuleType:
    """The format module that reads ``source``; raises for non-models and unknown files."""
    for module in FORMAT_MODULES:
        if module.match(source):
            return module
    savedmodel.explain_part_file(source)
    sniff.explain_non_model(source)
    if source.is_dir:
        savedmodel.explain_missing_in_folder(source.path, source.display_name)
        raise UnsupportedFormatError(
            f"The folder {source.display_name} holds no model ModelLens can open",
            f"open a model file: {SUPPORTED_TEXT}",
        )
    raise UnsupportedFormatError(
        f"{source.display_name} is not in a format ModelLens opens", f"open one of: {SUPPORTED_TEXT}"
    )


def check_openable(source: ModelSource) -> None:
    """Raise the error load_source would give for a file that is not a model, cheaply (no parsing)."""
    if not _is_model_container(source):
        detect_format(source)


def load_source(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    """Convert a source to a ModelGraph; a zip holding a model is unpacked safely first."""
    notes: list[str] = []
    if _is_model_container(source):
        source, notes = _model_in(source.unpacked())
    module = detect_format(source)
    try:
        with garbage_collection_paused():
            graph = module.convert(source, settings or {})
    except MemoryError as err:
        raise UnsupportedFormatError(
            f"{source.display_name} is too large to open in the memory available",
            "close other apps or open it on a machine with more memory",
        ) from err
    graph.graph["warnings"].extend(notes)
    graph.graph["sha256"] = source.sha256
    graph.graph["source_name"] = source.display_name
    graph.graph["source_path"] = str(source.path)
    return graph


def load_model(path: str | Path, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    """Open a model file or folder by path."""
    return load_source(ModelSource.from_path(path), settings)


def _is_model_container(source: ModelSource) -> bool:
    """A zip to unpack (models inside it), not a zip that is itself a model (.pt2, TorchScript)."""
    if not source.is_zip() or any(module.match(source) for module in FORMAT_MODULES):
        return False
    return _zip_holds_model(source)


def _zip_holds_model(source: ModelSource) -> bool:
    names = source.zip_names()
    if savedmodel.zip_holds_saved_model(names):
        return True
    if any(name.lower().endswith(_MODEL_SUFFIXES_IN_ZIP) for name in names):
        return True
    if _nested_archives(source):  # a TorchScript/.pt2 zip under another name (model.bin)
        return True
    savedmodel.explain_missing(names, source.display_name)
    return False


def _nested_archives(source: ModelSource, limit: int = 64) -> list[str]:
    """Entries of a zip source that are zips themselves (their first bytes), among the first
    ``limit`` files: models saved under any name (``model.bin`` holding TorchScript)."""
    found = []
    try:
        with zipfile.ZipFile(source.path) as archive:
            for info in [i for i in archive.infolist() if not i.is_dir()][:limit]:
                with archive.open(info) as handle:
                    if handle.read(4) == _ZIP_MAGIC:
                        found.append(info.filename)
    except ZIP_READ_ERRORS:
        return []
    return found


def _model_in(unpacked: ModelSource) -> tuple[ModelSource, list[str]]:
    """The model inside an unpacked zip, and a warning naming the others when it holds several."""
    for folder in (unpacked.path, *sorted(p for p in unpacked.path.iterdir() if p.is_dir())):
        if savedmodel.match(ModelSource(path=folder, display_name=unpacked.display_name)):
            found = ModelSource(path=folder, display_name=unpacked.display_name, temp_dir=unpacked.temp_dir)
            return found, []
    files = sorted(p for p in unpacked.path.rglob("*") if p.is_file())
    candidates = [p for p in files if p.suffix.lower() in _MODEL_SUFFIXES_IN_ZIP or _starts_zip(p)]
    if not candidates:
        return unpacked, []
    main = candidates[0]
    notes = []
    if len(candidates) > 1:
        others = [str(p.relative_to(unpacked.path)) for p in candidates[1:]]
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        notes.append(
            f"{unpacked.display_name} holds {len(candidates)} models; showing "
            f"{main.relative_to(unpacked.path)} (first by path), not {shown}: unzip it and open another "
            "to see it"
        )
    return ModelSource(path=main, display_name=main.name, temp_dir=unpacked.temp_dir), notes


def _starts_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == _ZIP_MAGIC
