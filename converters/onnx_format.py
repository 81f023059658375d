"""ONNX → ModelGraph.

Weights are never copied: the graph keeps ``TensorInfo`` (name, dtype, shape, size) and a
``tensor_store`` that reads an initializer's values on demand (external data included).
Shape inference runs on a copy of the model whose large initializers carry no bytes.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from converters import schema
from converters.errors import ModelLoadError
from converters.onnx_attributes import attribute_value
from converters.onnx_lazy import Span, WireFormatError, load_without_weights
from converters.onnx_sparse import (
    SparseParts,
    checker_problem,
    dense_array,
    index_problem,
    sparse_stored_bytes,
)
from converters.onnx_store import OnnxTensorStore
from converters.onnx_tensors import (
    attribute_graphs,
    decode_text,
    dtype_name,
    element_count,
    first_line,
    is_external,
    model_graphs,
    stored_bytes,
    type_description,
    weight_problems,
)
from converters.op_catalog import category_of
from converters.source import ModelSource

if TYPE_CHECKING:
    import onnx

FORMAT = "onnx"
EXTENSIONS = (".onnx", ".onnx.data")
SMALL_INITIALIZER_ELEMENTS = 1024


def match(source: ModelSource) -> bool:
    """An ONNX ModelProto starts with field 1 (ir_version, varint): bytes 0x08, 1..15."""
    head = source.head
    if source.is_dir or len(head) < 2:
        return False
    if head[0] == 0x08 and 1 <= head[1] <= 15:
        return True
    return source.suffix == ".onnx" and head[0] in (0x0A, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)


def convert(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    model, lazy = _load_proto(source)
    warnings: list[str] = []
    store = OnnxTensorStore(model, source.base_dir, source.path, lazy)
    nested_sparse = any(len(g.sparse_initializer) for g in list(model_graphs(model))[1:])
    value_types = _infer_value_types(model, set(lazy), warnings, nested_sparse)
    converter = _GraphConverter(model, value_types, warnings, store)
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


def _infer_value_types(
    model: onnx.ModelProto, lazy_names: set[str], warnings: list[str], nested_sparse: bool = False
) -> dict[str, onnx.TypeProto]:
    """Every known value's TypeProto: from the file, plus onnx.shape_inference on a light copy."""
    import onnx

    light = _without_weight_bytes(model, lazy_names, nested_sparse)
    try:
        light = onnx.shape_inference.infer_shapes(light, check_type=True, strict_mode=True, data_prop=True)
    except Exception as strict_err:  # noqa: BLE001 - inference is optional; the graph still shows
        problem = first_line(strict_err)
        warnings.append(f"Shape inference found a problem, some shapes may be missing: {problem}")
        try:
            light = onnx.shape_inference.infer_shapes(light, strict_mode=False, data_prop=True)
        except Exception as err:  # noqa: BLE001
            problem = first_line(err)
            warnings.append(f"Shape inference failed, showing shapes stored in the file only: {problem}")
    types: dict[str, onnx.TypeProto] = {}
    for graph in model_graphs(light):
        for value in (*graph.input, *graph.output, *graph.value_info):
            if value.type.WhichOneof("value") is not None:
                types.setdefault(value.name, value.type)
        for tensor in graph.initializer:
            types.setdefault(tensor.name, _tensor_type(tensor))
        for sparse in graph.sparse_initializer:
            types.setdefault(sparse.values.name, _sparse_dense_type(sparse))
    return types


def _without_weight_bytes(
    model: onnx.ModelProto, lazy_names: set[str], nested_sparse: bool = False
) -> onnx.ModelProto:
    """A copy of ``model`` whose large initializers are declared as typed inputs (no bytes copied)
    and whose small sparse initializers are dense (``nested_sparse``: in control-flow bodies too)."""
    import onnx

    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    source, graph = model.graph, light.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.output.extend(source.output)
    graph.value_info.extend(source.value_info)
    declared = {value.name for value in source.input}
    graph.input.extend(source.input)
    for tensor in source.initializer:
        small = element_count(tensor.dims) <= SMALL_INITIALIZER_ELEMENTS
        if small and not is_external(tensor) and tensor.name not in lazy_names:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
    for sparse in source.sparse_initializer:
        dense = _dense_for_inference(sparse)
        if dense is not None:
            graph.initializer.append(dense)
        elif sparse.values.name not in declared:
            graph.input.append(
                onnx.helper.make_tensor_value_info(sparse.values.name, sparse.values.data_type, sparse.dims)
            )
    for sub in list(model_graphs(light))[1:] if nested_sparse else ():
        _densify_sparse_initializers(sub)
    return light


