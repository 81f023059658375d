"""ONNX fidelity by kind of fault (issue 8): attribute references, function overloads, sparse
initializers, packed sub-byte types, strings that are not UTF-8.

Every expected value is read from the file with the onnx library (``onnx.helper``,
``onnx.numpy_helper``, the protos themselves), never from ModelLens output.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import modellens
from converters.schema import ModelGraph, referenced_attribute, validate_graph
from modellens.cli import main as cli_main
from tests.model_cases import expected_info
from viewer import tables
from viewer.canvas_payload import build_payload

ROOT = Path(__file__).resolve().parents[1]
OPSET = helper.make_opsetid("", 18)
DOMAIN = helper.make_opsetid("d", 1)


def _save(model: onnx.ModelProto, path: Path, ir_version: int = 10) -> Path:
    model.ir_version = ir_version
    onnx.save(model, str(path))
    return path


def _model(graph: onnx.GraphProto, functions: list[onnx.FunctionProto] = (), **kw: Any) -> onnx.ModelProto:  # type: ignore[assignment]
    imports = kw.pop("opset_imports", [OPSET, DOMAIN])
    return helper.make_model(graph, opset_imports=imports, functions=list(functions), **kw)


def _graphs(graph: ModelGraph) -> Iterator[tuple[str, ModelGraph]]:
    yield "", graph
    yield from graph.graph["subgraphs"].items()


def _open_everything(path: Path) -> tuple[ModelGraph, dict[str, Any]]:
    """Load, then build every view the app and CLI build: summary JSON, canvas payloads and node
    tables of all graphs; returns the graph and its summary."""
    graph = modellens.load(path)
    summary = modellens.summarize(graph)
    json.dumps(summary)
    for _, sub in _graphs(graph):
        json.dumps(build_payload(sub))
        tables.node_table(sub).to_csv()
        for node_id, data in sub.nodes(data=True):
            json.dumps(data["attributes"])
            tables.attribute_rows(sub, node_id, tables.node_doc(sub, node_id))
    assert validate_graph(graph) == []
    return graph, summary


# ------------------------------------------------------------------ 1. attribute references


def _ref(name: str, ref: str, kind: int) -> AttributeProto:
    return AttributeProto(name=name, ref_attr_name=ref, type=kind)


def _constant_ref(
    out: str, ref: str, attr: str = "value_float", kind: int = AttributeProto.FLOAT
) -> onnx.NodeProto:
    node = helper.make_node("Constant", [], [out])
    node.attribute.append(_ref(attr, ref, kind))
    return node


def _function(
    name: str, inputs: list[str], outputs: list[str], nodes: list[onnx.NodeProto], **kw: Any
) -> onnx.FunctionProto:
    return helper.make_function("d", name, inputs, outputs, nodes, [OPSET, DOMAIN], **kw)


def _out(name: str, shape: list[int] | None = None, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def ref_smallest() -> onnx.ModelProto:
    body = _function("F", [], ["y"], [_constant_ref("y", "v")], attributes=["v"])
    call = helper.make_node("F", [], ["out"], domain="d", name="call", v=1.0)
    return _model(helper.make_graph([call], "g", [], [_out("out", [])]), [body])


def ref_nested_functions() -> onnx.ModelProto:
    inner = _function(
        "G", [], ["y"], [_constant_ref("y", "w", "value_int", AttributeProto.INT)], attributes=["w"]
    )
    call_g = helper.make_node("G", [], ["y"], domain="d", name="call_g")
    call_g.attribute.append(_ref("w", "v", AttributeProto.INT))
    outer = _function("F", [], ["y"], [call_g], attributes=["v"])
    call = helper.make_node("F", [], ["out"], domain="d", name="call", v=3)
    return _model(helper.make_graph([call], "g", [], [_out("out", [], TensorProto.INT64)]), [outer, inner])


def ref_in_if_branch() -> onnx.ModelProto:
    then_branch = helper.make_graph([_constant_ref("t", "v")], "then", [], [_out("t", [])])
    else_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value_float=2.0)], "else", [], [_out("e", [])]
    )
    branch = helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch)
    body = _function("F", ["c"], ["y"], [branch], attributes=["v"])
    call = helper.make_node("F", ["c"], ["out"], domain="d", name="call", v=1.5)
    graph = helper.make_graph([call], "g", [_out("c", [], TensorProto.BOOL)], [_out("out", [])])
    return _model(graph, [body])


def ref_in_loop_body() -> onnx.ModelProto:
    loop_body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            _constant_ref("step", "n", "value_int", AttributeProto.INT),
        ],
        "body",
        [_out("i", [], TensorProto.INT64), _out("cond_in", [], TensorProto.BOOL)],
        [_out("cond_out", [], TensorProto.BOOL), _out("step", [], TensorProto.INT64)],
    )
    loop = helper.make_node("Loop", ["m", ""], ["steps"], body=loop_body)
    body = _function("F", ["m"], ["steps"], [loop], attributes=["n"])
    call = helper.make_node("F", ["m"], ["out"], domain="d", name="call", n=7)
    graph = helper.make_graph(
        [call], "g", [_out("m", [], TensorProto.INT64)], [_out("out", None, TensorProto.INT64)]
    )
    return _model(graph, [body])


def ref_default() -> onnx.ModelProto:
    default = helper.make_attribute("v", 0.25)
    body = _function("F", [], ["y"], [_constant_ref("y", "v")], attribute_protos=[default])
    call = helper.make_node("F", [], ["out"], domain="d", name="call")
    return _model(helper.make_graph([call], "g", [], [_out("out", [])]), [body])


def ref_two_call_sites() -> onnx.ModelProto:
    body = _function("F", [], ["y"], [_constant_ref("y", "v")], attributes=["v"])
    first = helper.make_node("F", [], ["a"], domain="d", name="first", v=1.0)
    second = helper.make_node("F", [], ["b"], domain="d", name="second", v=2.0)
    return _model(helper.make_graph([first, second], "g", [], [_out("a", []), _out("b", [])]), [body])


def ref_every_type() -> onnx.ModelProto:
    """A reference of each attribute type the installed onnx defines, on a custom op (no schema)."""
    kinds = [k for k in AttributeProto.AttributeType.values() if k != AttributeProto.UNDEFINED]
    node = helper.make_node("Custom", [], ["y"], domain="d")
    node.attribute.extend(_ref(f"a{kind}", f"r{kind}", kind) for kind in kinds)
    body = _function("F", [], ["y"], [node], attributes=[f"r{kind}" for kind in kinds])
    call = helper.make_node("F", [], ["out"], domain="d", name="call")
    return _model(helper.make_graph([call], "g", [], [_out("out", None)]), [body])


REF_CASES: dict[str, Callable[[], onnx.ModelProto]] = {
    "smallest": ref_smallest,
    "nested_functions": ref_nested_functions,
    "if_branch_in_function": ref_in_if_branch,
    "loop_body_in_function": ref_in_loop_body,
    "function_default": ref_default,
    "two_call_sites": ref_two_call_sites,
    "every_attribute_type": ref_every_type,
}


def _expected_binding(model: onnx.ModelProto, function: str, ref: str) -> Any:
    """What reference ``@ref`` in the body of ``function`` resolves to, read from the protos: the
    attribute its only call site passes (followed outwards when that is itself a reference), else
    the function's default; None when there is no single call site and no default."""
    functions = {f.name: f for f in model.functions}
    sites = [
        (owner, node)
        for owner in (None, *model.functions)
        for node in _nodes_deep((owner or model.graph).node)
        if node.op_type == function and node.domain == "d"
    ]
    defaults = {a.name: a for a in functions[function].attribute_proto}
    passed = (
        {a.name: (owner, a) for owner, node in sites[:1] for a in node.attribute} if len(sites) == 1 else {}
    )
    if ref not in passed:
        return helper.get_attribute_value(defaults[ref]) if ref in defaults else None
    owner, attribute = passed[ref]
    if attribute.ref_attr_name:
        return None if owner is None else _expected_binding(model, owner.name, attribute.ref_attr_name)
    return helper.get_attribute_value(attribute)


