"""A signature's computation as one ModelGraph: calls inlined, plumbing folded.

Function bodies reached through ``StatefulPartitionedCall`` / ``PartitionedCall`` (or a direct
call of a library function) are inlined into the caller's graph; ``Identity``/``IdentityN``/
``NoOp`` disappear; ``VarHandleOp`` + ``ReadVariableOp`` become a weight on the op that uses the
variable; ``Const`` values become weights (and attributes when small) of their users.
``While``/``If``/``Case`` bodies (stateless too) become navigable subgraphs.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from converters import schema
from converters.errors import ModelLoadError
from converters.op_catalog import tf_category_of
from converters.savedmodel.keras_names import apply_keras_namespaces
from converters.savedmodel.protos import dtype_name, shape_of
from converters.savedmodel.refs import ref_node, split_function_ref, split_graph_ref, topological
from converters.savedmodel.values import SMALL_CONST_ELEMENTS, attr_value, small_value, tensor_dtype_shape

FORMAT = "savedmodel"
CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
IDENTITY_OPS = frozenset({"Identity", "IdentityN"})
VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable"})
PLUMBING_OPS = frozenset({*IDENTITY_OPS, "NoOp", "ReadVariableOp", "Const", "Placeholder", *VARIABLE_OPS})
# control-flow op → (function attributes, index of the first input the bodies receive)
CONTROL_FLOW: dict[str, tuple[tuple[str, ...], int]] = {
    "While": (("cond", "body"), 0),
    "StatelessWhile": (("cond", "body"), 0),
    "If": (("then_branch", "else_branch"), 1),
    "StatelessIf": (("then_branch", "else_branch"), 1),
    "Case": (("branches",), 1),
    "StatelessCase": (("branches",), 1),
}
MAX_INLINE_DEPTH = 64
RESOURCE_DTYPE = 20  # DT_RESOURCE
# TF1 control-flow primitives: TensorFlow's function runtime never prunes them (Node::IsControlFlow)
TF1_CONTROL_FLOW = frozenset(
    {
        *("Switch", "Merge", "Enter", "Exit", "NextIteration"),
        *("RefSwitch", "RefMerge", "RefEnter", "RefExit", "RefNextIteration"),
    }
)


@dataclass(frozen=True)
class Variable:
    """A variable a signature reads: display name, dtype, shape, checkpoint key ("" if unknown).
    ``part``: for one partition of a TF1 partitioned variable, its (offset, shape) in the full
    tensor stored under ``key``. ``resource``: the op type of a non-variable resource handle
    (HashTableV2, ...): no values, no parameters."""

    name: str
    dtype: str | None
    shape: schema.Shape
    key: str = ""
    part: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    resource: str = ""


@dataclass(frozen=True)
class Value:
    """What a TF tensor is in the flat graph: an op/input port, a variable, a constant, or nothing."""

    node: str = ""
    port: int = 0
    variable: Variable | None = None
    const_name: str = ""
    const: Any = None  # TensorProto
    const_info: tuple[str, tuple[int, ...], Any] | None = None  # dtype, shape, values when small
    controls: tuple[str, ...] = ()  # graph nodes that must run before any user (folded ^inputs)

    def with_controls(self, controls: Iterable[str]) -> Value:
        extra = tuple(c for c in controls if c not in self.controls)
        return replace(self, controls=self.controls + extra) if extra else self


@dataclass
class _Body:
    nodes: dict[str, Any]
    args: dict[str, Value]
    in_function: bool
    scope: str
    outputs: dict[str, list[Value]] = field(default_factory=dict)
    # body node → the graph nodes a ``^node`` control input on it stands for
    handles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    layouts: dict[str, list[tuple[str, int, list[str | None]]]] = field(default_factory=dict)


class GraphBuilder:
    """Builds the flat graph of one meta graph; ``variables`` collects what the signature reads."""

    def __init__(self, meta_graph: Any, variable_namer: Any) -> None:
        self.meta_graph = meta_graph
        self.op_defs = {op.name: op for op in meta_graph.meta_info_def.stripped_op_list.op}
        self.functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
        self.name_variable = variable_namer
        self.variables: dict[str, Variable] = {}
        self.constants: dict[str, Any] = {}  # weight name → TensorProto
        self.subgraphs: dict[str, schema.ModelGraph] = {}
        self.warnings: list[str] = []
        self.pruned: Counter[str] = Counter()  # dead ops TensorFlow's function runtime drops too
        self.graph = schema.new_graph(FORMAT, "")
        self.taken: set[str] = set()
        self._stack: list[str] = []

    # ------------------------------------------------------------------ entry points

    def build_signature(
        self, inputs: list[tuple[str, Any]], outputs: list[tuple[str, Any]]
    ) -> schema.ModelGraph:
        """The main graph: inputs/outputs are (signature name, TensorInfo proto) pairs."""
        graph_def = self.meta_graph.graph_def
        nodes = {n.name: n for n in graph_def.node}
        body = _Body(nodes=nodes, args={}, in_function=False, scope="")
        for name, info in inputs:
            node_id = self._add_io_node("input", name, dtype_name(info.dtype), shape_of(info.tensor_shape))
            self.graph.graph["inputs"].append(node_id)
            tensor_node, port = split_graph_ref(info.name)
            body.outputs.setdefault(tensor_node, [])
            _set_output(body.outputs[tensor_node], port, Value(node=node_id))
        roots = [split_graph_ref(info.name)[0] for _, info in outputs] if outputs else list(nodes)
        self._run_body(body, roots)
        for name, info in outputs:
            value = self._resolve(body, info.name)
            self._add_output(name, dtype_name(info.dtype), shape_of(info.tensor_shape), value)
        if not inputs:
            self.graph.graph["inputs"] = [n for n, d in self.graph.nodes(data=True) if d["kind"] == "input"]
        self.graph.graph["subgraphs"] = self.subgraphs
        apply_keras_namespaces(self.graph, self.variables)
        if self.pruned:
            listed = ", ".join(f"{op} {n}" for op, n in self.pruned.most_common(8))
            more = ", …" if len(self.pruned) > 8 else ""
            self.warnings.append(
                f"{sum(self.pruned.values())} ops feed no output and are not shown ({listed}{more}): "
                "TensorFlow prunes them too before it runs a function (dead stateless ops)"
            )
        return self.graph

    # ------------------------------------------------------------------ bodies

    def _run_body(self, body: _Body, roots: Iterable[str]) -> None:
        for name in topological(body.nodes, body.in_function, roots):
            node = body.nodes[name]
            controls = self._control_inputs(body, node)
            if body.outputs.get(name):  # a signature input placeholder, already bound
                body.handles[name] = _value_nodes(body.outputs[name])
                continue
            outputs, handle = self._node_outputs(body, node, controls)
            body.outputs[name] = outputs
            body.handles[name] = handle

    def _control_inputs(self, body: _Body, node: Any) -> tuple[str, ...]:
        """The graph nodes standing for a node's ``^name`` control inputs (folded ones see through)."""
        found: list[str] = []
        for ref in node.input:
            if ref.startswith("^"):
                name = ref_node(ref, body.in_function)
                found += [n for n in body.handles.get(name, ()) if n not in found]
        return tuple(found)

    def _node_outputs(
        self, body: _Body, node: Any, controls: tuple[str, ...]
    ) -> tuple[list[Value], tuple[str, ...]]:
        """The node's output values, and the graph nodes a control dependency on it stands for."""
        op = node.op
        full_name = posixpath.join(body.scope, node.name) if body.scope else node.name
        data_inputs = [ref for ref in node.input if not ref.startswith("^")]
        if op == "NoOp":
            return [], controls
        if op in IDENTITY_OPS:
            values = [self._resolve(body, ref).with_controls(controls) for ref in data_inputs]
            return values, _value_nodes(values)
        if op == "Const":
            tensor = node.attr["value"].tensor
            dtype, shape = tensor_dtype_shape(tensor)
            small = small_value(tensor, schema.PREVIEW_LIMIT)
            value = Value(
                const_name=full_name, const=tensor, const_info=(dtype, shape, small), controls=controls
            )
            return [value], controls
        if op in VARIABLE_OPS or self._is_resource_source(node, data_inputs):
            return [Value(variable=self.name_variable(node, full_name, body.in_function))], controls
        if op == "ReadVariableOp" and data_inputs:
            source = self._resolve(body, data_inputs[0])
            if source.variable is not None:
                self.variables.setdefault(source.variable.name, source.variable)
                return [source.with_controls(controls)], controls
        if op == "Placeholder" and not body.in_function:
            node_id = self._add_io_node("input", full_name, _attr_dtype(node, "dtype"), _attr_shape(node))
            return [Value(node=node_id)], (node_id,)
        callee = self._callee(node)
        if callee is not None and callee not in self._stack and len(self._stack) < MAX_INLINE_DEPTH:
            inputs = [self._resolve(body, ref).with_controls(controls) for ref in data_inputs]
            return self._inline(self.functions[callee], inputs, posixpath.dirname(full_name))
        if callee is not None:
            self.warnings.append(f"{full_name} calls {callee} recursively (or too deeply): shown as a call")
        elif node.op in CALL_OPS:
            missing = node.attr["f"].func.name
            self.warnings.append(f"{full_name} calls {missing}, which is not in the function library")
        node_id, outputs = self._add_op(body, node, full_name, data_inputs, controls)
        return outputs, (node_id,)

    def _is_resource_source(self, node: Any, data_inputs: list[str]) -> bool:
        """A resource-creating op (HashTableV2, MutableHashTableV2, ...): no data inputs, every
        output a resource handle. Like VarHandleOp it is a handle, not a computation."""
        if data_inputs or node.op in self.functions:
            return False
        op_def = self.op_defs.get(node.op)
        return (
            op_def is not None
            and bool(op_def.output_arg)
            and all(arg.type == RESOURCE_DTYPE and not arg.number_attr for arg in op_def.output_arg)
        )

    def _callee(self, node: Any) -> str | None:
        if node.op in CALL_OPS:
            name = node.attr["f"].func.name
            return name if name in self.functions else None
        return node.op if node.op in self.functions else None

    def _inline(self, function: Any, inputs: list[Value], scope: str) -> tuple[list[Value], tuple[str, ...]]:
        """A function body inlined: its return values, and the graph nodes standing for the call."""
        args = {arg.name: value for arg, value in zip(function.signature.input_arg, inputs, strict=False)}
        body = _Body(nodes={n.name: n for n in function.node_def}, args=args, in_function=True, scope=scope)
        roots = self._live_roots(function, body.nodes)
        self._stack.append(function.signature.name)
        try:
            self._run_body(body, roots)
        finally:
            self._stack.pop()
        self._count_pruned(body, scope)
        values = [self._resolve(body, function.ret[arg.name]) for arg in function.signature.output_arg]
        handle = list(_value_nodes(values))
        for name in function.control_ret.values():
            handle += [n for n in body.handles.get(name, ()) if n not in handle]
        return values, tuple(handle)

    def _live_roots(self, function: Any, nodes: dict[str, Any]) -> list[str]:
        """The nodes TensorFlow's function runtime keeps (PruneFunctionBody): what the returns and
        control returns need, every stateful op, and TF1 control-flow primitives."""
        roots = [split_function_ref(ref)[0] for ref in function.ret.values()]
        roots += list(function.control_ret.values())
        roots += [name for name, node in nodes.items() if self._is_stateful(node.op)]
        return [r for r in dict.fromkeys(roots) if r in nodes]

    def _is_stateful(self, op: str) -> bool:
        if op in TF1_CONTROL_FLOW:
            return True
        if op in self.functions:
            return bool(self.functions[op].signature.is_stateful)
        op_def = self.op_defs.get(op)
        return True if op_def is None else bool(op_def.is_stateful)

    def _count_pruned(self, body: _Body, scope: str) -> None:
        for name, node in body.nodes.items():
            if name not in body.outputs and node.op not in PLUMBING_OPS:
                self.pruned[node.op] += 1

    # ------------------------------------------------------------------ references

    def _resolve(self, body: _Body, ref: str) -> Value:
        if body.in_function:
            node_name, arg, index = split_function_ref(ref)
            if arg is None:
                if node_name in body.args:
                    return body.args[node_name]
                port = 0
            else:
                node = body.nodes.get(node_name)
                port = self._output_port(body, node, arg, index) if node is not None else index
        else:
            node_name, port = split_graph_ref(ref)
        outputs = body.outputs.get(node_name, [])
        return outputs[port] if 0 <= port < len(outputs) else Value()

    def _output_layout(self, node: Any) -> list[tuple[str, int, list[str | None]]]:
        """(arg name, tensor count, dtypes) per output argument of a node's op."""
        callee = self._callee(node)
        if node.op in CALL_OPS:
            types = [dtype_name(t) for t in node.attr["Tout"].list.type]
            return [("output", len(types), list(types))]
        if callee is not None:
            return [(a.name, 1, [_arg_dtype(a, node)]) for a in self.functions[callee].signature.output_arg]
        op_def = self.op_defs.get(node.op)
        if op_def is None:
            count = len(node.attr["_output_shapes"].list.shape) or 1
            return [("output", count, [_attr_dtype(node, "T", "dtype", "out_type")] * count)]
        layout = []
        for arg in op_def.output_arg:
            if arg.number_attr:
                count = int(node.attr[arg.number_attr].i)
                layout.append((arg.name, count, [_arg_dtype(arg, node)] * count))
            elif arg.type_list_attr:
                types = [dtype_name(t) for t in node.attr[arg.type_list_attr].list.type]
                layout.append((arg.name, len(types), list(types)))
            else:
                layout.append((arg.name, 1, [_arg_dtype(arg, node)]))
        return layout

    def _output_port(self, body: _Body, node: Any, arg: str, index: int) -> int:
        layout = body.layouts.get(node.name)
        if layout is None:
            layout = body.layouts[node.name] = self._output_layout(node)
        offset = 0
        for name, count, _ in layout:
            if name == arg:
                return offset + index
            offset += count
        return index

    # ------------------------------------------------------------------ nodes

    def _add_op(
        self, body: _Body, node: Any, full_name: str, data_inputs: list[str], controls: tuple[str, ...]
    ) -> tuple[str, list[Value]]:
        node_id = schema.unique_id(full_name, self.taken, node.op)
        layout = self._output_layout(node)
        dtypes = [dtype for _, _, types in layout for dtype in types]
        shapes = [shape_of(s) for s in node.attr["_output_shapes"].list.shape]
        outputs = [
            schema.TensorInfo(
                name=f"{full_name}:{port}", dtype=dtype, shape=shapes[port] if port < len(shapes) else None
            )
            for port, dtype in enumerate(dtypes)
        ]
        attributes = {k: attr_value(v) for k, v in sorted(node.attr.items()) if not k.startswith("_")}
        inputs = [self._resolve(body, ref) for ref in data_inputs]
        formal = self._input_names(node)
        weights: dict[int, schema.TensorInfo] = {}
        input_names: list[str] = []
        for port, value in enumerate(inputs):
            weight = self._weight(value)
            if weight is not None:
                weights[port] = weight
                input_names.append(weight.name)
                if (
                    value.const is not None
                    and weight.size is not None
                    and weight.size <= SMALL_CONST_ELEMENTS
                ):
                    label = formal[port] if port < len(formal) else f"input {port}"
                    attributes[label if label not in attributes else f"input {label}"] = (
                        value.const_info[2] if value.const_info else small_value(value.const)
                    )
            elif value.node in self.graph:
                input_names.append(self.graph.nodes[value.node]["outputs"][value.port].name)
            else:
                input_names.append(data_inputs[port])
        subgraph_ids = self._control_flow_bodies(node, node_id, inputs)
        schema.add_node(
            self.graph,
            node_id,
            kind="op",
            op_type=node.op,
            domain="",
            name=full_name,
            namespace=posixpath.dirname(full_name),
            category=tf_category_of(node.op),
            attributes=attributes,
            outputs=outputs,
            weights=weights,
            input_names=input_names,
            subgraph_ids=subgraph_ids,
            doc="",
            source=node.device,
        )
        for port, value in enumerate(inputs):
            if value.node and port not in weights and value.node in self.graph:
                tensor = self.graph.nodes[value.node]["outputs"][value.port].name
                schema.add_edge(self.graph, value.node, node_id, value.port, port, tensor)
        self._add_controls(node_id, [*controls, *(c for value in inputs for c in value.controls)])
        return node_id, [Value(node=node_id, port=port) for port in range(len(outputs))]

    def _add_controls(self, node_id: str, controls: Iterable[str]) -> None:
        """Control dependencies (run-before, no tensor) as the node's ``control_inputs``."""
        data_sources = set(self.graph.predecessors(node_id))
        found = [
            c for c in dict.fromkeys(controls) if c in self.graph and c != node_id and c not in data_sources
        ]
        if found:
            self.graph.nodes[node_id]["control_inputs"] = found

    def _input_names(self, node: Any) -> list[str]:
        op_def = self.op_defs.get(node.op)
        if op_def is None:
            return []
        names: list[str] = []
        for arg in op_def.input_arg:
            if arg.number_attr:
                names += [f"{arg.name}[{i}]" for i in range(int(node.attr[arg.number_attr].i))]
            elif arg.type_list_attr:
                names += [f"{arg.name}[{i}]" for i in range(len(node.attr[arg.type_list_attr].list.type))]
            else:
                names.append(arg.name)
        return names

    def _weight(self, value: Value) -> schema.TensorInfo | None:
        if value.variable is not None:
            self.variables.setdefault(value.variable.name, value.variable)
            var = value.variable
            return schema.TensorInfo(
                name=var.name, dtype=var.dtype, shape=var.shape, is_initializer=True, nbytes=_nbytes(var)
            )
        if value.const is not None:
            self.constants[value.const_name] = value.const
            dtype, shape, small = value.const_info or (*tensor_dtype_shape(value.const), None)
            preview = tuple(_flatten(small)) if small is not None else ()
            return schema.TensorInfo(
                name=value.const_name, dtype=dtype, shape=shape, is_initializer=True, preview=preview
            )
        return None

    def _add_io_node(self, kind: str, name: str, dtype: str | None, shape: schema.Shape) -> str:
        node_id = schema.unique_id(f"{kind}:{name}", self.taken, kind)
        schema.add_node(
            self.graph,
            node_id,
            kind=kind,
            op_type="Input" if kind == "input" else "Output",
            category="other",
            name=name,
            outputs=[schema.TensorInfo(name=name, dtype=dtype, shape=shape)] if kind == "input" else [],
            input_names=[name] if kind == "output" else [],
        )
        return node_id

    def _add_output(self, name: str, dtype: str | None, shape: schema.Shape, value: Value) -> None:
        node_id = self._add_io_node("output", name, dtype, shape)
        data = self.graph.nodes[node_id]
        data["tensor"] = schema.TensorInfo(name=name, dtype=dtype, shape=shape)
        weight = self._weight(value)
        if weight is not None:
            data["weights"] = {0: weight}
        elif value.node:
            tensor = self.graph.nodes[value.node]["outputs"][value.port].name
            schema.add_edge(self.graph, value.node, node_id, value.port, 0, tensor)
        self._add_controls(node_id, value.controls)
        self.graph.graph["outputs"].append(node_id)

    # ------------------------------------------------------------------ control flow

    def _control_flow_bodies(self, node: Any, node_id: str, inputs: list[Value]) -> list[str]:
        attrs, first_input = CONTROL_FLOW.get(node.op, ((), 0))
        names: list[tuple[str, str]] = []
        for attr_name in sorted(node.attr):
            attr = node.attr[attr_name]
            kind = attr.WhichOneof("value")
            if kind == "func" and attr.func.name in self.functions:
                names.append((attr_name, attr.func.name))
            elif kind == "list" and attr.list.func:
                names += [(f"{attr_name}[{i}]", f.name) for i, f in enumerate(attr.list.func)]
        sub_ids = []
        for label, function_name in names:
            sub_id = f"{node_id}/{label}"
            outer = inputs[first_input:] if attrs and label.split("[")[0] in attrs else []
            loop = node.op in ("While", "StatelessWhile")
            self.subgraphs[sub_id] = self._function_subgraph(self.functions[function_name], outer, loop)
            sub_ids.append(sub_id)
        return sub_ids

    def _function_subgraph(self, function: Any, outer: list[Value], loop: bool = False) -> schema.ModelGraph:
        """A function body as its own graph. Arguments fed by variables stay weights, and so do
        constants fed into If/Case branches; a While's cond/body arguments are loop-carried (they
        change every iteration), so a constant there is only the first iteration's value: those
        arguments are inputs of the body."""
        saved = self.graph, self.taken
        self.graph, self.taken = schema.new_graph(FORMAT, function.signature.name), set()
        try:
            args: dict[str, Value] = {}
            for index, arg in enumerate(function.signature.input_arg):
                passed = outer[index] if index < len(outer) else Value()
                if passed.variable is not None or (passed.const is not None and not loop):
                    args[arg.name] = replace(passed, controls=())  # outer nodes are not in the body
                    continue
                shapes = function.arg_attr[index].attr["_output_shapes"].list.shape
                shape = shape_of(shapes[0]) if shapes else None
                node_id = self._add_io_node("input", arg.name, _arg_dtype(arg, None), shape)
                self.graph.graph["inputs"].append(node_id)
                args[arg.name] = Value(node=node_id)
            outputs, _ = self._inline(function, list(args.values()), "")
            for arg, value in zip(function.signature.output_arg, outputs, strict=True):
                self._add_output(arg.name, _arg_dtype(arg, None), None, value)
            self.graph.graph["subgraphs"] = self.subgraphs
            self.graph.graph["name"] = function.signature.name
            return self.graph
        finally:
            self.graph, self.taken = saved


