"""Collapsible groups: module namespaces, and topological segments where names give none.

``build_groups(graph)`` returns ``Grouping``: each node's deepest group id ("" = root) and the
group tree. Group ids are "/"-joined paths; synthetic segment groups are named ``§start-end``.
No group has more than MAX_DIRECT_CHILDREN direct children, so no view lays out thousands of
nodes however the model was named.
"""

from __future__ import annotations

import gc
import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import networkx as nx

from converters.schema import ModelGraph

MAX_DIRECT_CHILDREN = 120
SEGMENT_TARGET = 40
SEGMENT_MARK = "§"


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    parent: str
    count: int = 0


@dataclass
class Grouping:
    node_group: dict[str, str]
    groups: dict[str, Group] = field(default_factory=dict)

    def ancestors(self, group_id: str) -> list[str]:
        """Group ids from the outermost down to ``group_id`` itself ([] for the root)."""
        chain: list[str] = []
        while group_id:
            chain.append(group_id)
            group_id = self.groups[group_id].parent
        return chain[::-1]

    def ordered_groups(self) -> list[Group]:
        """Parents before children."""
        return sorted(self.groups.values(), key=lambda g: (len(self.ancestors(g.id)), g.id))


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Grouping creates a few small objects per node and nothing cyclic: pausing the cyclic
    collector halves the time a 50,000-node graph takes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_groups(graph: ModelGraph) -> Grouping:
    """Groups from namespaces. Every group's children (its own nodes and child groups) form an
    acyclic graph, so no view that collapses any set of groups draws a cycle: a namespace shared
    by several calls of one module (``relu`` applied three times in a residual block) becomes one
    group per call (``relu``, ``relu_1``, ...), and a group that still closes a cycle is dissolved."""
    with _garbage_collection_paused():
        node_group = {n: _namespace_group(d) for n, d in graph.nodes(data=True)}
        node_group = split_cyclic_groups(graph, node_group)
        _drop_tiny_groups(node_group)
        node_group = _merge_single_child_chains(node_group)
        node_group = _lift_root_wrapper(node_group, graph)
        _segment_crowded_groups(graph, node_group)
        return Grouping(node_group=node_group, groups=_group_table(node_group))


def _namespace_group(data: dict) -> str:
    if data["kind"] in ("input", "output"):
        return ""
    return str(data.get("namespace") or "").strip("/")