@pytest.mark.parametrize("case", list(REF_CASES))
def test_attribute_references(case: str, tmp_path: Path) -> None:
    model = REF_CASES[case]()
    path = _save(model, tmp_path / f"{case}.onnx")
    graph, summary = _open_everything(path)
    bodies = [
        n for f in model.functions for n in _nodes_deep(f.node) for a in n.attribute for _ in _attr_graphs(a)
    ]
    bodies += [n for n in _nodes_deep(model.graph.node) for a in n.attribute for _ in _attr_graphs(a)]
    assert summary["subgraphs"] == len(model.functions) + len(bodies)
    seen = 0
    for sub_id, sub in _graphs(graph):
        for node_id, data in sub.nodes(data=True):
            for attr, value in data["attributes"].items():
                ref = referenced_attribute(value)
                if ref is None:
                    continue
                seen += 1
                assert sub.graph.get("function"), f"{sub_id} is not known as a function body"
                bindings = tables.attribute_bindings(graph, sub_id)
                shown = tables.attribute_text(value, bindings)
                rows = {row.name: row.value for row in tables.attribute_rows(sub, node_id, None, bindings)}
                assert rows[attr] == shown
                expected = _expected_binding(model, sub.graph["function"].rsplit(".", 1)[-1], ref)
                if expected is None:
                    assert shown == f"= @{ref}"
                else:
                    assert shown.startswith(f"= @{ref} → {expected} (")
    protos = [n for f in model.functions for n in _nodes_deep(f.node)]
    assert seen == sum(1 for n in protos for a in n.attribute if a.ref_attr_name)


