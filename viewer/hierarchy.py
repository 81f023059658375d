"""Collapsible groups: module namespaces, and topological segments where names give none.

``build_groups(graph)`` returns ``Grouping``: each node's deepest group id ("" = root) and the
group tree. Group ids are "/"-joined paths; synthetic segment groups are named ``§start-end``.
No group has more than MAX_DIRECT_CHILDREN direct children, so no view lays out thousands of
nodes however the model was named.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

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


def build_groups(graph: ModelGraph) -> Grouping:
    node_group = {n: _namespace_group(d) for n, d in graph.nodes(data=True)}
    _drop_tiny_groups(node_group)
    node_group = _merge_single_child_chains(node_group)
    _segment_crowded_groups(graph, node_group)
    classes = graph.graph.get("group_labels") or {}
    return Grouping(node_group=node_group, groups=_group_table(node_group, classes))


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
    """Split any group with too many direct op nodes into segments of the file's node order."""
    members: dict[str, list[str]] = defaultdict(list)
    for node_id in graph.nodes:
        if graph.nodes[node_id]["kind"] not in ("input", "output"):
            members[node_group[node_id]].append(node_id)
    child_groups: dict[str, int] = defaultdict(int)
    all_groups = {p for g in set(node_group.values()) for p in _prefixes(g)}
    for group_id in all_groups:
        child_groups[group_id.rsplit("/", 1)[0] if "/" in group_id else ""] += 1
    for group_id, nodes in members.items():
        if len(nodes) + child_groups[group_id] > MAX_DIRECT_CHILDREN:
            _assign_segments(group_id, nodes, 1, node_group)


def _assign_segments(parent: str, nodes: list[str], first_index: int, node_group: dict[str, str]) -> None:
    if len(nodes) <= MAX_DIRECT_CHILDREN:
        return
    chunk = max(SEGMENT_TARGET, -(-len(nodes) // SEGMENT_TARGET))
    for start in range(0, len(nodes), chunk):
        block = nodes[start : start + chunk]
        lo, hi = first_index + start, first_index + start + len(block) - 1
        segment = f"{parent}/{SEGMENT_MARK}{lo}-{hi}" if parent else f"{SEGMENT_MARK}{lo}-{hi}"
        for node_id in block:
            node_group[node_id] = segment
        _assign_segments(segment, block, lo, node_group)


def _group_table(node_group: dict[str, str], classes: dict[str, str]) -> dict[str, Group]:
    """Groups with their labels; ``classes`` ({namespace: module class}, the graph's
    ``group_labels``) adds the class: ``layer.0 · BertLayer``."""
    counts = _deep_counts(node_group)
    groups: dict[str, Group] = {}
    for group_id in sorted(counts):
        parent = group_id.rsplit("/", 1)[0] if "/" in group_id else ""
        label = group_label(group_id)
        module_class = classes.get(group_id.replace("∕", "/"))
        if module_class and module_class != label:
            label = f"{label} · {module_class}"
        groups[group_id] = Group(group_id, label, parent, counts[group_id])
    return groups


def group_label(group_id: str) -> str:
    """Short label: the last path segment, minus its parent's dotted prefix when that stays clear."""
    parts = group_id.split("/")
    last = parts[-1].replace("∕", "/")
    if last.startswith(SEGMENT_MARK):
        lo, _, hi = last[1:].partition("-")
        return f"nodes {lo}–{hi}"
    if len(parts) > 1:
        parent = parts[-2].replace("∕", "/").rsplit("/", 1)[-1]
        if last.startswith(parent + ".") and not last[len(parent) + 1 :].isdigit():
            return last[len(parent) + 1 :]
    return last
