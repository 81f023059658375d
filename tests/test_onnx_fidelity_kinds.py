"""ONNX fidelity, second round (issue 8 re-test): function identities that only a structured id keeps
apart, weights in bodies nested in function bodies, same-named weights in different graphs, sparse
weights of packed/narrow types and of huge dense shapes, names that differ only in invalid bytes,
attribute references through a chain of calls, and malformed weights.

Expected values come from onnx: the protos, ``numpy_helper``, ``onnx.checker``,
``onnx.shape_inference`` on the dense equivalent and ``onnx.reference.ReferenceEvaluator``.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import modellens
from converters import ModelLensError
from converters.onnx_format import function_id
from tests.test_onnx_fidelity import (
    DOMAIN,
    OPSET,
    _constant_ref,
    _graphs,
    _model,
    _open_everything,
    _out,
    _ref,
    _save,
)
from viewer import tables
from viewer.canvas_payload import build_payload

_BODY_OPS = ["Relu", "Neg", "Sigmoid", "Abs", "Exp", "Tanh"]


def _all_protos(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            yield from (
                p for sub in ([attr.g] if attr.HasField("g") else attr.graphs) for p in _all_protos(sub)
            )


def _model_protos(model: onnx.ModelProto) -> list[onnx.GraphProto]:
    """Every GraphProto of a model, those nested in function bodies included (read from the protos)."""
    protos = list(_all_protos(model.graph))
    for function in model.functions:
        for node in function.node:
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    protos += list(_all_protos(sub))
    return protos


# ------------------------------------------------------------------ P1 function identities

IDENTITY_SETS = {
    "name_with_colon_vs_overload": [("d", "F:a", ""), ("d", "F", "a")],
    "dotted_domain_vs_dotted_name": [("a", "b.c", ""), ("a.b", "c", "")],
    "dotted_domain_with_overloads": [("a.b", "c", "d"), ("a", "b.c", "d"), ("a", "b", "c:d")],
    "slash_in_name": [("d", "F/x", ""), ("d", "F", "x"), ("d", "F", "")],
    "escape_char_in_name": [("d", "F%3Aa", ""), ("d", "F:a", ""), ("d", "F", "a")],
    "overload_with_colon": [("d", "F", "a:b"), ("d", "F:a", "b"), ("d", "F", "a")],
}


def _identity_model(identities: list[tuple[str, str, str]]) -> onnx.ModelProto:
    functions, calls, names = [], [], ["x"]
    for index, (domain, name, overload) in enumerate(identities):
        body = helper.make_node(_BODY_OPS[index], ["x"], ["y"])
        function = helper.make_function(domain, name, ["x"], ["y"], [body], [OPSET])
        function.overload = overload
        functions.append(function)
        call = helper.make_node(name, [names[-1]], [f"t{index}"], domain=domain, name=f"call{index}")
        call.overload = overload
        calls.append(call)
        names.append(f"t{index}")
    domains = sorted({d for d, _, _ in identities if d})
    graph = helper.make_graph(calls, "g", [_out("x", [2])], [_out(names[-1], [2])])
    model = helper.make_model(
        graph, opset_imports=[OPSET, *(helper.make_opsetid(d, 1) for d in domains)], functions=functions
    )
    model.ir_version = 10
    return model


@pytest.mark.parametrize("case", list(IDENTITY_SETS))
def test_function_identities_never_collide(case: str, tmp_path: Path) -> None:
    model = _identity_model(IDENTITY_SETS[case])
    onnx.checker.check_model(model, full_check=True)
    graph, summary = _open_everything(_save(model, tmp_path / "m.onnx"))
    assert summary["subgraphs"] == len(model.functions)
    for call in model.graph.node:
        proto = next(
            f
            for f in model.functions
            if (f.domain, f.name, f.overload) == (call.domain, call.op_type, call.overload)
        )
        (body_id,) = graph.nodes[call.name]["subgraph_ids"]
        body = graph.graph["subgraphs"][body_id]
        ops = [d["op_type"] for _, d in body.nodes(data=True) if d["kind"] == "op"]
        assert ops == [n.op_type for n in proto.node], (call.name, body_id)
        info = body.graph["function_info"]
        assert (info["domain"], info["name"], info["overload"]) == (proto.domain, proto.name, proto.overload)
    labels = [n["op"] for n in build_payload(graph)["nodes"] if n["id"].startswith("call")]
    same_text = {(c.op_type, c.overload) for c in model.graph.node}
    assert len(set(labels)) == len(same_text)  # a call of F:a (no overload) and of F overload a differ


def test_function_id_is_injective_over_separator_characters() -> None:
    alphabet = ["", "a", ".", ":", "/", "%", "%3A", "a.b", "a:b", "a/b"]
    triples = [(d, n, o) for d, n, o in itertools.product(alphabet, alphabet[1:], alphabet)]
    ids = {function_id(*triple) for triple in triples}
    assert len(ids) == len(triples)
    assert not any("/" in fid for fid in ids)  # never mistaken for a body nested in another graph


# ------------------------------------------------------------------ P2 / P3 weights in every graph


def _body(
    name: str, weights: dict[str, np.ndarray], sparse: dict[str, tuple] | None = None
) -> onnx.GraphProto:
    """A branch/body ``name`` that adds up its weights (dense and sparse) into output ``name``."""
    names = [*weights, *(sparse or {})]
    nodes, acc = [helper.make_node("Identity", [names[0]], [f"{name}_0"])], f"{name}_0"
    for index, weight in enumerate(names[1:], 1):
        nodes.append(helper.make_node("Add", [acc, weight], [f"{name}_{index}"]))
        acc = f"{name}_{index}"
    nodes.append(helper.make_node("Identity", [acc], [name]))
    sparse_protos = [
        helper.make_sparse_tensor(numpy_helper.from_array(v, n), numpy_helper.from_array(i, f"{n}_i"), dims)
        for n, (v, i, dims) in (sparse or {}).items()
    ]
    return helper.make_graph(
        nodes,
        name,
        [],
        [_out(name, ["n"])],
        initializer=[numpy_helper.from_array(v, n) for n, v in weights.items()],
        sparse_initializer=sparse_protos,
    )


def _if(cond: str, then: onnx.GraphProto, other: onnx.GraphProto, out: str) -> onnx.NodeProto:
    return helper.make_node("If", [cond], [out], then_branch=then, else_branch=other, name=f"if_{out}")


F32 = np.float32


def weights_if_in_function() -> onnx.ModelProto:
    then = _body(
        "then_f", {"W": np.ones(2, F32)}, {"S": (np.array([5.0], F32), np.array([1], np.int64), [2])}
    )
    other = _body("else_f", {"W": np.array([7.0, 8.0], F32)})
    function = helper.make_function("d", "F", ["c"], ["y"], [_if("c", then, other, "y")], [OPSET])
    graph = helper.make_graph(
        [helper.make_node("F", ["c"], ["out"], domain="d")],
        "g",
        [_out("c", [], TensorProto.BOOL)],
        [_out("out", ["n"])],
    )
    return _model(graph, [function])


def weights_if_in_if_in_function() -> onnx.ModelProto:
    inner = _if(
        "c", _body("deep_t", {"W": np.full(3, 2.0, F32)}), _body("deep_e", {"W": np.zeros(3, F32)}), "i"
    )
    outer_then = helper.make_graph(
        [inner],
        "outer_t",
        [],
        [_out("i")],
        initializer=[numpy_helper.from_array(np.arange(3, dtype=F32), "W")],
    )
    function = helper.make_function(
        "d", "F", ["c"], ["y"], [_if("c", outer_then, _body("outer_e", {"W": np.ones(3, F32)}), "y")], [OPSET]
    )
    graph = helper.make_graph(
        [helper.make_node("F", ["c"], ["out"], domain="d")],
        "g",
        [_out("c", [], TensorProto.BOOL)],
        [_out("out", ["n"])],
    )
    return _model(graph, [function])


def weights_same_name_in_branches() -> onnx.ModelProto:
    then = _body(
        "then_b",
        {"W": np.array([1.0, 2.0], F32)},
        {"S": (np.array([5.0], F32), np.array([1], np.int64), [2])},
    )
    other = _body(
        "else_b",
        {"W": np.array([7.0, 8.0, 9.0], F32)},
        {"S": (np.array([6.0], F32), np.array([0], np.int64), [3])},
    )
    graph = helper.make_graph(
        [_if("c", then, other, "out")], "g", [_out("c", [], TensorProto.BOOL)], [_out("out", ["n"])]
    )
    return _model(graph, opset_imports=[OPSET])


def weights_shadowing_main() -> onnx.ModelProto:
    then = _body("then_s", {"W": np.array([1.0, 2.0], F32)})
    other = _body("else_s", {"V": np.array([3.0], F32)})
    nodes = [_if("c", then, other, "t"), helper.make_node("Add", ["t", "W"], ["out"])]
    main_w = numpy_helper.from_array(np.array([10.0, 20.0], F32), "W")
    graph = helper.make_graph(
        nodes, "g", [_out("c", [], TensorProto.BOOL)], [_out("out", ["n"])], initializer=[main_w]
    )
    return _model(graph, opset_imports=[OPSET])


def weights_loop_body_in_function() -> onnx.ModelProto:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond"], ["cond_out"]),
            helper.make_node("Add", ["acc", "W"], ["acc_out"]),
        ],
        "loop_body",
        [_out("i", [], TensorProto.INT64), _out("cond", [], TensorProto.BOOL), _out("acc", [2])],
        [_out("cond_out", [], TensorProto.BOOL), _out("acc_out", [2])],
        initializer=[numpy_helper.from_array(np.array([0.5, 1.5], F32), "W")],
    )
    loop = helper.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="loop")
    function = helper.make_function("d", "F", ["n", "x"], ["y"], [loop], [OPSET])
    graph = helper.make_graph(
        [helper.make_node("F", ["n", "x"], ["out"], domain="d")],
        "g",
        [_out("n", [], TensorProto.INT64), _out("x", [2])],
        [_out("out", [2])],
    )
    return _model(graph, [function])


WEIGHT_CASES: dict[str, Callable[[], onnx.ModelProto]] = {
    "if_in_function": weights_if_in_function,
    "if_in_if_in_function": weights_if_in_if_in_function,
    "same_name_in_branches": weights_same_name_in_branches,
    "body_shadows_main": weights_shadowing_main,
    "loop_body_in_function": weights_loop_body_in_function,
}


@pytest.mark.parametrize("case", list(WEIGHT_CASES))
def test_weights_resolve_in_their_own_graph(case: str, tmp_path: Path) -> None:
    model = WEIGHT_CASES[case]()
    onnx.checker.check_model(model)  # full_check's inference rejects sparse inputs; ours densifies them
    onnx.checker.check_model(_dense_equivalent(model), full_check=True)
    graph, summary = _open_everything(_save(model, tmp_path / f"{case}.onnx", ir_version=9))
    protos = {p.name: p for p in _model_protos(model)}
    dense = [t for p in protos.values() for t in p.initializer]
    sparse = [s for p in protos.values() for s in p.sparse_initializer]
    assert summary["parameters"] == sum(numpy_helper.to_array(t).size for t in dense) + sum(
        math.prod(s.dims) for s in sparse
    )
    assert summary["parameter_bytes"] == sum(len(t.raw_data) for t in dense) + sum(
        len(s.values.raw_data) + len(s.indices.raw_data) for s in sparse
    )
    assert not [w for w in summary["warnings"] if "sparse_tensor" in w or "No stored" in w]
    store, checked = graph.graph["tensor_store"], 0
    for _, sub in _graphs(graph):
        proto = protos.get(sub.graph["name"])
        if proto is None:  # a function body: no initializers of its own
            continue
        for _, data in sub.nodes(data=True):
            for weight in data["weights"].values():
                scope = sub.graph["tensor_scope"]
                own = {t.name: numpy_helper.to_array(t) for t in proto.initializer}
                if weight.name in own:
                    expected = own[weight.name]
                else:
                    (s,) = [s for s in proto.sparse_initializer if s.values.name == weight.name]
                    expected = np.zeros(tuple(s.dims), F32)
                    expected.reshape(-1)[numpy_helper.to_array(s.indices)] = numpy_helper.to_array(s.values)
                    parts = store.sparse_parts(weight.name, scope)
                    np.testing.assert_array_equal(parts.values, numpy_helper.to_array(s.values))
                assert weight.shape == expected.shape
                np.testing.assert_array_equal(store.array(weight.name, scope), expected)
                checked += 1
    assert checked == len(dense) + len(sparse) - sum(
        1 for p in protos.values() for t in p.initializer if not _used(p, t.name)
    )


def _used(proto: onnx.GraphProto, name: str) -> bool:
    return any(name in n.input for n in proto.node) or name in [o.name for o in proto.output]


@pytest.mark.parametrize("condition", [True, False])
def test_branch_weights_are_the_values_onnx_runs(condition: bool, tmp_path: Path) -> None:
    """ReferenceEvaluator runs the branch with its own W and S; the store gives that branch's."""
    model = weights_same_name_in_branches()
    (expected,) = ReferenceEvaluator(_dense_equivalent(model)).run(None, {"c": np.array(condition)})
    graph = modellens.load(_save(model, tmp_path / "m.onnx", ir_version=9))
    branch = "then_b" if condition else "else_b"
    (sub,) = [sub for _, sub in _graphs(graph) if sub.graph["name"] == branch]
    store, scope = graph.graph["tensor_store"], sub.graph["tensor_scope"]
    np.testing.assert_array_equal(store.array("W", scope) + store.array("S", scope), expected)


