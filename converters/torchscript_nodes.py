"""Reading single TorchScript nodes: module paths from a node's module hierarchy, operator
argument names, source locations, attributes and constants. Used by ``converters.torchscript_graph``;
works on ``torch._C`` objects handed in, never imports torch itself.
"""

from __future__ import annotations

import re
from typing import Any

from converters.torch_ops import json_safe

_HIERARCHY = re.compile(r"([^.()]+)\(([^()]*)\)")
_COMMENT_LOCATION = re.compile(r"# (.+):(\d+):(\d+)\s*$")
_TRACE_FRAME = re.compile(r"^(.+)\((\d+)\): (\S+)$")
RETURN_CONSTRUCTS = ("prim::TupleConstruct", "prim::ListConstruct", "prim::DictConstruct")
_SCALAR_TYPES = {
    0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
    7: "float64", 8: "complex32", 9: "complex64", 10: "complex128", 11: "bool", 15: "bfloat16",
}  # fmt: skip
_DTYPE_FORMALS = ("dtype", "out_dtype", "scalar_type")
_PRIM_FORMALS = {"prim::If": ("condition",), "prim::Loop": ("max_trip_count", "condition")}


class ModuleTree:
    """Module paths and classes of a loaded module, for namespacing inlined nodes."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self._classes: dict[str, str] | None = None
        self._paths: dict[str, tuple[str, list[tuple[str, str]]]] = {}

    def path_of(self, hierarchy: str) -> tuple[str, list[tuple[str, str]]]:
        """(``layer1/0/conv1``, [(group, module class), ...]) for a node's module hierarchy."""
        if hierarchy not in self._paths:
            self._paths[hierarchy] = self._module_path(hierarchy)
        return self._paths[hierarchy]

    def _module_path(self, hierarchy: str) -> tuple[str, list[tuple[str, str]]]:
        """The hierarchy names each call by its attribute (``encoder(BertEncoder).0(BertLayer)``);
        a module reached through a container (``encoder.layer[0]``) gets its full path back from
        the loaded module's tree."""
        modules = self.classes()
        path = ""
        labels: list[tuple[str, str]] = []
        for name, module_class in _HIERARCHY.findall(hierarchy):
            if name in ("SELF", "UNKNOWN_INSTANCE"):
                continue
            child = f"{path}.{name}" if path else name
            if child not in modules:
                inside = [
                    p for p in modules if p.endswith(f".{name}") and p.startswith(f"{child[: -len(name)]}")
                ]
                inside = [p for p in inside if p.count(".") == child.count(".") + 1]
                if len(inside) == 1:
                    container = inside[0].rsplit(".", 1)[0]
                    labels.append((container.replace(".", "/"), modules[container]))
                    child = inside[0]
            path = child
            labels.append((path.replace(".", "/"), modules.get(path, module_class)))
        return path.replace(".", "/"), labels

    def classes(self) -> dict[str, str]:
        """Module path -> class name (``layer1.0`` -> ``Bottleneck``)."""
        if self._classes is None:
            self._classes = {
                name: str(getattr(module, "original_name", "") or type(module).__name__)
                for name, module in self.module.named_modules()
                if name
            }
        return self._classes


