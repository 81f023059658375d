"""SavedModel per-node shapes, recorded while TensorFlow runs the signature with its calls inlined.

The signature's meta graph is loaded into a ``tf.compat.v1.Session`` (variables restored by
TensorFlow's own loader). Then the signature's computation is rebuilt in that session's graph the
way ``converters.savedmodel.graph`` draws it: every ``StatefulPartitionedCall``/``PartitionedCall``
(or direct call of a library function) is inlined, its body turned into graph form by TensorFlow's
``function_def_to_graph_def`` and recreated node by node with its inputs bound to the caller's
tensors. Each recreated node's full name (call scope + node name) is the converter's node name, so
one ``Session.run`` fetching every recreated output gives the shapes per converter node id.
Identity/ReadVariableOp run as ops but have no node of their own in the graph (folded), so they
record nothing. ``While``/``If`` bodies stay whole ops (their insides are subgraphs).

The signature inputs become placeholders with the feeds' concrete shapes, so TensorFlow's static
shape inference already rejects a bad shape while the node is built; a failure at run time names
the op (``OpError.op``). Either way the failing node is the converter's node of that op, with the
shapes recorded up to it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.results import FailedNode, ShapesResult

if TYPE_CHECKING:
    import numpy as np

    from runtime.runners import Runner

ShapeList = list[list[int | str | None] | None]
CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
MAX_DEPTH = 64
METHOD = "TensorFlow session run of the inlined signature (every op output fetched)"


class _BuildFailed(Exception):
    """A node TensorFlow refused to build (static shape inference): its full name and inputs."""

    def __init__(self, full_name: str, op_type: str, inputs: ShapeList, message: str) -> None:
        super().__init__(message)
        self.failed = (full_name, op_type, inputs, message)


@dataclass
class _Built:
    """What the inliner made: per recreated (or reused) op, the converter's full name and its
    graph operation, in build order."""

    ops: list[tuple[str, Any]] = field(default_factory=list)
    by_op_name: dict[str, int] = field(default_factory=dict)

    def add(self, full_name: str, op: Any) -> None:
        self.by_op_name[op.name] = len(self.ops)
        self.ops.append((full_name, op))


def savedmodel_shapes(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    """Per converter node id, its output shapes for ``feeds``; ``failed`` names the node where
    TensorFlow refused the shapes or failed to run (shapes recorded up to it)."""
    import tensorflow as tf

    from converters.savedmodel.format import _pick_meta_graph, read_saved_model

    folder = Path(runner.path)
    key = str(getattr(runner, "signature_key", "") or "serving_default")
    tags = sorted(
        _pick_meta_graph(read_saved_model(folder, folder.name), None, folder.name).meta_info_def.tags
    )
    names = _converter_names(folder, key, tags)
    graph = tf.Graph()
    with graph.as_default():
        session = tf.compat.v1.Session(graph=graph)
        try:
            meta = tf.compat.v1.saved_model.loader.load(session, tags, str(folder))
            return _record(tf, session, meta, key, feeds, names)
        finally:
            session.close()


def _converter_names(folder: Path, key: str, tags: list[str]) -> dict[str, list[str]]:
    """Converter node name → node ids (graph order; several when names repeat), plus
    ``input:``/``output:`` signature names → ids."""
    from converters.savedmodel.format import convert
    from converters.source import ModelSource

    graph = convert(ModelSource.from_path(folder), {"signature": key, "tags": tags})
    names: dict[str, list[str]] = {}
    for node_id, data in graph.nodes(data=True):
        kind = data.get("kind")
        if kind == "op":
            names.setdefault(str(data.get("name")), []).append(str(node_id))
        elif kind in ("input", "output"):
            names.setdefault(f"{kind}:{data.get('name')}", []).append(str(node_id))
    return names


def _record(
    tf: Any, session: Any, meta: Any, key: str, feeds: Mapping[str, np.ndarray], names: dict[str, list[str]]
) -> ShapesResult:
    signature = meta.signature_def[key]
    graph = session.graph
    bound: dict[str, Any] = {}
    placeholders: dict[Any, np.ndarray] = {}
    nodes: dict[str, ShapeList] = {}
    for name, info in sorted(signature.inputs.items()):
        if name not in feeds:
            continue
        array = feeds[name]
        placeholder = tf.compat.v1.placeholder(
            tf.as_dtype(info.dtype), shape=array.shape, name=f"modellens_input_{len(placeholders)}"
        )
        placeholders[placeholder] = array
        bound[info.name if ":" in info.name else f"{info.name}:0"] = placeholder
        for node_id in names.get(f"input:{name}", []):
            nodes[node_id] = [list(array.shape)]
    inliner = _Inliner(tf, graph, meta, _restored_twins(tf, session, meta.graph_def))
    failed: tuple[str, str, ShapeList, str] | None = None
    outputs: dict[str, Any] = {}
    try:
        resolved = inliner.main(bound, [info.name for _, info in sorted(signature.outputs.items())])
        outputs = dict(zip(sorted(signature.outputs), resolved, strict=True))
    except _BuildFailed as err:
        failed = err.failed
    ops = inliner.built.ops
    values, run_failed = _run(tf, session, ops, outputs, placeholders)
    if run_failed is not None and failed is None:
        index, message = run_failed
        full_name, op = ops[index]
        failed = (full_name, op.type, [_static(t) for t in op.inputs], message)
        values, _ = _run(tf, session, ops[:index], {}, placeholders)
    _assign(nodes, names, ops, values)
    for name, shape in values.get("outputs", {}).items():
        for node_id in names.get(f"output:{name}", []):
            nodes[node_id] = [shape]
    failed_node = None
    if failed is not None:
        full_name, op_type, inputs, message = failed
        node_id = _first_id(names, full_name) or full_name
        failed_node = FailedNode(node_id, op_type, inputs, message)
    return ShapesResult(nodes=nodes, method=METHOD, failed=failed_node)


def _restored_twins(tf: Any, session: Any, graph_def: Any) -> dict[str, str]:
    """Variable handle → the handle TensorFlow's v1 loader restored its value into. A TF2
    SavedModel's main graph holds each variable twice: the handle the signature's call reads
    (``dense/kernel``) and a ``Variable_N`` the checkpoint restores, initialised from the first
    (``Variable_N/Initializer/ReadVariableOp``); the first stays uninitialised after loading."""
    nodes = {n.name: n for n in graph_def.node}
    twins: dict[str, str] = {}
    for node in graph_def.node:
        owner, sep, rest = node.name.partition("/Initializer/")
        if sep and rest == "ReadVariableOp" and node.input and nodes.get(owner, node).op == "VarHandleOp":
            twins[node.input[0]] = owner
    if not twins:
        return {}
    graph = session.graph
    with graph.as_default():
        checks = {
            name: tf.raw_ops.VarIsInitializedOp(resource=graph.get_tensor_by_name(f"{name}:0"))
            for name in twins
        }
    ready = session.run(checks)
    return {name: twin for name, twin in twins.items() if not ready[name]}


def _first_id(names: Mapping[str, list[str]], full_name: str) -> str | None:
    ids = names.get(full_name)
    return ids[0] if ids else None


def _assign(
    nodes: dict[str, ShapeList],
    names: Mapping[str, list[str]],
    ops: list[tuple[str, Any]],
    values: Mapping[str, Any],
) -> None:
    """Shapes of the recorded ops onto converter ids; a name made several times (a function
    called twice from one scope) takes the ids in build order."""
    used: dict[str, int] = {}
    shapes: Mapping[str, ShapeList] = values.get("ops", {})
    for full_name, op in ops:
        ids = names.get(full_name)
        if not ids or op.name not in shapes:
            continue
        turn = used.get(full_name, 0)
        used[full_name] = turn + 1
        nodes[ids[min(turn, len(ids) - 1)]] = shapes[op.name]


def _run(
    tf: Any,
    session: Any,
    ops: list[tuple[str, Any]],
    outputs: Mapping[str, Any],
    placeholders: Mapping[Any, np.ndarray],
) -> tuple[dict[str, Any], tuple[int, str] | None]:
    """One ``Session.run`` fetching every output of ``ops`` and the signature outputs: shapes per
    op name (``ops``) and per output name (``outputs``); or the index of the op that failed."""
    fetch_ops = {  # by port: resource/variant outputs (handles, TensorLists) have no shape to fetch
        op.name: {port: t for port, t in enumerate(op.outputs) if t.dtype not in (tf.resource, tf.variant)}
        for _, op in ops
    }
    counts = {op.name: len(op.outputs) for _, op in ops}
    fetch = {"ops": fetch_ops, "outputs": dict(outputs)}
    index_of = {op.name: i for i, (_, op) in enumerate(ops)}
    try:
        result = session.run(fetch, feed_dict=dict(placeholders))
    except tf.errors.OpError as err:
        op = getattr(err, "op", None)
        name = getattr(op, "name", "") or _op_in_message(str(err.message), index_of)
        message = _one_line(err)
        if name in index_of:
            return {}, (index_of[name], message)
        return {}, (len(ops) - 1, message) if ops else None
    shapes = {
        "ops": {
            name: [_shape(values[port]) if port in values else None for port in range(counts[name])]
            for name, values in result["ops"].items()
        },
        "outputs": {name: _shape(v) for name, v in result["outputs"].items()},
    }
    return shapes, None


def _op_in_message(message: str, index_of: Mapping[str, int]) -> str:
    for match in re.finditer(r"\{\{node ([^}]+)\}\}", message):
        if match.group(1) in index_of:
            return match.group(1)
    return ""


def _shape(value: Any) -> list[int | str | None] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else [int(d) for d in shape]


def _static(tensor: Any) -> list[int | str | None] | None:
    shape = tensor.shape
    return None if shape.rank is None else [None if d is None else int(d) for d in shape.as_list()]


class _Inliner:
    """Rebuilds a signature's computation in ``graph`` with library calls inlined."""

    def __init__(self, tf: Any, graph: Any, meta: Any, twins: Mapping[str, str]) -> None:
        from tensorflow.python.framework import op_def_registry

        self.tf = tf
        self.graph = graph
        self.functions = {f.signature.name: f for f in meta.graph_def.library.function}
        self.main_nodes = {n.name: n for n in meta.graph_def.node}
        self.op_def = op_def_registry.get
        self.built = _Built()
        self.twins = twins
        self._count = 0
        self._stack: list[str] = []

    def main(self, bound: dict[str, Any], output_refs: list[str]) -> list[Any]:
        """The signature outputs (tensors) with the main graph's ``bound`` tensors replaced."""
        from converters.savedmodel.refs import split_graph_ref

        roots = [split_graph_ref(ref)[0] for ref in output_refs]
        values = self._body(self.main_nodes, dict(bound), "", roots, reuse=True)
        return [values[_graph_ref(ref)] for ref in output_refs]

    def _body(
        self, nodes: dict[str, Any], values: dict[str, Any], scope: str, roots: list[str], reuse: bool
    ) -> dict[str, Any]:
        """Build a graph-form body (``node:port`` refs): ``values`` maps refs to tensors (the
        bound ones given); returns it filled. ``reuse``: nodes untouched by a bound value are
        the session graph's own (the main graph)."""
        from converters.savedmodel.refs import topological

        fresh = {ref.split(":")[0] for ref in values}
        controls: dict[str, Any] = {}
        for name in topological(nodes, False, roots):
            node = nodes[name]
            if f"{name}:0" in values:
                continue
            data_refs = [_graph_ref(r) for r in node.input if not r.startswith("^")]
            full_name = posixpath.join(scope, name) if scope else name
            callee = self._callee(node)
            if callee is not None:
                inputs = [values.get(r) for r in data_refs]
                outputs = self._inline(self.functions[callee], inputs, posixpath.dirname(full_name))
            elif reuse and not any(_ref_node(r) in fresh for r in node.input):
                op = self.graph.get_operation_by_name(self.twins.get(name, name))
                outputs = list(op.outputs)
                controls[name] = op
                if node.op not in ("Const", "Placeholder", "VarHandleOp", "NoOp"):
                    self.built.add(full_name, op)
            else:
                fresh.add(name)
                op = self._make(node, full_name, data_refs, values, controls)
                outputs = list(op.outputs)
                controls[name] = op
            for port, tensor in enumerate(outputs):
                values[f"{name}:{port}"] = tensor
        return values

    def _callee(self, node: Any) -> str | None:
        if len(self._stack) >= MAX_DEPTH:
            return None
        name = node.attr["f"].func.name if node.op in CALL_OPS else node.op
        return name if name in self.functions and name not in self._stack else None

    def _inline(self, function: Any, inputs: list[Any], scope: str) -> list[Any]:
        from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

        from converters.savedmodel.refs import split_graph_ref

        with self.graph.as_default():
            graph_def, flat = function_def_to_graph_def(function)
        nodes = {n.name: n for n in graph_def.node}
        values: dict[str, Any] = {}
        for arg, tensor in zip(function.signature.input_arg, inputs, strict=False):
            values[f"{arg.name}:0"] = tensor
        rets = [flat.get(function.ret[a.name], function.ret[a.name]) for a in function.signature.output_arg]
        roots = [split_graph_ref(r)[0] for r in rets]
        roots += [n for n in function.control_ret.values() if n in nodes]
        roots += [name for name, node in nodes.items() if self._stateful(node.op)]
        self._stack.append(function.signature.name)
        try:
            values = self._body(nodes, values, scope, list(dict.fromkeys(roots)), reuse=False)
        finally:
            self._stack.pop()
        return [values.get(_graph_ref(r)) for r in rets]

    def _stateful(self, op: str) -> bool:
        if op in self.functions:
            return bool(self.functions[op].signature.is_stateful)
        op_def = self.op_def(op)
        return op_def is None or bool(op_def.is_stateful)

    def _make(
        self,
        node: Any,
        full_name: str,
        refs: list[str],
        values: Mapping[str, Any],
        controls: Mapping[str, Any],
    ) -> Any:
        """Recreate one node with its inputs bound; static shape errors raise _BuildFailed."""
        tf = self.tf
        copy = tf.compat.v1.NodeDef()
        copy.CopyFrom(node)
        self._count += 1
        copy.name = f"modellens_shapes/{self._count}"
        copy.device = ""
        for attr in [a for a in copy.attr if a.startswith("_")]:
            del copy.attr[attr]
        del copy.input[:]
        input_map: dict[str, Any] = {}
        inputs = [values.get(r) for r in refs]
        for index, tensor in enumerate(inputs):
            placeholder = f"modellens_in_{index}:0"
            copy.input.append(placeholder)
            if tensor is not None:
                input_map[placeholder] = tensor
        graph_def = tf.compat.v1.GraphDef()
        graph_def.node.append(copy)
        try:
            with self.graph.as_default():
                (op,) = tf.graph_util.import_graph_def(
                    graph_def, input_map=input_map, return_elements=[copy.name], name=""
                )
        except (ValueError, tf.errors.OpError) as err:
            shapes = [None if t is None else _static(t) for t in inputs]
            raise _BuildFailed(full_name, node.op, shapes, _one_line(err)) from err
        waits = [controls[r[1:]] for r in node.input if r.startswith("^") and r[1:] in controls]
        if waits:
            op._add_control_inputs(waits)
        self.built.add(full_name, op)
        return op


def _graph_ref(ref: str) -> str:
    return ref if ":" in ref.lstrip("^") and ref.rsplit(":", 1)[1].isdigit() else f"{ref.lstrip('^')}:0"


def _ref_node(ref: str) -> str:
    from converters.savedmodel.refs import split_graph_ref

    return split_graph_ref(ref)[0]


def _one_line(err: BaseException) -> str:
    """TensorFlow's message without the internal node dump (``for '{{node ...}} = ...'``)."""
    text = " ".join(str(getattr(err, "message", "") or err).split())
    text = re.sub(r" for '\{\{node [^}]*\}\}[^']*'", "", text)
    text = re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\]", "", text)
    return text[:500] or type(err).__name__
