"""TorchScript (``torch.jit.script`` / ``torch.jit.trace`` archives) → ModelGraph.

A TorchScript file is a zip holding ``constants.pkl``, ``code/`` and ``data.pkl``; it is detected by
those entries, whatever its extension. ``convert`` loads it with ``torch.jit.load(map_location="cpu")``
(so files saved from a GPU open anywhere), inlines ``forward`` and draws every ``aten::``/``prim::``
operator (see ``converters.torchscript_graph``). Torch is imported only inside ``convert``.
"""

from __future__ import annotations

import functools
import pickle
import re
from collections import OrderedDict
from typing import Any

from converters import schema
from converters.errors import ModelLoadError
from converters.source import ModelSource
from converters.torch_ops import CORE_NAMESPACES, REAL_SCALAR_TYPE_NAMES, TORCH_EXTRA_FIX
from converters.torch_tensors import TorchTensorStore
from converters.torchscript_graph import CorruptDebugInfo, ForwardConverter
from converters.torchscript_integrity import check_storages
from converters.torchscript_missing_ops import (
    MAX_PLACEHOLDERS,
    UNKNOWN_OP,
    Placeholders,
    define_placeholder,
    package_for,
    placeholder_scope,
)

FORMAT = "torchscript"
EXTENSIONS = (".pt", ".pth", ".torchscript", ".ptl", ".zip")
_SUSPECT_SUFFIXES = (".pt", ".pth", ".torchscript", ".ptl")
SCRIPT_SNIPPET = (
    "torch.jit.script(model).save('model.pt')  # keeps if/else and loops; needs TorchScript-compatible code"
)
TRACED_NOTE = (
    "Traced model: tracing recorded one path through the code, so if/else branches and data-dependent "
    "loops were frozen at the example input. For a model that branches, script it instead: "
    f"`{SCRIPT_SNIPPET}`"
)
SHAPES_NOTE = (
    "TorchScript stores no tensor shapes: shapes show as unknown. Give input specs (shapes and dtypes) "
    "to run the model and see every shape"
)
TRACE_SHAPES_NOTE = (
    "Input shapes are those of the example the model was traced with (a run with other shapes may "
    "differ); inner tensors show no shapes until the model is run with input specs"
)


def match(source: ModelSource) -> bool:
    """A zip with TorchScript entries (``constants.pkl`` or ``code/``); a PyTorch-named file whose
    zip directory is unreadable (truncated) also matches, so its error says what it is."""
    if source.is_dir or not source.is_zip():
        return False
    names = source.zip_names()
    if not names:
        return source.suffix in _SUSPECT_SUFFIXES
    return _is_torchscript_archive(names)


def _is_torchscript_archive(names: list[str]) -> bool:
    leaves = {name.split("/", 1)[-1] for name in names}
    if any(name.endswith(("serialized_exported_program.json", "models/model.json")) for name in names):
        return False
    return "constants.pkl" in leaves or any(leaf.startswith("code/__torch__") for leaf in leaves)