def _attr_graphs(attr: AttributeProto) -> list[onnx.GraphProto]:
    """The graphs an attribute holds (a reference of type GRAPH holds none)."""
    return [attr.g] if attr.HasField("g") else list(attr.graphs)


def _nodes_deep(nodes: Any) -> Iterator[onnx.NodeProto]:
    for node in nodes:
        yield node
        for attr in node.attribute:
            for sub in _attr_graphs(attr):
                yield from _nodes_deep(sub.node)


def test_reference_resolves_to_the_chosen_call_site(tmp_path: Path) -> None:
    model = ref_two_call_sites()
    graph, _ = _open_everything(_save(model, tmp_path / "two.onnx"))
    body_id = next(iter(graph.graph["subgraphs"]))
    sites = tables.function_call_sites(graph)[body_id]
    assert sorted(node for _, node in sites) == sorted(n.name for n in model.graph.node)
    body = graph.graph["subgraphs"][body_id]
    data = next(d for _, d in body.nodes(data=True) if d["op_type"] == "Constant")
    for call in model.graph.node:
        bindings = tables.attribute_bindings(graph, body_id, ("", call.name))
        expected = helper.get_attribute_value(call.attribute[0])
        assert tables.attribute_text(data["attributes"]["value_float"], bindings).startswith(
            f"= @v → {expected} (passed by {call.name})"
        )


def _future_type_attribute() -> AttributeProto:
    """An attribute whose ``type`` is a number this onnx does not know (a newer writer)."""
    attribute = AttributeProto()
    attribute.ParseFromString(AttributeProto(name="future", i=4).SerializeToString() + b"\xa0\x01\x63")
    return attribute


@pytest.mark.parametrize(
    "attribute",
    [
        pytest.param(
            helper.make_attribute("tps", [helper.make_tensor_type_proto(TensorProto.FLOAT, [2])]),
            id="type_protos",
        ),
        pytest.param(
            helper.make_attribute(
                "sps",
                [
                    helper.make_sparse_tensor(
                        numpy_helper.from_array(np.ones(1, np.float32)),
                        numpy_helper.from_array(np.zeros(1, np.int64)),
                        [3],
                    )
                ],
            ),
            id="sparse_tensors",
        ),
        pytest.param(AttributeProto(name="untyped", f=0.5), id="no_type_float"),
        pytest.param(AttributeProto(name="untyped_ints", ints=[1, 2]), id="no_type_ints"),
        pytest.param(_future_type_attribute(), id="unknown_type"),
        pytest.param(helper.make_attribute("s", b"\xff\xfeab"), id="string_not_utf8"),
    ],
)
def test_any_attribute_form_converts(attribute: AttributeProto, tmp_path: Path) -> None:
    node = helper.make_node("Custom", ["x"], ["y"], domain="d")
    node.attribute.append(attribute)
    model = _model(helper.make_graph([node], "g", [_out("x", [2])], [_out("y", [2])]))
    graph, _ = _open_everything(_save(model, tmp_path / "attr.onnx"))
    value = graph.nodes["Custom_0"]["attributes"][attribute.name]
    if attribute.type == AttributeProto.UNDEFINED:  # no (known) type: the field that is set
        ((field, stored),) = [(f, v) for f, v in attribute.ListFields() if f.name not in ("name", "type")]
        assert value == (list(stored) if field.is_repeated else stored)
    elif attribute.type == AttributeProto.STRING:
        assert value == helper.get_attribute_value(attribute).decode("utf-8", "replace")
    elif attribute.type == AttributeProto.TYPE_PROTOS:
        assert value == [
            f"{helper.tensor_dtype_to_np_dtype(tp.tensor_type.elem_type).name}"
            for tp in attribute.type_protos
        ]
    elif attribute.type == AttributeProto.SPARSE_TENSORS:
        assert [v["sparse_tensor"] for v in value] == [list(s.dims) for s in attribute.sparse_tensors]