def _dense_for_inference(sparse: onnx.SparseTensorProto) -> onnx.TensorProto | None:
    """A small sparse initializer as the dense tensor it stands for, of its declared element type
    (bfloat16, int4, float8 included: onnx's type checks reject sparse inputs to most operators;
    runtimes densify them too); None when large or unreadable."""
    from onnx import numpy_helper

    if element_count(sparse.dims) > SMALL_INITIALIZER_ELEMENTS or any(d < 0 for d in sparse.dims):
        return None
    try:
        values = numpy_helper.to_array(sparse.values).reshape(-1)  # ml_dtypes kept, not widened
        parts = SparseParts(values, numpy_helper.to_array(sparse.indices), tuple(sparse.dims))
        dense = numpy_helper.from_array(dense_array(parts, sparse.values.name), sparse.values.name)
    except Exception:  # noqa: BLE001 - inference then sees the sparse tensor as it is
        return None
    return dense if dense.data_type == sparse.values.data_type else None


def _densify_sparse_initializers(graph: onnx.GraphProto) -> None:
    kept = []
    for sparse in graph.sparse_initializer:
        dense = _dense_for_inference(sparse)
        if dense is None:
            kept.append(sparse)
        else:
            graph.initializer.append(dense)
    if len(kept) != len(graph.sparse_initializer):
        del graph.sparse_initializer[:]
        graph.sparse_initializer.extend(kept)


def _tensor_type(tensor: onnx.TensorProto) -> onnx.TypeProto:
    import onnx

    return onnx.helper.make_tensor_type_proto(tensor.data_type, list(tensor.dims))


def _sparse_dense_type(sparse: onnx.SparseTensorProto) -> onnx.TypeProto:
    """A sparse initializer is used as the dense tensor it stands for."""
    import onnx

    return onnx.helper.make_tensor_type_proto(sparse.values.data_type, list(sparse.dims))


class _GraphConverter:
    """Turns GraphProtos (main graph, control-flow bodies, functions) into ModelGraphs."""

    def __init__(
        self,
        model: onnx.ModelProto,
        value_types: dict[str, onnx.TypeProto],
        warnings: list[str],
        store: OnnxTensorStore,
    ):
        self.model = model
        self.store = store
        self.value_types = value_types
        self.warnings = warnings
        self.subgraphs: dict[str, schema.ModelGraph] = {}
        self.functions = {(f.domain, f.name, f.overload): f for f in model.functions}
        self.opset = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
        self._described: dict[bytes, tuple[str | None, schema.Shape]] = {}
        self._subgraph_ids: set[str] = set()

    def convert_graph(
        self,
        proto: onnx.GraphProto,
        scope: str,
        outer_names: frozenset[str] = frozenset(),
        function: str | None = None,
    ) -> schema.ModelGraph:
        """``function``: the id of the function whose body this graph is (or is nested in)."""
        graph = schema.new_graph(FORMAT, "")
        graph.graph["subgraphs"] = self.subgraphs
        graph.graph["name"] = proto.name
        graph.graph["doc"] = proto.doc_string
        graph.graph["tensor_scope"] = scope
        self.store.add_graph(scope, proto)
        if function is not None:
            graph.graph["function"] = function
        self._build_nodes(graph, proto, scope, outer_names)
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
            sub = self.convert_graph(body, scope=fid, function=fid)
            sub.graph["doc"] = function.doc_string
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
        taken: set[str] = set()
        producers: dict[str, tuple[str, int]] = {}
        for value in proto.input:
            if value.name in initializers:
                continue
            node_id = schema.unique_id(f"input:{value.name}", taken, "input")
            schema.add_node(
                graph,
                node_id,
                kind="input",
                op_type="Input",
                category="other",
                name=value.name,
                outputs=[self._tensor_info(value.name)],
                doc=value.doc_string,
            )
            graph.graph["inputs"].append(node_id)
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
        graph.graph["outputs"].append(node_id)
        if value.name in producers:
            src, src_port = producers[value.name]
            schema.add_edge(graph, src, node_id, src_port, 0, value.name)

    def _tensor_info(self, name: str) -> schema.TensorInfo:
        type_proto = self.value_types.get(name) if name else None
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
            nbytes=stored_bytes(tensor, raw_length(self.store, scope, tensor)),
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
    """Module path of a node: exporter metadata first, else the ``/a/b/Op`` node-name convention."""
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
    if node_name.startswith("/") and node_name.count("/") >= 2:
        return "/".join(p for p in node_name.strip("/").split("/")[:-1] if p)
    return ""


