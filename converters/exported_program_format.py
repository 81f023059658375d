"""PyTorch ExportedProgram (``.pt2`` from ``torch.export.save``) → ModelGraph.

The archive is a zip holding ``<name>/archive_format`` ("pt2") and ``<name>/models/<model>.json``
(older files: ``serialized_exported_program.json``). It is read the way ``torch.export.load`` reads
it, minus everything that could run code from the file (``converters.pt2_loader``): weights are raw
tensors, nothing is unpickled, sample inputs are not read. In the graph:

* every ``call_function`` is an operator node (``aten.conv2d.default``); ``operator.getitem`` on a
  multi-output operator is folded into that operator's output ports;
* placeholders split by ``graph_signature.input_specs``: user inputs become input nodes (in
  forward's flattened order, named as ``ep.module()(*args)`` takes them), parameters, buffers and
  constants become ``weights`` of the nodes that use them (fully-qualified names, values through
  ``G.graph["tensor_store"]``);
* namespaces come from ``meta["nn_module_stack"]`` (``layer1/0/conv1``), the modules' class names are
  in ``G.graph["group_labels"]`` ({namespace: class name});
* shapes and dtypes come from ``meta["val"]``; symbolic dims are strings (``s0``, ``2*s0``) whose
  ranges are in ``G.graph["dim_ranges"]`` ({symbol: [min, max or None]});
* ``torch.cond`` / ``while_loop`` / ``map`` bodies are subgraphs (``G.graph["subgraphs"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from converters import schema
from converters.aten_catalog import torch_op_category
from converters.errors import ModelLoadError
from converters.fx_values import (
    attribute,
    class_name,
    dim_ranges,
    json_value,
    module_namespace,
    node_names,
    only_nodes,
    op_name,
    output_paths,
    placeholder_names,
    schema_argument_names,
    spec_json,
)
from converters.pt2_archive import (
    LEGACY_JSON,
    ProgramHeader,
    check_operators,
    check_schema_version,
    read_header,
)
from converters.pt2_loader import load_program
from converters.source import ModelSource
from converters.torch_tensors import TorchTensorStore, stored_nbytes, tensor_description

if TYPE_CHECKING:
    from torch import fx

FORMAT = "exported_program"
EXTENSIONS = (".pt2",)
TORCH_EXTRA_FIX = 'install PyTorch support: pip install "modellens[torch]"'
_STORED_KINDS = ("PARAMETER", "BUFFER", "CONSTANT_TENSOR", "CUSTOM_OBJ")
_PLACEHOLDER_STACK = "_empty_nn_module_stack"


def match(source: ModelSource) -> bool:
    """A zip marked as a PT2 archive (``archive_format``) or holding a legacy program JSON, or a
    ``.pt2`` zip too damaged to list."""
    if not source.is_zip():
        return False
    names = source.zip_names()
    if not names:
        return source.suffix in EXTENSIONS
    if any(name.endswith(LEGACY_JSON) for name in names):
        return True
    # archive_format marks a torch.export / AOTInductor package; one without a models/*.json gets
    # read_header's "no exported program" error, an AOTInductor one is sniff's to explain
    return any(name.rsplit("/", 1)[-1] == "archive_format" for name in names) and not any(
        "/aotinductor/" in f"/{name}" for name in names
    )


def convert(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    """Read the program safely (``converters.pt2_loader``, never ``torch.export.load``) and build the
    ModelGraph.

    Raises ModelLoadError: torch missing (names the extra), a file from a PyTorch whose schema this
    one cannot read (names the version needed), a truncated or corrupt archive, a file that would
    run code when loaded (a pickled payload, an expression that is code).
    """
    torch = _import_torch(source)
    source.start_hashing()
    header = read_header(source)
    check_schema_version(source, header, torch)
    check_operators(source, header, torch)
    loaded = load_program(source, torch, header.entry)
    graph = _ProgramConverter(loaded.program, header).convert()
    graph.graph["warnings"].extend(loaded.warnings)
    return graph


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _import_torch(source: ModelSource) -> Any:
    try:
        import torch
    except ImportError as err:
        raise ModelLoadError(
            f"{source.display_name} is a PyTorch ExportedProgram, and opening it needs PyTorch, "
            "which is not installed",
            TORCH_EXTRA_FIX,
        ) from err
    return torch


# ------------------------------------------------------------------------------------ conversion


@dataclass
class _Scope:
    """One fx graph being converted: the ModelGraph, its ids, and what each fx value became."""

    graph: schema.ModelGraph
    owner: Any  # the GraphModule whose get_attr targets this graph reads
    prefix: str  # subgraph id prefix ("" for the main graph)
    weights: dict[str, schema.TensorInfo]  # placeholder name -> stored tensor
    producers: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # fx name -> (id, port, tensor)
    folded: dict[str, tuple[str, int]] = field(default_factory=dict)  # getitem name -> (fx source, index)
    hidden: set[str] = field(default_factory=set)  # tokens and other non-tensor values: no edge
    modules: dict[str, Any] = field(default_factory=dict)  # get_attr name -> GraphModule (HOP bodies)
    taken: set[str] = field(default_factory=set)


class _ProgramConverter:
    def __init__(self, program: Any, header: ProgramHeader) -> None:
        self.program = program
        self.header = header
        self.subgraphs: dict[str, schema.ModelGraph] = {}
        self.group_labels: dict[str, str] = {}
        self.store = TorchTensorStore()
        self.parameters = 0
        self.parameter_bytes = 0

    def convert(self) -> schema.ModelGraph:
        import torch.utils._pytree as pytree

        program = self.program
        weights, kinds = self._stored_tensors()
        graph = self._new_graph()
        scope = _Scope(graph, program.graph_module, "", weights)
        user_inputs = [
            spec.arg.name for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"
        ]
        scope.hidden.update(name for name, kind in kinds.items() if kind == "TOKEN")
        self._convert_nodes(scope, program.graph, main=True)
        signature = program.module_call_graph[0].signature if program.module_call_graph else None
        graph.graph["forward_schema"] = {
            "arg_names": list(signature.forward_arg_names or []) if signature else [],
            "inputs": user_inputs,
            "outputs": [graph.nodes[n]["name"] for n in graph.graph["outputs"]],
            "in_spec": spec_json(pytree, program.call_spec.in_spec),
            "out_spec": spec_json(pytree, program.call_spec.out_spec),
        }
        return graph

    # ---------------------------------------------------------------- stored tensors

    def _stored_tensors(self) -> tuple[dict[str, schema.TensorInfo], dict[str, str]]:
        """Placeholder name -> TensorInfo for parameters/buffers/constants; counts the elements of
        parameters, buffers and lifted constant tensors (tied tensors once) and fills the tensor
        store. Also returns placeholder name -> input kind."""
        program = self.program
        weights: dict[str, schema.TensorInfo] = {}
        kinds: dict[str, str] = {}
        counted: set[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = set()
        for spec in program.graph_signature.input_specs:
            name = getattr(spec.arg, "name", "")
            kinds[name] = spec.kind.name
            if spec.kind.name not in _STORED_KINDS or spec.target is None:
                continue
            value = program.state_dict.get(spec.target, program.constants.get(spec.target))
            self.store.tensors[spec.target] = value
            weights[name] = self._weight_info(spec.target, value)
            # lifted constant tensors (a plain tensor attribute) are stored weights too, as ONNX
            # initializers are: counted with parameters and buffers, a shared tensor once
            if spec.kind.name in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR") and _is_tensor(value):
                key = (
                    value.untyped_storage().data_ptr(),
                    value.storage_offset(),
                    tuple(value.shape),
                    tuple(value.stride()),
                )
                if key not in counted:
                    counted.add(key)
                    self.parameters += int(value.numel())
                    self.parameter_bytes += stored_nbytes(value)
        return weights, kinds

    @staticmethod
    def _weight_info(name: str, value: Any) -> schema.TensorInfo:
        import torch

        if isinstance(value, torch.Tensor):
            dtype, shape = tensor_description(value)
            return schema.TensorInfo(name, dtype, shape, is_initializer=True, nbytes=stored_nbytes(value))
        return schema.TensorInfo(name, type(value).__name__ if value is not None else None, None, True)

    # ---------------------------------------------------------------- graphs

    def _new_graph(self) -> schema.ModelGraph:
        header, program = self.header, self.program
        version = header.torch_version
        graph = schema.new_graph(
            FORMAT, f"ExportedProgram, PyTorch {version}" if version else "ExportedProgram"
        )
        metadata = {}
        if header.schema_version:
            metadata["schema_version"] = ".".join(map(str, header.schema_version))
        if header.verifiers:
            metadata["dialect"] = ", ".join(header.verifiers)
        metadata.update({f"opset {k}": str(v) for k, v in header.opset_version.items()})
        graph.graph.update(
            producer="torch.export",
            metadata=metadata,
            subgraphs=self.subgraphs,
            group_labels=self.group_labels,
            dim_ranges=dim_ranges(program.range_constraints),
            tensor_store=self.store,
        )
        return graph

    def _convert_nodes(self, scope: _Scope, fx_graph: fx.Graph, *, main: bool) -> None:
        for node in fx_graph.nodes:
            if node.op == "placeholder":
                self._placeholder(scope, node)
            elif node.op == "get_attr":
                self._get_attr(scope, node)
            elif node.op == "call_function":
                self._call(scope, node)
            elif node.op == "output":
                self._outputs(scope, node, main=main)
            else:  # call_module / call_method never appear in an exported program's graph
                scope.graph.graph["warnings"].append(f"Node {node.name} ({node.op}) is not shown")
        if main:
            self.parameters_into(scope.graph)

    def parameters_into(self, graph: schema.ModelGraph) -> None:
        graph.graph["parameters"] = self.parameters
        graph.graph["parameter_bytes"] = self.parameter_bytes

    def _placeholder(self, scope: _Scope, node: fx.Node) -> None:
        if node.name in scope.weights or node.name in scope.hidden:
            return
        value = node.meta.get("val")
        dtype, shape = tensor_description(value)
        attributes: dict[str, Any] = {}
        if isinstance(value, str | int | float | bool) or (value is None and "val" in node.meta):
            # a non-tensor argument torch specialised at export (mode="a"): other values are ignored
            attributes = {"value": json_value(value), "specialized": True}
            if dtype is None:
                dtype, shape = ("str" if isinstance(value, str) else "None"), ()
        output = schema.TensorInfo(node.name, dtype, shape)
        node_id = schema.add_input(scope.graph, scope.taken, node.name, output, attributes=attributes)
        scope.producers[node.name] = (node_id, 0, node.name)

    def _get_attr(self, scope: _Scope, node: fx.Node) -> None:
        import torch
        from torch import fx

        value = attribute(scope.owner, str(node.target))
        if isinstance(value, torch.Tensor):
            name = f"{scope.prefix}/{node.target}" if scope.prefix else str(node.target)
            self.store.tensors.setdefault(name, value)
            scope.weights[node.name] = self._weight_info(name, value)
        elif isinstance(value, fx.GraphModule):
            scope.modules[node.name] = value
        else:
            scope.hidden.add(node.name)

    def _call(self, scope: _Scope, node: fx.Node) -> None:
        import operator

        if node.target is operator.getitem and self._fold_getitem(scope, node):
            return
        op_type, domain = op_name(node.target)
        node_id = schema.unique_id(node.name, scope.taken, op_type)
        namespace = self._namespace(node)
        refs, formals, attributes, subgraph_refs = self._arguments(scope, node)
        subgraph_ids = [self._subgraph(scope, node_id, ref) for ref in subgraph_refs]
        outputs = self._outputs_of(node)
        schema.add_node(
            scope.graph,
            node_id,
            kind="op",
            op_type=op_type,
            domain=domain,
            name=node.name,
            namespace=namespace,
            category=torch_op_category(op_type),
            attributes=attributes,
            outputs=outputs,
            input_names=[self._tensor_name(scope, ref) for ref in refs],
            subgraph_ids=subgraph_ids,
            doc=str(getattr(node.target, "_schema", "") or ""),
            source=str(node.meta.get("stack_trace") or "").strip(),
        )
        data = scope.graph.nodes[node_id]
        data["port_names"] = formals
        for port, ref in enumerate(refs):
            if ref in scope.weights:
                data["weights"][port] = scope.weights[ref]
            elif ref in scope.producers:
                src, src_port, tensor = scope.producers[ref]
                schema.add_edge(scope.graph, src, node_id, src_port, port, tensor)
        for port, info in enumerate(outputs):
            scope.producers[f"{node.name}#{port}"] = (node_id, port, info.name)
        if len(outputs) == 1:
            scope.producers[node.name] = (node_id, 0, outputs[0].name)

    def _fold_getitem(self, scope: _Scope, node: fx.Node) -> bool:
        """``getitem(multi_output_op, i)`` becomes output port i of that op (not drawn)."""
        source: Any = node.args[0]
        index = node.args[1]
        if not isinstance(index, int) or not hasattr(source, "name"):
            return False
        key = f"{source.name}#{index}"
        if key not in scope.producers or not isinstance(source.meta.get("val"), list | tuple):
            return False
        scope.producers[node.name] = scope.producers[key]
        return True

    def _outputs_of(self, node: fx.Node) -> list[schema.TensorInfo]:
        import operator

        value = node.meta.get("val")
        if isinstance(value, list | tuple):
            names = {
                user.args[1]: user.name
                for user in node.users
                if user.target is operator.getitem and isinstance(user.args[1], int)
            }
            return [
                schema.TensorInfo(names.get(i, f"{node.name}[{i}]"), *tensor_description(item))
                for i, item in enumerate(value)
            ]
        if value is None and not node.users:
            return []
        return [schema.TensorInfo(node.name, *tensor_description(value))]

    def _arguments(
        self, scope: _Scope, node: fx.Node
    ) -> tuple[list[str], list[str], dict[str, Any], list[str]]:
        """(fx names feeding input ports in order, the schema's name for each port (``weight``,
        ``tensors[1]``), JSON-safe non-tensor arguments, subgraph refs)."""
        names = schema_argument_names(node.target)
        refs: list[str] = []
        formals: list[str] = []
        subgraph_refs: list[str] = []
        attributes: dict[str, Any] = {}
        named = [(names[i] if i < len(names) else f"arg{i}", arg) for i, arg in enumerate(node.args)]
        for key, arg in [*named, *node.kwargs.items()]:
            found = node_names(arg)
            subgraph_refs.extend(ref for ref in found if ref in scope.modules)
            tensors = [ref for ref in found if ref not in scope.modules and ref not in scope.hidden]
            refs.extend(tensors)
            single = len(found) == 1 and hasattr(arg, "name")
            formals.extend(key if single else f"{key}[{i}]" for i in range(len(tensors)))
            if not only_nodes(arg) or any(ref in scope.modules for ref in found):
                attributes[key] = json_value(arg)
        return refs, formals, attributes, subgraph_refs

    def _tensor_name(self, scope: _Scope, ref: str) -> str:
        if ref in scope.weights:
            return scope.weights[ref].name
        if ref in scope.producers:
            return scope.producers[ref][2]
        return ref

    def _subgraph(self, scope: _Scope, node_id: str, ref: str) -> str:
        """Convert the GraphModule a higher-order op calls (cond branch, loop body) into a subgraph."""
        sub_id = f"{scope.prefix}/{node_id}/{ref}" if scope.prefix else f"{node_id}/{ref}"
        module = scope.modules[ref]
        graph = schema.new_graph(FORMAT, scope.graph.graph["format_label"])
        graph.graph.update(subgraphs=self.subgraphs, group_labels=self.group_labels)
        graph.graph["dim_ranges"] = scope.graph.graph.get("dim_ranges", {})
        weights = {  # operands that are the outer graph's parameters keep their names inside
            name: info for name, info in scope.weights.items() if name in placeholder_names(module.graph)
        }
        sub_scope = _Scope(graph, module, sub_id, weights)
        self.subgraphs[sub_id] = graph
        self._convert_nodes(sub_scope, module.graph, main=False)
        return sub_id

    def _outputs(self, scope: _Scope, node: fx.Node, *, main: bool) -> None:
        values = node.args[0] if isinstance(node.args[0], list | tuple) else [node.args[0]]
        specs = list(self.program.graph_signature.output_specs) if main else []
        user_names = iter(output_paths(self.program) if main else [])
        for index, value in enumerate(values):
            kind = specs[index].kind.name if index < len(specs) else "USER_OUTPUT"
            if kind == "TOKEN":
                continue
            if kind == "USER_OUTPUT":
                name = next(user_names, None) or f"output_{index}"
            else:
                target = specs[index].target or ""
                name = f"{target} ({kind.lower().replace('_', ' ')})"
            self._output_node(scope, value, name, listed=kind == "USER_OUTPUT")

    def _output_node(self, scope: _Scope, value: Any, name: str, *, listed: bool) -> None:
        ref = getattr(value, "name", None)
        tensor = self._tensor_name(scope, ref) if ref else ""
        node_id = schema.unique_id(f"output:{name}", scope.taken, "output")
        weights = {0: scope.weights[ref]} if ref in scope.weights else {}
        schema.add_node(
            scope.graph,
            node_id,
            kind="output",
            op_type="Output" if listed else "Mutation",
            category="other",
            name=name,
            weights=weights,
            input_names=[tensor],
        )
        info = None
        if ref in scope.producers:
            src, src_port, _ = scope.producers[ref]
            schema.add_edge(scope.graph, src, node_id, src_port, 0, tensor)
            info = schema.edge_tensor_info(scope.graph, src, src_port)
        elif ref in scope.weights:
            info = scope.weights[ref]
        dtype, shape = (info.dtype, info.shape) if info else tensor_description(value)
        scope.graph.nodes[node_id]["tensor"] = schema.TensorInfo(name, dtype, shape)
        if listed:
            scope.graph.graph["outputs"].append(node_id)

    def _namespace(self, node: fx.Node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        namespace = ""
        for path, type_name in stack.values():
            if str(path).startswith(_PLACEHOLDER_STACK):
                continue  # torch's stand-in for "no module" (sym_size nodes of dynamic inputs)
            namespace = module_namespace(str(path))
            if namespace:
                self.group_labels.setdefault(namespace, class_name(type_name))
        return namespace