def _prefixes(group_id: str) -> list[str]:
    parts = group_id.split("/") if group_id else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _deep_counts(node_group: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for group_id in node_group.values():
        for prefix in _prefixes(group_id):
            counts[prefix] += 1
    return counts


def _drop_tiny_groups(node_group: dict[str, str]) -> None:
    """A group holding a single node adds a click and no clarity: lift the node out."""
    counts = _deep_counts(node_group)
    for node_id, group_id in node_group.items():
        prefixes = _prefixes(group_id)
        while prefixes and counts[prefixes[-1]] < 2:
            prefixes.pop()
        node_group[node_id] = prefixes[-1] if prefixes else ""


def _merge_single_child_chains(node_group: dict[str, str]) -> dict[str, str]:
    """``a`` holding only ``a/b`` becomes one group ``a/b`` (labelled ``a/b``)."""
    children: dict[str, set[str]] = defaultdict(set)
    has_direct_nodes: set[str] = set(node_group.values())
    for group_id in set(node_group.values()):
        prefixes = _prefixes(group_id)
        for parent, child in zip(["", *prefixes], prefixes, strict=False):
            children[parent].add(child)
    redundant = {g for g, kids in children.items() if g and len(kids) == 1 and g not in has_direct_nodes}
    if not redundant:
        return node_group
    rename: dict[str, str] = {}
    for group_id in set(node_group.values()):
        kept = [p for p in _prefixes(group_id) if p not in redundant]
        rename[group_id] = _join_kept(kept)
    return {node: rename[group] for node, group in node_group.items()}


def _join_kept(kept_prefixes: list[str]) -> str:
    """Re-express kept prefixes as a path whose segments may contain merged '/' parts."""
    if not kept_prefixes:
        return ""
    segments, previous = [], ""
    for prefix in kept_prefixes:
        segments.append(prefix[len(previous) :].strip("/").replace("/", "∕"))
        previous = prefix
    return "/".join(segments)


def _segment_crowded_groups(graph: ModelGraph, node_group: dict[str, str]) -> None:
    """Split any group with too many children into segments of consecutive children in dependency
    order (file order among independent ones); a segment takes whole child groups along."""
    children: dict[str, set[str]] = defaultdict(set)
    direct: dict[str, int] = defaultdict(int)
    io = _graph_io(graph)
    for node_id, group_id in node_group.items():
        if node_id not in io:
            direct[group_id] += 1
        prefixes = _prefixes(group_id)
        for parent, child in zip(["", *prefixes], prefixes, strict=False):
            children[parent].add(child)
    crowded = [g for g in set(direct) | set(children) if direct[g] + len(children[g]) > MAX_DIRECT_CHILDREN]
    topology = _Topology.of(graph) if crowded else None
    for group_id in sorted(crowded, key=lambda g: (-g.count("/"), g)):  # deepest first: paths stay valid
        members = [n for n, g in node_group.items() if _within(g, group_id) and n not in io]
        assert topology is not None
        _assign_segments(group_id, _ordered_items(topology, node_group, group_id, members), node_group)


@dataclass(frozen=True)
class _Topology:
    """What regrouping reads of the graph, copied once out of networkx (its views are slow)."""

    successors: dict[str, list[str]]
    position: dict[str, int]  # file order
    op_type: dict[str, str]

    @classmethod
    def of(cls, graph: ModelGraph) -> _Topology:
        return cls(
            successors={node_id: list(targets) for node_id, targets in graph.adj.items()},
            position={node_id: i for i, node_id in enumerate(graph.nodes)},
            op_type={node_id: str(data["op_type"]) for node_id, data in graph.nodes(data=True)},
        )


def _graph_io(graph: ModelGraph) -> set[str]:
    """Graph inputs and outputs: they stay at the root, outside every group."""
    return {node_id for node_id, kind in graph.nodes(data="kind") if kind in ("input", "output")}


def _within(group_id: str, ancestor: str) -> bool:
    return not ancestor or group_id == ancestor or group_id.startswith(ancestor + "/")


Item = tuple[str | None, list[str]]  # (child group id, or None for a single node; its nodes)


def _assign_segments(parent: str, items: list[Item], node_group: dict[str, str], first: int = 1) -> None:
    """Chunk ``parent``'s ordered children into segments ``§first-last`` (op positions in that
    order), nesting again while a segment still has too many children."""
    if len(items) <= MAX_DIRECT_CHILDREN:
        return
    chunk = max(SEGMENT_TARGET, -(-len(items) // SEGMENT_TARGET))
    for start in range(0, len(items), chunk):
        block = items[start : start + chunk]
        size = sum(len(nodes) for _, nodes in block)
        mark = f"{SEGMENT_MARK}{first}-{first + size - 1}"
        segment = f"{parent}/{mark}" if parent else mark
        moved: list[Item] = []
        for child, nodes in block:
            for node_id in nodes:
                node_group[node_id] = segment + _below(parent, node_group[node_id])
            moved.append((None if child is None else segment + _below(parent, child), nodes))
        _assign_segments(segment, moved, node_group, first)
        first += size


def _below(parent: str, group_id: str) -> str:
    """The part of ``group_id`` under ``parent``, with its leading '/' ('' for ``parent`` itself)."""
    return group_id[len(parent) :] if parent else ("/" + group_id if group_id else "")


def _ordered_items(
    topology: _Topology, node_group: dict[str, str], parent: str, members: list[str]
) -> list[Item]:
    """The children of ``parent`` in dependency order, file order among independent ones."""
    items: dict[Key, list[str]] = {}
    for node_id in members:
        child = _child_of(parent, node_group[node_id])
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


def _in_dependency_order(topology: _Topology, nodes: list[str]) -> bool:
    """True when every edge among ``nodes`` goes forward in file order (ONNX requires it)."""
    position = topology.position
    return all(position[s] > position[n] for n in nodes for s in topology.successors[n])


def _child_of(parent: str, group_id: str) -> str | None:
    """The child of ``parent`` on the way down to ``group_id`` (None when it is ``parent``)."""
    if group_id == parent:
        return None
    rest = group_id[len(parent) + 1 :] if parent else group_id
    head = rest.split("/", 1)[0]
    return f"{parent}/{head}" if parent else head


Key = tuple[str, str]  # ("g", child group id) or ("n", node id)


def _quotient(topology: _Topology, key_of: dict[str, Key]) -> dict[Key, set[Key]]:
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


def split_cyclic_groups(graph: ModelGraph, node_group: dict[str, str]) -> dict[str, str]:
    """Regroup so that repeated calls of one module are separate groups and every group's children
    form an acyclic graph (see build_groups)."""
    node_group = dict(node_group)
    topology = _Topology.of(graph)
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
        child = _child_of(parent, node_group[node_id])
        if child is not None:
            buckets[child].append(node_id)
    return buckets


def _untangle(
    topology: _Topology, node_group: dict[str, str], members: list[str], by_group: dict[str, list[str]]
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
    topology: _Topology,
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


def _connected_parts(topology: _Topology, nodes: list[str]) -> list[list[str]]:
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


def _lift_root_wrapper(node_group: dict[str, str], graph: ModelGraph) -> dict[str, str]:
    """A single top-level group holding every op (BERT's ``m``) is lifted: its children become the
    top level (``m.encoder`` named ``encoder``), so the first view and "collapse all" show the
    model's real blocks."""
    io = _graph_io(graph)
    while True:
        op_groups = [g for n, g in node_group.items() if n not in io]
        tops = {g.split("/", 1)[0] for g in op_groups}
        if len(tops) != 1 or "" in tops:
            return node_group
        (top,) = tops
        heads = {g.split("/")[1] for g in op_groups if "/" in g}
        short = {h: h[len(top) + 1 :] for h in heads if h.startswith(top + ".")}
        if len(set(short.values()) | (heads - set(short))) < len(heads):
            short = {}  # shortening would merge two blocks

        def lifted(group_id: str, top: str = top, short: dict[str, str] = short) -> str:
            if group_id == top:
                return ""
            if not group_id.startswith(top + "/"):
                return group_id  # graph inputs and outputs stay at the root
            head, _, tail = group_id[len(top) + 1 :].partition("/")
            head = short.get(head, head)
            return f"{head}/{tail}" if tail else head

        node_group = {n: lifted(g) for n, g in node_group.items()}


def _group_table(node_group: dict[str, str]) -> dict[str, Group]:
    counts = _deep_counts(node_group)
    groups: dict[str, Group] = {}
    for group_id in sorted(counts):
        parent = group_id.rsplit("/", 1)[0] if "/" in group_id else ""
        groups[group_id] = Group(group_id, group_label(group_id), parent, counts[group_id])
    return groups


def group_label(group_id: str) -> str:
    """Short label: the last path segment, minus the dotted module path of the group above it
    (``layer1.0.conv`` under ``layer1.0`` is ``conv``; ``m.encoder.layer.0`` under a lifted
    ``encoder`` is ``layer.0``) when what is left is not a bare index."""
    parts = group_id.split("/")
    last = parts[-1].replace("∕", "/")
    if last.startswith(SEGMENT_MARK):
        lo, _, hi = last[1:].partition("-")
        return f"nodes {lo}–{hi}"
    above = [p for p in parts[:-1] if not p.startswith(SEGMENT_MARK)]
    if above:
        parent = above[-1].replace("∕", "/").rsplit("/", 1)[-1]
        for start in (0, *(i + 1 for i, ch in enumerate(last) if ch == ".")):
            if last.startswith(parent + ".", start):
                rest = last[start + len(parent) + 1 :]
                return last if rest.isdigit() or not rest else rest
    return last