def _fill_model_attributes(
    graph: schema.ModelGraph, model: onnx.ModelProto, warnings: list[str], store: OnnxTensorStore
) -> None:
    opsets = {imp.domain or "ai.onnx": int(imp.version) for imp in model.opset_import}
    default_opset = opsets.get("ai.onnx")
    label = f"ONNX v{model.ir_version}" + (f", opset {default_opset}" if default_opset else "")
    scoped = store.scopes.items()  # weights of control-flow bodies count too, in functions as well
    initializers = [(scope, t) for scope, proto in scoped for t in proto.initializer]
    sparse = [tensor for _, graph_proto in scoped for tensor in graph_proto.sparse_initializer]
    sizes = [stored_bytes(t, raw_length(store, scope, t)) for scope, t in initializers]
    warnings.extend(_weight_warnings(store, initializers, sparse))
    graph.graph.update(
        format_label=label,
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        metadata={item.key: item.value for item in model.metadata_props},
        ir_version=int(model.ir_version),
        opsets=opsets,
        domain=model.domain,
        model_version=int(model.model_version),
        model_doc=model.doc_string,
        parameters=sum(element_count(t.dims) for _, t in initializers)
        + sum(element_count(s.dims) for s in sparse),
        parameter_bytes=sum(sizes) + sum(sparse_stored_bytes(s) for s in sparse),
        warnings=warnings,
        tensor_store=store,
    )


def raw_length(store: OnnxTensorStore, scope: str, tensor: onnx.TensorProto) -> int | None:
    """Length of the raw bytes of a main-graph weight that were left in the file (onnx_lazy)."""
    span = store.lazy.get(tensor.name) if scope == "" else None
    return span.length if span is not None else None


def _weight_warnings(
    store: OnnxTensorStore,
    initializers: list[tuple[str, onnx.TensorProto]],
    sparse: list[onnx.SparseTensorProto],
) -> list[str]:
    """Malformed weights, one line each: negative dims, short data, sparse indices that onnx's
    checker rejects or that do not fit the shape."""
    problems = [p for scope, t in initializers for p in weight_problems(t, raw_length(store, scope, t))]
    for tensor in sparse:
        name = decode_text(tensor.values.name)
        problem = checker_problem(tensor)
        if problem is None:
            problem = _index_problem(tensor)
        if problem is not None:
            problems.append(f"Sparse weight {name!r} is malformed: {problem}")
    return problems


def _index_problem(sparse: onnx.SparseTensorProto) -> str | None:
    from onnx import numpy_helper

    if is_external(sparse.values) or is_external(sparse.indices):
        return None
    try:
        values = numpy_helper.to_array(sparse.values).reshape(-1)
        indices = numpy_helper.to_array(sparse.indices)
    except Exception as err:  # noqa: BLE001
        return f"its values or indices cannot be read ({first_line(err)})"
    return index_problem(SparseParts(values, indices, tuple(int(d) for d in sparse.dims)))