def convert(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    torch = import_torch("TorchScript")
    source.start_hashing()
    with placeholder_scope() as placeholders:  # operators of libraries that are not installed
        module = _load(torch, source, placeholders)
        check_storages(source.path, source.display_name, crc=False)  # missing or short records
        archive = _archive_facts(torch, source)
        method, overloads = _forward_method(module, source)
        verify = functools.partial(check_storages, source.path, source.display_name, crc=True)
        converter = ForwardConverter(torch, module, TorchTensorStore(verify=verify), method)
        try:
            graph = converter.convert()
        except CorruptDebugInfo as err:
            raise ModelLoadError(
                f"{source.display_name} is a truncated or corrupt TorchScript archive (its debug "
                f"records: {_first_line(str(err))})",
                "re-save the model with torch.jit.save, or copy the file again completely",
            ) from err
        except (RuntimeError, ValueError, TypeError, AttributeError, KeyError, IndexError) as err:
            raise ModelLoadError(
                f"{source.display_name} holds a TorchScript construct ModelLens cannot draw "
                f"({type(err).__name__}: {_first_line(str(err))})",
                "please report it with the model's code (`print(torch.jit.load(path).code)`)",
            ) from err
        traced = archive["traced"] if archive["traced"] is not None else converter.looks_traced()
        example = archive["trace_example"] if traced else None
        shapes_known = example is not None and bool(example) and _apply_trace_shapes(graph, example)
        _describe(graph, archive, traced, torch.__version__, shapes_known)
        _mark_placeholders(graph, placeholders)
    if converter.resolved_branches:
        graph.graph["resolved_branches"] = converter.resolved_branches
        graph.graph["warnings"].append(
            f"{converter.resolved_branches} if/else on module attributes fixed in this file (such as "
            "`self.training`, False when saved in eval mode) are drawn as the branch taken"
        )
    if converter.folded_guards:
        graph.graph["folded_guards"] = converter.folded_guards
        graph.graph["warnings"].append(
            f"{converter.folded_guards} input checks (`if <condition>: raise ...`, such as BatchNorm's "
            "dimension check) and the operators computing their conditions are not drawn"
        )
    if len(overloads) > 1:
        graph.graph["warnings"].append(
            f"forward is overloaded ({', '.join(overloads)}): the graph shows {method}"
        )
    return graph


def _forward_method(module: Any, source: ModelSource) -> tuple[str, list[str]]:
    """``forward``, or the first of its overloads (``forward__0``: a scripted nn.LSTM)."""
    if module._c._has_method("forward"):
        return "forward", ["forward"]
    overloads = sorted(n for n in module._c._method_names() if re.fullmatch(r"forward__\d+", n))
    if not overloads:
        raise ModelLoadError(
            f"{source.display_name} is a TorchScript module without a forward method",
            "save a module whose forward is scripted or traced",
        )
    return overloads[0], overloads


def import_torch(what: str) -> Any:
    """``torch``, or ModelLoadError naming the extra to install."""
    try:
        import torch
    except ImportError as err:
        message = f"Opening a {what} model needs PyTorch, which is not installed"
        raise ModelLoadError(message, TORCH_EXTRA_FIX) from err
    return torch


def _load(torch: Any, source: ModelSource, placeholders: Placeholders) -> Any:
    fix = "re-save the model with torch.jit.save, or check that the file was copied completely"
    corrupt = f"{source.display_name} is a truncated or corrupt TorchScript archive"
    try:
        return torch.jit.load(str(source.path), map_location="cpu")
    except RuntimeError as err:
        text = str(err)
        if UNKNOWN_OP.search(text):
            return _load_without_library(torch, source, text, placeholders)
        if "central directory" in text or "zip archive" in text or "file not found" in text:
            raise ModelLoadError(corrupt, fix) from err
        if "version" in text.lower() and "support" in text.lower():
            raise ModelLoadError(
                f"{source.display_name} was written by a newer PyTorch than {torch.__version__}",
                "upgrade PyTorch (`pip install -U torch`) or re-save the model with this version",
            ) from err
        problem = f"{source.display_name} cannot be loaded by torch.jit.load ({_first_line(text)})"
        raise ModelLoadError(problem, fix) from err
    except (ValueError, OSError, pickle.UnpicklingError, EOFError) as err:
        raise ModelLoadError(f"{corrupt} ({_first_line(str(err))})", fix) from err


def _load_without_library(torch: Any, source: ModelSource, text: str, placeholders: Placeholders) -> Any:
    """Operators such as ``torchvision::nms`` exist once their library is imported: import it and
    retry; without it, load with placeholders for the missing operators (see
    converters.torchscript_missing_ops); failing that, say which package to install."""
    first = UNKNOWN_OP.search(text)
    assert first is not None
    namespace, op = first.groups()
    if namespace in CORE_NAMESPACES or namespace.startswith("__"):  # PyTorch's own: no library adds them
        raise ModelLoadError(
            f"{source.display_name} uses the operator {namespace}::{op}, which PyTorch "
            f"{torch.__version__} does not have: the file was written by a newer PyTorch, or it is corrupt",
            "upgrade PyTorch (`pip install -U torch`), or re-save the model with "
            f"torch {torch.__version__.split('+')[0]}",
        )
    if _imports(namespace):
        try:
            return torch.jit.load(str(source.path), map_location="cpu")
        except RuntimeError as err:
            text = str(err)
    for _ in range(MAX_PLACEHOLDERS):
        missing = UNKNOWN_OP.search(text)
        if missing is None:
            break
        if not define_placeholder(torch, source.path, missing.group(1), missing.group(2), placeholders):
            break
        try:
            return torch.jit.load(str(source.path), map_location="cpu")
        except RuntimeError as err:
            text = str(err)
    package = package_for(namespace)
    raise ModelLoadError(
        f"{source.display_name} uses the operator {namespace}::{op} from {package}, which is not "
        "installed (or fails to import)",
        f"pip install {package}",
    )


def _imports(namespace: str) -> bool:
    try:
        __import__(namespace)
    except Exception:  # noqa: BLE001 - any import failure means the operators stay unknown
        return False
    return True


def _mark_placeholders(graph: schema.ModelGraph, placeholders: Placeholders) -> None:
    """Nodes of placeholder operators lose the made-up schema; the page says what to install."""
    if not placeholders.ops:
        return
    for sub in (graph, *graph.graph["subgraphs"].values()):
        for _, data in sub.nodes(data=True):
            if data["op_type"] in placeholders.ops:
                data.pop("schema", None)
                data["category"] = "custom"
    packages = " ".join(placeholders.packages())
    graph.graph["missing_operators"] = list(placeholders.ops)
    graph.graph["warnings"].insert(
        0,
        f"{', '.join(placeholders.ops)}: from {packages}, which is not installed. The graph shows "
        f"these operators with unknown argument types; to run the model: `pip install {packages}`",
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown error"


def _archive_facts(torch: Any, source: ModelSource) -> dict[str, Any]:
    """Facts read from the archive's records: file-format version, traced or not, trace example,
    ``extra/`` files (torch.jit.save's ``_extra_files``)."""
    facts: dict[str, Any] = {"version": None, "traced": None, "trace_example": None, "extra": {}}
    try:
        reader = torch._C.PyTorchFileReader(str(source.path))
        records = set(reader.get_all_records())
        for entry in ("version", ".data/version"):  # newer writers use .data/version
            if entry in records and facts["version"] is None:
                facts["version"] = bytes(reader.get_record(entry)).decode("ascii", "replace").strip()
        if "traced_inputs.pkl" in records:
            facts["traced"] = True
            facts["trace_example"] = read_trace_example(bytes(reader.get_record("traced_inputs.pkl")))
        for name in sorted(r for r in records if r.startswith("extra/"))[:20]:
            text = bytes(reader.get_record(name))[:500].decode("utf-8", "replace")
            facts["extra"][name.removeprefix("extra/")] = text
    except (RuntimeError, OSError):
        pass
    return facts


def _describe(
    graph: schema.ModelGraph, archive: dict[str, Any], traced: bool, torch_version: str, shapes_known: bool
) -> None:
    kind = "traced" if traced else "scripted"
    version = f", file format v{archive['version']}" if archive["version"] else ""
    graph.graph["format_label"] = f"TorchScript ({kind}){version}"
    graph.graph["producer"] = "PyTorch (torch.jit.trace)" if traced else "PyTorch (torch.jit.script)"
    graph.graph["torchscript_kind"] = kind
    metadata = graph.graph["metadata"]
    metadata["forward"] = graph.graph["forward_schema"]
    metadata["loaded_with"] = f"torch {torch_version}"
    if archive["version"]:
        metadata["file_format_version"] = archive["version"]
    metadata.update(archive["extra"])
    notes = [TRACED_NOTE] if traced else []
    notes.append(TRACE_SHAPES_NOTE if shapes_known else SHAPES_NOTE)
    example = archive["trace_example"]
    if traced and example and not shapes_known:
        described = ", ".join(f"{dtype} {list(shape)}" for dtype, shape in example)
        notes.append(
            f"The trace example holds the tensors {described}, but the file does not record which "
            "input each was (they may have been passed by keyword, in another order than forward's), "
            "so no input is given their shapes"
        )
    graph.graph["warnings"][:0] = notes


def _apply_trace_shapes(graph: schema.ModelGraph, example: list[tuple[str, tuple[int, ...]]]) -> bool:
    """Give tensor inputs the traced example's dtype and shape when the mapping is certain; True
    when given. ``traced_inputs.pkl`` holds the tensors without names, in the order they were
    passed, which is forward's order for positional inputs but the dict's order for
    ``example_kwarg_inputs``: with several tensor inputs the mapping is certain only when every
    example tensor has the same dtype and shape (then the order does not matter)."""
    tensor_inputs = [n for n in graph.graph["inputs"] if graph.nodes[n]["torch_type"] == "Tensor"]
    if len(tensor_inputs) != len(example) or len(set(example)) > 1:
        return False
    for node_id, (dtype, shape) in zip(tensor_inputs, example, strict=True):
        old = graph.nodes[node_id]["outputs"][0]
        graph.nodes[node_id]["outputs"][0] = schema.TensorInfo(name=old.name, dtype=dtype, shape=shape)
    graph.graph["shape_source"] = "trace example"
    return True


class _ExampleUnpickler(pickle.Unpickler):
    """Reads ``traced_inputs.pkl`` without torch: tensors become (dtype, shape); any other class
    is refused, so nothing in the file is executed."""

    _STORAGE = re.compile(r"^(\w+)Storage$")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return lambda value, _tag: value
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, _offset, size, *_rest: (storage, tuple(int(d) for d in size))
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and self._STORAGE.match(name):
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed here")

    def persistent_load(self, pid: Any) -> Any:
        storage_type = pid[1] if isinstance(pid, tuple) and len(pid) > 1 else ""
        match = self._STORAGE.match(str(storage_type))
        return _STORAGE_DTYPES.get(match.group(1)) if match else None


_STORAGE_DTYPES = REAL_SCALAR_TYPE_NAMES


def read_trace_example(data: bytes) -> list[tuple[str, tuple[int, ...]]] | None:
    """The (dtype, shape) of each tensor ``forward`` was traced with, in order; None when the
    entry holds anything but a flat list of tensors."""
    import io

    try:
        value = _ExampleUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - an unreadable example only costs the trace shapes
        return None
    example = value.get("forward") if isinstance(value, dict) else None
    if not isinstance(example, list | tuple) or not example:
        return None
    if not all(isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) for t in example):
        return None
    return [(dtype, shape) for dtype, shape in example]


__all__ = ["EXTENSIONS", "FORMAT", "convert", "import_torch", "match", "read_trace_example"]
