"""What in a ``.pt2`` archive could run code when ``torch.export.load`` reads it, found from the
JSON alone (no torch, nothing unpickled, nothing evaluated).

``torch.export.load`` in PyTorch 2.13 is not a safe loader for files from strangers: a weight or
constant whose payload config says ``"use_pickle": true`` is read with
``torch.load(weights_only=False)``, an opaque constant with ``pickle.loads``, the sample inputs and
legacy ``.pt`` payloads fall back to ``weights_only=False`` when the safe load fails, every symbolic
shape (``expr_str``) is parsed with ``sympy.sympify`` (which calls ``eval``), and ``guards_code`` is
``exec``-ed by ``ep.module()``. ModelLens builds the program itself (``converters.pt2_loader``): it
never reads the sample inputs, loads ``.pt`` payloads with ``weights_only=True`` only, and first
refuses, with :func:`check_program`, any file holding a pickled payload or an expression that is
more than arithmetic on symbols.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from typing import Any

from converters.errors import ModelLoadError
from converters.pt2_archive import CORRUPT_FIX

UNSAFE_FIX = (
    "do not open this file from an untrusted source; if you made it, re-export it with "
    "torch.export.save (weights stored as plain tensors)"
)
_TENSOR_PREFIXES = ("weight_", "tensor_")
_CUSTOM_OBJ_PREFIX = "custom_obj_"  # TorchBind objects: read by TorchScript's own unpickler
_OPAQUE_PREFIX = "opaque_obj_"  # read with pickle.loads
_SAFE_OPERATORS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not,
    ast.Invert, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.BitAnd,
    ast.BitOr, ast.LShift, ast.RShift, ast.Load,
)  # fmt: skip
_TORCH_SYMPY_FUNCTIONS = frozenset(
    {
        "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
        "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
        "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt",
        "RoundDecimal", "ToFloat", "Identity", "OpaqueUnaryFn",
    }
)  # fmt: skip
# what sympy.srepr writes for torch's shape expressions (a fixed list: most other sympy classes
# sympify their string arguments, i.e. eval them)
_SYMPY_CALLABLES = frozenset(
    {
        "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs",
        "floor", "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan",
        "StrictGreaterThan", "LessThan", "GreaterThan", "Equality", "Unequality", "And", "Or", "Not",
        "Piecewise", "ExprCondPair", "Tuple", "sqrt", "log", "exp",
    }
) | _TORCH_SYMPY_FUNCTIONS  # fmt: skip
_STRING_TAKERS = frozenset({"Symbol", "Float"})
_TENSOR_METHODS = frozenset({"size", "stride", "storage_offset", "dim", "numel", "shape"})
_GUARD_NAMES = frozenset(
    {"L", "math", "torch", "inf", "IsNonOverlappingAndDenseIndicator", "cast_symbool_to_symint_guardless",
     "max", "min", "abs", "int", "float", "round", "bool"}
)  # fmt: skip


def check_payload_config(display_name: str, config_text: str | bytes, kind: str) -> dict[str, str]:
    """Refuse a weights/constants payload config that asks for a pickled payload; returns
    {fully-qualified name: payload file name}.

    Raises ModelLoadError naming the entry: ``use_pickle`` entries and opaque objects would be
    unpickled by ``torch.load(weights_only=False)`` / ``pickle.loads``, which can run any code.
    """
    try:
        config = json.loads(config_text)
        entries = config["config"]
        if not isinstance(entries, dict):
            raise TypeError("config is not an object")
    except (ValueError, KeyError, TypeError) as err:
        raise corrupt(display_name, f"its {kind} config is not valid JSON ({err})") from err
    files: dict[str, str] = {}
    for name, meta in entries.items():
        if not isinstance(meta, dict):
            raise corrupt(display_name, f"its {kind} config entry {name!r} is not an object")
        path = str(meta.get("path_name", ""))
        if meta.get("use_pickle") or path.startswith(_OPAQUE_PREFIX):
            raise ModelLoadError(
                f"{display_name} stores the {kind} {name!r} as a Python pickle, which would run code "
                "when loaded; ModelLens does not unpickle files — do not load it",
                UNSAFE_FIX,
            )
        if not path.startswith((*_TENSOR_PREFIXES, _CUSTOM_OBJ_PREFIX)):
            raise corrupt(display_name, f"its {kind} {name!r} has an unknown payload {path!r}")
        files[str(name)] = path
    return files


def check_program(display_name: str, document: dict[str, Any]) -> None:
    """Refuse a program JSON whose symbolic expressions or guards are more than arithmetic.

    ``expr_str`` values go to ``sympy.sympify`` (``eval``) and ``guards_code`` to ``exec``; both
    are written by torch as plain expressions (``Mul(Integer(2), Symbol('s0', ...))``,
    ``L['x'].size()[0] == L['y'].size()[0]``). Anything with attribute access beyond tensor sizes,
    subscripts of other things, lambdas or calls to non-sympy functions raises ModelLoadError.
    """
    for text in _strings_under(document.get("graph_module"), "expr_str"):
        if not _is_safe_expression(text, guard=False):
            raise _code_error(display_name, "a symbolic shape (expr_str)", text)
    guards = document.get("guards_code") or []
    if not isinstance(guards, list) or not all(isinstance(text, str) for text in guards):
        raise corrupt(display_name, f"guards_code is {type(guards).__name__}, not a list of strings")
    for text in guards:
        if not _is_safe_expression(text, guard=True):
            raise _code_error(display_name, "a shape guard (guards_code)", text)


def corrupt(display_name: str, problem: str) -> ModelLoadError:
    return ModelLoadError(f"{display_name} is a truncated or corrupt .pt2 archive: {problem}", CORRUPT_FIX)


def _code_error(display_name: str, what: str, text: str) -> ModelLoadError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ModelLoadError(
        f"{display_name} holds {what} that is Python code, not arithmetic ({shown!r}); torch would "
        "run it when loading — do not load it",
        UNSAFE_FIX,
    )


def _strings_under(value: Any, key: str) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name, child in item.items():
                if name == key and isinstance(child, str):
                    yield child
                elif isinstance(child, dict | list):
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(child for child in item if isinstance(child, dict | list))


def _is_safe_expression(text: str, *, guard: bool) -> bool:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return False
    callables = _GUARD_NAMES if guard else _SYMPY_CALLABLES
    if not guard and not _strings_only_name_symbols(tree):
        return False
    return all(_safe_node(node, guard, callables) for node in ast.walk(tree))


def _strings_only_name_symbols(tree: ast.AST) -> bool:
    """Most sympy classes ``sympify`` a string argument (``Max("__import__('os')...")`` runs it):
    a string may only be the name of a ``Symbol`` or the digits of a ``Float``."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _STRING_TAKERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            allowed.add(id(node.args[0]))
    return all(
        id(node) in allowed
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def _safe_node(node: ast.AST, guard: bool, callables: frozenset[str]) -> bool:
    if isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.BoolOp | ast.Compare | ast.Tuple):
        return True
    if isinstance(node, _SAFE_OPERATORS):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float | str | bool) or node.value is None
    if isinstance(node, ast.Name):
        return not node.id.startswith("_") and (not guard or node.id in _GUARD_NAMES)
    if isinstance(node, ast.keyword):
        return node.arg is not None and not node.arg.startswith("_")
    if isinstance(node, ast.Call):
        return _safe_callee(node.func, guard, callables)
    if guard and isinstance(node, ast.Subscript):
        return True  # L['x'], size()[0]: the value and the index are checked as nodes themselves
    if guard and isinstance(node, ast.Attribute):
        return _safe_attribute(node)
    return False


def _safe_callee(func: ast.expr, guard: bool, callables: frozenset[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in callables and func.id not in ("L", "math", "torch")
    return guard and isinstance(func, ast.Attribute) and _safe_attribute(func)


def _safe_attribute(node: ast.Attribute) -> bool:
    if node.attr.startswith("_"):
        return False
    if isinstance(node.value, ast.Name) and node.value.id == "math":
        return True
    if isinstance(node.value, ast.Name) and node.value.id == "torch":
        return node.attr.startswith("sym_")
    return node.attr in _TENSOR_METHODS