# ------------------------------------------------------------------ P4 sparse weights of any elem type

SPARSE_TYPES = ["BFLOAT16", "INT4", "UINT4", "FLOAT8E4M3FN", "FLOAT8E5M2", "FLOAT16", "INT8", "FLOAT4E2M1"]


def _typed_sparse(type_name: str, name: str = "S") -> onnx.SparseTensorProto:
    elem = getattr(TensorProto, type_name)
    np_type = helper.tensor_dtype_to_np_dtype(elem)
    values = numpy_helper.from_array(np.array([1, 2], dtype=np_type), name)
    return helper.make_sparse_tensor(values, numpy_helper.from_array(np.array([0, 3], np.int64), ""), [4])


def _dense_equivalent(model: onnx.ModelProto) -> onnx.ModelProto:
    dense = onnx.ModelProto()
    dense.CopyFrom(model)
    for proto in _model_protos(dense):
        for s in proto.sparse_initializer:
            values = numpy_helper.to_array(s.values)
            array = np.zeros(tuple(s.dims), values.dtype)
            array.reshape(-1)[numpy_helper.to_array(s.indices)] = values
            proto.initializer.append(numpy_helper.from_array(array, s.values.name))
        del proto.sparse_initializer[:]
    return dense


@pytest.mark.parametrize("where", ["main", "if_branch"])
@pytest.mark.parametrize("type_name", SPARSE_TYPES)
def test_sparse_of_any_type_keeps_its_type_for_inference(type_name: str, where: str, tmp_path: Path) -> None:
    if not hasattr(TensorProto, type_name):
        pytest.skip(f"onnx {onnx.__version__} has no {type_name}")
    elem = getattr(TensorProto, type_name)
    sparse = _typed_sparse(type_name)
    if where == "main":
        graph = helper.make_graph(
            [helper.make_node("Identity", ["S"], ["out"])],
            "g",
            [],
            [_out("out", ["n"], elem)],
            sparse_initializer=[sparse],
        )
    else:
        then = helper.make_graph(
            [helper.make_node("Identity", ["S"], ["t"])],
            "then",
            [],
            [_out("t", ["n"], elem)],
            sparse_initializer=[sparse],
        )
        other = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["e"])], "else", [], [_out("e", ["n"], elem)]
        )
        graph = helper.make_graph(
            [helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=other)],
            "g",
            [_out("c", [], TensorProto.BOOL), _out("x", [4], elem)],
            [_out("out", ["n"], elem)],
        )
    model = _model(graph, opset_imports=[helper.make_opsetid("", 21)])
    onnx.checker.check_model(model)
    try:
        inferred = onnx.shape_inference.infer_shapes(
            _dense_equivalent(model), check_type=True, strict_mode=True
        )
    except onnx.shape_inference.InferenceError as err:  # onnx rejects the dense model too: so do we
        _, summary = _open_everything(_save(model, tmp_path / "m.onnx", ir_version=10))
        assert [w for w in summary["warnings"] if str(err).splitlines()[0][-40:] in w]
        return
    expected = {v.name: v.type.tensor_type for v in [*_all_value_infos(inferred)]}
    loaded, summary = _open_everything(_save(model, tmp_path / "m.onnx", ir_version=10))
    assert summary["warnings"] == []
    identity = next(
        d
        for _, sub in _graphs(loaded)
        for _, d in sub.nodes(data=True)
        if d["op_type"] == "Identity" and d["weights"]
    )
    out = identity["outputs"][0]
    assert out.shape == tuple(d.dim_value for d in expected[out.name].shape.dim)
    assert expected[out.name].elem_type == elem


