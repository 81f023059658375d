"""Reading an ExportedProgram out of a ``.pt2`` without running anything the file brings.

``torch.export.load`` does what this module does, plus things a viewer must never do with a
stranger's file (see ``converters.pt2_safety``): it unpickles ``use_pickle`` payloads and opaque
objects, retries the sample inputs with ``weights_only=False``, and rebuilds the output pytree only
when the class it names (``transformers...BaseModelOutput``) is registered in this Python. Here the
same torch pieces are put together in the safe way:

* payload configs are checked first; weights and constants are read as raw tensors by torch's
  ``_load_state_dict``/``_load_constants`` (which then never reach their pickle branches); legacy
  ``.pt`` payloads go through ``torch.load(weights_only=True)`` only;
* the sample inputs are never read (a viewer does not need them);
* every ``expr_str`` and guard is checked to be arithmetic before torch parses it;
* a pytree node type this Python has not registered is read as a dict of its fields (or a tuple),
  with a warning naming the type, instead of failing.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from converters.errors import ModelLoadError
from converters.pt2_archive import CORRUPT_FIX, LEGACY_JSON, first_line
from converters.pt2_safety import check_payload_config, check_program, corrupt
from converters.source import ModelSource, open_zip

_SPEC_KEYS = ("in_spec", "out_spec")


@dataclass
class LoadedProgram:
    """The ExportedProgram and what reading it had to work around (shown as graph warnings)."""

    program: Any
    warnings: list[str] = field(default_factory=list)


def load_program(source: ModelSource, torch: Any, entry: str) -> LoadedProgram:
    """Build the ExportedProgram of the archive's ``entry`` (``<root>/models/<name>.json``).

    Raises ModelLoadError: a pickled payload or an expression that is code (refused, nothing run),
    a corrupt archive or program JSON (what torch reported, in one line).
    """
    try:
        with open_zip(source.path) as archive:
            document = json.loads(archive.read(entry))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as err:
        raise corrupt(source.display_name, first_line(err)) from err
    if not isinstance(document, dict):
        raise corrupt(source.display_name, "the program JSON is not an object")
    check_program(source.display_name, document)
    notes = _unregistered_specs(document)
    try:
        with _torch_quiet():
            if entry.endswith(LEGACY_JSON):
                program = _load_legacy(source, torch, document)
            else:
                program = _load_archive(source, torch, entry, document)
    except ModelLoadError:
        raise
    except MemoryError:
        raise
    except Exception as err:  # torch raises anything on a damaged program
        raise _torch_error(source, err) from err
    return LoadedProgram(program, notes)


def _load_archive(source: ModelSource, torch: Any, entry: str, document: dict[str, Any]) -> Any:
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass
    from torch.export.pt2_archive import _package

    model = entry.rsplit("/", 1)[-1][: -len(".json")]
    with _package.PT2ArchiveReader(str(source.path)) as reader:
        names = set(reader.get_file_names())
        for kind, config_name in (
            ("weight", f"data/weights/{model}_weights_config.json"),
            ("constant", f"data/constants/{model}_constants_config.json"),
        ):
            if config_name in names:
                files = check_payload_config(source.display_name, reader.read_bytes(config_name), kind)
                _check_files_present(source, kind, files, names)
            elif f"data/{kind}s/{model}.pt" not in names:
                problem = f"it has no {kind}s for {model} ({config_name} is missing)"
                raise corrupt(source.display_name, problem)
        state_dict = _safe_artifact(source, torch, _package._load_state_dict(reader, model), "weights")
        constants = _safe_artifact(source, torch, _package._load_constants(reader, model), "constants")
    serialized = _dict_to_dataclass(schema.ExportedProgram, document)
    return ExportedProgramDeserializer().deserialize(serialized, state_dict, constants, None)


def _check_files_present(source: ModelSource, kind: str, files: dict[str, str], names: set[str]) -> None:
    for name, path in files.items():
        if f"data/{kind}s/{path}" not in names:
            raise corrupt(source.display_name, f"its {kind} {name!r} (data/{kind}s/{path}) is missing")


def _load_legacy(source: ModelSource, torch: Any, document: dict[str, Any]) -> Any:
    """The PyTorch 2.3-2.7 zip: ``serialized_exported_program.json`` beside ``serialized_*.pt``."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

    with open_zip(source.path) as archive:
        by_leaf = {name.rsplit("/", 1)[-1]: name for name in archive.namelist()}
        payloads = {
            key: archive.read(by_leaf[f"serialized_{key}.pt"]) if f"serialized_{key}.pt" in by_leaf else b""
            for key in ("state_dict", "constants")
        }
    state_dict = _safe_artifact(source, torch, payloads["state_dict"], "weights")
    constants = _safe_artifact(source, torch, payloads["constants"], "constants")
    serialized = _dict_to_dataclass(schema.ExportedProgram, document)
    return ExportedProgramDeserializer().deserialize(serialized, state_dict, constants, None)