def test_reference_model_cli_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _save(ref_smallest(), tmp_path / "ref.onnx")
    assert cli_main(["info", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["subgraphs"] == 1


# ------------------------------------------------------------------ 2. function overloads


def _overload(name: str, overload: str, op: str) -> onnx.FunctionProto:
    return _function(name, ["x"], ["y"], [helper.make_node(op, ["x"], ["y"])], overload=overload)


def _call(name: str, overload: str, x: str, y: str) -> onnx.NodeProto:
    node = helper.make_node(name, [x], [y], domain="d", name=f"call_{name}_{overload or 'plain'}")
    node.overload = overload
    return node


def overloads_smallest() -> onnx.ModelProto:
    graph = helper.make_graph(
        [_call("F", "a", "x", "t"), _call("F", "b", "t", "z")], "g", [_out("x", [2])], [_out("z", [2])]
    )
    return _model(graph, [_overload("F", "a", "Relu"), _overload("F", "b", "Neg")])


def overloads_called_from_function() -> onnx.ModelProto:
    wrapper = _function("H", ["x"], ["y"], [_call("F", "a", "x", "t"), _call("F", "b", "t", "y")])
    graph = helper.make_graph([_call("H", "", "x", "z")], "g", [_out("x", [2])], [_out("z", [2])])
    return _model(graph, [wrapper, _overload("F", "a", "Relu"), _overload("F", "b", "Neg")])


def overloads_with_plain() -> onnx.ModelProto:
    graph = helper.make_graph(
        [_call("F", "", "x", "t"), _call("F", "a", "t", "u"), _call("F", "b", "u", "z")],
        "g",
        [_out("x", [2])],
        [_out("z", [2])],
    )
    functions = [_overload("F", "", "Sigmoid"), _overload("F", "a", "Relu"), _overload("F", "b", "Neg")]
    return _model(graph, functions)


OVERLOAD_CASES = {
    "smallest": overloads_smallest,
    "called_from_function": overloads_called_from_function,
    "with_plain_definition": overloads_with_plain,
}


@pytest.mark.parametrize("case", list(OVERLOAD_CASES))
def test_function_overloads(case: str, tmp_path: Path) -> None:
    model = OVERLOAD_CASES[case]()
    path = _save(model, tmp_path / f"{case}.onnx")
    graph, summary = _open_everything(path)
    assert summary["subgraphs"] == expected_info(path)["subgraphs"] == len(model.functions)
    protos = {(f.domain, f.name, f.overload): f for f in model.functions}
    calls = 0
    for _, sub in _graphs(graph):
        for node_id, data in sub.nodes(data=True):
            key = (data["domain"], data["op_type"], data.get("overload", ""))
            if key not in protos:
                continue
            calls += 1
            (body_id,) = data["subgraph_ids"]
            body = graph.graph["subgraphs"][body_id]
            ops = [d["op_type"] for _, d in body.nodes(data=True) if d["kind"] == "op"]
            assert ops == [n.op_type for n in protos[key].node], (node_id, body_id)
            assert body.graph["function"] == body_id
    assert calls == sum(
        1
        for f in [model.graph, *model.functions]
        for n in f.node
        if (n.domain, n.op_type, n.overload) in protos
    )
    for (domain, name, overload), _ in protos.items():
        if not overload:
            continue
        # the canvas's search matches a node's payload op text, which names the overload
        hits = {
            n["id"]
            for _, sub in _graphs(graph)
            for n in build_payload(sub)["nodes"]
            if n["op"] == f"{name}[{overload}]"
        }
        expected = {
            n.name
            for f in [model.graph, *model.functions]
            for n in f.node
            if (n.domain, n.op_type, n.overload) == (domain, name, overload)
        }
        assert hits == expected
        ops = {n["op"] for _, sub in _graphs(graph) for n in build_payload(sub)["nodes"]}
        assert f"{name}[{overload}]" in ops


# ------------------------------------------------------------------ 3. sparse initializers


def _sparse(name: str, values: np.ndarray, indices: np.ndarray, dims: list[int]) -> onnx.SparseTensorProto:
    return helper.make_sparse_tensor(
        numpy_helper.from_array(values, name), numpy_helper.from_array(indices, f"{name}_idx"), dims
    )


def sparse_smallest() -> onnx.ModelProto:
    sparse = _sparse("S", np.array([5.0], np.float32), np.array([1], np.int64), [2])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["S"], ["y"])], "g", [], [_out("y", [2])], sparse_initializer=[sparse]
    )
    return _model(graph, opset_imports=[OPSET])


