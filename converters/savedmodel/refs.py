"""Tensor references in GraphDefs (``node:2``) and FunctionDefs (``node:arg:2``, ``arg``), and the
order a body's nodes are visited in."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any


def topological(nodes: dict[str, Any], in_function: bool, roots: Iterable[str]) -> list[str]:
    """Nodes the roots depend on (data and control inputs), producers first; cycles in file order."""
    sources: dict[str, set[str]] = {}
    stack = [r for r in roots if r in nodes]
    while stack:
        name = stack.pop()
        if name in sources:
            continue
        found = {ref_node(ref, in_function) for ref in nodes[name].input}
        found = {s for s in found if s in nodes and s != name}
        sources[name] = found
        stack.extend(s for s in found if s not in sources)
    needed = set(sources)
    deps = {name: set(found) for name, found in sources.items()}
    users: dict[str, list[str]] = {name: [] for name in needed}
    for name, found in sources.items():
        for source in found:
            users[source].append(name)
    order_index = {name: i for i, name in enumerate(nodes)}
    ready = deque(sorted((n for n in needed if not deps[n]), key=order_index.__getitem__))
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for user in users[name]:
            deps[user].discard(name)
            if not deps[user]:
                ready.append(user)
    if len(order) < len(needed):  # TF1 control flow (NextIteration) forms cycles
        placed = set(order)
        order += sorted((n for n in needed if n not in placed), key=order_index.__getitem__)
    return order


def ref_node(ref: str, in_function: bool) -> str:
    ref = ref.lstrip("^")
    return split_function_ref(ref)[0] if in_function else split_graph_ref(ref)[0]


def split_graph_ref(ref: str) -> tuple[str, int]:
    """``name:3`` → (name, 3); ``name`` → (name, 0)."""
    name, sep, port = ref.lstrip("^").rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return ref.lstrip("^"), 0


def split_function_ref(ref: str) -> tuple[str, str | None, int]:
    """``node:arg:2`` → (node, arg, 2); ``arg_name`` → (arg_name, None, 0)."""
    parts = ref.lstrip("^").split(":")
    if len(parts) >= 3 and parts[-1].isdigit():
        return ":".join(parts[:-2]), parts[-2], int(parts[-1])
    if len(parts) == 2 and parts[1].isdigit():
        return parts[0], None, int(parts[1])
    return ref.lstrip("^"), None, 0
