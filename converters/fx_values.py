"""torch.fx values as the ModelGraph shows them: operator names, module paths as namespaces, symbolic
dim ranges, output names from the output tree, node arguments as JSON. torch is imported inside the
functions."""

from __future__ import annotations

import re
from typing import Any

_HIGHER_ORDER_ARGUMENTS = {
    "cond": ("pred", "true_fn", "false_fn", "operands"),
    "while_loop": ("cond_fn", "body_fn", "carried_inputs", "additional_inputs"),
    "map_impl": ("f", "xs", "pos_args"),
    "scan": ("combine_fn", "init", "xs", "additional_inputs"),
}


def op_name(target: Any) -> tuple[str, str]:
    """(op_type, domain): ``aten.conv2d.default``/``aten``, ``higher_order.cond``/``higher_order``,
    ``operator.mul``/``python``."""
    import torch

    if isinstance(target, torch._ops.OpOverload):
        return str(target), str(target.namespace)
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order.{target.name()}", "higher_order"
    if isinstance(target, torch._ops.OpOverloadPacket):
        return str(target), str(getattr(target, "_qualified_op_name", "").split("::")[0])
    module = str(getattr(target, "__module__", "") or "").replace("_operator", "operator")
    name = getattr(target, "__name__", None) or str(target)
    return (f"{module}.{name}" if module else name), "python"


def module_namespace(path: str) -> str:
    """``layer1.0.conv1`` -> ``layer1/0/conv1``; dynamo's ``L['self'].x`` / ``getattr(a, '0')`` forms too."""
    path = re.sub(r"getattr\(([^,]+),\s*'([^']+)'\)", r"\1.\2", path)
    path = re.sub(r"^L\['self'\]\.?|^L__self___?", "", path)
    path = re.sub(r"\[(\d+)\]", r".\1", path).replace("['", ".").replace("']", "")
    return "/".join(part.replace("/", "∕") for part in path.split(".") if part)


def class_name(type_name: Any) -> str:
    text = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    return text.rsplit(".", 1)[-1]


def dim_ranges(range_constraints: dict[Any, Any]) -> dict[str, list[int | None]]:
    """{symbol: [min, max]} from ``ep.range_constraints`` (an unbounded end is None)."""
    ranges: dict[str, list[int | None]] = {}
    for symbol, bounds in range_constraints.items():
        ranges[str(symbol)] = [_bound(bounds.lower), _bound(bounds.upper)]
    return dict(sorted(ranges.items()))


def _bound(value: Any) -> int | None:
    text = str(value)
    if "oo" in text:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def output_paths(program: Any) -> list[str]:
    """Names of the user outputs from the output tree: ``output``, ``output[0]``, ``output['logits']``."""
    import torch.utils._pytree as pytree

    spec = program.call_spec.out_spec
    if spec is None:
        return []
    leaves = pytree.tree_unflatten(list(range(spec.num_leaves)), spec)
    return ["output" + pytree.keystr(path) for path, _ in pytree.tree_flatten_with_path(leaves)[0]]


def spec_json(pytree: Any, spec: Any) -> str | None:
    return pytree.treespec_dumps(spec) if spec is not None else None


def schema_argument_names(target: Any) -> list[str]:
    schema_ = getattr(target, "_schema", None)
    if schema_ is not None:
        return [argument.name for argument in schema_.arguments]
    name = target.name() if callable(getattr(target, "name", None)) else ""
    return list(_HIGHER_ORDER_ARGUMENTS.get(name, ()))


def node_names(value: Any) -> list[str]:
    from torch import fx

    if isinstance(value, fx.Node):
        return [value.name]
    if isinstance(value, list | tuple):
        return [name for item in value for name in node_names(item)]
    if isinstance(value, dict):
        return [name for item in value.values() for name in node_names(item)]
    return []


def only_nodes(value: Any) -> bool:
    from torch import fx

    if isinstance(value, fx.Node):
        return True
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, fx.Node) for v in value)


def placeholder_names(fx_graph: Any) -> set[str]:
    return {node.name for node in fx_graph.nodes if node.op == "placeholder"}


def attribute(owner: Any, target: str) -> Any:
    value = owner
    for part in target.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def json_value(value: Any) -> Any:
    """A JSON-safe view of a node argument: tensors by name (``%x``), dtypes and devices as text."""
    import math

    from torch import fx

    if isinstance(value, fx.Node):
        return f"%{value.name}"
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value).removeprefix("torch.")