def _all_value_infos(model: onnx.ModelProto) -> Iterator[onnx.ValueInfoProto]:
    for proto in _all_protos(model.graph):
        yield from (*proto.input, *proto.output, *proto.value_info)


# ------------------------------------------------------------------ P5 sparse weights with huge shapes

HUGE_SPARSE = {
    "linear_1e8": ([10**8], np.array([5], np.int64)),
    "linear_1e12": ([10**12], np.array([5], np.int64)),
    "coordinates_1e6_by_1e6": ([10**6, 10**6], np.array([[3, 999_999]], np.int64)),
}


@pytest.mark.parametrize("case", list(HUGE_SPARSE))
def test_huge_sparse_weight_shows_stored_parts_without_densifying(case: str, tmp_path: Path) -> None:
    dims, indices = HUGE_SPARSE[case]
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.5], F32), "S"), numpy_helper.from_array(indices, ""), dims
    )
    graph = helper.make_graph(
        [helper.make_node("Identity", ["S"], ["out"])],
        "g",
        [],
        [_out("out", dims)],
        sparse_initializer=[sparse],
    )
    model = _model(graph, opset_imports=[OPSET])
    onnx.checker.check_model(model)
    tracemalloc.start()
    loaded, summary = _open_everything(_save(model, tmp_path / "m.onnx", ir_version=9))
    store = loaded.graph["tensor_store"]
    parts = store.sparse_parts("S", "")
    with pytest.raises(ModelLensError) as raised:
        store.array("S", "")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20  # the dense array (400 MB .. 4 TB) is never built
    assert summary["parameters"] == math.prod(sparse.dims)
    np.testing.assert_array_equal(parts.values, numpy_helper.to_array(sparse.values))
    np.testing.assert_array_equal(parts.indices, numpy_helper.to_array(sparse.indices))
    assert parts.density == pytest.approx(1 / math.prod(sparse.dims))
    message = raised.value.one_line()
    assert f"{math.prod(sparse.dims):,}" in message and "indices" not in message.split("Fix:")[0]
    assert summary["warnings"] == []


