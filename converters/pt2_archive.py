"""The ``.pt2`` archive around an exported program: what it records about its writer (PyTorch
version, schema version, opsets), read from its JSON without torch; the version check that turns
"this PyTorch cannot read it" into a message naming the version needed; and ``torch.export.load``
with its log noise kept out of the terminal and its failures turned into ModelLoadError."""

from __future__ import annotations

import json
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from converters.errors import ModelLoadError
from converters.source import ModelSource

PROGRAM_JSON = re.compile(r"(?:^|/)models/[^/]+\.json$")
LEGACY_JSON = "serialized_exported_program.json"
CORRUPT_FIX = "re-save it with torch.export.save, or check that the file was copied completely"
_QUIET_LOGGERS = ("torch._export", "torch.export", "torch.fx.experimental.symbolic_shapes")


@dataclass(frozen=True)
class ProgramHeader:
    """What the archive records about its writer, read without torch."""

    torch_version: str = ""
    schema_version: tuple[int, int] | None = None
    opset_version: dict[str, int] = field(default_factory=dict)
    verifiers: tuple[str, ...] = ()
    operators: frozenset[str] = frozenset()  # "torch.ops.<namespace>.<op>.<overload>" targets


def read_header(source: ModelSource) -> ProgramHeader:
    """The writer's PyTorch version, schema version and opsets from the program JSON in the archive."""
    try:
        with zipfile.ZipFile(source.path) as archive:
            names = archive.namelist()
            entry = program_entry(names)
            if entry is None:
                raise ModelLoadError(
                    f"{source.display_name} is a .pt2 archive without an exported program in it "
                    "(no models/*.json)",
                    CORRUPT_FIX,
                )
            document = json.loads(archive.read(entry))
            if not isinstance(document, dict):
                raise ValueError("the program JSON is not an object")
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise ModelLoadError(
            f"{source.display_name} is a truncated or corrupt .pt2 archive ({first_line(err)})",
            CORRUPT_FIX,
        ) from err
    version = document.get("schema_version") or {}
    schema_version = (
        (int(version.get("major", 0)), int(version.get("minor", 0))) if isinstance(version, dict) else None
    )
    opsets = document.get("opset_version") or {}
    return ProgramHeader(
        torch_version=str(document.get("torch_version") or ""),
        schema_version=schema_version,
        opset_version={str(k): int(v) for k, v in opsets.items()} if isinstance(opsets, dict) else {},
        verifiers=tuple(str(v) for v in document.get("verifiers") or ()),
        operators=frozenset(_operator_targets(document.get("graph_module"))),
    )


