"""ONNX → ModelGraph.

Weights are never copied: the graph keeps ``TensorInfo`` (name, dtype, shape, size) and a
``tensor_store`` that reads an initializer's values on demand (external data included).
Shape inference runs on a copy of the model whose large initializers carry no bytes.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from converters import foreign_formats, onnx_text, schema
from converters.errors import ModelLoadError
from converters.onnx_attributes import attribute_value
from converters.onnx_inference import ValueTypes, infer_value_types
from converters.onnx_lazy import Span, WireFormatError, load_without_weights
from converters.onnx_sparse import sparse_stored_bytes
from converters.onnx_store import OnnxTensorStore
from converters.onnx_tensors import (
    attribute_graphs,
    dtype_name,
    first_line,
    model_graphs,
    stored_bytes,
    type_description,
)
from converters.op_catalog import category_of
from converters.source import ModelSource

if TYPE_CHECKING:
    import onnx

FORMAT = "onnx"
EXTENSIONS = (".onnx", ".onnx.data")


def match(source: ModelSource) -> bool:
    """An ONNX ModelProto starts with field 1 (ir_version, varint): bytes 0x08, 1..15."""
    head = source.head
    if source.is_dir or len(head) < 2:
        return False
    if head[0] == 0x08 and 1 <= head[1] <= 15:
        return not foreign_formats.is_coreml(source)  # Core ML's Model starts the same way
    if source.suffix == ".onnx" and head[0] in (0x0A, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42):
        return True
    return onnx_text.serialization_of(source) is not None


def convert(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    serialization = onnx_text.serialization_of(source)
    model, lazy = (onnx_text.load_model(source, serialization), {}) if serialization else _load_proto(source)
    graph = graph_from_proto(model, lazy, source)
    if serialization:
        graph.graph["serialization"] = serialization
        graph.graph["format_label"] = graph.graph["format_label"].replace(
            f"ONNX v{model.ir_version}", f"ONNX v{model.ir_version} ({serialization})", 1
        )
    return graph


def graph_from_proto(
    model: onnx.ModelProto,
    lazy: dict[str, Span],
    source: ModelSource,
    value_types: dict[str, onnx.TypeProto] | None = None,
) -> schema.ModelGraph:
    """The ModelGraph of a parsed model; ``lazy`` spans locate weight bytes left in ``source``'s file.

    ``value_types`` (value name -> TypeProto) skips shape inference when the file has them all
    (ONNX Runtime's .ort format stores every value's type).
    """
    warnings: list[str] = []
    store = OnnxTensorStore(model, source.base_dir, source.path, lazy)
    if value_types is None:
        nested_sparse = any(len(g.sparse_initializer) for g in list(model_graphs(model))[1:])
        types = infer_value_types(model, set(lazy), warnings, nested_sparse)
    else:
        types = ValueTypes(merged=dict(value_types))
    converter = _GraphConverter(model, types, warnings, store)
    graph = converter.convert_graph(model.graph, scope="")
    converter.convert_functions(graph)
    warnings.extend(store.missing_external_data_warnings(source.display_name))
    _fill_model_attributes(graph, model, warnings, store)
    return graph


def _load_proto(source: ModelSource) -> tuple[onnx.ModelProto, dict[str, Span]]:
    """The model's structure; large weights stay in the file (see converters.onnx_lazy)."""
    from google.protobuf.message import DecodeError

    fix = "re-export the model, or check that the file was copied completely"
    source.start_hashing()
    try:
        model, lazy = load_without_weights(source.path)
    except (DecodeError, WireFormatError, RuntimeError, ValueError) as err:
        raise ModelLoadError(
            f"{source.display_name} is a truncated or corrupt ONNX file ({first_line(err)})", fix
        ) from err
    except OSError as err:
        raise ModelLoadError(
            f"{source.display_name} cannot be read ({err})", "check file permissions"
        ) from err
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ModelLoadError(f"{source.display_name} is not a valid ONNX model (no graph found)", fix)
    return model, lazy