BAD_INDICES = {  # (dims, indices, what the message names)
    "out_of_range": ([4], np.array([9], np.int64), "outside"),
    "negative": ([4], np.array([-1], np.int64), "outside"),
    "rank_mismatch": ([2, 2], np.array([[0, 0, 0]], np.int64), "need [1] or [1, 2]"),
    "coordinate_out_of_range": ([2, 2], np.array([[0, 5]], np.int64), "axis 1"),
}


@pytest.mark.parametrize("case", list(BAD_INDICES))
def test_bad_sparse_indices_are_named(case: str, tmp_path: Path) -> None:
    dims, indices, named = BAD_INDICES[case]
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.0], F32), "S"), numpy_helper.from_array(indices, ""), dims
    )
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_sparse_tensor(sparse)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["S"], ["out"])],
        "g",
        [],
        [_out("out", dims)],
        sparse_initializer=[sparse],
    )
    loaded, summary = _open_everything(_save(_model(graph, opset_imports=[OPSET]), tmp_path / "m.onnx", 9))
    assert any("'S' is malformed" in w for w in summary["warnings"])
    with pytest.raises(ModelLensError) as raised:
        loaded.graph["tensor_store"].array("S", "")
    assert named in raised.value.one_line()


CHECKER_ONLY = {  # indices numpy can place, which onnx's checker still rejects
    "int32_indices": np.array([1, 3], np.int32),
    "unsorted": np.array([3, 1], np.int64),
    "duplicate": np.array([1, 1], np.int64),
}