def sparse_coordinates_matmul() -> onnx.ModelProto:
    sparse = _sparse(
        "W", np.array([1.0, 3.0, -2.0], np.float32), np.array([[0, 1], [1, 0], [2, 3]], np.int64), [3, 4]
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [_out("x", [1, 3])],
        [_out("y", [1, 4])],
        sparse_initializer=[sparse],
    )
    return _model(graph, opset_imports=[OPSET])


def sparse_mixed_with_dense() -> onnx.ModelProto:
    sparse = _sparse("S", np.array([1.0, 2.0], np.float32), np.array([0, 5], np.int64), [2, 3])
    dense = numpy_helper.from_array(np.ones((2, 3), np.float32), "D")
    graph = helper.make_graph(
        [helper.make_node("Add", ["D", "S"], ["y"])],
        "g",
        [],
        [_out("y", [2, 3])],
        initializer=[dense],
        sparse_initializer=[sparse],
    )
    return _model(graph, opset_imports=[OPSET])


def sparse_in_if_branch() -> onnx.ModelProto:
    sparse = _sparse("B", np.array([4.0], np.float32), np.array([2], np.int64), [3])
    dense = numpy_helper.from_array(np.full(3, 0.5, np.float32), "D")
    then_branch = helper.make_graph(
        [helper.make_node("Identity", ["B"], ["b"]), helper.make_node("Add", ["b", "D"], ["t"])],
        "then",
        [],
        [_out("t", [3])],
        initializer=[dense],
        sparse_initializer=[sparse],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])], "else", [], [_out("e", [3])]
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch)
    graph = helper.make_graph(
        [node], "g", [_out("c", [], TensorProto.BOOL), _out("x", [3])], [_out("y", [3])]
    )
    return _model(graph, opset_imports=[OPSET])


def sparse_graph_io() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["sx"], ["sy"])],
        "g",
        [helper.make_sparse_tensor_value_info("sx", TensorProto.FLOAT, [4])],
        [helper.make_sparse_tensor_value_info("sy", TensorProto.FLOAT, [4])],
    )
    return _model(graph, opset_imports=[OPSET])


SPARSE_CASES = {
    "smallest": sparse_smallest,
    "coordinates_matmul": sparse_coordinates_matmul,
    "mixed_with_dense": sparse_mixed_with_dense,
    "in_if_branch": sparse_in_if_branch,
    "graph_io": sparse_graph_io,
}


def _all_protos(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from _all_protos(sub)


def _dense(sparse: onnx.SparseTensorProto) -> np.ndarray:
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices)
    dense = np.zeros(tuple(sparse.dims), values.dtype)
    if indices.ndim == 2:
        dense[tuple(indices.T)] = values
    else:
        dense.reshape(-1)[indices] = values
    return dense


def _strict_inference_fails(model: onnx.ModelProto) -> bool:
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError:
        return True
    return False


def _type_text(value: onnx.ValueInfoProto) -> str:
    kind = value.type.WhichOneof("value")
    elem = getattr(value.type, kind).elem_type
    name = helper.tensor_dtype_to_np_dtype(elem).name
    return f"sparse<{name}>" if kind == "sparse_tensor_type" else name