class OperatorFormals:
    """Argument names of an operator's schema (``input``, ``weight``, ``stride``...) and which
    arguments it writes (``aten::append(t[](a!) self, ...)``: the list), cached."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self._formals: dict[str, tuple[list[str], list[int], bool]] = {}

    def names(self, node: Any) -> list[str]:
        text = node.schema()
        if text == "(no schema)":
            return list(_PRIM_FORMALS.get(node.kind(), ()))
        return self._parsed(text)[0][:]

    def written(self, node: Any) -> tuple[list[int], bool]:
        """(input ports the operator mutates, whether its first output is that same value)."""
        text = node.schema()
        if text == "(no schema)":
            return [], False
        _, writes, returns_it = self._parsed(text)
        return writes, returns_it

    def _parsed(self, text: str) -> tuple[list[str], list[int], bool]:
        if text not in self._formals:
            try:
                parsed = self.torch._C.parse_schema(text)
            except RuntimeError:
                self._formals[text] = ([], [], False)
            else:
                writes = [i for i, a in enumerate(parsed.arguments) if _is_write(a)]
                returns = list(parsed.returns)
                self._formals[text] = (
                    [a.name for a in parsed.arguments],
                    writes,
                    bool(returns) and _is_write(returns[0]),
                )
        return self._formals[text]


def _is_write(argument: Any) -> bool:
    alias = argument.alias_info
    return alias is not None and bool(alias.is_write)


def source_location(node: Any) -> tuple[str, bool | None]:
    """(``file.py:42``, traced-style): for a traced model (whose source range is the Python stack)
    the innermost frame outside torch's own code, else the location TorchScript recorded; the flag
    says whether the record looks traced (a stack, or column 0), None when nothing is recorded."""
    lines = node.sourceRange().splitlines()
    if lines and _TRACE_FRAME.match(lines[0].strip()):
        for line in lines[:60]:
            frame = _TRACE_FRAME.match(line.strip())
            if frame and "/torch/" not in frame.group(1) and frame.group(3) != "<module>":
                return f"{_file_name(frame.group(1))}:{frame.group(2)}", True
        return "", True
    first = str(node).split("\n", 1)[0] if not list(node.blocks()) else ""
    found = _COMMENT_LOCATION.search(first)
    if not found:
        return "", None
    return f"{_file_name(found.group(1))}:{found.group(2)}", found.group(3) == "0"


def forward_schema(method_schema: Any) -> str:
    """``forward(x: Tensor, n: int = 2) -> Tuple[Tensor, List[Tensor]]`` (``self`` dropped; an
    overload such as ``forward__0`` is shown as ``forward``)."""
    parts = []
    for argument in list(method_schema.arguments)[1:]:
        text = f"{argument.name}: {argument.type.annotation_str}"
        if argument.has_default_value():
            text += f" = {argument.default_value!r}"
        parts.append(text)
    returns = [r.type.annotation_str for r in method_schema.returns]
    result = returns[0] if len(returns) == 1 else f"Tuple[{', '.join(returns)}]"
    return f"forward({', '.join(parts)}) -> {result}"


def return_construct(returned: list[Any], jit_graph: Any) -> Any:
    """The tuple/list/dict construct ``forward`` returns, when nothing else uses it and a dict's
    keys are constants: its elements become separate graph outputs."""
    if len(returned) != 1:
        return None
    node = returned[0].node()
    if node.kind() not in RETURN_CONSTRUCTS or node.owningBlock() != jit_graph.block():
        return None
    if len(returned[0].uses()) != 1:
        return None
    if node.kind() == "prim::DictConstruct":
        keys = list(node.inputs())[::2]
        if not all(k.node().kind() == "prim::Constant" for k in keys):
            return None
    return node


def named_tuple_fields(jit_type: Any) -> list[str] | None:
    """The field names of a NamedTuple type (``NamedTuple(logits : Tensor, score : float)``), else
    None (a plain tuple)."""
    text = str(jit_type.str()) if hasattr(jit_type, "str") else ""
    if not text.startswith("NamedTuple(") or not text.endswith(")"):
        return None
    fields, depth, current = [], 0, ""
    for char in text[len("NamedTuple(") : -1]:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            fields.append(current)
            current = ""
        else:
            current += char
    fields.append(current)
    names = [field.split(" : ", 1)[0].strip() for field in fields if field.strip()]
    return names if all(name.isidentifier() for name in names) else None


_GUARD_BODY = ("prim::RaiseException", "aten::format", "aten::str", "prim::Uninitialized", "aten::warn")
_PURE_PREFIXES = ("aten::", "prim::")
_IMPURE = ("aten::append", "aten::warn", "prim::RaiseException", "prim::Print", "aten::_set_item")


def input_guards(block: Any) -> set[Any]:
    """The input checks of a block and its nested blocks: ``if x.dim() != 4: raise ValueError(...)``
    (an If without outputs whose branches only raise, format messages or do nothing) and the
    operators computing nothing but their conditions. The ONNX exporter folds these away (its
    shapes are known); drawn, they make every scripted BatchNorm a group of four nodes."""
    guards: set[Any] = set()
    nodes = list(block.nodes())
    found = False
    for node in nodes:
        if node.kind() not in ("prim::If", "prim::Loop"):
            continue
        for inner in node.blocks():
            guards |= input_guards(inner)
        if node.kind() == "prim::If" and not list(node.outputs()) and _only_raises(node):
            guards.add(node)
            found = True
    if not found:
        return guards
    for node in reversed(nodes):  # then what only feeds them, back to front
        outputs = list(node.outputs())
        if (
            node in guards
            or not outputs
            or list(node.blocks())
            or node.kind() in ("prim::Constant", "prim::GetAttr")
            or not _is_pure(node)
        ):
            continue
        uses = [use for out in outputs for use in out.uses()]
        if uses and all(use.user in guards for use in uses):
            guards.add(node)
    return guards


def _only_raises(node: Any) -> bool:
    """Branches that raise (or do nothing), computing only what the message needs."""
    inner = [n for block in node.blocks() for n in block.nodes() if n.kind() != "prim::Constant"]
    if not any(n.kind() == "prim::RaiseException" for n in inner):
        return False
    return all(n.kind() in _GUARD_BODY or (_is_pure(n) and not list(n.blocks())) for n in inner)


def _is_pure(node: Any) -> bool:
    kind = node.kind()
    return kind.startswith(_PURE_PREFIXES) and kind not in _IMPURE and not kind.endswith("_")


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def constant_value(value: Any) -> Any:
    try:
        return value.toIValue()
    except RuntimeError:
        return None


def node_attributes(node: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name in node.attributeNames():
        kind = node.kindOf(name)
        try:
            value = getattr(node, kind)(name)
        except (RuntimeError, AttributeError):
            continue
        if kind in ("t", "ts", "g", "gs"):
            value = f"<{kind} attribute>"
        attributes[name] = json_safe(value)
    return attributes


def readable_constant(formal: str, value: Any) -> Any:
    if formal in _DTYPE_FORMALS and isinstance(value, int) and not isinstance(value, bool):
        return _SCALAR_TYPES.get(value, value)
    return value
