"""A loaded TorchScript module's ``forward`` → ModelGraph.

``forward``'s graph is copied and inlined (``torch._C._jit_pass_inline``), so every ``aten::`` and
``prim::`` operator is a node, namespaced by the module that ran it (``layer1/0/conv1``, from each
node's module hierarchy) with the module classes in ``G.graph["group_labels"]``. Plumbing stays out
of the way:

* ``prim::Constant`` values are folded into their users' attributes (tensor constants become
  weights named ``constant_N``); neither is drawn or counted.
* ``prim::GetAttr`` chains are resolved: parameters and buffers become the users' ``weights``
  (``layer1.0.conv1.weight``), other attributes (``training``) are folded like constants.
* ``prim::ListConstruct``/``TupleConstruct`` of constants fold into one constant; the tuple, list or
  dict that ``forward`` returns becomes one graph output per element.
* ``prim::If``/``prim::Loop`` blocks become subgraphs (``G.graph["subgraphs"]``); the values a block
  reads from outside are drawn as extra inputs of the If/Loop node, so data flow stays visible.
  An If on a constant (``self.training`` of a module saved in eval mode) is drawn as its taken
  block (counted in ``G.graph["resolved_branches"]``).

Graph extras for the pages and the runner: ``forward_schema`` (``forward(x: Tensor) -> Tensor``),
``group_labels``, ``tensor_store`` (weight values), ``parameters``/``parameter_bytes``; each input
node keeps forward's argument name and ``torch_type`` (its annotation), in argument order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from converters import schema
from converters.aten_catalog import torch_op_category
from converters.torch_ops import describe_jit_type, json_safe
from converters.torch_tensors import TorchTensorStore, dtype_name
from converters.torchscript_calls import CallNamespaces
from converters.torchscript_nodes import (
    ModuleTree,
    OperatorFormals,
    constant_value,
    forward_schema,
    input_guards,
    named_tuple_fields,
    node_attributes,
    readable_constant,
    return_construct,
    source_location,
)

FORMAT = "torchscript"
_FOLDABLE_CONSTRUCTS = ("prim::ListConstruct", "prim::TupleConstruct")


class CorruptDebugInfo(Exception):
    """The archive's debug records (``*.debug_pkl``, source ranges) cannot be read."""


@dataclass(frozen=True)
class _Module:
    path: str


@dataclass(frozen=True)
class _Weight:
    info: schema.TensorInfo


@dataclass(frozen=True)
class _Const:
    value: Any
    weights: tuple[schema.TensorInfo, ...] = ()  # a list attribute of parameters (``_flat_weights``)


_Global = _Module | _Weight | _Const


@dataclass
class _Scope:
    """One ModelGraph being built (the main graph or a block's subgraph)."""

    graph: schema.ModelGraph
    prefix: str  # subgraph id prefix ("" for the main graph)
    local: dict[int, tuple[str, int]] = field(default_factory=dict)  # value -> (node id, port)
    taken: set[str] = field(default_factory=set)
    group_labels: dict[str, str] = field(default_factory=dict)
    namespace: str = ""  # of the If/Loop owning this block: for inner nodes that record none
    outer_values: list[Any] = field(default_factory=list)  # values read from enclosing graphs
    mutated_outer: list[Any] = field(default_factory=list)  # outer values changed in place here