@pytest.mark.parametrize("case", list(SPARSE_CASES))
def test_sparse_initializers(case: str, tmp_path: Path) -> None:
    model = SPARSE_CASES[case]()
    onnx.checker.check_model(model)
    path = _save(model, tmp_path / f"{case}.onnx", ir_version=8)
    graph, summary = _open_everything(path)
    info = expected_info(path)
    # a sparse initializer is a weight, used as the dense tensor it stands for: no warning. A sparse
    # graph *input* stays sparse, and onnx's own strict type check rejects it as Identity's input.
    assert bool(summary["warnings"]) == (case == "graph_io" and _strict_inference_fails(model))
    assert summary["edges"] == info["edges"]
    main = model.graph
    sparse_all = [s for proto in _all_protos(main) for s in proto.sparse_initializer]  # bodies count too
    assert summary["parameters"] == info["parameters"] + sum(math.prod(s.dims) for s in sparse_all)
    assert summary["parameter_bytes"] == info["parameter_bytes"] + sum(
        len(s.values.raw_data) + len(s.indices.raw_data) for s in sparse_all
    )
    assert [io["dtype"] for io in summary["inputs"]] == [_type_text(v) for v in main.input]
    assert [io["dtype"] for io in summary["outputs"]] == [_type_text(v) for v in main.output]
    store = graph.graph["tensor_store"]
    users = {
        name: [] for proto in _all_protos(main) for name in (s.values.name for s in proto.sparse_initializer)
    }
    for _, sub in _graphs(graph):
        assert not [n for n, d in sub.nodes(data=True) if d["op_type"] == "Missing"]
        for node_id, data in sub.nodes(data=True):
            for weight in data["weights"].values():
                if weight.name in users:
                    users[weight.name].append(node_id)
    for proto in _all_protos(main):
        for sparse in proto.sparse_initializer:
            name = sparse.values.name
            assert users[name], f"{name} is attached to no node"
            weight = next(
                w
                for _, sub in _graphs(graph)
                for _, d in sub.nodes(data=True)
                for w in d["weights"].values()
                if w.name == name
            )
            assert weight.shape == tuple(sparse.dims)
            assert weight.dtype == helper.tensor_dtype_to_np_dtype(sparse.values.data_type).name
            assert weight.nbytes == len(sparse.values.raw_data) + len(sparse.indices.raw_data)
            np.testing.assert_array_equal(store.array(name), _dense(sparse))
            parts = store.sparse_parts(name)
            np.testing.assert_array_equal(parts.values, numpy_helper.to_array(sparse.values))
            np.testing.assert_array_equal(parts.indices, numpy_helper.to_array(sparse.indices))
            assert parts.density == pytest.approx(math.prod(sparse.values.dims) / math.prod(sparse.dims))
    for _, sub in _graphs(graph):  # the consumer's output shape comes from shape inference
        for _, data in sub.nodes(data=True):
            if data["op_type"] == "Identity" and data["weights"]:
                assert data["outputs"][0].shape == data["weights"][0].shape


# ------------------------------------------------------------------ 4. packed sub-byte types

PACKED_TYPES = [
    name
    for name in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2", "FLOAT6E2M3", "FLOAT6E3M2")
    if hasattr(TensorProto, name)
]


def _packed_values(elem_type: int, count: int) -> np.ndarray:
    dtype = helper.tensor_dtype_to_np_dtype(elem_type)
    raw = np.random.default_rng(count).integers(-2, 4, size=count).astype(np.float32)
    values = raw.astype(dtype)
    return values


def _packed_model(elem_type: int, count: int, typed_fields: bool) -> onnx.ModelProto:
    values = _packed_values(elem_type, count)
    if typed_fields:
        tensor = helper.make_tensor(
            "W", elem_type, [count], numpy_helper.to_array(numpy_helper.from_array(values)).tolist()
        )
    else:
        tensor = numpy_helper.from_array(values, "W")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["W"], ["y"])],
        "g",
        [],
        [_out("y", [count], elem_type)],
        initializer=[tensor],
    )
    return _model(graph, opset_imports=[helper.make_opsetid("", onnx.defs.onnx_opset_version())])


