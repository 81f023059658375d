"""The order and split of a group's children, so that no collapsed view draws a cycle.

A group's children are its own nodes and its child groups. ``split_module_calls`` makes every
group's children an acyclic graph: a namespace shared by repeated calls of one module (torch names
the three uses of a bottleneck's ``self.relu`` alike) becomes one group per call (``relu``,
``relu_1``, ``relu_2``), and a group that still closes a cycle is dissolved into its parent.
Then every view, whichever groups it collapses, is acyclic: the children of each group can be laid
out in one dependency order (``ordered_items``), and collapsed groups are runs of that order.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import networkx as nx

from converters.schema import ModelGraph

Key = tuple[str, str]  # ("g", child group id) or ("n", node id)

Item = tuple[str | None, list[str]]  # (child group id, or None for a single node; its nodes)


@dataclass(frozen=True)
class Topology:
    """What regrouping reads of the graph, copied once out of networkx (its views are slow)."""

    successors: dict[str, list[str]]
    position: dict[str, int]  # file order
    op_type: dict[str, str]

    @classmethod
    def of(cls, graph: ModelGraph) -> Topology:
        return cls(
            successors={node_id: list(targets) for node_id, targets in graph.adj.items()},
            position={node_id: i for i, node_id in enumerate(graph.nodes)},
            op_type={node_id: str(data["op_type"]) for node_id, data in graph.nodes(data=True)},
        )


def child_of(parent: str, group_id: str) -> str | None:
    """The child of ``parent`` on the way down to ``group_id`` (None when it is ``parent``)."""
    if group_id == parent:
        return None
    rest = group_id[len(parent) + 1 :] if parent else group_id
    head = rest.split("/", 1)[0]
    return f"{parent}/{head}" if parent else head


def _quotient(topology: Topology, key_of: dict[str, Key]) -> dict[Key, set[Key]]:
    """Edges between the items the nodes belong to (nodes outside ``key_of`` are left out)."""
    successors: dict[Key, set[Key]] = {key: set() for key in key_of.values()}
    for node_id, key in key_of.items():
        for successor in topology.successors[node_id]:
            other = key_of.get(successor)
            if other is not None and other != key:
                successors[key].add(other)
    return successors


def _topological(successors: dict[Key, set[Key]], rank: dict[Key, int]) -> list[Key]:
    """Kahn's order, lowest rank first among ready items; items on a cycle are left out."""
    waiting = dict.fromkeys(successors, 0)
    for targets in successors.values():
        for target in targets:
            waiting[target] += 1
    ready = [(rank[key], key) for key, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Key] = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(key)
        for target in successors[key]:
            waiting[target] -= 1
            if waiting[target] == 0:
                heapq.heappush(ready, (rank[target], target))
    return order


def _in_dependency_order(topology: Topology, nodes: list[str]) -> bool:
    """True when every edge among ``nodes`` goes forward in file order (ONNX requires it)."""
    position = topology.position
    return all(position[s] > position[n] for n in nodes for s in topology.successors[n])


def ordered_items(
    topology: Topology, node_group: dict[str, str], parent: str, members: list[str]
) -> list[Item]:
    """The children of ``parent`` in dependency order, file order among independent ones."""
    items: dict[Key, list[str]] = {}
    for node_id in members:
        child = child_of(parent, node_group[node_id])
        items.setdefault(("g", child) if child is not None else ("n", node_id), []).append(node_id)
    position = topology.position
    if len(items) == len(members) and _in_dependency_order(topology, members):
        return [(None, [node_id]) for node_id in sorted(members, key=position.__getitem__)]
    key_of = {node_id: key for key, nodes in items.items() for node_id in nodes}
    rank = {key: min(position[n] for n in nodes) for key, nodes in items.items()}
    order = _topological(_quotient(topology, key_of), rank)
    if len(order) < len(items):  # the model itself has a cycle: its items follow in file order
        placed = set(order)
        order += sorted((key for key in items if key not in placed), key=rank.__getitem__)
    return [(key[1] if key[0] == "g" else None, items[key]) for key in order]


def split_module_calls(graph: ModelGraph, node_group: dict[str, str]) -> dict[str, str]:
    """Regroup so that repeated calls of one module are separate groups and every group's children
    form an acyclic graph (see build_groups)."""
    node_group = dict(node_group)
    topology = Topology.of(graph)
    stack: list[tuple[str, list[str]]] = [("", list(graph.nodes))]
    while stack:
        parent, members = stack.pop()
        buckets = _children(parent, members, node_group)
        siblings = set(buckets)
        split = False
        for child, nodes in buckets.items():
            if len(nodes) > 1:
                split |= _split_calls(topology, node_group, child, nodes, siblings, repeats_only=True)
        if split:
            buckets = _children(parent, members, node_group)
        while _untangle(topology, node_group, members, buckets):
            buckets = _children(parent, members, node_group)
        stack.extend(buckets.items())
    return node_group