class _GraphConverter:
    """Turns GraphProtos (main graph, control-flow bodies, functions) into ModelGraphs."""

    def __init__(
        self,
        model: onnx.ModelProto,
        value_types: ValueTypes,
        warnings: list[str],
        store: OnnxTensorStore,
    ):
        self.model = model
        self.store = store
        self.value_types = value_types
        self.warnings = warnings
        self.subgraphs: dict[str, schema.ModelGraph] = {}
        self.functions = {(f.domain, f.name, f.overload): f for f in model.functions}
        self.opset = {imp.domain or "ai.onnx": int(imp.version) for imp in model.opset_import}
        # a function's own opset imports apply inside its body (and the bodies nested in it)
        self._function_opsets: dict[str, dict[str, int]] = {}
        self._described: dict[bytes, tuple[str | None, schema.Shape]] = {}
        self._subgraph_ids: set[str] = set()
        self._scopes: list[dict[str, onnx.TypeProto]] = []  # the types of the graphs being converted
        self._walked = 0  # GraphProtos converted so far, in model_graphs order

    def convert_graph(
        self,
        proto: onnx.GraphProto,
        scope: str,
        outer_names: frozenset[str] = frozenset(),
        function: str | None = None,
        walked: bool = True,
    ) -> schema.ModelGraph:
        """``function``: the id of the function whose body this graph is (or is nested in);
        ``walked``: ``proto`` is a GraphProto of the file (not a function body built here), met in
        ``model_graphs`` order, whose own value types then apply."""
        graph = schema.new_graph(FORMAT, "")
        graph.graph["subgraphs"] = self.subgraphs
        graph.graph["name"] = proto.name
        graph.graph["doc"] = proto.doc_string
        graph.graph["tensor_scope"] = scope
        # the opsets that apply here: the model's, or the enclosing function's imports (operator
        # docs and formal names are looked up at these versions, in every body)
        graph.graph["opsets"] = {**self.opset, **self._function_opsets.get(function or "", {})}
        self.store.add_graph(scope, proto)
        if function is not None:
            graph.graph["function"] = function
        own: dict[str, onnx.TypeProto] = {}
        if walked:
            own = self.value_types.of_graph(self._walked, proto)
            self._walked += 1
        self._scopes.append(own)
        try:
            self._build_nodes(graph, proto, scope, outer_names)
        finally:
            self._scopes.pop()
        return graph

    def convert_functions(self, graph: schema.ModelGraph) -> None:
        import onnx

        for function in self.model.functions:
            body = onnx.helper.make_graph(
                list(function.node),
                function.name,
                [onnx.helper.make_empty_tensor_value_info(n) for n in function.input],
                [onnx.helper.make_empty_tensor_value_info(n) for n in function.output],
            )
            fid = function_id(function.domain, function.name, function.overload)
            self._function_opsets[fid] = function_info(function)["opsets"]
            sub = self.convert_graph(body, scope=fid, function=fid, walked=False)
            sub.graph["doc"] = function.doc_string
            sub.graph["function_info"] = function_info(function)
            sub.graph["attributes"] = [*function.attribute, *(a.name for a in function.attribute_proto)]
            sub.graph["attribute_defaults"] = {a.name: attribute_value(a) for a in function.attribute_proto}
            self.subgraphs[fid] = sub

    def _build_nodes(
        self,
        graph: schema.ModelGraph,
        proto: onnx.GraphProto,
        scope: str,
        outer_names: frozenset[str],
    ) -> None:
        initializers = {t.name: self._weight_info(t, scope) for t in proto.initializer}
        for sparse in proto.sparse_initializer:
            initializers.setdefault(sparse.values.name, self._sparse_weight_info(sparse))
        docs = [*((t.name, t.doc_string) for t in proto.initializer)]
        docs += [(s.values.name, s.values.doc_string) for s in proto.sparse_initializer]
        graph.graph["weight_docs"] = {name: doc for name, doc in reversed(docs) if doc}
        taken: set[str] = set()
        producers: dict[str, tuple[str, int]] = {}
        for value in proto.input:
            if value.name in initializers:
                continue
            output = self._tensor_info(value.name)
            node_id = schema.add_input(graph, taken, value.name, output, doc=value.doc_string)
            _set_denotation(graph, node_id, value)
            producers[value.name] = (node_id, 0)
        visible_names = (
            outer_names
            | frozenset(producers)
            | frozenset(initializers)
            | frozenset(out for node in proto.node for out in node.output)
        )
        for index, node in enumerate(proto.node):
            node_id = schema.unique_id(node.name, taken, f"{node.op_type}_{index}")
            self._add_op_node(graph, node_id, node, initializers, scope, visible_names)
            for port, out in enumerate(node.output):
                if out:
                    producers[out] = (node_id, port)
        for node_id in [n for n in graph.nodes if graph.nodes[n]["kind"] in ("op", "constant")]:
            self._connect_inputs(graph, node_id, producers, initializers, taken, outer_names)
        for value in proto.output:
            self._add_graph_output(graph, value, producers, initializers, taken)

    def _add_op_node(
        self,
        graph: schema.ModelGraph,
        node_id: str,
        node: onnx.NodeProto,
        initializers: dict[str, schema.TensorInfo],
        scope: str,
        visible_names: frozenset[str],
    ) -> None:
        subgraph_ids = []
        for attribute in node.attribute:
            for position, body in enumerate(attribute_graphs(attribute)):
                suffix = attribute.name if attribute.HasField("g") else f"{attribute.name}[{position}]"
                sub_id = f"{scope}/{node_id}/{suffix}" if scope else f"{node_id}/{suffix}"
                sub_id = schema.unique_id(sub_id, self._subgraph_ids, sub_id)
                self.subgraphs[sub_id] = self.convert_graph(
                    body, sub_id, visible_names, function=graph.graph.get("function")
                )
                subgraph_ids.append(sub_id)
        if (node.domain, node.op_type, node.overload) in self.functions:
            subgraph_ids.append(function_id(node.domain, node.op_type, node.overload))
        weights = {port: initializers[name] for port, name in enumerate(node.input) if name in initializers}
        metadata = {item.key: item.value for item in node.metadata_props}
        schema.add_node(
            graph,
            node_id,
            kind="constant" if node.op_type == "Constant" and node.domain in ("", "ai.onnx") else "op",
            op_type=node.op_type,
            domain=node.domain,
            name=node.name,
            namespace=namespace_of(node.name, metadata),
            category=category_of(node.op_type, node.domain),
            attributes={a.name: attribute_value(a) for a in node.attribute},
            outputs=[self._tensor_info(name) for name in node.output],
            weights=weights,
            input_names=list(node.input),
            subgraph_ids=subgraph_ids,
            doc=node.doc_string,
            source=metadata.get("pkg.torch.onnx.stack_trace", ""),
        )
        if metadata:
            graph.nodes[node_id]["metadata"] = metadata
        if node.overload:
            graph.nodes[node_id]["overload"] = node.overload

    def _connect_inputs(
        self,
        graph: schema.ModelGraph,
        node_id: str,
        producers: dict[str, tuple[str, int]],
        initializers: dict[str, schema.TensorInfo],
        taken: set[str],
        outer_names: frozenset[str],
    ) -> None:
        for port, name in enumerate(graph.nodes[node_id]["input_names"]):
            if not name or (name in initializers and name not in producers):
                continue
            if name not in producers:
                producers[name] = self._add_dangling_input(graph, name, taken, name in outer_names)
            src, src_port = producers[name]
            schema.add_edge(graph, src, node_id, src_port, port, name)

    def _add_dangling_input(
        self, graph: schema.ModelGraph, name: str, taken: set[str], from_outer_scope: bool
    ) -> tuple[str, int]:
        """An implicit input: a captured outer-scope value, or a name nothing produces."""
        prefix = "outer" if from_outer_scope else "missing"
        node_id = schema.unique_id(f"{prefix}:{name}", taken, prefix)
        op_type = "OuterScope" if from_outer_scope else "Missing"
        schema.add_node(
            graph,
            node_id,
            kind="input",
            op_type=op_type,
            category="other",
            name=name,
            outputs=[self._tensor_info(name)],
        )
        if not from_outer_scope:
            self.warnings.append(f"Tensor {name!r} is used but produced by no node or input")
        return node_id, 0

    def _add_graph_output(
        self,
        graph: schema.ModelGraph,
        value: onnx.ValueInfoProto,
        producers: dict[str, tuple[str, int]],
        initializers: dict[str, schema.TensorInfo],
        taken: set[str],
    ) -> None:
        node_id = schema.unique_id(f"output:{value.name}", taken, "output")
        weights = {0: initializers[value.name]} if value.name in initializers else {}
        schema.add_node(
            graph,
            node_id,
            kind="output",
            op_type="Output",
            category="other",
            name=value.name,
            weights=weights,
            input_names=[value.name],
            doc=value.doc_string,
        )
        graph.nodes[node_id]["tensor"] = self._tensor_info(value.name)
        _set_denotation(graph, node_id, value)
        graph.graph["outputs"].append(node_id)
        if value.name in producers:
            src, src_port = producers[value.name]
            schema.add_edge(graph, src, node_id, src_port, 0, value.name)

    def _tensor_info(self, name: str) -> schema.TensorInfo:
        if not name:
            return schema.TensorInfo(name=name)
        type_proto = None
        for types in reversed(self._scopes):  # innermost graph first, then the graphs around it
            type_proto = types.get(name)
            if type_proto is not None:
                break
        if type_proto is None:
            type_proto = self.value_types.merged.get(name)
        if type_proto is None:
            return schema.TensorInfo(name=name)
        key = type_proto.SerializeToString()
        if key not in self._described:
            self._described[key] = type_description(type_proto)
        dtype, shape = self._described[key]
        return schema.TensorInfo(name=name, dtype=dtype, shape=shape)

    def _weight_info(self, tensor: onnx.TensorProto, scope: str) -> schema.TensorInfo:
        return schema.TensorInfo(
            name=tensor.name,
            dtype=dtype_name(tensor.data_type),
            shape=tuple(int(d) for d in tensor.dims),
            is_initializer=True,
            nbytes=stored_bytes(tensor, self.store.raw_length(scope, tensor)),
        )

    def _sparse_weight_info(self, sparse: onnx.SparseTensorProto) -> schema.TensorInfo:
        """A sparse initializer: its dense dtype and shape; bytes = stored values plus indices."""
        return schema.TensorInfo(
            name=sparse.values.name,
            dtype=dtype_name(sparse.values.data_type),
            shape=tuple(int(d) for d in sparse.dims),
            is_initializer=True,
            nbytes=sparse_stored_bytes(sparse),
        )


