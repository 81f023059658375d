"""Groups: namespaces become collapsible groups; crowded levels are split into segments."""

from __future__ import annotations

import pytest

from converters import schema
from viewer.hierarchy import MAX_DIRECT_CHILDREN, build_groups, group_label


def _graph(namespaces: list[str]) -> schema.ModelGraph:
    graph = schema.new_graph("onnx", "test")
    schema.add_node(
        graph,
        "input:x",
        kind="input",
        op_type="Input",
        category="other",
        name="x",
        outputs=[schema.TensorInfo("x")],
    )
    previous = "input:x"
    for i, namespace in enumerate(namespaces):
        node_id = f"n{i}"
        schema.add_node(
            graph,
            node_id,
            kind="op",
            op_type="Relu",
            category="activation",
            name=node_id,
            namespace=namespace,
            outputs=[schema.TensorInfo(f"t{i}")],
        )
        schema.add_edge(graph, previous, node_id, 0, 0, f"t{i}")
        previous = node_id
    return graph


@pytest.mark.parametrize(
    ("namespaces", "expected_node_groups"),
    [
        (["a", "a", "b", "b"], ["a", "a", "b", "b"]),
        (["a/x", "a/x", "a/y", "a/y", "b"], ["a/x", "a/x", "a/y", "a/y", ""]),
        (["a/x", "a/x", "a/y", "a/y"], ["x", "x", "y", "y"]),  # a root group wrapping everything is lifted
        (["lonely", "a", "a"], ["", "a", "a"]),  # a one-node group is lifted to its parent
        (
            ["enc/layer/attn", "enc/layer/attn", "enc/layer/mlp", "enc/layer/mlp", "head", "head"],
            ["enc∕layer/attn", "enc∕layer/attn", "enc∕layer/mlp", "enc∕layer/mlp", "head", "head"],
        ),  # chain merged
        (["", "", ""], ["", "", ""]),
    ],
)
def test_namespaces_become_groups(namespaces: list[str], expected_node_groups: list[str]) -> None:
    grouping = build_groups(_graph(namespaces))
    assert [grouping.node_group[f"n{i}"] for i in range(len(namespaces))] == expected_node_groups
    assert grouping.node_group["input:x"] == ""
    for group in grouping.groups.values():
        assert group.parent == "" or group.parent in grouping.groups


@pytest.mark.parametrize("count", [MAX_DIRECT_CHILDREN + 1, 1000, 20_000])
def test_flat_graphs_are_segmented_so_no_level_is_crowded(count: int) -> None:
    grouping = build_groups(_graph([""] * count))
    direct: dict[str, int] = {}
    for group_id in grouping.node_group.values():
        direct[group_id] = direct.get(group_id, 0) + 1
    for group in grouping.groups.values():
        direct[group.parent] = direct.get(group.parent, 0) + 1
    assert max(direct.values()) <= MAX_DIRECT_CHILDREN
    assert sum(g.count for g in grouping.groups.values() if g.parent == "") == count


def test_ancestors_and_counts() -> None:
    grouping = build_groups(_graph(["a/x", "a/x", "a/y", "a/y", "a/y", "b", "b"]))
    assert grouping.ancestors("a/y") == ["a", "a/y"]
    assert grouping.groups["a"].count == 5
    assert [g.id for g in grouping.ordered_groups()] == ["a", "b", "a/x", "a/y"]


@pytest.mark.parametrize(
    ("group_id", "label"),
    [
        ("layer1", "layer1"),
        ("layer1/layer1.0", "layer1.0"),
        ("layer1/layer1.0/layer1.0.bn", "bn"),
        ("§1-40", "nodes 1–40"),
        ("enc∕layer", "enc/layer"),
        ("encoder/m.encoder.layer.0", "layer.0"),  # under a lifted wrapper "m"
        ("layer1/layer1.0/§1-40/layer1.0.conv", "conv"),  # a segment is not the module above
        ("layer1/layer1.0/layer1.0.relu_1", "relu_1"),
    ],
)
def test_group_labels(group_id: str, label: str) -> None:
    assert group_label(group_id) == label