@pytest.mark.parametrize("typed_fields", [False, True], ids=["raw_data", "typed_fields"])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("type_name", PACKED_TYPES)
def test_packed_sub_byte_sizes(type_name: str, count: int, typed_fields: bool, tmp_path: Path) -> None:
    elem_type = getattr(TensorProto, type_name)
    model = _packed_model(elem_type, count, typed_fields)
    path = _save(model, tmp_path / "packed.onnx")
    graph, summary = _open_everything(path)
    tensor = onnx.load(str(path)).graph.initializer[0]
    values = numpy_helper.to_array(tensor)
    packed = len(numpy_helper.from_array(values).raw_data)  # onnx's own packing: ceil(n * bits / 8)
    assert summary["parameters"] == count
    assert summary["parameter_bytes"] == packed
    (weight,) = graph.nodes["Identity_0"]["weights"].values()
    assert weight.nbytes == packed
    downloaded = graph.graph["tensor_store"].array("W")
    buffer = io.BytesIO()
    np.save(buffer, downloaded)
    buffer.seek(0)
    loaded = np.load(buffer, allow_pickle=False)
    assert loaded.dtype.type.__module__ == "numpy" and np.issubdtype(loaded.dtype, np.number)
    np.testing.assert_array_equal(loaded.astype(np.float64), values.astype(np.float64))
    stats = tables.tensor_stats(downloaded)
    assert stats.count == count and stats.minimum == pytest.approx(float(values.astype(np.float64).min()))


def test_packed_constant_attribute_is_json(tmp_path: Path) -> None:
    values = _packed_values(TensorProto.INT4, 3)
    node = helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(values))
    model = _model(
        helper.make_graph([node], "g", [], [_out("y", [3], TensorProto.INT4)]),
        opset_imports=[helper.make_opsetid("", 21)],
    )
    graph, _ = _open_everything(_save(model, tmp_path / "const.onnx"))
    assert graph.nodes["Constant_0"]["attributes"]["value"]["value"] == values.astype(np.int8).tolist()


# ------------------------------------------------------------------ 7. strings that are not UTF-8

BAD = b"\xff\xfe"


@dataclass(frozen=True)
class Placeholder:
    """A 12-byte ASCII marker written where a string lives; swapped for bytes that are not UTF-8."""

    tag: str

    @property
    def text(self) -> str:
        return f"@{self.tag:_<11}"[:12]

    @property
    def bad(self) -> bytes:
        return BAD + self.text.encode()[2:]


def _utf8_model(site: str) -> onnx.ModelProto:
    p = Placeholder(site).text
    at = {name: (p if name == site else default) for name, default in _SITE_DEFAULTS.items()}
    weight = numpy_helper.from_array(
        np.arange(2048, dtype=np.float32).reshape(2, 1024), at["large_initializer"]
    )
    small = numpy_helper.from_array(np.ones(2, np.float32), at["initializer"])
    nodes = [
        helper.make_node(
            "Add", [at["input"], at["initializer"]], [at["tensor"]], name=at["node"], doc_string=at["doc"]
        ),
        helper.make_node(
            "Custom",
            [at["tensor"]],
            ["c"],
            domain="d",
            name="custom",
            s=at["string_attribute"].encode(),
            ss=[b"ok", at["strings_attribute"].encode()],
        ),
        helper.make_node(at["function"], ["c"], ["f"], domain="d", name="call"),
        helper.make_node("MatMul", ["f", at["large_initializer"]], ["y"], name="mm"),
    ]
    nodes[0].metadata_props.append(onnx.StringStringEntryProto(key="k", value=at["node_metadata"]))
    function = _function(
        at["function"], ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"], name=at["function_node"])]
    )
    graph = helper.make_graph(
        nodes,
        at["graph"],
        [helper.make_tensor_value_info(at["input"], TensorProto.FLOAT, [at["dim"], 2])],
        [_out("y", None)],
        initializer=[small, weight],
        doc_string=at["graph_doc"],
    )
    model = _model(
        graph,
        [function],
        producer_name=at["producer"],
        producer_version=at["producer_version"],
        doc_string=at["model_doc"],
    )
    model.metadata_props.append(
        onnx.StringStringEntryProto(key=at["metadata_key"], value=at["metadata_value"])
    )
    return model


_SITE_DEFAULTS = {
    "producer": "tests",
    "producer_version": "1",
    "model_doc": "",
    "graph": "g",
    "graph_doc": "",
    "node": "add",
    "doc": "",
    "input": "x",
    "tensor": "t",
    "initializer": "bias",
    "large_initializer": "weight",
    "metadata_key": "mk",
    "metadata_value": "mv",
    "node_metadata": "nm",
    "string_attribute": "plain",
    "strings_attribute": "plain2",
    "function": "F",
    "function_node": "relu",
    "dim": "batch",
}