def _operator_targets(value: Any) -> set[str]:
    """Every ``torch.ops.*`` node target in the serialized graph, control-flow bodies included."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            target = item.get("target")
            if isinstance(target, str) and target.startswith("torch.ops."):
                found.add(target)
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return found


_BUILTIN_NAMESPACES = frozenset({"aten", "prims", "higher_order", "_c10d_functional", "c10d_functional"})
# operator namespaces whose Python package registers them on import (a fixed list: a file never
# chooses what ModelLens imports)
OPERATOR_PACKAGES = {
    "torchvision": "torchvision",
    "torchaudio": "torchaudio",
    "torchao": "torchao",
    "fbgemm": "fbgemm_gpu",
    "quantized_decomposed": "torch.ao.quantization.fx._decomposed",
}


def check_operators(source: ModelSource, header: ProgramHeader, torch: Any) -> None:
    """Raise ModelLoadError naming the operators this Python cannot resolve (their library is not
    installed or not imported); a known library that is installed is imported first."""
    missing: list[str] = []
    for target in sorted(header.operators):
        parts = target.split(".")
        if len(parts) < 4 or parts[2] in _BUILTIN_NAMESPACES:
            continue
        namespace, op = parts[2], parts[3]
        if not _resolves(torch, parts[2:]) and not (
            _import_library(namespace) and _resolves(torch, parts[2:])
        ):
            missing.append(f"{namespace}::{op}")
    if not missing:
        return
    namespaces = sorted({name.split("::")[0] for name in missing})
    packages = [OPERATOR_PACKAGES[n].split(".")[0] for n in namespaces if n in OPERATOR_PACKAGES]
    fix = (
        f"install {', '.join(packages)} (pip install {' '.join(packages)}); ModelLens imports it when a "
        "file needs its operators"
        if packages
        else f"open it from Python after importing the package that defines the "
        f"{', '.join(n + '::' for n in namespaces)} operators: `import that_package; modellens.load(path)`"
    )
    raise ModelLoadError(
        f"{source.display_name} uses operators this Python does not have: {', '.join(missing[:6])}"
        + (f" and {len(missing) - 6} more" if len(missing) > 6 else ""),
        fix,
    )


def _resolves(torch: Any, parts: list[str]) -> bool:
    value: Any = torch.ops
    try:
        for part in parts:
            value = getattr(value, part)
    except (AttributeError, RuntimeError):
        return False
    return True


def _import_library(namespace: str) -> bool:
    import importlib

    package = OPERATOR_PACKAGES.get(namespace)
    if package is None:
        return False
    try:
        importlib.import_module(package)
    except Exception:  # noqa: BLE001 - a broken optional library is the same as a missing one
        return False
    return True


def program_entry(names: list[str]) -> str | None:
    programs = sorted(n for n in names if PROGRAM_JSON.search(n))
    preferred = [n for n in programs if n.endswith("/model.json") or n == "models/model.json"]
    if preferred or programs:
        return (preferred or programs)[0]
    return next((n for n in names if n.endswith(LEGACY_JSON)), None)


def check_schema_version(source: ModelSource, header: ProgramHeader, torch: Any) -> None:
    """Raise ModelLoadError when the installed PyTorch cannot read the file's schema version."""
    from torch._export.serde.schema import SCHEMA_VERSION

    if header.schema_version is None or header.schema_version in ((0, 0),):
        return
    major, minor = header.schema_version
    installed = torch.__version__
    writer = f"PyTorch {header.torch_version}" if header.torch_version else "another PyTorch"
    if major > SCHEMA_VERSION[0]:
        needed = _release(header.torch_version)
        raise ModelLoadError(
            f"{source.display_name} was made by {writer} (ExportedProgram schema {major}.{minor}); "
            f"the installed PyTorch {installed} reads schema {SCHEMA_VERSION[0]}.x only, so it needs "
            f"PyTorch {needed or 'newer than ' + installed}",
            f'upgrade PyTorch: pip install -U "torch>={needed}"'
            if needed
            else "upgrade PyTorch: pip install -U torch",
        )
    if major < SCHEMA_VERSION[0]:
        raise ModelLoadError(
            f"{source.display_name} was made by {writer} (ExportedProgram schema {major}.{minor}), "
            f"which the installed PyTorch {installed} (schema {SCHEMA_VERSION[0]}.x) cannot read",
            f"re-export it with torch.export.save under PyTorch {_release(installed)}, or open it "
            f"with the PyTorch that wrote it"
            + (f' (pip install "torch=={_release(header.torch_version)}")' if header.torch_version else ""),
        )


def _release(version: str) -> str:
    """``2.15.0+cu121`` -> ``2.15.0``; '' stays ''."""
    found = re.match(r"\d+(?:\.\d+){0,2}", version.strip())
    return found.group(0) if found else ""


def first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:300] if lines else type(err).__name__


@contextmanager
def _torch_quiet() -> Iterator[None]:
    """torch.export logs warnings (and tracebacks) while deserializing; our errors say what matters."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def load_program(source: ModelSource, torch: Any) -> Any:
    try:
        with _torch_quiet():
            return torch.export.load(str(source.path))
    except MemoryError:
        raise
    except Exception as err:
        problem = first_line(err)
        fix = CORRUPT_FIX
        library = re.search(r"\b([A-Za-z_][\w]*)::\w+", problem)
        if library and library.group(1) not in ("aten", "prim", "prims"):
            fix = (
                f"install and import the library that defines the {library.group(1)}:: operators "
                "before opening it (custom operators are registered by their Python package)"
            )
        raise ModelLoadError(
            f"{source.display_name} could not be loaded by torch.export.load ({problem})", fix
        ) from err
