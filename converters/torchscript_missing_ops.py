"""Reading a TorchScript file whose operators come from a library that is not installed
(``torchvision::nms`` in a detection model).

``torch.jit.load`` compiles the archive's ``code/`` and stops at the first operator it does not
know. To still show the graph, each missing operator gets a placeholder definition for the time of
the load and conversion: its arguments typed ``Any`` (their count read from the calls in ``code/``),
returning what the calls take from it (``a, b = ops.myx.split2(x)``: two Tensors; a result that is
iterated: a list of Tensors; else one Tensor). The placeholders are removed afterwards, so nothing
stays registered in the process, and the graph says which package the model needs to run.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converters.source import ZIP_READ_ERRORS

UNKNOWN_OP = re.compile(r"Unknown (?:builtin op|type name)[^:]*: '?([A-Za-z_]\w*)(?:::|\.)(\w+)")
MAX_PLACEHOLDERS = 16
# operator namespace -> the package whose import registers its operators
OP_LIBRARIES = {
    "torchvision": "torchvision",
    "torchaudio": "torchaudio",
    "torchtext": "torchtext",
    "torch_scatter": "torch-scatter",
    "torch_sparse": "torch-sparse",
    "torch_cluster": "torch-cluster",
    "detectron2": "detectron2",
    "mmcv": "mmcv",
    "fbgemm": "fbgemm-gpu",
    "tensorrt": "torch-tensorrt",
}


def package_for(namespace: str) -> str:
    return OP_LIBRARIES.get(namespace, namespace.replace("_", "-"))


@dataclass
class Placeholders:
    """Operators defined for the load: ``ops`` as ``ns::op`` names, ``libraries`` kept alive."""

    ops: list[str] = field(default_factory=list)
    libraries: list[Any] = field(default_factory=list)

    def packages(self) -> list[str]:
        return sorted({package_for(op.split("::", 1)[0]) for op in self.ops})


@contextmanager
def placeholder_scope() -> Iterator[Placeholders]:
    """Placeholders defined inside the scope are removed when it ends."""
    placeholders = Placeholders()
    try:
        yield placeholders
    finally:
        for library in placeholders.libraries:
            library._destroy()


def define_placeholder(torch: Any, archive: Path, namespace: str, op: str, into: Placeholders) -> bool:
    """Define ``namespace::op(Any a0, ...) -> <returns>`` with the arity and results used in
    ``code/``; False when no call to it can be found (or it is defined already)."""
    calls = _calls(archive, namespace, op)
    if calls is None or f"{namespace}::{op}" in into.ops:
        return False
    arguments = [f"Any a{i}" if i < calls.fewest else f"Any a{i}=None" for i in range(calls.most)]
    arguments += [f"Any {name}=None" for name in sorted(calls.keywords)]
    try:
        library = torch.library.Library(namespace, "FRAGMENT")
        library.define(f"{op}({', '.join(arguments)}) -> {calls.returns()}")
    except (RuntimeError, ValueError):
        return False
    into.libraries.append(library)
    into.ops.append(f"{namespace}::{op}")
    return True


@dataclass
class _Calls:
    """What the calls ``ops.namespace.op(...)`` in ``code/`` tell of its schema."""

    fewest: int
    most: int
    keywords: set[str]
    unpacked: int = 0  # most names a result is unpacked into (``a, b = ...``), or indexed up to
    iterated: bool = False  # a result is looped over or measured (``for t in r``, ``len(r)``)

    def returns(self) -> str:
        if self.unpacked > 1:
            return f"({', '.join(['Tensor'] * self.unpacked)})"
        return "Tensor[]" if self.iterated else "Tensor"


def _calls(archive: Path, namespace: str, op: str) -> _Calls | None:
    counts: list[int] = []
    keywords: set[str] = set()
    unpacked, iterated = 0, False
    for tree in _code_trees(archive):
        results: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_op(node.func, namespace, op):
                counts.append(len(node.args))
                keywords.update(k.arg for k in node.keywords if k.arg)
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and _is_op(node.value.func, namespace, op)
            ):
                target = node.targets[0]
                if isinstance(target, ast.Tuple):
                    unpacked = max(unpacked, len(target.elts))
                elif isinstance(target, ast.Name):
                    results.add(target.id)
        found = _uses(tree, results)
        unpacked, iterated = max(unpacked, found[0]), iterated or found[1]
    if not counts:
        return None
    return _Calls(min(counts), max(counts), keywords, unpacked, iterated)


def _uses(tree: ast.Module, names: set[str]) -> tuple[int, bool]:
    """(most names one of ``names`` is unpacked into or indexed up to, whether one is iterated)."""
    unpacked, iterated = 0, False
    if not names:
        return unpacked, iterated
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in names:
            if isinstance(node.targets[0], ast.Tuple):
                unpacked = max(unpacked, len(node.targets[0].elts))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
        ):
            unpacked = max(unpacked, node.slice.value + 1)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and node.iter.id in names:
            iterated = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "len":
            iterated = iterated or any(isinstance(a, ast.Name) and a.id in names for a in node.args)
    return unpacked, iterated


def _is_op(func: ast.expr, namespace: str, op: str) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == op
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == namespace
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "ops"
    )


def _code_trees(archive: Path) -> Iterator[ast.Module]:
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = [n for n in zipped.namelist() if "/code/" in f"/{n}" and n.endswith(".py")]
            sources = [zipped.read(n).decode("utf-8", "replace") for n in names[:500]]
    except ZIP_READ_ERRORS:
        return
    for source in sources:
        try:
            yield ast.parse(source)
        except SyntaxError:
            continue