@pytest.mark.parametrize("case", list(CHECKER_ONLY))
def test_sparse_indices_the_checker_rejects_warn(case: str, tmp_path: Path) -> None:
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.0, 2.0], F32), "S"),
        numpy_helper.from_array(CHECKER_ONLY[case], ""),
        [4],
    )
    with pytest.raises(onnx.checker.ValidationError) as checker:
        onnx.checker.check_sparse_tensor(sparse)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["S"], ["out"])],
        "g",
        [],
        [_out("out", [4])],
        sparse_initializer=[sparse],
    )
    _, summary = _open_everything(_save(_model(graph, opset_imports=[OPSET]), tmp_path / "m.onnx", 9))
    expected = str(checker.value).strip().splitlines()[0]
    assert any("'S' is malformed" in w and expected[:40] in w for w in summary["warnings"])


# ------------------------------------------------------------------ P6 names differing in invalid bytes

INVALID_NAME_PAIRS = {
    "ff_vs_fe": (b"x\xff\xff", b"x\xfe\xfe"),
    "one_vs_two_bad_bytes": (b"x\xff", b"x\xc3"),
    "same_prefix_lone_continuation": (b"\x80a", b"\x81a"),
}


@pytest.mark.parametrize("case", list(INVALID_NAME_PAIRS))
def test_names_differing_in_invalid_bytes_stay_distinct(case: str, tmp_path: Path) -> None:
    first, second = INVALID_NAME_PAIRS[case]
    a_name, b_name = "A" * len(first), "B" * len(second)  # same lengths: the bytes are swapped in place
    graph = helper.make_graph(
        [helper.make_node("Concat", [a_name, b_name], ["y"], axis=0)],
        "g",
        [_out(a_name, [2]), _out(b_name, [3])],
        [_out("y", ["n"])],
    )
    model = _model(graph, opset_imports=[OPSET])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # the valid-UTF-8 equivalent
    expected_y = [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    path = tmp_path / "m.onnx"
    path.write_bytes(
        model.SerializeToString().replace(a_name.encode(), first).replace(b_name.encode(), second)
    )
    raw = onnx.load(str(path))
    onnx.checker.check_model(raw)
    input_shapes = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in raw.graph.input]
    loaded, summary = _open_everything(path)
    assert len({io["name"] for io in summary["inputs"]}) == len(raw.graph.input) == 2
    assert [io["shape"] for io in summary["inputs"]] == input_shapes
    assert summary["outputs"][0]["shape"] == expected_y
    assert summary["warnings"] == []
    (concat,) = [n for n, d in loaded.nodes(data=True) if d["op_type"] == "Concat"]
    for port, input_id in enumerate(loaded.graph["inputs"]):
        edges = list(loaded.out_edges(input_id, data=True))
        assert [(dst, e["dst_port"]) for _, dst, e in edges] == [(concat, port)]