def _value_nodes(values: Iterable[Value]) -> tuple[str, ...]:
    """The graph nodes behind values: their producers and their carried control dependencies."""
    found: list[str] = []
    for value in values:
        for name in (value.node, *value.controls):
            if name and name not in found:
                found.append(name)
    return tuple(found)


def _set_output(outputs: list[Value], port: int, value: Value) -> None:
    while len(outputs) <= port:
        outputs.append(Value())
    outputs[port] = value


def _arg_dtype(arg: Any, node: Any) -> str | None:
    if arg.type:
        return dtype_name(arg.type)
    if arg.type_attr and node is not None and arg.type_attr in node.attr:
        return dtype_name(node.attr[arg.type_attr].type)
    return None


def _attr_dtype(node: Any, *names: str) -> str | None:
    for name in names:
        if name in node.attr and node.attr[name].WhichOneof("value") == "type":
            return dtype_name(node.attr[name].type)
    return None


def _attr_shape(node: Any) -> schema.Shape:
    if "shape" in node.attr and node.attr["shape"].WhichOneof("value") == "shape":
        return shape_of(node.attr["shape"].shape)
    return None


def _nbytes(var: Variable) -> int | None:
    from converters.savedmodel.bundle import numpy_dtype

    size = schema.TensorInfo(var.name, var.dtype, var.shape).size
    if size is None or var.dtype in (None, "string", "resource", "variant"):
        return None
    try:
        return size * numpy_dtype(var.dtype).itemsize
    except (ModelLoadError, ImportError):  # an exotic dtype only loses its byte count
        return None


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value
