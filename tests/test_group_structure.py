"""Groups that tell the truth: one group per module call, slash-separated names as paths, no wrapper
group around everything. Views are computed by the JS engine (``viewer.render.visible_graph``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import networkx as nx
import onnx
import pytest
from onnx import TensorProto, helper

import modellens
from converters import schema
from viewer.canvas_payload import build_payload
from viewer.hierarchy import MAX_DIRECT_CHILDREN, build_groups
from viewer.render import visible_graph


def _chain(graph: schema.ModelGraph, steps: list[tuple[str, str, str, list[str]]]) -> None:
    """Add (node id, op, namespace, input node ids) in order; every node has one output."""
    for node_id, op, namespace, inputs in steps:
        schema.add_node(
            graph,
            node_id,
            kind="input" if op == "Input" else "op",
            op_type=op,
            category="other",
            name=node_id,
            namespace=namespace,
            outputs=[schema.TensorInfo(node_id)],
        )
        for port, source in enumerate(inputs):
            schema.add_edge(graph, source, node_id, 0, port, source)


def residual_block(activation_ops: int) -> schema.ModelGraph:
    """conv1 → act → conv2 → act → add(+x) → act, with one ``block/act`` module called three times
    (as torch's exporter names a shared ``self.relu``); ``activation_ops`` ops per call."""
    graph = schema.new_graph("onnx", "test")
    steps: list[tuple[str, str, str, list[str]]] = [("x", "Input", "", [])]
    previous = "x"

    def act(call: int) -> None:
        nonlocal previous
        for k in range(activation_ops):
            node_id = f"act{call}_{k}"
            steps.append((node_id, "Sigmoid" if k == 0 else "Mul", "block/act", [previous]))
            previous = node_id

    steps.append(("conv1", "Conv", "block/conv1", ["x"]))
    previous = "conv1"
    act(0)
    steps.append(("conv2", "Conv", "block/conv2", [previous]))
    previous = "conv2"
    act(1)
    steps.append(("add", "Add", "block", [previous, "x"]))
    previous = "add"
    act(2)
    steps.append(("head", "Gemm", "", [previous]))  # outside the block, so "block" is no root wrapper
    _chain(graph, steps)
    return graph


def _views_are_acyclic(graph: schema.ModelGraph) -> bool:
    payload = build_payload(graph)
    ids = [g["id"] for g in payload["groups"]]
    options = [{"expand": "none"}, {"expand": 1}, {"expand": 2}, {}, *({"expanded": [i]} for i in ids)]
    for option in options:
        visible = visible_graph(payload, option)
        drawn = nx.DiGraph([(e["source"], e["target"]) for e in visible["edges"]])
        if not nx.is_directed_acyclic_graph(drawn):
            return False
    return True


def test_each_call_of_a_shared_module_gets_its_own_group() -> None:
    grouping = build_groups(residual_block(activation_ops=2))
    groups = [grouping.node_group[f"act{call}_0"] for call in range(3)]
    assert groups == ["block/act", "block/act_1", "block/act_2"]
    assert all(grouping.node_group[f"act{call}_1"] == groups[call] for call in range(3))
    assert [grouping.groups[g].label for g in groups] == ["act", "act_1", "act_2"]
    assert _views_are_acyclic(residual_block(activation_ops=2))


def test_single_op_calls_stay_ungrouped() -> None:
    grouping = build_groups(residual_block(activation_ops=1))
    assert {grouping.node_group[f"act{call}_0"] for call in range(3)} == {"block"}
    assert _views_are_acyclic(residual_block(activation_ops=1))


def test_a_group_closing_a_cycle_as_one_connected_part_is_dissolved() -> None:
    """a1 → b → a2 with a1 → a2 directly: group ``a`` is connected yet collapsing it makes a cycle."""
    graph = schema.new_graph("onnx", "test")
    _chain(
        graph,
        [
            ("x", "Input", "", []),
            ("a1", "Relu", "a", ["x"]),
            ("b1", "Relu", "b", ["a1"]),
            ("b2", "Relu", "b", ["b1"]),
            ("a2", "Add", "a", ["a1", "b2"]),
        ],
    )
    grouping = build_groups(graph)
    assert grouping.node_group["b1"] == grouping.node_group["b2"] == "b"
    assert grouping.node_group["a1"] == grouping.node_group["a2"] == ""
    assert _views_are_acyclic(graph)


def slash_named_model(tmp: Path, stages: int = 12, branches: int = 3, per_branch: int = 30) -> Path:
    """A MatMul chain named ``stage{s}/branch{b}/MatMul_{i}`` (no leading '/'), 1,080 nodes."""
    nodes, previous, index = [], "x", 0
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.5] * 16)
    for s in range(stages):
        for b in range(branches):
            for _ in range(per_branch):
                out = f"t{index}"
                nodes.append(
                    helper.make_node(
                        "MatMul", [previous, "w"], [out], name=f"stage{s}/branch{b}/MatMul_{index}"
                    )
                )
                previous, index = out, index + 1
    graph = helper.make_graph(
        nodes,
        "stages",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp / "stages.onnx"
    onnx.save(model, str(path))
    return path


def test_slash_separated_names_are_namespace_paths(tmp_path: Path) -> None:
    graph = modellens.load(slash_named_model(tmp_path))
    grouping = build_groups(graph)
    top = sorted((g.label for g in grouping.groups.values() if g.parent == ""), key=lambda s: int(s[5:]))
    assert top == [f"stage{s}" for s in range(12)]
    assert sorted(g.label for g in grouping.groups.values() if g.parent == "stage3") == [
        "branch0",
        "branch1",
        "branch2",
    ]
    node = next(n for n, d in graph.nodes(data=True) if d["name"] == "stage3/branch1/MatMul_300")
    assert grouping.node_group[node] == "stage3/branch1"
    collapsed = visible_graph(build_payload(graph, grouping), {"expand": "none"})
    assert [n["label"] for n in collapsed["nodes"] if n["kind"] == "group"] == [
        f"stage{s}" for s in range(12)
    ]


def wrapped_bert_like() -> schema.ModelGraph:
    """Namespaces as torch's exporter writes them for ``Wrapper.m = BertModel(...)``."""
    graph = schema.new_graph("onnx", "test")
    steps: list[tuple[str, str, str, list[str]]] = [("ids", "Input", "", [])]
    previous = "ids"
    scopes = ["m/m.embeddings"] * 3 + ["m"] * 2
    for layer in range(2):
        scopes += [f"m/m.encoder/m.encoder.layer.{layer}/m.encoder.layer.{layer}.attention"] * 3
        scopes += [f"m/m.encoder/m.encoder.layer.{layer}/m.encoder.layer.{layer}.output"] * 2
    scopes += ["m/m.pooler"] * 2
    for i, scope in enumerate(scopes):
        steps.append((f"n{i}", "Add", scope, [previous]))
        previous = f"n{i}"
    _chain(graph, steps)
    return graph


@pytest.mark.parametrize("expand", ["none", None])
def test_a_root_group_wrapping_everything_is_lifted(expand: str | None) -> None:
    graph = wrapped_bert_like()
    grouping = build_groups(graph)
    assert "m" not in grouping.groups
    assert sorted(g.label for g in grouping.groups.values() if g.parent == "") == [
        "embeddings",
        "encoder",
        "pooler",
    ]
    assert sorted(g.label for g in grouping.groups.values() if g.parent == "encoder") == [
        "layer.0",
        "layer.1",
    ]
    options = {"expand": expand} if expand else {}
    shown = visible_graph(build_payload(graph, grouping), options)
    labels = {n["label"] for n in shown["nodes"] if n["kind"] == "group"} | {
        c["label"] for c in shown["clusters"]
    }
    assert {"embeddings", "encoder", "pooler"} <= labels
    assert "m" not in labels


def _branches(second_branch_ops: tuple[str, str]) -> schema.ModelGraph:
    """x → conv_a → act(Sigmoid, Mul) ┐
    x → conv_b → act(ops…)        ┴ → concat: two calls of ``act`` on parallel branches."""
    graph = schema.new_graph("onnx", "test")
    first, second = second_branch_ops
    _chain(
        graph,
        [
            ("x", "Input", "", []),
            ("conv_a", "Conv", "net/conv_a", ["x"]),
            ("sig_a", "Sigmoid", "net/act", ["conv_a"]),
            ("mul_a", "Mul", "net/act", ["sig_a"]),
            ("conv_b", "Conv", "net/conv_b", ["x"]),
            ("sig_b", first, "net/act", ["conv_b"]),
            ("mul_b", second, "net/act", ["sig_b"]),
            ("concat", "Concat", "net", ["mul_a", "mul_b"]),
            ("head", "Gemm", "", ["concat"]),
        ],
    )
    return graph


def test_a_module_called_on_two_branches_gets_a_group_per_call() -> None:
    grouping = build_groups(_branches(("Sigmoid", "Mul")))
    assert [grouping.node_group[n] for n in ("sig_a", "mul_a", "sig_b", "mul_b")] == [
        "net/act",
        "net/act",
        "net/act_1",
        "net/act_1",
    ]


def test_one_call_computing_unrelated_parts_stays_one_group() -> None:
    grouping = build_groups(_branches(("Tanh", "Add")))  # different ops: not a repeat of the first part
    assert {grouping.node_group[n] for n in ("sig_a", "mul_a", "sig_b", "mul_b")} == {"net/act"}


def test_crowded_levels_are_segmented_in_dependency_order_with_their_groups() -> None:
    """300 two-op blocks with a root op between each: the root's 600 children are cut into
    segments of consecutive children (whole blocks move along), numbered by op position."""
    graph = schema.new_graph("onnx", "test")
    steps: list[tuple[str, str, str, list[str]]] = [("x", "Input", "", [])]
    previous = "x"
    for i in range(300):
        steps += [
            (f"b{i}_0", "MatMul", f"block{i}", [previous]),
            (f"b{i}_1", "Add", f"block{i}", [f"b{i}_0"]),
        ]
        steps.append((f"glue{i}", "Relu", "", [f"b{i}_1", previous]))  # a skip edge around the block
        previous = f"glue{i}"
    _chain(graph, steps)
    grouping = build_groups(graph)
    children: dict[str, int] = {}
    for node_id, group_id in grouping.node_group.items():
        if node_id != "x":
            children[group_id] = children.get(group_id, 0) + 1
    for group in grouping.groups.values():
        children[group.parent] = children.get(group.parent, 0) + 1
    assert max(children.values()) <= MAX_DIRECT_CHILDREN
    segments = sorted((g for g in grouping.groups.values() if g.parent == ""), key=lambda g: g.count)
    assert sum(g.count for g in segments) == 900
    first = grouping.node_group["b0_0"]
    assert first.startswith("§1-") and first.endswith("/block0")
    assert grouping.node_group["b0_1"] == first  # a block moves whole
    assert _views_are_acyclic(graph)


def wrapped_bert_with_tied_weights() -> schema.ModelGraph:
    """``wrapped_bert_like`` plus what torch's legacy exporter adds at the root, outside ``m``: an
    Identity per tied weight (no data input) feeding one op inside, a Constant → Identity chain
    feeding two blocks, and a Constant nobody reads."""
    graph = wrapped_bert_like()
    identity = {"kind": "op", "op_type": "Identity", "category": "tensor", "namespace": ""}
    schema.add_node(graph, "Identity_45", name="Identity_45", outputs=[schema.TensorInfo("w45")], **identity)
    schema.add_edge(graph, "Identity_45", "n15", 0, 1, "w45")  # n15: the first m.pooler op
    schema.add_node(
        graph,
        "Constant_1",
        kind="constant",
        op_type="Constant",
        category="constant",
        name="Constant_1",
        outputs=[schema.TensorInfo("c1")],
    )
    schema.add_node(graph, "Identity_46", name="Identity_46", outputs=[schema.TensorInfo("w46")], **identity)
    schema.add_edge(graph, "Constant_1", "Identity_46", 0, 0, "c1")
    schema.add_edge(graph, "Identity_46", "n0", 0, 1, "w46")  # m.embeddings
    schema.add_edge(graph, "Identity_46", "n5", 0, 1, "w46")  # m.encoder.layer.0
    schema.add_node(
        graph,
        "Constant_2",
        kind="constant",
        op_type="Constant",
        category="constant",
        name="Constant_2",
        outputs=[schema.TensorInfo("c2")],
    )
    return graph


def test_a_wrapper_is_lifted_past_root_nodes_that_only_forward_weights() -> None:
    graph = wrapped_bert_with_tied_weights()
    grouping = build_groups(graph)
    assert "m" not in grouping.groups
    assert sorted(g.label for g in grouping.groups.values() if g.parent == "") == [
        "embeddings",
        "encoder",
        "pooler",
    ]
    assert grouping.node_group["Identity_45"] == grouping.node_group["n15"]  # with its only consumer
    assert grouping.node_group["Identity_46"] == ""  # consumers in two blocks: the root, beside them
    assert grouping.node_group["Constant_1"] == ""
    assert grouping.node_group["Constant_2"] == ""
    collapsed = visible_graph(build_payload(graph, grouping), {"expand": "none"})
    assert {n["label"] for n in collapsed["nodes"] if n["kind"] == "group"} == {
        "embeddings",
        "encoder",
        "pooler",
    }
    assert _views_are_acyclic(graph)


def test_a_data_dependent_identity_at_the_root_keeps_the_wrapper_a_real_block() -> None:
    """An Identity reading a graph input is real work outside ``m``: nothing is lifted."""
    graph = wrapped_bert_like()
    schema.add_node(
        graph,
        "Identity_9",
        kind="op",
        op_type="Identity",
        category="tensor",
        name="Identity_9",
        namespace="",
        outputs=[schema.TensorInfo("i9")],
    )
    schema.add_edge(graph, "ids", "Identity_9", 0, 0, "ids")
    schema.add_edge(graph, "Identity_9", "n0", 0, 1, "i9")
    assert "m" in build_groups(graph).groups


@pytest.mark.slow
def test_a_legacy_torch_export_of_bert_collapses_to_its_blocks(tmp_path: Path) -> None:
    """BertModel wrapped as ``W.m`` and exported by the TorchScript-based exporter, which adds one
    root-level Identity per tied weight outside ``m``."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tests.test_collapsed_views import cycle_in_views

    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    torch.manual_seed(0)

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = transformers.BertModel(config).eval()

        def forward(self, ids: Any, mask: Any) -> Any:
            out = self.m(input_ids=ids, attention_mask=mask)
            return out.last_hidden_state, out.pooler_output

    ids = torch.randint(0, 100, (1, 8))
    path = tmp_path / "bert.onnx"
    try:
        with warnings.catch_warnings():  # the legacy exporter is deprecated
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapper().eval(),
                (ids, torch.ones_like(ids)),
                str(path),
                dynamo=False,
                input_names=["ids", "mask"],
                opset_version=17,
            )
    except RuntimeError as exc:  # the legacy exporter was removed from this torch
        pytest.skip(str(exc))
    graph = modellens.load(path)
    assert any(d["op_type"] == "Identity" and not d["namespace"] for _, d in graph.nodes(data=True))
    collapsed = visible_graph(build_payload(graph), {"expand": "none"})
    assert {n["label"] for n in collapsed["nodes"] if n["kind"] == "group"} == {
        "embeddings",
        "encoder",
        "pooler",
    }
    assert cycle_in_views(graph) is None