# ------------------------------------------------------------------ P7 references through call chains


def _chain_model(depth: int) -> onnx.ModelProto:
    """main calls F0 twice (v=1.0 "first", v=2.0 "second"); F(k) calls F(k+1) passing @v as v;
    the last one's Constant is value_float=@v."""
    functions = []
    for level in range(depth):
        name = f"F{level}"
        if level == depth - 1:
            nodes = [_constant_ref("y", "v")]
        else:
            call = helper.make_node(f"F{level + 1}", [], ["y"], domain="d", name=f"call{level + 1}")
            call.attribute.append(_ref("v", "v", AttributeProto.FLOAT))
            nodes = [call]
        functions.append(helper.make_function("d", name, [], ["y"], nodes, [OPSET, DOMAIN], attributes=["v"]))
    calls = [
        helper.make_node("F0", [], ["a"], domain="d", name="first", v=1.0),
        helper.make_node("F0", [], ["b"], domain="d", name="second", v=2.0),
    ]
    graph = helper.make_graph(calls, "g", [], [_out("a", []), _out("b", [])])
    return _model(graph, functions[::-1])  # callees first: ReferenceEvaluator compiles in order


@pytest.mark.parametrize("depth", [2, 3, 5])
@pytest.mark.parametrize("entry", ["first", "second"])
def test_reference_resolves_along_the_call_path_taken(depth: int, entry: str, tmp_path: Path) -> None:
    model = _chain_model(depth)
    onnx.checker.check_model(model, full_check=True)
    outputs = dict(zip(["first", "second"], ReferenceEvaluator(model).run(None, {}), strict=True))
    graph, _ = _open_everything(_save(model, tmp_path / "chain.onnx"))
    callers, caller = {}, ("", entry)
    for level in range(depth):  # open F0 from the entry call, then each F(k+1) from F(k)'s call
        fid = function_id("d", f"F{level}")
        callers[fid] = caller
        caller = (fid, f"call{level + 1}")
    deepest = function_id("d", f"F{depth - 1}")
    bindings = tables.attribute_bindings(graph, deepest, callers[deepest], callers=callers)
    assert bindings["v"].value == float(outputs[entry])
    (const,) = [
        n for n, d in graph.graph["subgraphs"][deepest].nodes(data=True) if d["op_type"] == "Constant"
    ]
    rows = tables.attribute_rows(graph.graph["subgraphs"][deepest], const, None, bindings)
    expected = f"= @v → {float(outputs[entry])} (passed by {callers[deepest][1]})"
    assert [row.value for row in rows] == [expected]


