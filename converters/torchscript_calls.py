"""Module calls of an inlined TorchScript graph → the namespace of every node.

Each inlined node records its module hierarchy, the chain of calls that ran it, by attribute name
and class: ``layer1(Sequential).0(Bottleneck).relu(ReLU)``. Two things are missing from it:

* a module reached through a container names only its index: iterating ``self.down`` (a
  ModuleList) and ``self.up`` records both ``down[0]`` and ``up[0]`` as ``0(Blk)``. The call's real
  module is found from the ``prim::GetAttr`` nodes run inside it (``self.conv`` read from the value
  that is ``down.0``), else from the module tree when only one module fits.
* a module called several times (one ``relu`` used three times by a Bottleneck) is several calls:
  each contiguous run of nodes under the same chain is one call, and the k-th call of a module
  inside the same parent call is named ``relu_k`` (``relu``, ``relu_1``, ``relu_2``), as ONNX
  exporters name them. One group per call keeps collapsed views acyclic.

Works on ``torch._C`` graphs handed in; never imports torch.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_HIERARCHY = re.compile(r"([^.()]+)\(([^()]*)\)")
_ANONYMOUS = ("SELF", "UNKNOWN_INSTANCE")


@dataclass
class _Call:
    """One call of a module: its attribute name and class in the hierarchy, its caller."""

    name: str
    module_class: str
    parent: _Call | None
    block: int  # the block (0: forward's body) where it starts; calls in other blocks count apart
    evidence: set[str] = field(default_factory=set)  # module paths read by GetAttr inside it
    path: str = ""  # resolved dotted module path (``down.0``)
    namespace: str = ""  # ``down/0``, ``layer1/0/relu_1``
    labels: list[tuple[str, str]] = field(default_factory=list)  # (group, class) it opens


class CallNamespaces:
    """The namespace and group labels of each node of an inlined graph, per module call."""

    def __init__(self, jit_graph: Any, classes: dict[str, str]) -> None:
        self.classes = classes
        self._by_leaf: dict[str, list[str]] = {}
        for path in classes:
            self._by_leaf.setdefault(path.rsplit(".", 1)[-1], []).append(path)
        self._chains: dict[str, list[tuple[str, str]]] = {}
        self._by_node: dict[Any, _Call] = {}
        self._module_paths: dict[int, str] = {}
        inputs = list(jit_graph.inputs())
        if inputs and inputs[0].type().kind() == "ClassType":
            self._module_paths[inputs[0].unique()] = ""
        calls: list[_Call] = []
        self._blocks = 0
        self._segment(jit_graph.nodes(), [], calls, block=0)
        counts: Counter[tuple[str, str, int]] = Counter()
        for call in calls:  # callers are created before their callees
            self._resolve(call, counts)

    def namespace_of(self, node: Any) -> tuple[str, list[tuple[str, str]]] | None:
        """(``down/0/conv``, [(group, module class), ...]) for a node run by a module call; None
        for a node the hierarchy says nothing about (forward's own, or an If/Loop node)."""
        call = self._by_node.get(node)
        if call is None:
            return None
        labels: list[tuple[str, str]] = []
        chain: list[_Call] = []
        while call is not None:
            chain.append(call)
            call = call.parent
        for link in reversed(chain):
            labels.extend(link.labels)
        return chain[0].namespace, labels

    # ------------------------------------------------------------------------------ segmenting

    def _segment(self, nodes: Any, stack: list[_Call], calls: list[_Call], block: int) -> None:
        """Split the nodes (in order, blocks included) into calls. A block starts from the call
        stack of its If/Loop node; what it calls does not continue after the node."""
        for node in nodes:
            kind = node.kind()
            if kind == "prim::Constant":
                continue
            self._note_module_path(node)
            chain = self._chain(node.getModuleHierarchy())
            if chain:
                stack = self._enter(stack, chain, calls, block)
                self._by_node[node] = stack[-1]
                if kind == "prim::GetAttr" and node.input().unique() in self._module_paths:
                    module_path = self._module_paths[node.input().unique()]
                    for call in stack:
                        call.evidence.add(module_path)
            elif block == 0 and kind != "prim::GetAttr" and not list(node.blocks()):
                stack = []  # forward's own operator: any call before it has returned
            for inner in node.blocks():
                self._blocks += 1
                self._segment(inner.nodes(), list(stack), calls, self._blocks)

    def _chain(self, hierarchy: str) -> list[tuple[str, str]]:
        if hierarchy not in self._chains:
            self._chains[hierarchy] = [
                (name, module_class)
                for name, module_class in _HIERARCHY.findall(hierarchy)
                if name not in _ANONYMOUS
            ]
        return self._chains[hierarchy]

    def _note_module_path(self, node: Any) -> None:
        if node.kind() != "prim::GetAttr" or node.output().type().kind() != "ClassType":
            return
        owner = self._module_paths.get(node.input().unique())
        if owner is not None:
            name = node.s("name")
            self._module_paths[node.output().unique()] = f"{owner}.{name}" if owner else name

    @staticmethod
    def _enter(
        stack: list[_Call], chain: list[tuple[str, str]], calls: list[_Call], block: int
    ) -> list[_Call]:
        """The call stack for a node under ``chain``: calls shared with the open stack continue,
        the rest are new calls."""
        same = 0
        while (
            same < len(stack)
            and same < len(chain)
            and (stack[same].name, stack[same].module_class) == chain[same]
        ):
            same += 1
        stack = stack[:same]
        for name, module_class in chain[same:]:
            call = _Call(name, module_class, stack[-1] if stack else None, block)
            calls.append(call)
            stack = [*stack, call]
        return stack

    # ------------------------------------------------------------------------------ resolving

    def _resolve(self, call: _Call, counts: Counter[tuple[str, str, int]]) -> None:
        parent_path = call.parent.path if call.parent else ""
        parent_namespace = call.parent.namespace if call.parent else ""
        call.path = self._module_of(call, parent_path, counts)
        relative = call.path[len(parent_path) + 1 :] if parent_path else call.path
        parts = relative.split(".") if call.path in self.classes else [call.name]
        index = counts[(parent_namespace, call.path, call.block)]
        counts[(parent_namespace, call.path, call.block)] += 1
        if index:
            parts[-1] = f"{parts[-1]}_{index}"
        group = parent_namespace
        prefix = parent_path
        for position, part in enumerate(parts):
            group = f"{group}/{part}" if group else part
            plain = relative.split(".")[position] if call.path in self.classes else call.name
            prefix = f"{prefix}.{plain}" if prefix else plain
            call.labels.append((group, self.classes.get(prefix, call.module_class)))
        call.namespace = group

    def _module_of(self, call: _Call, parent_path: str, counts: Counter[tuple[str, str, int]]) -> str:
        """The dotted path of the module a call ran: the caller's attribute, else the one module
        under the caller (through containers) that the call's GetAttr nodes read, else the first
        such module not called yet."""
        direct = f"{parent_path}.{call.name}" if parent_path else call.name
        any_class = call.module_class in ("", "UNKNOWN_TYPE")
        if direct in self.classes and (any_class or self.classes[direct] == call.module_class):
            return direct  # the caller's own attribute
        under = f"{parent_path}." if parent_path else ""
        candidates = [
            path
            for path in self._by_leaf.get(call.name, [])
            if path.startswith(under) and (any_class or self.classes[path] == call.module_class)
        ]
        read = [p for p in candidates if any(e == p or e.startswith(f"{p}.") for e in call.evidence)]
        if read:
            return max(read, key=len)
        parent_namespace = call.parent.namespace if call.parent else ""
        unused = [p for p in candidates if not counts[(parent_namespace, p, call.block)]]
        if unused or candidates:
            return (unused or candidates)[0]
        return direct