class ForwardConverter:
    """Builds the ModelGraph of ``module.forward``; weights' values go into ``store``."""

    def __init__(self, torch: Any, module: Any, store: TorchTensorStore, method: str = "forward") -> None:
        self.torch = torch
        self.module = module
        self.method = method
        self.store = store
        self.subgraphs: dict[str, schema.ModelGraph] = {}
        self.globals: dict[int, _Global] = {}
        self.formals = OperatorFormals(torch)
        self.modules = ModuleTree(module)
        self.calls: CallNamespaces | None = None
        self.guards: set[Any] = set()  # input checks (``if x.dim() != 4: raise``), not drawn
        self.folded_guards = 0
        self._owners: dict[int, str] = {}  # attribute value -> path of the module holding it
        self._weights: dict[str, schema.TensorInfo] = {}
        self._columns: Counter[bool] = Counter()  # source columns: zero (traced) or not
        self._constants = 0
        self._constant_names: dict[int, str] | None = None  # tensor address -> ``CONSTANTS.c0``
        self._constant_tensors: dict[int, Any] = {}  # tensor constants drawn as weights, by address
        self.resolved_branches = 0  # Ifs on constant conditions, drawn as their taken block

    # ------------------------------------------------------------------------------ entry points

    def convert(self) -> schema.ModelGraph:
        method = getattr(self.module, self.method)
        jit_graph = method.graph.copy()
        self.torch._C._jit_pass_inline(jit_graph)
        self.calls = CallNamespaces(jit_graph, self.modules.classes())
        self.guards = input_guards(jit_graph.block())
        scope = _Scope(schema.new_graph(FORMAT, "TorchScript"), prefix="")
        graph = scope.graph
        graph.graph["subgraphs"] = self.subgraphs
        graph.graph["name"] = str(getattr(self.module, "original_name", "") or "")
        arguments = list(method.schema.arguments)
        graph.graph["forward_schema"] = forward_schema(method.schema)
        self._add_graph_inputs(scope, list(jit_graph.inputs()), arguments)
        returned = list(jit_graph.return_node().inputs())
        unpacked = return_construct(returned, jit_graph)
        self._convert_nodes(scope, jit_graph.nodes(), skip=unpacked)
        if unpacked is not None:
            self._add_unpacked_outputs(scope, unpacked)
        else:
            for index, value in enumerate(returned):
                self._add_output(scope, value, "output" if len(returned) == 1 else f"output[{index}]")
        graph.graph["group_labels"] = scope.group_labels
        graph.graph["tensor_store"] = self.store
        graph.graph["parameters"], graph.graph["parameter_bytes"] = self._parameter_totals()
        if graph.graph["parameters"] == 0 and self._constant_tensors:
            self._count_frozen_weights(graph)
        return graph

    def looks_traced(self) -> bool:
        """Traced graphs record source columns as 0; scripted ones record the real column."""
        return self._columns[True] > 0 and self._columns[False] == 0

    # ------------------------------------------------------------------------------ inputs/outputs

    def _add_graph_inputs(self, scope: _Scope, values: list[Any], arguments: list[Any]) -> None:
        if values and values[0].type().kind() == "ClassType":
            self.globals[values[0].unique()] = _Module("")
            values, arguments = values[1:], arguments[1:]
        if len(arguments) != len(values):
            arguments = [None] * len(values)
        for value, argument in zip(values, arguments, strict=True):
            name = argument.name if argument is not None else value.debugName()
            jit_type = argument.type if argument is not None else value.type()
            attributes: dict[str, Any] = {"type": jit_type.annotation_str}
            if argument is not None and argument.has_default_value():
                attributes["default"] = json_safe(argument.default_value)
            node_id = self._add_input(scope, value, name, jit_type, attributes)
            scope.graph.nodes[node_id]["torch_type"] = jit_type.annotation_str

    def _add_input(
        self, scope: _Scope, value: Any, name: str, jit_type: Any, attributes: dict[str, Any]
    ) -> str:
        """An Input node for the graph (or block) input ``value`` of TorchScript type ``jit_type``;
        returns its node id."""
        output = schema.TensorInfo(name, *describe_jit_type(jit_type))
        node_id = schema.add_input(scope.graph, scope.taken, name, output, attributes=attributes)
        scope.local[value.unique()] = (node_id, 0)
        return node_id

    def _add_unpacked_outputs(self, scope: _Scope, construct: Any) -> None:
        values = list(construct.inputs())
        if construct.kind() == "prim::DictConstruct":
            for key, value in zip(values[::2], values[1::2], strict=True):
                self._add_output(scope, value, str(json_safe(constant_value(key))))
            return
        fields = named_tuple_fields(construct.output().type())
        if fields is not None and len(fields) == len(values):  # a NamedTuple: its field names
            for field_name, value in zip(fields, values, strict=True):
                self._add_output(scope, value, field_name)
            return
        for index, value in enumerate(values):
            self._add_output(scope, value, f"output[{index}]")

    def _add_output(self, scope: _Scope, value: Any, name: str) -> None:
        node_id = schema.unique_id(f"output:{name}", scope.taken, "output")
        dtype, shape = describe_jit_type(value.type())
        ref = self._lookup(scope, value)
        schema.add_node(
            scope.graph,
            node_id,
            kind="output",
            op_type="Output",
            category="other",
            name=name,
            input_names=[value.debugName()],
            weights={0: ref.info} if isinstance(ref, _Weight) else None,
            attributes={"value": ref.value} if isinstance(ref, _Const) else None,
        )
        scope.graph.nodes[node_id]["tensor"] = schema.TensorInfo(name=name, dtype=dtype, shape=shape)
        scope.graph.nodes[node_id]["torch_type"] = value.type().annotation_str
        scope.graph.graph["outputs"].append(node_id)
        if isinstance(ref, tuple):
            schema.add_edge(scope.graph, ref[0], node_id, ref[1], 0, value.debugName())

    # ------------------------------------------------------------------------------ nodes

    def _convert_nodes(self, scope: _Scope, nodes: Any, skip: Any = None) -> None:
        for node in nodes:
            kind = node.kind()
            if skip is not None and node == skip:
                continue
            if node in self.guards:
                self.folded_guards += kind == "prim::If"
                continue
            if kind == "prim::Constant":
                self._fold_constant(node)
            elif not self._folded(scope, node, kind):
                self._add_op(scope, node)

    def _folded(self, scope: _Scope, node: Any, kind: str) -> bool:
        if kind == "prim::GetAttr":
            return self._resolve_getattr(scope, node)
        if kind == "prim::If":
            return self._resolve_constant_branch(scope, node)
        return kind in _FOLDABLE_CONSTRUCTS and self._fold_construct(node)

    def _resolve_constant_branch(self, scope: _Scope, node: Any) -> bool:
        """An If on a constant (``if self.training:`` of a module saved in eval mode): the taken
        block's nodes are drawn in place and its results stand for the If's outputs."""
        condition = self.globals.get(node.input().unique())
        if not isinstance(condition, _Const) or not isinstance(condition.value, bool):
            return False
        block = list(node.blocks())[0 if condition.value else 1]
        self._convert_nodes(scope, block.nodes())
        for out, result in zip(node.outputs(), block.returnNode().inputs(), strict=True):
            ref = self._lookup(scope, result)
            if isinstance(ref, tuple):
                scope.local[out.unique()] = ref
            else:
                self.globals[out.unique()] = ref
        self.resolved_branches += 1
        return True

    def _fold_constant(self, node: Any) -> None:
        value = node.output()
        ivalue = constant_value(value)
        if isinstance(ivalue, self.torch.Tensor):
            self._constants += 1
            name = self._constant_name(ivalue)
            self._constant_tensors.setdefault(ivalue.data_ptr(), ivalue)
            self.globals[value.unique()] = _Weight(self._weight_info(name, ivalue))
        else:
            self.globals[value.unique()] = _Const(json_safe(ivalue))

    def _resolve_getattr(self, scope: _Scope, node: Any) -> bool:
        """A module's child, parameter, buffer or attribute: remembered, not drawn."""
        owner = self.globals.get(node.input().unique())
        if not isinstance(owner, _Module):
            return False
        name = node.s("name")
        path = f"{owner.path}.{name}" if owner.path else name
        out = node.output()
        self._owners[out.unique()] = owner.path
        if out.type().kind() == "ClassType":
            self.globals[out.unique()] = _Module(path)
            return True
        try:
            value = self._attribute(path)
        except (AttributeError, RuntimeError):
            self.globals[out.unique()] = _Const(f"<attribute {path}>")
            return True
        if isinstance(value, self.torch.Tensor):
            self.globals[out.unique()] = _Weight(self._weight_info(path, value))
        elif (
            isinstance(value, list | tuple) and value and all(isinstance(v, self.torch.Tensor) for v in value)
        ):
            names, infos = self._tensor_list(owner.path, value)
            self.globals[out.unique()] = _Const(names, infos)
        else:
            self.globals[out.unique()] = _Const(json_safe(value))
        return True

    def _tensor_list(
        self, owner: str, tensors: list[Any] | tuple[Any, ...]
    ) -> tuple[list[str], tuple[schema.TensorInfo, ...]]:
        """A list attribute of tensors (an RNN's ``_flat_weights``): each named after the parameter
        or buffer it is (kept in the store for the inspector), else described; with the weights
        of the named ones, which the users get as weight ports."""
        module = self._attribute(owner) if owner else self.module
        by_address = {
            t.data_ptr(): f"{owner}.{n}" if owner else n
            for n, t in [*module.named_parameters(), *module.named_buffers()]
        }
        names = []
        infos: list[schema.TensorInfo] = []
        for tensor in tensors:
            name = by_address.get(tensor.data_ptr())
            if name is None:
                names.append(json_safe(tensor))
                continue
            info = self._weight_info(name, tensor)
            infos.append(info)
            names.append(f"{name} {info.dtype} {list(info.shape or ())}")
        return names, tuple(infos)

    def _fold_construct(self, node: Any) -> bool:
        """A list/tuple of constants becomes one constant, unless it is changed later
        (``feats = []`` then ``feats.append(y)``): that list is data flow, drawn."""
        refs = [self.globals.get(v.unique()) for v in node.inputs()]
        if not all(isinstance(r, _Const) for r in refs):
            return False
        if any(use.offset in self.formals.written(use.user)[0] for use in node.output().uses()):
            return False
        self.globals[node.output().unique()] = _Const([r.value for r in refs])  # type: ignore[union-attr]
        return True

    def _add_op(self, scope: _Scope, node: Any) -> None:
        kind = node.kind()
        namespace, short = kind.split("::", 1) if "::" in kind else ("", kind)
        module_ns = self._namespace(scope, node)
        node_id = schema.unique_id(f"{module_ns}/{short}" if module_ns else short, scope.taken, short)
        formals = self.formals.names(node)
        attributes = node_attributes(node)
        weights: dict[int, schema.TensorInfo] = {}
        input_names: list[str] = []
        edges: list[tuple[str, int, int, str]] = []
        inputs = list(node.inputs())
        subgraph_ids, captured, mutated_inside = self._convert_blocks(scope, node, node_id, module_ns)
        own = {v.unique() for v in inputs}
        captured = [v for v in captured if v.unique() not in own]
        listed: list[tuple[str, schema.TensorInfo]] = []
        for port, value in enumerate([*inputs, *captured]):
            if len(formals) <= port:
                formals.append("captured" if port >= len(inputs) else f"input{port}")
            formal = formals[port]
            ref = self._lookup(scope, value)
            if isinstance(ref, tuple):
                input_names.append(value.debugName())
                edges.append((ref[0], ref[1], port, value.debugName()))
            elif isinstance(ref, _Weight):
                input_names.append(ref.info.name)
                weights[port] = ref.info
            elif isinstance(ref, _Module):
                input_names.append("")
                attributes.setdefault(formal, f"module {ref.path or 'self'}")
            else:
                input_names.append("")
                attributes.setdefault(formal, readable_constant(formal, ref.value))
                listed.extend((f"{formal}[{i}]", info) for i, info in enumerate(ref.weights))
        for formal, info in listed:  # each tensor of a weight list as a port of its own, after the inputs
            weights[len(input_names)] = info
            formals.append(formal)
            input_names.append(info.name)
        outputs = [schema.TensorInfo(o.debugName(), *describe_jit_type(o.type())) for o in node.outputs()]
        schema.add_node(
            scope.graph,
            node_id,
            kind="op",
            op_type=kind,
            domain=namespace,
            name=node_id,
            namespace=module_ns,
            category=torch_op_category(kind),
            attributes=attributes,
            outputs=outputs,
            weights=weights,
            input_names=input_names,
            subgraph_ids=subgraph_ids,
            source=self._source(node),
        )
        data = scope.graph.nodes[node_id]
        data["input_formals"] = formals
        node_schema = node.schema()
        if node_schema != "(no schema)":
            data["schema"] = node_schema
        for src, src_port, port, tensor in edges:
            schema.add_edge(scope.graph, src, node_id, src_port, port, tensor)
        for port, out in enumerate(node.outputs()):
            scope.local[out.unique()] = (node_id, port)
        self._version_mutated(scope, node, node_id, inputs, mutated_inside)

    def _version_mutated(
        self, scope: _Scope, node: Any, node_id: str, inputs: list[Any], mutated_inside: list[Any]
    ) -> None:
        """Values the operator changes in place (the list ``aten::append`` extends, a list a loop
        body appends to): later readers get them from this node, so the data flow is drawn. The
        operator's first output when it returns the value, else an extra output port."""
        writes, returns_it = self.formals.written(node)
        changed = [inputs[p] for p in writes if p < len(inputs)] + mutated_inside
        outputs = scope.graph.nodes[node_id]["outputs"]
        for index, value in enumerate(changed):
            if not isinstance(scope.local.get(value.unique()), tuple):
                continue  # a folded global (a weight, a constant) is not drawn as data flow
            if index == 0 and returns_it and outputs:
                port = 0
            else:
                port = len(outputs)
                outputs.append(schema.TensorInfo(value.debugName(), *describe_jit_type(value.type())))
            scope.local[value.unique()] = (node_id, port)
            outer = {v.unique() for v in scope.outer_values}
            if value.unique() in outer and value.unique() not in {v.unique() for v in scope.mutated_outer}:
                scope.mutated_outer.append(value)

    def _lookup(self, scope: _Scope, value: Any) -> tuple[str, int] | _Global:
        """What a value is in this scope: (node, port) to draw an edge from, or a folded global.
        A value from an enclosing graph becomes an ``outer:`` input of this subgraph."""
        key = value.unique()
        if key in scope.local:
            return scope.local[key]
        if key in self.globals:
            return self.globals[key]
        name = value.debugName()
        node_id = schema.unique_id(f"outer:{name}", scope.taken, "outer")
        schema.add_node(
            scope.graph,
            node_id,
            kind="input",
            op_type="OuterScope",
            category="other",
            name=name,
            outputs=[schema.TensorInfo(name, *describe_jit_type(value.type()))],
        )
        scope.local[key] = (node_id, 0)
        scope.outer_values.append(value)
        return scope.local[key]

    # ------------------------------------------------------------------------------ blocks

    def _convert_blocks(
        self, scope: _Scope, node: Any, node_id: str, namespace: str
    ) -> tuple[list[str], list[Any], list[Any]]:
        """Each block as a subgraph; returns their ids, the outer values they read (in order of
        first use), which the If/Loop node then takes as extra inputs, and the outer values they
        change in place (lists appended to), which it then gives out as extra outputs."""
        blocks = list(node.blocks())
        if not blocks:
            return [], [], []
        names = ["then", "else"] if node.kind() == "prim::If" and len(blocks) == 2 else None
        if names is None:
            names = ["body"] if len(blocks) == 1 else [f"block{i}" for i in range(len(blocks))]
        outer_names = [o.debugName() for o in node.outputs()]
        ids: list[str] = []
        captured: dict[int, Any] = {}
        mutated: dict[int, Any] = {}
        for block, block_name in zip(blocks, names, strict=True):
            sub_id = f"{scope.prefix}{node_id}/{block_name}"
            inner = _Scope(schema.new_graph(FORMAT, "TorchScript block"), f"{sub_id}/", namespace=namespace)
            self.subgraphs[sub_id] = self._convert_block(inner, block, sub_id, outer_names, node.kind())
            ids.append(sub_id)
            for value in inner.outer_values:
                captured.setdefault(value.unique(), value)
            for value in inner.mutated_outer:
                mutated.setdefault(value.unique(), value)
        return ids, list(captured.values()), list(mutated.values())

    def _convert_block(
        self, scope: _Scope, block: Any, sub_id: str, outer_names: list[str], owner: str
    ) -> schema.ModelGraph:
        scope.graph.graph["subgraphs"] = self.subgraphs
        scope.graph.graph["name"] = sub_id
        for index, param in enumerate(block.inputs()):
            role = "iteration" if owner == "prim::Loop" and index == 0 else "carried"
            self._add_input(scope, param, param.debugName(), param.type(), {"role": role})
        self._convert_nodes(scope, block.nodes())
        returned = list(block.returnNode().inputs())
        names = (["condition"] if owner == "prim::Loop" else []) + outer_names
        for index, value in enumerate(returned):
            self._add_output(scope, value, names[index] if index < len(names) else f"output[{index}]")
        scope.graph.graph["group_labels"] = scope.group_labels
        return scope.graph

    # ------------------------------------------------------------------------------ helpers

    def _namespace(self, scope: _Scope, node: Any) -> str:
        """``layer1/0/conv1``: the module path of the call chain that ran the node; module classes
        go to the scope's ``group_labels``."""
        found = self.calls.namespace_of(node) if self.calls is not None else None
        if found is not None:
            for group, label in found[1]:
                scope.group_labels.setdefault(group, label)
            return found[0]
        hierarchy = node.getModuleHierarchy()
        if not hierarchy:  # torch records none on some If/Loop nodes and on nodes in their blocks
            return self._namespace_from_inputs(scope, node) if list(node.blocks()) else scope.namespace
        path, labels = self.modules.path_of(hierarchy)
        for group, label in labels:
            scope.group_labels.setdefault(group, label)
        return path

    def _namespace_from_inputs(self, scope: _Scope, node: Any) -> str:
        """The module whose attribute the node reads (``self.training``), else the namespace of the
        node computing its first input (an If sits with its condition), else the enclosing one."""
        owners = {self._owners[v.unique()] for v in node.inputs() if v.unique() in self._owners}
        if len(owners) == 1:
            return owners.pop().replace(".", "/")
        inputs = list(node.inputs())
        producer = scope.local.get(inputs[0].unique()) if inputs else None
        if producer is not None and scope.graph.nodes[producer[0]]["kind"] == "op":
            return str(scope.graph.nodes[producer[0]]["namespace"])
        return scope.namespace

    def _source(self, node: Any) -> str:
        try:
            location, traced_style = source_location(node)
        except RuntimeError as err:  # torch reads *.debug_pkl lazily, here
            raise CorruptDebugInfo(str(err)) from err
        if traced_style is not None:
            self._columns[traced_style] += 1
        return location

    def _attribute(self, path: str) -> Any:
        value = self.module
        for part in path.split("."):
            value = getattr(value, part)
        return value

    def _weight_info(self, name: str, tensor: Any) -> schema.TensorInfo:
        if name not in self._weights:
            self.store.add(name, tensor)
            self._weights[name] = schema.TensorInfo(
                name=name,
                dtype=dtype_name(tensor.dtype),
                shape=tuple(int(d) for d in tensor.shape),
                is_initializer=True,
                nbytes=int(tensor.numel() * tensor.element_size()),
            )
        return self._weights[name]

    def _constant_name(self, tensor: Any) -> str:
        """The name the file gives a tensor constant (``CONSTANTS.c0`` in its code: a frozen model's
        weights), else ``constant_N``."""
        if self._constant_names is None:
            try:
                _, constants = self.module.code_with_constants
                mapping = constants.const_mapping
            except (AttributeError, RuntimeError):
                mapping = {}
            self._constant_names = {
                value.data_ptr(): f"CONSTANTS.{key}"
                for key, value in mapping.items()
                if isinstance(value, self.torch.Tensor)
            }
        return self._constant_names.get(tensor.data_ptr(), f"constant_{self._constants}")

    def _count_frozen_weights(self, graph: schema.ModelGraph) -> None:
        """A module without parameters whose operators read tensor constants (``torch.jit.freeze``
        turns the weights into constants): those constants are its parameters."""
        tensors = list(self._constant_tensors.values())
        graph.graph["parameters"] = sum(int(t.numel()) for t in tensors)
        graph.graph["parameter_bytes"] = sum(int(t.numel() * t.element_size()) for t in tensors)
        graph.graph["warnings"].append(
            f"The weights are constants ({len(tensors)} tensors, counted as the parameters): a frozen "
            "model (torch.jit.freeze) keeps no parameter names, so they show as the file names them "
            "(CONSTANTS.c0, ...)"
        )

    def _parameter_totals(self) -> tuple[int, int]:
        """Elements and bytes of all parameters and buffers, a tensor shared by several names
        (tied weights) counted once."""
        seen: set[tuple[int, int, tuple[int, ...]]] = set()
        count = size = 0
        named = [*self.module.named_parameters(), *self.module.named_buffers()]
        for _, tensor in named:
            key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
            if key in seen:
                continue
            seen.add(key)
            count += tensor.numel()
            size += tensor.numel() * tensor.element_size()
        return count, size