def function_info(function: onnx.FunctionProto) -> dict[str, Any]:
    """What a function declares besides its body: identity, doc string, opset imports, attributes
    (with their defaults, None when required by the caller) and metadata; JSON-safe."""
    defaults = {a.name: attribute_value(a) for a in function.attribute_proto}
    return {
        "domain": function.domain,
        "name": function.name,
        "overload": function.overload,
        "doc": function.doc_string,
        "opsets": {imp.domain or "ai.onnx": int(imp.version) for imp in function.opset_import},
        "attributes": {**{name: None for name in function.attribute}, **defaults},
        "metadata": {item.key: item.value for item in function.metadata_props},
    }


def _set_denotation(graph: schema.ModelGraph, node_id: str, value: onnx.ValueInfoProto) -> None:
    """A graph input's or output's type denotation (``IMAGE``) and its dims' (``DATA_BATCH``...)."""
    kind = value.type.WhichOneof("value")
    tensor = getattr(value.type, kind) if kind in ("tensor_type", "sparse_tensor_type") else None
    dims = [d.denotation for d in tensor.shape.dim] if tensor is not None else []
    parts = [value.type.denotation] if value.type.denotation else []
    if any(dims):
        parts.append("[" + ", ".join(d or "?" for d in dims) + "]")
    if parts:
        graph.nodes[node_id]["denotation"] = " ".join(parts)