def _write_bad(site: str, path: Path) -> Path:
    placeholder = Placeholder(site)
    data = _utf8_model(site).SerializeToString()
    assert placeholder.text.encode() in data
    path.write_bytes(data.replace(placeholder.text.encode(), placeholder.bad))
    return path


def _proto_text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@pytest.mark.parametrize("site", list(_SITE_DEFAULTS))
def test_strings_not_utf8(site: str, tmp_path: Path) -> None:
    path = _write_bad(site, tmp_path / f"{site}.onnx")
    loaded = onnx.load(str(path))  # onnx accepts the file
    expected = Placeholder(site).bad.decode("utf-8", "replace")
    graph, summary = _open_everything(path)
    info = expected_info(path)
    assert summary["edges"] == info["edges"]
    assert summary["parameters"] == info["parameters"]
    assert not any("produced by no node" in w for w in summary["warnings"])
    views = [json.dumps(summary, ensure_ascii=False)]
    for sub_id, sub in _graphs(graph):
        views.append(sub_id)
        views.append(json.dumps(build_payload(sub), ensure_ascii=False))
        views.append(tables.node_table(sub).to_csv())
        views.append(json.dumps([d["attributes"] for _, d in sub.nodes(data=True)], ensure_ascii=False))
        views.append(json.dumps([d.get("metadata", {}) for _, d in sub.nodes(data=True)], ensure_ascii=False))
        views.append(str([sub.graph.get("name"), sub.graph.get("doc")]))
        views.append(str([d["doc"] for _, d in sub.nodes(data=True)]))
    views.append(str([graph.graph["model_doc"], graph.graph["producer"]]))
    assert any(expected in view for view in views), f"{expected!r} shown nowhere"
    assert not any("\\x" in view or "b'" in view for view in views if site != "doc")
    store = graph.graph["tensor_store"]
    for tensor in loaded.graph.initializer:
        np.testing.assert_array_equal(store.array(_proto_text(tensor.name)), numpy_helper.to_array(tensor))
    if site in ("producer", "producer_version"):
        assert (
            _proto_text(getattr(loaded, f"{site}_name" if site == "producer" else site))
            in summary["producer"]
        )


def test_info_json_subprocess_exits_zero(tmp_path: Path) -> None:
    path = _write_bad("producer", tmp_path / "producer.onnx")
    result = subprocess.run(
        [sys.executable, "-m", "modellens", "info", "--json", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = _proto_text(onnx.load(str(path)).producer_name)
    assert json.loads(result.stdout)["producer"].startswith(expected)
    ascii_terminal = subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(path)],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert ascii_terminal.returncode == 0, ascii_terminal.stderr
    assert b"\\ufffd" in ascii_terminal.stdout


def test_utf8_check_runs_in_c_and_the_walk_is_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from converters import onnx_lazy

    for sample in sorted((ROOT / "sample_models").glob("*.onnx")):  # valid files skip the walk
        assert onnx_lazy._all_strings_utf8(sample.read_bytes())
    bad = _write_bad("node", tmp_path / "node.onnx")
    assert not onnx_lazy._all_strings_utf8(bad.read_bytes())
    monkeypatch.setattr(onnx_lazy, "_utf8_checking_model_class", lambda: None)
    graph, _ = _open_everything(bad)
    assert Placeholder("node").bad.decode("utf-8", "replace") in graph.nodes


def test_string_tensors_not_utf8(tmp_path: Path) -> None:
    texts = [b"ok", BAD + b"x", b"\xc3\x28"]
    weight = helper.make_tensor("words", TensorProto.STRING, [3], texts)
    constant = helper.make_node(
        "Constant", [], ["c"], value=helper.make_tensor("cv", TensorProto.STRING, [3], texts)
    )
    nodes = [helper.make_node("Identity", ["words"], ["y"]), constant]
    outputs = [_out("y", [3], TensorProto.STRING), _out("c", [3], TensorProto.STRING)]
    model = _model(helper.make_graph(nodes, "g", [], outputs, initializer=[weight]), opset_imports=[OPSET])
    path = _save(model, tmp_path / "strings.onnx")
    graph, _ = _open_everything(path)
    stored = onnx.load(str(path)).graph.initializer[0].string_data
    expected = [s.decode("utf-8", "replace") for s in stored]
    assert graph.graph["tensor_store"].array("words").tolist() == expected
    assert graph.nodes["Constant_1"]["attributes"]["value"]["value"] == expected