def _children(parent: str, members: list[str], node_group: dict[str, str]) -> dict[str, list[str]]:
    """``parent``'s child groups and the nodes of each (its own nodes left out)."""
    buckets: dict[str, list[str]] = defaultdict(list)
    for node_id in members:
        child = child_of(parent, node_group[node_id])
        if child is not None:
            buckets[child].append(node_id)
    return buckets


def _untangle(
    topology: Topology, node_group: dict[str, str], members: list[str], by_group: dict[str, list[str]]
) -> bool:
    """One repair of a cycle among a group's children (``by_group``: child group -> its nodes;
    the other members are the group's own nodes); False when there is none left to repair."""
    if not by_group:
        return False
    key_of: dict[str, Key] = {node_id: ("n", node_id) for node_id in members}
    for child, nodes in by_group.items():
        for node_id in nodes:
            key_of[node_id] = ("g", child)
    successors = _quotient(topology, key_of)
    acyclic = set(_topological(successors, dict.fromkeys(successors, 0)))
    if len(acyclic) == len(successors):
        return False
    rest = nx.DiGraph((a, b) for a, targets in successors.items() if a not in acyclic for b in targets)
    tangles = [c for c in nx.strongly_connected_components(rest) if len(c) > 1]
    tangled_groups = sorted({key[1] for tangle in tangles for key in tangle if key[0] == "g"})
    if not tangled_groups:
        return False  # a cycle the model itself has
    siblings = set(by_group)
    split = False
    for group_id in tangled_groups:
        split |= _split_calls(topology, node_group, group_id, by_group[group_id], siblings)
    if not split:
        smallest = min(tangled_groups, key=lambda g: (len(by_group[g]), g))
        _dissolve(node_group, smallest, by_group[smallest])
    return True


def _split_calls(
    topology: Topology,
    node_group: dict[str, str],
    group_id: str,
    nodes: list[str],
    siblings: set[str],
    repeats_only: bool = False,
) -> bool:
    """One group per connected part, i.e. per call of a module: ``relu``, ``relu_1``, ``relu_2``.
    With ``repeats_only`` only when every part runs the same ops (the same module called again,
    not one call computing unrelated things)."""
    if repeats_only:
        counts = Counter(topology.op_type[n] for n in nodes).values()
        if math.gcd(*counts) < 2:
            return False  # equal parts would each hold 1/k of every op type
    parts = _connected_parts(topology, nodes)
    if len(parts) < 2:
        return False
    if repeats_only:
        signatures = {tuple(sorted(Counter(topology.op_type[n] for n in part).items())) for part in parts}
        if len(signatures) > 1:
            return False
    suffix = 0
    for part in parts[1:]:
        suffix += 1
        while f"{group_id}_{suffix}" in siblings:
            suffix += 1
        renamed = f"{group_id}_{suffix}"
        siblings.add(renamed)
        for node_id in part:
            node_group[node_id] = renamed + node_group[node_id][len(group_id) :]
    return True


def _connected_parts(topology: Topology, nodes: list[str]) -> list[list[str]]:
    """Weakly connected parts of ``nodes`` (edges among them only), each and all in file order."""
    root = {node_id: node_id for node_id in nodes}

    def find(node_id: str) -> str:
        while root[node_id] != node_id:
            root[node_id] = root[root[node_id]]
            node_id = root[node_id]
        return node_id

    for node_id in nodes:
        for successor in topology.successors[node_id]:
            if successor in root:
                a, b = find(node_id), find(successor)
                if a != b:
                    root[b] = a
    parts: dict[str, list[str]] = defaultdict(list)
    for node_id in sorted(nodes, key=topology.position.__getitem__):
        parts[find(node_id)].append(node_id)
    return list(parts.values())


def _dissolve(node_group: dict[str, str], group_id: str, nodes: list[str]) -> None:
    """Lift a group's nodes to its parent; its child groups stay, named ``group/child``."""
    parent, _, name = group_id.rpartition("/")
    for node_id in nodes:
        rest = node_group[node_id][len(group_id) + 1 :]
        if not rest:
            node_group[node_id] = parent
            continue
        head, _, tail = rest.partition("/")
        merged = f"{parent}/{name}∕{head}" if parent else f"{name}∕{head}"
        node_group[node_id] = f"{merged}/{tail}" if tail else merged