def function_id(domain: str, name: str, overload: str = "") -> str:
    """A model-local function's subgraph id, ``function:domain.name`` with ``:overload`` appended
    (IR 10); one id per (domain, name, overload). ``%`` and ``/`` are percent-escaped in every part,
    ``:`` in the domain and name, ``.`` in the name, so the id reads back to exactly one identity:
    ``("d", "F:a", "")`` is ``function:d.F%3Aa`` and ``("d", "F", "a")`` is ``function:d.F:a``."""
    base = f"function:{_escaped(domain, '%/:')}.{_escaped(name, '%/:.')}" if domain else (
        f"function:{_escaped(name, '%/:.')}"
    )
    return f"{base}:{_escaped(overload, '%/')}" if overload else base


def _escaped(text: str, specials: str) -> str:
    return "".join(f"%{ord(ch):02X}" if ch in specials else ch for ch in text)


def namespace_of(node_name: str, metadata: dict[str, str]) -> str:
    """Module path of a node: exporter metadata first, else the node name's ``/``-separated path
    (``/a/b/Op`` as torch writes it, ``a/b/Op`` as TensorFlow converters and hand-built graphs do)."""
    scopes = metadata.get("pkg.torch.onnx.name_scopes")
    if scopes:
        try:
            parts = [str(p) for p in ast.literal_eval(scopes)]
        except (ValueError, SyntaxError):
            parts = []
        path = [p.replace("/", "∕") for p in parts[1:-1] if p]
        if parts:
            return "/".join(path)
    namespace = metadata.get("namespace")
    if namespace:
        segments = [seg.split(": ", 1)[0].strip() for seg in namespace.split("/")]
        return "/".join(s for s in segments[1:-1] if s)
    parts = [p for p in node_name.split("/") if p]  # "/a/b/Op" (torch) and "a/b/Op" (TF, hand-built)
    return "/".join(parts[:-1])


def _fill_model_attributes(
    graph: schema.ModelGraph, model: onnx.ModelProto, warnings: list[str], store: OnnxTensorStore
) -> None:
    opsets = {imp.domain or "ai.onnx": int(imp.version) for imp in model.opset_import}
    default_opset = opsets.get("ai.onnx")
    label = f"ONNX v{model.ir_version}" + (f", opset {default_opset}" if default_opset else "")
    warnings.extend(store.weight_warnings())
    graph.graph.update(
        format_label=label,
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        metadata={item.key: item.value for item in model.metadata_props},
        ir_version=int(model.ir_version),
        opsets=opsets,
        domain=model.domain,
        model_version=int(model.model_version),
        model_doc=model.doc_string,
        parameters=store.element_count(),  # weights of control-flow bodies count too, in functions also
        parameter_bytes=store.stored_bytes(),
        warnings=warnings,
        tensor_store=store,
    )
