"""Collapsible groups: module namespaces, and segments of the dependency order where names give none.

``build_groups(graph)`` returns ``Grouping``: each node's deepest group id ("" = root) and the
group tree. Group ids are "/"-joined paths; synthetic segment groups are named ``§start-end``.
No group has more than MAX_DIRECT_CHILDREN direct children, so no view lays out thousands of
nodes however the model was named; no view, whichever groups it collapses, draws a cycle the model
does not have (viewer.group_order); a group wrapping the whole model is lifted away.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import networkx as nx

from converters.gc_pause import garbage_collection_paused
from converters.schema import ModelGraph
from viewer.group_order import Item, Topology, ordered_items, split_module_calls

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


def build_groups(graph: ModelGraph) -> Grouping:
    """Groups from namespaces: one per module call (viewer.group_order), one-node groups and
    single-child chains folded, a root wrapper lifted, crowded levels segmented."""
    with garbage_collection_paused():
        node_group = {n: _namespace_group(d) for n, d in graph.nodes(data=True)}
        node_group = split_module_calls(graph, node_group)
        _drop_tiny_groups(node_group)
        node_group = _merge_single_child_chains(node_group)
        strays = weight_forwarders(graph)
        _place_with_consumers(graph, node_group, strays)
        node_group = _lift_root_wrapper(node_group, graph, strays)
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
    if not crowded:
        return
    topology = Topology.of(graph)
    for group_id in sorted(crowded, key=lambda g: (-g.count("/"), g)):  # deepest first: paths stay valid
        members = [n for n, g in node_group.items() if _within(g, group_id) and n not in io]
        _assign_segments(group_id, ordered_items(topology, node_group, group_id, members), node_group)


def _graph_io(graph: ModelGraph) -> set[str]:
    """Graph inputs and outputs: they stay at the root, outside every group."""
    return {node_id for node_id, kind in graph.nodes(data="kind") if kind in ("input", "output")}


def _within(group_id: str, ancestor: str) -> bool:
    return not ancestor or group_id == ancestor or group_id.startswith(ancestor + "/")


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


FORWARDING_OPS = frozenset({"Identity", "Constant"})


def weight_forwarders(graph: ModelGraph) -> set[str]:
    """Nodes that only hand on stored values: constants, ops with no data input (every input a
    weight), and Identity/Constant ops fed only by such nodes (the Identity a torch exporter adds
    for each tied weight). None of them depends on a graph input."""
    found: set[str] = set()
    pending = [n for n in graph.nodes if graph.in_degree(n) == 0]
    while pending:
        node_id = pending.pop()
        data = graph.nodes[node_id]
        if node_id in found or data["kind"] not in ("op", "constant"):
            continue
        sources = set(graph.predecessors(node_id))
        if sources and (data["op_type"] not in FORWARDING_OPS or not sources <= found):
            continue
        found.add(node_id)
        pending.extend(graph.successors(node_id))
    return found


def _common_group(group_ids: list[str]) -> str:
    """The deepest group holding all of ``group_ids`` ("" = the root)."""
    common = _prefixes(group_ids[0])
    for group_id in group_ids[1:]:
        mine = _prefixes(group_id)
        while common and (len(common) > len(mine) or mine[len(common) - 1] != common[-1]):
            common.pop()
    return common[-1] if common else ""


def _place_with_consumers(graph: ModelGraph, node_group: dict[str, str], strays: set[str]) -> None:
    """A root-level weight forwarder joins the deepest group holding all its consumers (its
    consumers first, so a Constant follows the Identity it feeds). Its only in-edges come from other
    forwarders placed at or above it, so no view gains a cycle."""
    placed: set[str] = set()
    for node_id in _consumers_first(graph, strays):
        if node_group[node_id] or node_id in placed:
            continue
        consumers = [node_group[c] for c in graph.successors(node_id)]
        if consumers:
            node_group[node_id] = _common_group(consumers)
            placed.add(node_id)


def _consumers_first(graph: ModelGraph, strays: set[str]) -> list[str]:
    """``strays`` with every node after the forwarders it feeds (file order where the model has a
    cycle among them, which a valid model cannot)."""
    try:
        return list(reversed(list(nx.topological_sort(graph.subgraph(strays)))))
    except nx.NetworkXUnfeasible:
        return [n for n in graph.nodes if n in strays]


def _lift_root_wrapper(node_group: dict[str, str], graph: ModelGraph, strays: set[str]) -> dict[str, str]:
    """A single top-level group holding every op (BERT's ``m``) is lifted: its children become the
    top level (``m.encoder`` named ``encoder``), so the first view and "collapse all" show the
    model's real blocks. Weight forwarders left at the root (no consumer, or consumers in several
    top-level places) do not keep a wrapper from being one."""
    io = _graph_io(graph)
    while True:
        op_groups = [g for n, g in node_group.items() if n not in io and (g or n not in strays)]
        if not op_groups:
            return node_group
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