def _safe_artifact(source: ModelSource, torch: Any, value: Any, what: str) -> Any:
    """A dict as is; the bytes of a legacy ``torch.save`` payload through ``weights_only=True`` only."""
    if not isinstance(value, bytes | bytearray):
        return value
    if not value:
        return {}
    try:
        loaded = torch.load(io.BytesIO(value), weights_only=True, map_location="cpu")
    except Exception as err:  # the safe unpickler refuses with many types
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        reason = f"it calls {named.group(1)}" if named else re.sub(r"\x1b\[[0-9;]*m", "", first_line(err))
        raise ModelLoadError(
            f"{source.display_name} stores its {what} as a pickle that PyTorch's safe loader refuses "
            f"({reason}); a pickle that would run code when loaded — do not load it",
            "re-export it with torch.export.save under a current PyTorch",
        ) from err
    if not isinstance(loaded, dict | tuple):
        raise corrupt(source.display_name, f"its {what} are a {type(loaded).__name__}, not a dict")
    return loaded


def _unregistered_specs(document: dict[str, Any]) -> list[str]:
    """Rewrite, in place, pytree nodes whose type this Python has not registered (a
    ``transformers`` output class without ``transformers`` imported) as a dict of their fields when
    the context names them, else as a tuple; returns one warning per rewritten type."""
    import torch.utils._pytree as pytree

    known = pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE
    replaced: dict[str, set[str]] = {"in_spec": set(), "out_spec": set()}
    graph_module = document.get("graph_module")
    calls = graph_module.get("module_call_graph") if isinstance(graph_module, dict) else None
    for call in calls if isinstance(calls, list) else []:
        signature = call.get("signature") if isinstance(call, dict) else None
        if not isinstance(signature, dict):
            continue
        for key in _SPEC_KEYS:
            text = signature.get(key)
            if not isinstance(text, str):
                continue
            try:
                spec = json.loads(text)
            except ValueError:
                continue  # torch reports the corrupt spec
            for node in _spec_nodes(spec):
                _rewrite_node(node, known, replaced[key])
            signature[key] = json.dumps(spec)
    return [
        f"The {'outputs' if key == 'out_spec' else 'inputs'} are a {name}, a pytree type this Python "
        f"has not registered (`import {name.rsplit('.', 1)[0]}` registers it); shown by its fields"
        for key in _SPEC_KEYS
        for name in sorted(replaced[key])
    ]


def _spec_nodes(spec: Any) -> Iterator[dict[str, Any]]:
    stack = [spec[1]] if isinstance(spec, list) and len(spec) == 2 else []
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            children = node.get("children_spec")
            stack.extend(children if isinstance(children, list) else [])


def _rewrite_node(node: dict[str, Any], known: dict[str, Any], replaced: set[str]) -> None:
    kind = node.get("type")
    if not isinstance(kind, str):
        return
    unknown_namedtuple = kind == "collections.namedtuple" and _namedtuple_unknown(node.get("context"), known)
    if kind in known and not unknown_namedtuple:
        return
    replaced.add(_namedtuple_name(node.get("context")) if unknown_namedtuple else kind)
    children = node.get("children_spec")
    count = len(children) if isinstance(children, list) else 0
    try:
        context = json.loads(node.get("context") or "null")
    except (TypeError, ValueError):
        context = None
    names_fields = (
        isinstance(context, list)
        and len(context) == count
        and all(isinstance(item, str) for item in context)
        and len(set(context)) == len(context)
    )
    node["type"] = "builtins.dict" if names_fields else "builtins.tuple"
    node["context"] = json.dumps(context) if names_fields else "null"


def _namedtuple_name(context: Any) -> str:
    try:
        name = json.loads(context)
    except (TypeError, ValueError):
        return "a namedtuple"
    return str(name)


def _namedtuple_unknown(context: Any, known: dict[str, Any]) -> bool:
    return _namedtuple_name(context) not in known


def _torch_error(source: ModelSource, err: BaseException) -> ModelLoadError:
    problem = first_line(err)
    library = re.search(r"\b([A-Za-z_]\w*)::\w+", problem)
    if library and library.group(1) not in ("aten", "prim", "prims"):
        return ModelLoadError(
            f"{source.display_name} could not be loaded: {problem}",
            f"install and import the library that defines the {library.group(1)}:: operators before "
            "opening it (custom operators are registered by their Python package)",
        )
    return ModelLoadError(
        f"{source.display_name} is a corrupt .pt2 archive: torch could not rebuild its program "
        f"({type(err).__name__}: {problem})",
        CORRUPT_FIX,
    )


@contextmanager
def _torch_quiet() -> Iterator[None]:
    """Python warnings torch raises while rebuilding (deprecations) stay out of the terminal; its
    log is left alone, and the error raised here names the cause."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