# ------------------------------------------------------------------ malformed weights, metadata


def _raw_tensor(name: str, elem: int, dims: list[int], raw: bytes) -> onnx.TensorProto:
    return onnx.TensorProto(name=name, data_type=elem, dims=dims, raw_data=raw)


MALFORMED = {  # expected elements and bytes come from the proto's own fields
    "negative_dim": lambda: onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[-2]),
    "negative_dim_of_two": lambda: onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[3, -1]),
    "string_without_strings": lambda: onnx.TensorProto(name="W", data_type=TensorProto.STRING, dims=[3]),
    "short_raw_data": lambda: _raw_tensor("W", TensorProto.FLOAT, [3], np.ones(1, F32).tobytes()),
    "long_raw_data": lambda: _raw_tensor("W", TensorProto.FLOAT, [1], np.ones(2, F32).tobytes()),
    "no_data_at_all": lambda: onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_weights_count_what_the_file_holds(case: str, tmp_path: Path) -> None:
    tensor = MALFORMED[case]()
    graph = helper.make_graph(
        [helper.make_node("Identity", ["W"], ["out"])],
        "g",
        [],
        [_out("out", None, tensor.data_type)],
        initializer=[tensor],
    )
    loaded, summary = _open_everything(_save(_model(graph, opset_imports=[OPSET]), tmp_path / "m.onnx", 9))
    dims = list(tensor.dims)
    expected_count = 0 if any(d < 0 for d in dims) else math.prod(dims)
    if tensor.data_type == TensorProto.STRING:
        expected_bytes = sum(len(s) for s in tensor.string_data)
    elif tensor.raw_data or not tensor.float_data:  # the bytes the file holds
        expected_bytes = len(tensor.raw_data)
    else:
        expected_bytes = expected_count * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    assert summary["parameters"] == expected_count >= 0
    assert summary["parameter_bytes"] == expected_bytes >= 0
    assert loaded.nodes["Identity_0"]["weights"][0].nbytes == expected_bytes
    assert any("'W'" in w for w in summary["warnings"])


def test_declarations_reach_the_graph(tmp_path: Path) -> None:
    """Denotations, initializer doc strings and function declarations, as the protos hold them."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    x.type.denotation = "TENSOR"
    for dim, text in zip(x.type.tensor_type.shape.dim, ["DATA_BATCH", "DATA_CHANNEL"], strict=True):
        dim.denotation = text
    weight = numpy_helper.from_array(np.ones(3, F32), "W")
    weight.doc_string = "learned scale"
    function = helper.make_function(
        "d",
        "F",
        ["x"],
        ["y"],
        [helper.make_node("Mul", ["x", "x"], ["y"])],
        [OPSET],
        attributes=["alpha"],
        doc_string="squares its input",
    )
    function.attribute_proto.append(helper.make_attribute("beta", 0.5))
    function.metadata_props.add(key="origin", value="test")
    nodes = [
        helper.make_node("Mul", ["x", "W"], ["t"]),
        helper.make_node("F", ["t"], ["out"], domain="d", alpha=1),
    ]
    graph = helper.make_graph(nodes, "g", [x], [_out("out", [1, 3])], initializer=[weight])
    model = _model(graph, [function])
    loaded, _ = _open_everything(_save(model, tmp_path / "m.onnx"))
    (input_id,) = loaded.graph["inputs"]
    dims = [d.denotation for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert (
        loaded.nodes[input_id]["denotation"] == f"{model.graph.input[0].type.denotation} [{', '.join(dims)}]"
    )
    assert loaded.graph["weight_docs"] == {t.name: t.doc_string for t in model.graph.initializer}
    (proto,) = model.functions
    info = loaded.graph["subgraphs"][function_id("d", "F")].graph["function_info"]
    assert info["doc"] == proto.doc_string
    assert info["opsets"] == {i.domain or "ai.onnx": i.version for i in proto.opset_import}
    assert info["attributes"] == {
        **{a: None for a in proto.attribute},
        **{a.name: helper.get_attribute_value(a) for a in proto.attribute_proto},
    }
    assert info["metadata"] == {p.key: p.value for p in proto.metadata_props}


def test_unscoped_lookup_of_a_name_held_by_two_branches_asks_for_the_graph(tmp_path: Path) -> None:
    model = weights_same_name_in_branches()
    graph = modellens.load(_save(model, tmp_path / "m.onnx", ir_version=9))
    holders = [p.name for p in _all_protos(model.graph) if any(t.name == "W" for t in p.initializer)]
    assert len(holders) == 2
    with pytest.raises(ModelLensError, match="2 subgraphs hold a weight named 'W'"):
        graph.graph["tensor_store"].array("W")


def test_same_named_values_in_sibling_branches_keep_their_own_shapes(tmp_path: Path) -> None:
    def branch(name: str, size: int) -> onnx.GraphProto:
        weight = numpy_helper.from_array(np.ones(size, F32), f"W{size}")
        nodes = [helper.make_node("Relu", [weight.name], ["h"]), helper.make_node("Neg", ["h"], [name])]
        return helper.make_graph(nodes, name, [], [_out(name, ["n"])], initializer=[weight])

    graph = helper.make_graph(
        [_if("c", branch("then_h", 2), branch("else_h", 3), "out")],
        "g",
        [_out("c", [], TensorProto.BOOL)],
        [_out("out", ["n"])],
    )
    model = _model(graph, opset_imports=[OPSET])
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    expected = {
        proto.name: [
            d.dim_value for d in next(v for v in proto.value_info if v.name == "h").type.tensor_type.shape.dim
        ]
        for proto in list(_all_protos(inferred.graph))[1:]
    }
    loaded, _ = _open_everything(_save(model, tmp_path / "m.onnx", ir_version=9))
    for _, sub in _graphs(loaded):
        if sub.graph["name"] in expected:
            (relu,) = [d for _, d in sub.nodes(data=True) if d["op_type"] == "Relu"]
            assert list(relu["outputs"][0].shape) == expected[sub.graph["name"]]
